"""vesselnet.metrics.vessel: a precomputed tree must belong to the ground truth (issue 9)."""
from __future__ import annotations

import numpy as np
import pytest

import vesseltree as vt
from vesselnet.metrics.vessel import compute_branch_detection_rate, compute_scale_recall, vessel_metrics


def _bars():
    gt = np.zeros((10, 24, 24), bool)
    gt[3:7, 2:22, 3:6] = True
    gt[3:7, 2:22, 10:12] = True
    gt[3:7, 2:22, 16:22] = True
    return gt


def test_tree_of_another_mask_is_refused():
    gt = _bars()
    other = np.roll(gt, 1, axis=2)  # same shape, another mask
    tree_other = vt.analyze(other, scale_rule=3)
    for call in (lambda: compute_scale_recall(gt, gt, tree=tree_other),
                 lambda: compute_branch_detection_rate(gt, gt, tree=tree_other),
                 lambda: vessel_metrics(gt, gt, tree=tree_other)):
        with pytest.raises(ValueError, match="tree: .*not the analysis of gt"):
            call()
    # the tree of gt itself is accepted and gives the same answer as no tree
    tree = vt.analyze(gt, scale_rule=3)
    np.testing.assert_allclose(compute_scale_recall(gt, gt, tree=tree), compute_scale_recall(gt, gt))
    np.testing.assert_allclose(compute_scale_recall(gt, gt, tree=tree), 1.0)

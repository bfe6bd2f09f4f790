"""Package-level contracts: lazy exports resolve, vesseltree never imports torch."""
from __future__ import annotations

import subprocess
import sys

import pytest

import vesselnet
import vesseltree


@pytest.mark.parametrize("module", [vesseltree, vesselnet], ids=lambda m: m.__name__)
def test_every_public_name_resolves(module):
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        vesseltree.no_such_name  # noqa: B018


def test_vesseltree_never_imports_torch():
    code = (
        "import sys, numpy as np, vesseltree as vt\n"
        "m = vt.tube((12, 12, 30), (6, 6, 4), (6, 6, 25), 2.5)\n"
        "t = vt.analyze(m)\n"
        "import vesseltree.cli, vesseltree.io, vesseltree.plot\n"
        "assert t.branches.shape[0] >= 1\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_paper_defaults_of_the_networks():
    pytest.importorskip("torch")
    net = vesselnet.MultiTaskResUNet3d()
    assert (net.levels, net.channels[0], net.num_scales, net.in_channels) == (5, 8, 3, 1)
    base = vesselnet.ResUNet3d()
    assert base.levels == 5

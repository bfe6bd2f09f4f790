"""CaseLoader: batches, determinism, exact resume, DDP shards, patches; collate; to_device."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vesselnet.data import CaseLoader, PrepareConfig, PreparedDataset, collate, to_device  # noqa: E402
from vesselnet.data.preprocess import PreparedCase  # noqa: E402
from vesselnet.data.transform import plan_grid  # noqa: E402


def _case(k: int, shape=(8, 10, 12), flags=()) -> PreparedCase:
    rng = np.random.default_rng(k)
    vessel = (rng.random((1,) + shape) > 0.8).astype(np.uint8)
    s1 = vessel * (rng.random((1,) + shape) > 0.5)
    scales = np.concatenate([s1, vessel - s1, np.zeros_like(vessel)]).astype(np.uint8)
    t = plan_grid(shape, (1.0, 1.0, 1.0), np.eye(4))
    return PreparedCase(f"c{k}", rng.random((1,) + shape).astype(np.float32), vessel, scales,
                        (1.0 + k, 0.5, 0.5), t, tuple(flags), {})


@pytest.fixture
def dataset():
    return PreparedDataset.from_cases([_case(k, flags=("empty_vessel",) if k == 3 else ()) for k in range(7)],
                                      PrepareConfig(target_shape=(8, 10, 12)))


def _ids(loader):
    return [b["case_id"] for b in loader]


def test_batch_layout(dataset):
    b = next(iter(CaseLoader(dataset, batch_size=3, shuffle=False)))
    assert b["image"].shape == (3, 1, 8, 10, 12) and b["image"].dtype == torch.float32
    assert b["vessel"].shape == (3, 1, 8, 10, 12) and b["vessel"].dtype == torch.float32
    assert b["scales"].shape == (3, 3, 8, 10, 12) and set(b["scales"].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(b["scales"].sum(1, keepdim=True), b["vessel"])
    assert b["spacing"].dtype == torch.float64 and b["spacing"][2].tolist() == [3.0, 0.5, 0.5]
    assert b["case_id"] == ["c0", "c1", "c2"] and b["flags"] == [(), (), ()]
    assert np.array_equal(b["image"][1].numpy(), dataset[1].image)


def test_order_is_seeded_per_epoch_and_covers_all(dataset):
    a, b = CaseLoader(dataset, batch_size=2, seed=5), CaseLoader(dataset, batch_size=2, seed=5)
    e0 = _ids(a)
    assert e0 == _ids(b)
    e1 = _ids(a)  # the next epoch: another permutation
    assert sorted(sum(e0, [])) == sorted(sum(e1, [])) == sorted(dataset.case_ids)
    assert e0 != e1 and a.epoch == 2
    assert _ids(CaseLoader(dataset, batch_size=2, seed=6)) != e0
    assert [len(x) for x in e0] == [2, 2, 2, 1]
    assert [len(x) for x in _ids(CaseLoader(dataset, batch_size=2, drop_last=True))] == [2, 2, 2]


def test_exact_resume_mid_epoch(dataset):
    ref = CaseLoader(dataset, batch_size=2, seed=1, patch_size=(4, 6, 6))
    ref.set_epoch(3)
    full = list(ref)
    run = CaseLoader(dataset, batch_size=2, seed=1, patch_size=(4, 6, 6))
    run.set_epoch(3)
    it = iter(run)
    seen = [next(it), next(it)]
    state = run.state_dict()
    assert state == {"epoch": 3, "position": 2, "seed": 1, "rank": 0, "world_size": 1}
    resumed = CaseLoader(dataset, batch_size=2, seed=1, patch_size=(4, 6, 6))
    resumed.load_state_dict(state)
    rest = list(resumed)
    for a, b in zip(seen + rest, full):
        assert a["case_id"] == b["case_id"] and torch.equal(a["image"], b["image"])
        assert torch.equal(a["scales"], b["scales"])
    assert resumed.state_dict()["epoch"] == 4
    with pytest.raises(ValueError, match="seed 1 differs"):
        CaseLoader(dataset, seed=2).load_state_dict(state)


def test_ddp_ranks_get_disjoint_parts_of_one_order(dataset):
    parts = [sum(_ids(CaseLoader(dataset, batch_size=1, seed=2, rank=r, world_size=3)), []) for r in range(3)]
    assert all(len(p) == 3 for p in parts)  # 7 cases padded to 9
    flat = sum(parts, [])
    assert set(flat) == set(dataset.case_ids)
    single = sum(_ids(CaseLoader(dataset, batch_size=1, seed=2)), [])
    assert [single[i] for i in range(0, 7, 3)] == parts[0][:3]
    with pytest.raises(ValueError, match="rank"):
        CaseLoader(dataset, rank=3, world_size=3)


def test_patches_are_in_bounds_and_foreground_biased(dataset):
    loader = CaseLoader(dataset, batch_size=7, shuffle=False, patch_size=(3, 4, 5), foreground_p=1.0)
    b = next(iter(loader))
    assert b["image"].shape == (7, 1, 3, 4, 5)
    assert torch.all(b["vessel"].flatten(1).sum(1) > 0)
    # a patch is a window of its case
    img = dataset[0].image[0]
    patch = b["image"][0, 0].numpy()
    hits = [(z, y, x) for z in range(6) for y in range(7) for x in range(8)
            if np.array_equal(img[z:z + 3, y:y + 4, x:x + 5], patch)]
    assert hits
    with pytest.raises(ValueError, match="patch_size"):
        next(iter(CaseLoader(dataset, patch_size=(9, 4, 4))))


def test_collate_errors_and_to_device(dataset):
    with pytest.raises(ValueError, match="different image shapes"):
        collate([_case(0), _case(1, shape=(8, 10, 11))])
    unlabelled = _case(2)
    unlabelled.vessel = unlabelled.scales = None
    with pytest.raises(ValueError, match="some cases have a vessel label"):
        collate([_case(0), unlabelled])
    b = collate([unlabelled])
    assert b["vessel"] is None and b["scales"] is None
    moved = to_device(collate([_case(0)]), "cpu")
    assert moved["image"].device.type == "cpu" and moved["case_id"] == ["c0"]
    with pytest.raises(ValueError, match="batch_size"):
        CaseLoader(dataset, batch_size=0)

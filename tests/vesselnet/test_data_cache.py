"""prepare / PreparedDataset: reuse when fresh, recompute when anything changed, atomic files."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vesselnet.data import PrepareConfig, PreparedDataset, SyntheticSource, prepare, preprocess
from vesselnet.data.cache import load_case, save_case

CFG = PrepareConfig(target_shape=(16, 20, 20), margin_mm=2.0)


@pytest.fixture(scope="module")
def source():
    return SyntheticSource(3, shape=(24, 28, 28), seed=11)


def test_second_prepare_reads_the_cache(tmp_path, source, capsys):
    t0 = time.perf_counter()
    ds = prepare(source, tmp_path / "p", CFG, progress=False)
    first = time.perf_counter() - t0
    assert ds.prepare_stats["computed"] == source.case_ids and ds.prepare_stats["reused"] == []
    assert set(ds.prepare_stats["reasons"].values()) == {"new"}
    t0 = time.perf_counter()
    again = prepare(source, tmp_path / "p", CFG, progress=False)
    second = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n[cache] first prepare {first:.2f} s, second (cached) {second:.3f} s")
    assert again.prepare_stats["computed"] == [] and again.prepare_stats["reused"] == source.case_ids
    for a, b in zip(ds.case_ids, again.case_ids):
        x, y = ds[a], again[b]
        assert np.array_equal(x.image, y.image) and np.array_equal(x.scales, y.scales)


def test_cached_case_equals_preprocess(tmp_path, source):
    ds = prepare(source, tmp_path / "p", CFG, progress=False)
    direct = preprocess(source.load(source.case_ids[1]), CFG)
    got = ds[1]
    assert got.case_id == direct.case_id
    for k in ("image", "vessel", "scales"):
        assert np.array_equal(getattr(got, k), getattr(direct, k)) and getattr(got, k).dtype == getattr(direct, k).dtype
    assert got.transform == direct.transform and got.spacing == direct.spacing and got.flags == direct.flags
    assert ds.n_scales == 3 and ds.config == CFG and len(ds) == 3
    assert ds["synthetic_002"].case_id == "synthetic_002" and ds[-1].case_id == "synthetic_002"
    sub = ds.subset(["synthetic_002", 0])
    assert sub.case_ids == ["synthetic_002", "synthetic_000"] and len(ds) == 3
    with pytest.raises(KeyError):
        ds["nope"]
    with pytest.raises(IndexError):
        ds[3]


def test_changed_parameter_recomputes_every_case(tmp_path, source):
    prepare(source, tmp_path / "p", CFG, progress=False)
    ds = prepare(source, tmp_path / "p", replace(CFG, n_scales=2), progress=False)
    assert ds.prepare_stats["computed"] == source.case_ids
    assert set(ds.prepare_stats["reasons"].values()) == {"changed: config"}
    assert ds.n_scales == 2 and ds[0].scales.shape[0] == 2


def test_changed_source_file_recomputes_that_case_only(tmp_path):
    from tests.vesselnet.test_data_sources import _msd  # the NIfTI dataset writer

    src_cases = SyntheticSource(2, shape=(20, 24, 24), spacing=(1.5, 1.0, 1.0), seed=4)
    root = _msd(tmp_path / "nifti", [src_cases.load(c) for c in src_cases.case_ids])
    from vesselnet.data import NiftiSource

    prepare(NiftiSource(root), tmp_path / "p", CFG, progress=False)
    lab = root / "labelsTr" / "hepaticvessel_001.nii.gz"
    from vesseltree.io import load_volume, save_volume

    v = load_volume(lab)
    data = v.data.copy()
    data[data == 1] = 0  # the label changed: no vessel left
    save_volume(lab, data, v.spacing, v.affine)
    with pytest.warns(UserWarning, match="empty vessel mask"):
        ds = prepare(NiftiSource(root), tmp_path / "p", CFG, progress=False)
    assert ds.prepare_stats["computed"] == ["hepaticvessel_001"]
    assert ds.prepare_stats["reasons"]["hepaticvessel_001"] == "changed: source"
    assert ds.flags("hepaticvessel_001") == ("empty_vessel",) and ds.flags(0) == ()


def test_altered_or_missing_case_file_recomputes(tmp_path, source):
    prepare(source, tmp_path / "p", CFG, progress=False)
    f = tmp_path / "p" / "cases" / "synthetic_001.npz"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    (tmp_path / "p" / "cases" / "synthetic_002.npz").unlink()
    ds = prepare(source, tmp_path / "p", CFG, progress=False)
    assert ds.prepare_stats["reasons"] == {"synthetic_001": "file altered", "synthetic_002": "file missing"}
    assert ds.prepare_stats["reused"] == ["synthetic_000"]


def test_overwrite_recomputes(tmp_path, source):
    prepare(source, tmp_path / "p", CFG, progress=False)
    ds = prepare(source, tmp_path / "p", CFG, progress=False, overwrite=True)
    assert ds.prepare_stats["computed"] == source.case_ids


class _Failing:
    """A source whose second case is broken (NaN in the CT)."""

    def __init__(self, inner):
        self.inner, self.case_ids = inner, inner.case_ids

    def record(self):
        return self.inner.record()

    def case_record(self, cid):
        return self.inner.case_record(cid)

    def load(self, cid):
        c = self.inner.load(cid)
        if cid == self.case_ids[1]:
            c.image[0, 0, 0] = np.nan
        return c


def test_a_bad_case_stops_with_its_name_and_keeps_the_others(tmp_path, source):
    out = tmp_path / "p"
    with pytest.raises(ValueError, match="case 'synthetic_001': .*NaN"):
        prepare(_Failing(source), out, CFG, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["cases"]) == ["synthetic_000"]
    assert sorted(p.name for p in (out / "cases").iterdir()) == ["synthetic_000.npz"]  # no temporary left
    ds = prepare(source, out, CFG, progress=False)  # the next run completes it
    assert ds.prepare_stats["reused"] == ["synthetic_000"]


def test_unwritable_or_foreign_out_dir(tmp_path, source):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="out_dir: .*file' exists and is not a folder"):
        prepare(source, blocker, CFG, progress=False)
    with pytest.raises(ValueError, match="out_dir: cannot write into"):
        prepare(source, blocker / "sub", CFG, progress=False)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="holds other files .* and no vesselnet manifest"):
        prepare(source, foreign, CFG, progress=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{")
    with pytest.raises(ValueError, match="not a readable manifest"):
        prepare(source, tmp_path / "bad", CFG, progress=False)


class _Evil(_Failing):
    def __init__(self, inner):
        super().__init__(inner)
        self.case_ids = ["../../escaped"]


def test_case_ids_cannot_escape_the_folder(tmp_path, source):
    with pytest.raises(ValueError, match="source case id: expected 1-128 letters"):
        prepare(_Evil(source), tmp_path / "a" / "b", CFG, progress=False)
    assert not (tmp_path / "escaped.npz").exists() and not (tmp_path / "a").exists()


def test_case_files_never_unpickle(tmp_path, source):
    pc = preprocess(source.load(source.case_ids[0]), CFG)
    p = tmp_path / "c.npz"
    save_case(p, pc)
    assert load_case(p).case_id == pc.case_id
    with open(p, "wb") as fh:
        np.savez(fh, image=np.array([object()], dtype=object), meta=np.array("{}"))
    with pytest.raises(ValueError, match="not a readable prepared case|not a valid prepared case"):
        load_case(p)


def test_from_cases_in_memory(source):
    cases = [preprocess(source.load(c), CFG) for c in source.case_ids[:2]]
    ds = PreparedDataset.from_cases(cases, CFG)
    assert ds.case_ids == source.case_ids[:2] and ds[1] is cases[1] and ds.root is None
    assert ds.flags(0) == cases[0].flags
    with pytest.raises(ValueError, match="duplicate"):
        PreparedDataset.from_cases([cases[0], cases[0]])


def test_figures_are_written(tmp_path, source):
    prepare(source, tmp_path / "p", CFG, progress=False, figures=True)
    figs = sorted(p.name for p in (tmp_path / "p" / "figures").iterdir())
    assert figs == [f"{c}.png" for c in source.case_ids]
    assert (tmp_path / "p" / "figures" / figs[0]).read_bytes()[:4] == b"\x89PNG"


def test_code_fingerprint_covers_the_pipeline_not_the_command_lines():
    import inspect

    import vesseltree
    from vesselnet.data import labels
    from vesselnet.data._fingerprint import code_files

    files = {p.resolve() for p in code_files()}
    for fn in (vesseltree.analyze, vesseltree.skeletonize, vesseltree.io.load_volume,
               vesseltree.synthetic.make_phantom, vesseltree.synthetic.render_ct):
        assert Path(inspect.getsourcefile(fn)).resolve() in files, fn
    assert Path(labels.__file__).resolve() in files
    root = Path(vesseltree.__file__).resolve().parent
    assert root / "cli.py" not in files and root / "plot.py" not in files
    assert any(p.suffix == ".pyx" for p in files)  # the thinning kernel's source

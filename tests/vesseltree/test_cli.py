"""End-to-end tests of the ``vesseltree`` command line."""
from __future__ import annotations

import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import networkx as nx  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from vesseltree.cli import branch_radius_volume, main, volume_name, write_graphml  # noqa: E402
from vesseltree.synthetic import tube  # noqa: E402

from .dicom_files import dicom_slice  # noqa: E402

SPACING = (1.5, 0.5, 0.5)  # z, y, x (mm)
R_TRUNK_MM, R_BRANCH_MM = 2.0, 1.0


def _cylinder(shape, spacing, p0, p1, r):
    """Voxels whose centre lies within ``r`` mm of the segment p0-p1 (mm, z y x): a tube
    with round caps (vesseltree.synthetic.tube, tested against analytic volumes)."""
    return tube(shape, p0, p1, r, spacing, caps="round")


def _y_tree(shape=(24, 64, 64), spacing=SPACING):
    """A trunk (radius 2 mm) splitting into two branches (radius 1 mm), axial-ish tubes."""
    c = np.array([18.0, 16.0, 16.0])
    mask = _cylinder(shape, spacing, (18.0, 2.0, 16.0), c, R_TRUNK_MM)
    mask |= _cylinder(shape, spacing, c, (18.0, 30.0, 4.0), R_BRANCH_MM)
    mask |= _cylinder(shape, spacing, c, (18.0, 30.0, 28.0), R_BRANCH_MM)
    return mask


@pytest.fixture(scope="module")
def y_tree_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    mask = _y_tree()
    np.save(tmp / "ytree.npy", mask)
    out = tmp / "out"
    rc = main(["analyze", str(tmp / "ytree.npy"), "--spacing", *map(str, SPACING),
               "--out", str(out), "-q"])
    return rc, mask, out / "ytree", out


def test_analyze_npy_writes_all_outputs(y_tree_run):
    rc, mask, d, out = y_tree_run
    assert rc == 0
    for f in ("branches.csv", "graph.graphml", "labels.nii.gz", "scales.nii.gz", "summary.json",
              "radius_mip.png", "scales_mip.png"):
        assert (d / f).is_file() and (d / f).stat().st_size > 0, f
    assert (out / "branch_radii.png").is_file()
    for png in (d / "radius_mip.png", d / "scales_mip.png", out / "branch_radii.png"):
        assert mpimg.imread(png).ndim == 3


def test_analyze_branch_table_matches_known_radii(y_tree_run):
    _, _, d, _ = y_tree_run
    branches = pd.read_csv(d / "branches.csv")
    assert "radius_mm" in branches.columns
    assert len(branches) >= 3
    radii = np.sort(branches["radius_mm"].to_numpy())
    # the two thin branches and the trunk: within one voxel (0.5 mm in-plane) of the truth
    assert abs(radii[-1] - R_TRUNK_MM) <= 0.5
    assert abs(radii[0] - R_BRANCH_MM) <= 0.5


def test_analyze_volumes_keep_geometry_and_cover_mask(y_tree_run):
    _, mask, d, _ = y_tree_run
    labels_img = nib.load(str(d / "labels.nii.gz"))
    np.testing.assert_allclose(labels_img.header.get_zooms(), SPACING[::-1], rtol=1e-6)
    labels = np.asanyarray(labels_img.dataobj).transpose(2, 1, 0)
    assert labels.shape == mask.shape and labels.dtype == np.int32
    np.testing.assert_array_equal(labels > 0, mask)  # Eq. 3 labels cover the mask exactly
    branches = pd.read_csv(d / "branches.csv")
    ids = branches["branch_id"] if "branch_id" in branches else branches.index + 1
    assert set(np.unique(labels[labels > 0])) <= set(ids.astype(int))
    scales_img = nib.load(str(d / "scales.nii.gz"))
    np.testing.assert_allclose(scales_img.affine, labels_img.affine)
    scales = np.asanyarray(scales_img.dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(scales > 0, mask)
    assert set(np.unique(scales)) <= {0, 1, 2, 3}
    # the trunk's voxels sit at a scale >= the thin branches' voxels
    assert scales[18, 4, 32] >= scales[18, 56, 9]


def test_analyze_summary_and_graphml(y_tree_run):
    _, mask, d, _ = y_tree_run
    summary = json.loads((d / "summary.json").read_text())
    assert summary["shape"] == list(mask.shape)
    assert summary["spacing_mm"] == list(SPACING)
    assert sum(summary["scale_voxels"]) == int(mask.sum())
    g = nx.read_graphml(d / "graph.graphml", force_multigraph=True)
    branches = pd.read_csv(d / "branches.csv")
    assert g.number_of_edges() == len(branches)


def test_write_graphml_converts_arrays(tmp_path):
    g = nx.MultiGraph(spacing=(1.0, 2.0, 3.0))
    g.add_node(np.int64(1), coords=(1, 2, 3), kind="end")
    g.add_node(2, coords=np.array([4, 5, 6]))
    g.add_edge(1, 2, key=7, path=np.array([[1, 2, 3], [4, 5, 6]]), length=np.float64(2.5),
               radius=np.nan)
    write_graphml(g, tmp_path / "g.graphml")
    back = nx.read_graphml(tmp_path / "g.graphml", force_multigraph=True)
    (_, _, data), = back.edges(data=True)
    assert json.loads(data["path"]) == [[1, 2, 3], [4, 5, 6]]
    assert data["length"] == 2.5 and "radius" not in data
    assert json.loads(back.nodes["1"]["coords"]) == [1, 2, 3]
    assert json.loads(back.graph["spacing"]) == [1.0, 2.0, 3.0]


def test_branch_radius_volume():
    labels = np.array([0, 1, 2, 2, 3, 0], np.int32).reshape(1, 2, 3)
    by_index = pd.DataFrame({"radius_mm": [0.5, 1.5, 3.0]}, index=pd.Index([1, 2, 3], name="branch_id"))
    expected = np.array([0, 0.5, 1.5, 1.5, 3.0, 0], np.float32).reshape(1, 2, 3)
    np.testing.assert_array_equal(branch_radius_volume(labels, by_index), expected)
    by_column = by_index.reset_index().iloc[::-1]  # unordered rows, ids in a column
    np.testing.assert_array_equal(branch_radius_volume(labels, by_column), expected)


def test_analyze_several_inputs_one_box_each(tmp_path, capsys):
    mask = _y_tree()
    np.save(tmp_path / "a.npy", mask)
    np.savez(tmp_path / "b.npz", mask=mask[:, ::-1], spacing=np.array(SPACING))
    out = tmp_path / "out"
    rc = main(["analyze", str(tmp_path / "a.npy"), str(tmp_path / "b.npz"), "--spacing",
               *map(str, SPACING), "--out", str(out), "--no-figures"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "2/2" in err and "volume" in err  # the progress bar counted both inputs
    a = pd.read_csv(out / "a" / "branches.csv")
    b = pd.read_csv(out / "b" / "branches.csv")
    # the mirrored copy has the same branch radii
    np.testing.assert_allclose(np.sort(a["radius_mm"]), np.sort(b["radius_mm"]), atol=0.05)
    assert not (out / "a" / "scales_mip.png").exists()
    assert not (out / "branch_radii.png").exists()


def test_analyze_nifti_0_255_keeps_input_geometry(y_tree_run, tmp_path):
    from vesseltree.io import save_volume

    _, mask, d_npy, _ = y_tree_run
    c, s = np.cos(0.4), np.sin(0.4)
    aff = np.eye(4)
    aff[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ np.diag(SPACING)
    aff[:3, 3] = (12.0, -30.0, 7.5)
    src = save_volume(tmp_path / "scan.nii.gz", mask.astype(np.uint8) * 255, SPACING, affine=aff)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "-q", "--no-figures"]) == 0
    in_img = nib.load(str(src))
    for f in ("labels.nii.gz", "scales.nii.gz"):
        img = nib.load(str(out / "scan" / f))
        np.testing.assert_allclose(img.affine, in_img.affine, atol=1e-5)
        assert img.shape == in_img.shape
    # same mask, same spacing: same branch table as the .npy run
    a = pd.read_csv(d_npy / "branches.csv")
    b = pd.read_csv(out / "scan" / "branches.csv")
    np.testing.assert_allclose(a["radius_mm"], b["radius_mm"], rtol=1e-5)


def test_analyze_too_few_branches_for_scales(tmp_path, capsys):
    mask = _cylinder((10, 20, 20), (1.0, 1.0, 1.0), (5.0, 2.0, 10.0), (5.0, 17.0, 10.0), 2.0)
    np.save(tmp_path / "tube.npy", mask)
    out = tmp_path / "out"
    rc = main(["analyze", str(tmp_path / "tube.npy"), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "--thresholds" in err and "Traceback" not in err
    assert not (out / "tube").exists()  # nothing half-written
    assert main(["analyze", str(tmp_path / "tube.npy"), "--n-scales", "1"]) == 2
    assert "expected an integer >= 2" in capsys.readouterr().err
    # documented way out: fixed thresholds in mm
    assert main(["analyze", str(tmp_path / "tube.npy"), "--out", str(out), "-q",
                 "--thresholds", "1.0", "2.5"]) == 0
    summary = json.loads((out / "tube" / "summary.json").read_text())
    assert summary["scale_thresholds_mm"] == [1.0, 2.5] and summary["n_scales"] == 3
    radius = pd.read_csv(out / "tube" / "branches.csv")["radius_mm"].to_numpy()
    expected_scale = 1 + int(np.searchsorted([1.0, 2.5], radius[0], side="right"))
    scales = np.asanyarray(nib.load(str(out / "tube" / "scales.nii.gz")).dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(scales, mask * expected_scale)


def test_analyze_empty_mask_warns_and_writes(tmp_path, capsys):
    np.save(tmp_path / "empty.npy", np.zeros((6, 7, 8), bool))
    assert main(["analyze", str(tmp_path / "empty.npy"), "--out", str(tmp_path / "o")]) == 0
    assert "warning" in capsys.readouterr().err
    d = tmp_path / "o" / "empty"
    assert len(pd.read_csv(d / "branches.csv")) == 0
    assert not np.asanyarray(nib.load(str(d / "labels.nii.gz")).dataobj).any()
    summary = json.loads((d / "summary.json").read_text())
    assert summary["scale_voxels"] == [0, 0, 0]
    assert any("mask is empty" in w for w in summary["warnings"])  # kept with the outputs


def test_analyze_errors_exit_2_without_traceback(tmp_path, capsys):
    np.save(tmp_path / "labels.npy", np.arange(27).reshape(3, 3, 3))
    np.save(tmp_path / "nan.npy", np.full((3, 3, 3), np.nan))
    (tmp_path / "vol.mha").write_bytes(b"x")
    (tmp_path / "MASKS_DICOM.zip").write_bytes(b"not a zip")
    cases = [
        (["analyze", str(tmp_path / "missing.nii.gz")], "no such file"),
        (["analyze", str(tmp_path / "vol.mha")], "supported:"),
        (["analyze", str(tmp_path / "labels.npy")], "binary mask"),
        (["analyze", str(tmp_path / "nan.npy")], "NaN"),
        (["analyze", str(tmp_path / "MASKS_DICOM.zip")], "not a readable zip"),
        (["analyze", str(tmp_path / "labels.npy"), "--spacing", "1", "0", "1"], "positive"),
        (["analyze", str(tmp_path / "labels.npy"), "--liver-only"], "DICOM masks only"),
        (["analyze"], "required"),
        (["frobnicate"], "invalid choice"),
    ]
    for argv, message in cases:
        rc = main([*argv, "--out", str(tmp_path / "o")] if argv[0] == "analyze" and len(argv) > 1 else argv)
        err = capsys.readouterr().err
        assert rc == 2, argv
        assert message in err, (argv, err)
        assert "Traceback" not in err


def test_module_entry_point_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vesseltree", "analyze", str(tmp_path / "x.npy")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "Traceback" not in proc.stderr
    assert volume_name("/data/3Dircadb1.4/MASKS_DICOM.zip") == "3Dircadb1.4"
    assert volume_name("scan.nii.gz") == "scan"


def test_phantom_command(tmp_path):
    out = tmp_path / "ph.nii.gz"
    rc = main(["phantom", str(out), "--shape", "32", "48", "48", "--spacing", "1.2", "0.8", "0.8",
               "--seed", "3", "-q"])
    assert rc == 0
    img = nib.load(str(out))
    data = np.asanyarray(img.dataobj).transpose(2, 1, 0)
    assert data.shape == (32, 48, 48) and data.any()
    np.testing.assert_allclose(img.header.get_zooms(), (0.8, 0.8, 1.2), rtol=1e-6)
    again = tmp_path / "ph2.npy"
    assert main(["phantom", str(again), "--shape", "32", "48", "48", "--spacing", "1.2", "0.8",
                 "0.8", "--seed", "3", "-q"]) == 0
    np.testing.assert_array_equal(np.load(again) != 0, data != 0)  # same seed, same phantom


def test_phantom_writes_ct_radius_and_segments(tmp_path):
    """Issue 14 item 6: what the demo has, beside the mask, equal to the Python API's."""
    from vesseltree.synthetic import make_phantom, render_ct

    out = tmp_path / "ph.nii.gz"
    argv = ["phantom", str(out), "--shape", "24", "40", "40", "--spacing", "1.2", "0.8", "0.8",
            "--seed", "5", "--depth", "3", "--tumours", "1", "-q"]
    assert main(argv) == 0
    ph = make_phantom((24, 40, 40), (1.2, 0.8, 0.8), seed=5, depth=3)
    ct = render_ct(ph, seed=5, tumours=1)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ph.nii.gz", "ph_ct.nii.gz", "ph_radius.nii.gz", "ph_segments.csv"]
    for name, ref in (("ph.nii.gz", ph.mask), ("ph_ct.nii.gz", ct.image),
                      ("ph_radius.nii.gz", ph.radius)):
        img = nib.load(str(tmp_path / name))
        np.testing.assert_allclose(img.header.get_zooms(), (0.8, 0.8, 1.2), rtol=1e-6)
        np.testing.assert_allclose(np.asanyarray(img.dataobj).transpose(2, 1, 0), ref,
                                   rtol=1e-6, err_msg=name)
    radius = np.asanyarray(nib.load(str(tmp_path / "ph_radius.nii.gz")).dataobj)
    np.testing.assert_array_equal(radius > 0, np.asanyarray(
        nib.load(str(tmp_path / "ph.nii.gz")).dataobj) > 0)
    seg = pd.read_csv(tmp_path / "ph_segments.csv")
    pd.testing.assert_frame_equal(seg, ph.segments.reset_index(drop=True), check_dtype=False)
    # .npy output: same names, same extension
    assert main(["phantom", str(tmp_path / "n" / "p.npy"), "--shape", "24", "40", "40", "-q",
                 "--depth", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == [
        "p.npy", "p_ct.npy", "p_radius.npy", "p_segments.csv"]
    assert main(["phantom", str(tmp_path / "x.mha"), "-q"]) == 2


def _dicom_slice(pix: np.ndarray, z: float) -> bytes:
    return dicom_slice(pix.astype(np.uint8) * np.uint8(255), z, pixel_spacing=SPACING[1:],
                       origin_xy=(0.0, 0.0))


def test_analyze_synthetic_ircadb_zip(tmp_path, capsys):
    """A MASKS_DICOM.zip written here: structures by name, liver restriction, errors."""
    import zipfile

    mask = _y_tree()
    left = np.zeros_like(mask)
    left[:, :, :32] = True
    liver = np.zeros_like(mask)
    liver[:, 20:, :] = True  # cuts the trunk: 3 branches remain
    structures = {"portalvein": mask & ~left, "venoussystem": mask & left, "liver": liver,
                  "skin": np.zeros_like(mask)}
    rng = np.random.default_rng(0)
    patient = tmp_path / "3Dircadb1.99"
    patient.mkdir()
    with zipfile.ZipFile(patient / "MASKS_DICOM.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, vol in structures.items():
            for k, z in enumerate(rng.permutation(mask.shape[0])):  # names not in z order
                zf.writestr(f"MASKS_DICOM/{name}/image_{k}", _dicom_slice(vol[z], SPACING[0] * z))
    out = tmp_path / "out"
    assert main(["analyze", str(patient), "--out", str(out), "-q", "--no-figures"]) == 0
    d = out / "3Dircadb1.99"
    summary = json.loads((d / "summary.json").read_text())
    assert summary["source"].endswith(":portalvein+venoussystem")
    np.testing.assert_allclose(summary["spacing_mm"], SPACING, rtol=1e-6)
    labels = np.asanyarray(nib.load(str(d / "labels.nii.gz")).dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(labels > 0, mask)  # slices back in position order
    # --liver-only keeps the voxels in the liver; --structures picks by name, and
    # --merge-structures unites them into one tree
    assert main(["analyze", str(patient / "MASKS_DICOM.zip"), "--liver-only", "--structures",
                 "PortalVein,venoussystem", "--merge-structures", "--out",
                 str(tmp_path / "liver"), "-q", "--no-figures"]) == 0
    labels = np.asanyarray(
        nib.load(str(tmp_path / "liver" / "3Dircadb1.99" / "labels.nii.gz")).dataobj
    ).transpose(2, 1, 0)
    np.testing.assert_array_equal(labels > 0, mask & liver)
    capsys.readouterr()
    assert main(["analyze", str(patient), "--structures", "hepaticvein", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no structure named 'hepaticvein'" in err
    assert "available: liver, portalvein, skin, venoussystem" in err and "Traceback" not in err


@pytest.mark.data
def test_analyze_real_patient(ircadb, tmp_path):
    """Patient 1.18 (fewest slices: 74), hepatic vessels inside the liver, end to end."""
    out = tmp_path / "out"
    rc = main(["analyze", str(ircadb / "3Dircadb1.18"), "--liver-only", "--out", str(out), "-q"])
    assert rc == 0
    d = out / "3Dircadb1.18"
    summary = json.loads((d / "summary.json").read_text())
    assert summary["shape"][0] == 74 and summary["shape"][1:] == [512, 512]
    branches = pd.read_csv(d / "branches.csv")
    assert len(branches) > 10
    r = branches["radius_mm"].to_numpy()
    # hepatic vessel radii: sub-millimetre to about a centimetre
    assert np.all(r > 0) and 0.3 < np.median(r) < 5.0 and r.max() < 15.0
    labels = np.asanyarray(nib.load(str(d / "labels.nii.gz")).dataobj)
    assert int((labels > 0).sum()) == sum(summary["scale_voxels"])
    assert (out / "branch_radii.png").is_file()


def _read_nii(path):
    return np.asanyarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)


def _assert_one_scale_rule(d):
    """branches.csv, graph.graphml, scales.nii.gz and summary.json tell the same scales."""
    branches = pd.read_csv(d / "branches.csv", index_col=0)
    labels = _read_nii(d / "labels.nii.gz")
    scales = _read_nii(d / "scales.nii.gz")
    lut = np.zeros(int(branches.index.max()) + 1, dtype=np.int64)
    lut[branches.index.to_numpy()] = branches["scale"].to_numpy()
    np.testing.assert_array_equal(scales, lut[labels])
    g = nx.read_graphml(d / "graph.graphml", force_multigraph=True)
    by_edge = {int(k): int(a["scale"]) for _, _, k, a in g.edges(keys=True, data=True)}
    assert by_edge == {int(i): int(s) for i, s in branches["scale"].items()}
    summary = json.loads((d / "summary.json").read_text())
    counts = np.bincount(scales.ravel(), minlength=summary["n_scales"] + 1)[1:]
    assert summary["scale_voxels"] == counts.tolist()
    return branches, scales, summary


def test_thresholds_apply_to_every_output(tmp_path):
    """Issue 9.2: with --thresholds, the branch table and the graph use them too."""
    np.save(tmp_path / "y.npy", _y_tree())
    out = tmp_path / "out"
    # 0.5 and 5 mm put every branch (radii 1 and 2 mm) in scale 2; the per-volume
    # quartiles of the 3 branches would spread them over scales 1..3
    assert main(["analyze", str(tmp_path / "y.npy"), "--spacing", *map(str, SPACING),
                 "--out", str(out), "-q", "--no-figures", "--thresholds", "0.5", "5"]) == 0
    branches, scales, summary = _assert_one_scale_rule(out / "y")
    np.testing.assert_array_equal(branches["scale"].to_numpy(), 2)
    assert summary["scale_thresholds_mm"] == [0.5, 5.0] and summary["n_scales"] == 3


def test_more_than_255_scales_written_unwrapped(tmp_path):
    """Issue 9.6: 300 fixed thresholds, 301 scales: scales.nii.gz holds values above 255."""
    np.save(tmp_path / "y.npy", _y_tree())
    out = tmp_path / "out"
    t = np.round(np.linspace(0.005, 1.5, 300), 6)  # the trunk (2 mm) is above all
    assert main(["analyze", str(tmp_path / "y.npy"), "--spacing", *map(str, SPACING),
                 "--out", str(out), "-q", "--no-figures", "--thresholds", *map(str, t)]) == 0
    branches, scales, _ = _assert_one_scale_rule(out / "y")
    expected = 1 + np.searchsorted(t, branches["radius_mm"].to_numpy(), side="left")
    np.testing.assert_array_equal(branches["scale"].to_numpy(), expected)
    assert scales.max() == expected.max() > 255


def test_phantom_depth_cap_is_said(tmp_path, capsys):
    """Issue 9: --depth 50 cannot fit in a small volume; the command says how many
    generations the phantom has instead of capping silently."""
    out = tmp_path / "ph.npy"
    assert main(["phantom", str(out), "--shape", "32", "32", "32", "--depth", "50", "-q"]) == 0
    err = capsys.readouterr().err
    assert "--depth 50" in err and "generation" in err
    from vesseltree.synthetic import make_phantom

    reached = int(make_phantom((32, 32, 32), seed=0, depth=50).segments["generation"].max())
    assert f"has {reached} generation" in err


# --------------------------------------------------------------------------------------------
# one tree per structure (issue 14 item 1), .vtp export (item 2)


def _write_masks_zip(patient, structures):
    import zipfile

    patient.mkdir()
    with zipfile.ZipFile(patient / "MASKS_DICOM.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, vol in structures.items():
            for z in range(vol.shape[0]):
                zf.writestr(f"MASKS_DICOM/{name}/image_{z}", _dicom_slice(vol[z], SPACING[0] * z))
    return patient


@pytest.fixture(scope="module")
def two_systems(tmp_path_factory):
    """Two phantom trees side by side as 'portalvein' and 'venoussystem' of a 3D-IRCADb
    zip, analysed per structure with the .vtp export."""
    from vesseltree.synthetic import make_phantom

    tmp = tmp_path_factory.mktemp("structures")
    a = make_phantom((20, 60, 48), SPACING, seed=1, depth=3).mask
    b = make_phantom((20, 60, 48), SPACING, seed=2, depth=3).mask
    pv = np.zeros((20, 60, 100), bool)
    vs = np.zeros_like(pv)
    pv[:, :, :48] = a
    vs[:, :, 52:] = b
    masks = {"portalvein": pv, "venoussystem": vs}
    patient = _write_masks_zip(tmp / "3Dircadb1.98", {**masks, "liver": np.ones_like(pv)})
    out = tmp / "out"
    rc = main(["analyze", str(patient), "--structures", "portalvein", "venoussystem",
               "--export-vtp", "--out", str(out), "-q"])
    return rc, masks, out / "3Dircadb1.98", tmp


def _nii(path):
    return np.asanyarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)


def test_structures_give_one_tree_each(two_systems):
    from vesseltree.structures import analyze_structures

    rc, masks, d, _ = two_systems
    assert rc == 0
    ref = analyze_structures(masks, SPACING)  # the Python API on the same arrays
    table = pd.read_csv(d / "branches.csv")
    assert table["structure"].tolist() == ref.branches["structure"].tolist()
    np.testing.assert_array_equal(table["branch_id"], ref.branches["branch_id"])
    for col in ("radius_mm", "radius_inscribed_mm", "length_mm", "generation", "scale"):
        np.testing.assert_allclose(table[col], ref.branches[col], rtol=1e-9)
    # labels.nii.gz: each structure's own Eq. 3 labels, shifted to be unique
    labels, smap = _nii(d / "labels.nii.gz"), _nii(d / "structures.nii.gz")
    np.testing.assert_array_equal(smap, masks["portalvein"] * 1 + masks["venoussystem"] * 2)
    summary = json.loads((d / "summary.json").read_text())
    assert summary["structure_names"] == ["portalvein", "venoussystem"]
    for name, tree in ref.trees.items():
        m = masks[name]
        np.testing.assert_array_equal(labels[m] - summary["label_offsets"][name],
                                      tree.labels[m])
        own = table[table["structure"] == name]
        assert summary["structures"][name]["max_generation"] == own["generation"].max()
    lut = np.zeros(table["label"].max() + 1, int)
    lut[table["label"]] = table["structure"].map({"portalvein": 1, "venoussystem": 2})
    np.testing.assert_array_equal(lut[labels], smap)  # label -> structure, as the table says
    np.testing.assert_array_equal(_nii(d / "scales.nii.gz"), ref.scale_labels())
    # one graph holding both, no edge between them
    g = nx.read_graphml(d / "graph.graphml")
    assert g.number_of_edges() == len(table)
    for u, v, attrs in g.edges(data=True):
        assert g.nodes[u]["structure"] == g.nodes[v]["structure"] == attrs["structure"]
    # the cohort table has one row per structure of an input
    from vesseltree.cohort import cohort_table

    outcome = {"name": d.name, "ok": True,
               "result": {"summary": summary, "structures": summary["structure_names"]}}
    rows = cohort_table([outcome])
    assert rows["structure"].tolist() == ["portalvein", "venoussystem"]
    assert rows["n_branches"].tolist() == [len(t.branches) for t in ref.trees.values()]
    assert rows["threshold_1_mm"].tolist() == [ref.thresholds[0]] * 2  # union thresholds


def test_structures_vtp_reads_back(two_systems):
    vtk = pytest.importorskip("vtk", reason="the optional vtk extra")
    from vtkmodules.util.numpy_support import vtk_to_numpy

    rc, masks, d, _ = two_systems
    table = pd.read_csv(d / "branches.csv")
    r = vtk.vtkXMLPolyDataReader()
    r.SetFileName(str(d / "centerlines.vtp"))
    r.Update()
    pdata = r.GetOutput()
    assert pdata.GetNumberOfLines() == len(table)
    cells = pdata.GetCellData()
    names = cells.GetAbstractArray("structure")
    assert [names.GetValue(i) for i in range(names.GetNumberOfValues())] == \
        table["structure"].tolist()
    np.testing.assert_allclose(vtk_to_numpy(cells.GetArray("radius_mm")), table["radius_mm"],
                               rtol=1e-6)
    summary = json.loads((d / "summary.json").read_text())
    n_skel = sum(s["skeleton_voxels"] for s in summary["structures"].values())
    assert pdata.GetNumberOfPoints() == n_skel
    s = vtk.vtkXMLPolyDataReader()
    s.SetFileName(str(d / "surface.vtp"))
    s.Update()
    surf = s.GetOutput()
    assert surf.GetNumberOfCells() > 0
    assert set(np.unique(vtk_to_numpy(surf.GetCellData().GetArray("structure_id")))) == {1, 2}


def test_label_map_structures_and_merging(two_systems, capsys):
    rc, masks, d, tmp = two_systems
    lab = masks["portalvein"].astype(np.uint8) + 2 * masks["venoussystem"].astype(np.uint8)
    np.save(tmp / "labels.npy", lab)
    sp = ["--spacing", *map(str, SPACING)]
    out = tmp / "labelmap"
    assert main(["analyze", str(tmp / "labels.npy"), "--structures", "1=portalvein",
                 "2=venoussystem", *sp, "--out", str(out), "-q", "--no-figures"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "labels" / "branches.csv"),
                                  pd.read_csv(d / "branches.csv"))
    # --merge-structures: one tree of the union, as a binary mask of it
    np.save(tmp / "union.npy", lab > 0)
    merged, binary = tmp / "merged", tmp / "binary"
    assert main(["analyze", str(tmp / "labels.npy"), "--structures", "1,2",
                 "--merge-structures", *sp, "--out", str(merged), "-q", "--no-figures"]) == 0
    assert main(["analyze", str(tmp / "union.npy"), *sp, "--out", str(binary), "-q",
                 "--no-figures"]) == 0
    assert ((merged / "labels" / "branches.csv").read_bytes()
            == (binary / "union" / "branches.csv").read_bytes())
    # a structure joining two labels, default names from the values
    joined = tmp / "joined"
    assert main(["analyze", str(tmp / "labels.npy"), "--structures", "1+2", *sp, "--out",
                 str(joined), "-q", "--no-figures"]) == 0
    assert set(pd.read_csv(joined / "labels" / "branches.csv")["structure"]) == {
        "label_1+label_2"}
    capsys.readouterr()
    np.save(tmp / "float.npy", lab.astype(np.float32))
    cases = [
        ([str(tmp / "labels.npy"), "--structures", "portalvein"], "label values >= 1"),
        ([str(tmp / "float.npy"), "--structures", "1"], "label map of integers"),
        ([str(tmp / "union.npy"), "--merge-structures"], "name the structures"),
        ([str(tmp / "labels.npy"), "--structures", "1=", "2"], "NAME=LABEL"),
        ([str(tmp / "labels.npy"), "--structures", "1=a", "2=a"], "distinct structure names"),
    ]
    for argv, message in cases:
        assert main(["analyze", *argv, "--out", str(tmp / "bad"), "-q"]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)


def test_export_vtp_one_tree(y_tree_run, tmp_path):
    vtk = pytest.importorskip("vtk", reason="the optional vtk extra")
    _, mask, _, _ = y_tree_run
    np.save(tmp_path / "y.npy", mask)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "y.npy"), "--spacing", *map(str, SPACING),
                 "--export-vtp", "--curvature", "--out", str(out), "-q", "--no-figures"]) == 0
    table = pd.read_csv(out / "y" / "branches.csv")
    assert {"curvature_per_mm", "torsion_per_mm", "radius_inscribed_mm"} <= set(table.columns)
    r = vtk.vtkXMLPolyDataReader()
    r.SetFileName(str(out / "y" / "centerlines.vtp"))
    r.Update()
    assert r.GetOutput().GetNumberOfLines() == len(table)
    manifest = json.loads((out / "y" / "manifest.json").read_text())
    assert {"centerlines.vtp", "surface.vtp"} <= set(manifest["files"])


def test_structure_alternatives_take_the_first_present(two_systems, capsys):
    """'venacava|venoussystem': 3D-IRCADb patients have one or the other."""
    rc, masks, d, tmp = two_systems
    patient = d.parent.parent / "3Dircadb1.98"
    out = tmp / "alt"
    assert main(["analyze", str(patient), "--structures", "portalvein",
                 "venacava|venoussystem=veins", "--out", str(out), "-q", "--no-figures"]) == 0
    got = pd.read_csv(out / "3Dircadb1.98" / "branches.csv")
    ref = pd.read_csv(d / "branches.csv")
    assert got["structure"].tolist() == ref["structure"].replace(
        {"venoussystem": "veins"}).tolist()
    np.testing.assert_array_equal(got["radius_mm"], ref["radius_mm"])
    assert main(["analyze", str(patient), "--structures", "artery|venacava", "--out",
                 str(tmp / "none"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "none of artery, venacava" in err and "available: liver, portalvein" in err
    assert main(["analyze", str(patient), "--structures", "venacava|", "--out",
                 str(tmp / "none"), "-q"]) == 2
    assert "NAME=LABEL" in capsys.readouterr().err

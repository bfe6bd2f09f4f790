"""``vesselnet evaluate``: pairing, outputs, figures, errors (exit code 2), no torch import."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vesseltree.io import save_volume
from vesselnet.cli import evaluate_paths, main, match_pairs
from vesselnet.metrics import compute_dice, compute_hausdorff


@pytest.fixture(scope="module")
def phantoms():
    from vesseltree.synthetic import make_phantom

    out = []
    for seed in (0, 1):
        ph = make_phantom((40, 72, 72), (1.0, 0.7, 0.7), seed=seed, depth=5)
        pred = ph.mask & (ph.radius >= np.quantile(ph.radius[ph.mask], 0.3))
        out.append((f"case{seed}", ph, pred))
    return out


@pytest.fixture()
def folders(tmp_path, phantoms):
    pdir, gdir = tmp_path / "pred", tmp_path / "gt"
    pdir.mkdir()
    gdir.mkdir()
    for name, ph, pred in phantoms:
        save_volume(gdir / f"{name}.nii.gz", ph.mask.astype(np.uint8), ph.spacing)
        np.save(pdir / f"{name}.npy", pred)  # .npy: no spacing, taken from the ground truth
    np.save(pdir / "orphan.npy", np.zeros((3, 3, 3), np.uint8))
    (gdir / "notes.txt").write_text("not a volume")
    return pdir, gdir


def test_folders_csv_markdown_and_unmatched(folders, phantoms, tmp_path, capsys):
    pdir, gdir = folders
    out = tmp_path / "out"
    rc = main(["evaluate", str(pdir), str(gdir), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "orphan.npy" in captured.err  # unmatched files are listed...
    assert "orphan.npy" in (out / "summary.md").read_text()  # ...and in the summary
    assert "| prediction |" in captured.out and "DSC" in captured.out
    df = pd.read_csv(out / "metrics.csv", index_col="case")
    assert list(df.index) == ["case0", "case1"]
    for name, ph, pred in phantoms:
        assert df.loc[name, "dsc"] == pytest.approx(compute_dice(pred, ph.mask), rel=1e-5)
        # the ground truth's NIfTI voxel size is used for the .npy prediction
        assert df.loc[name, "hd"] == pytest.approx(compute_hausdorff(pred, ph.mask, ph.spacing), rel=1e-5)
    assert {"recall_s1", "recall_s3", "branch_detection"} <= set(df.columns)
    summary = pd.read_csv(out / "summary.csv", index_col="metric")
    assert summary.loc["dsc", "mean"] == pytest.approx(df["dsc"].mean(), rel=1e-5)
    assert (summary["n"] == 2).all()


def test_single_files_spacing_override_and_figures(tmp_path, phantoms, capsys):
    name, ph, pred = phantoms[0]
    pf, gf = tmp_path / "p.npy", tmp_path / "g.npy"
    np.save(pf, pred.astype(np.uint8))
    np.save(gf, ph.mask)
    out = tmp_path / "o"
    rc = main(["evaluate", str(pf), str(gf), "--spacing", "2.0", "0.5", "0.5", "--out", str(out),
               "--figures", "--quiet", "--n-scales", "2"])
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(out / "metrics.csv", index_col="case")
    assert df.loc["g", "hd"] == pytest.approx(compute_hausdorff(pred, ph.mask, (2.0, 0.5, 0.5)), rel=1e-5)
    assert {"recall_s1", "recall_s2"} <= set(df.columns) and "recall_s3" not in df.columns
    for f in ("g_slices.png", "g_mip.png", "scale_recall.png"):
        data = (out / "figures" / f).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_no_out_prints_summary_only(tmp_path, phantoms, capsys):
    _, ph, pred = phantoms[1]
    np.save(tmp_path / "a.npy", pred)
    np.save(tmp_path / "b.npy", ph.mask)
    rc = main(["evaluate", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--no-vessel", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "HD95" in captured.out and "Recall" not in captured.out
    assert "1 mm" in captured.err  # .npy without spacing: warned
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy"]


def test_match_pairs(folders):
    pdir, gdir = folders
    pairs, up, ug = match_pairs(pdir, gdir)
    assert [n for n, _, _ in pairs] == ["case0", "case1"]
    assert [p.name for p in up] == ["orphan.npy"] and ug == []


def test_case_names_and_patient_parts_zipped_or_not(tmp_path):
    """Extensions as vesseltree.io splits them; a patient part is its zip, else its folder."""
    from vesselnet.evaluate_inputs import _split, case_name, find_image, is_case
    from vesselnet.ircadb_layout import patient_part

    assert _split(tmp_path / "Case01.NII.GZ") == ("Case01", ".nii.gz")
    assert _split(tmp_path / "notes.txt") is None and _split(tmp_path / ".npy") is None
    pat = tmp_path / "3Dircadb1.3"
    (pat / "MASKS_DICOM").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    assert is_case(pat) and not is_case(tmp_path / "other")
    assert case_name(pat) == case_name(pat / "MASKS_DICOM") == "3Dircadb1.3"
    assert patient_part(pat, "PATIENT_DICOM") is None
    (pat / "PATIENT_DICOM").mkdir()
    assert find_image(pat, "any", single=True) == pat / "PATIENT_DICOM"
    assert find_image(tmp_path, "3Dircadb1.3", single=False) == pat / "PATIENT_DICOM"
    (pat / "PATIENT_DICOM.zip").write_bytes(b"")
    assert patient_part(pat, "PATIENT_DICOM") == pat / "PATIENT_DICOM.zip"  # the zip first


# ------------------------------------------------------------------------------- errors
def _run_err(argv, capsys):
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_shape_mismatch_names_both_files(tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.zeros((4, 5, 6), bool))
    np.save(tmp_path / "g.npy", np.zeros((4, 5, 7), bool))
    rc, err = _run_err(["evaluate", str(tmp_path / "p.npy"), str(tmp_path / "g.npy"), "--quiet"], capsys)
    assert rc == 2 and "p.npy" in err and "g.npy" in err and "shape" in err


def test_non_binary_names_the_file(tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.full((4, 5, 6), 0.7))
    np.save(tmp_path / "g.npy", np.zeros((4, 5, 6), bool))
    rc, err = _run_err(["evaluate", str(tmp_path / "p.npy"), str(tmp_path / "g.npy"), "--quiet"], capsys)
    assert rc == 2 and "p.npy" in err and "binary" in err
    with pytest.raises(ValueError, match="p.npy"):
        evaluate_paths(tmp_path / "p.npy", tmp_path / "g.npy", progress=False)


def test_unreadable_file_names_the_file(tmp_path, capsys):
    (tmp_path / "p.npy").write_bytes(b"this is not numpy")
    np.save(tmp_path / "g.npy", np.zeros((4, 5, 6), bool))
    rc, err = _run_err(["evaluate", str(tmp_path / "p.npy"), str(tmp_path / "g.npy"), "--quiet"], capsys)
    assert rc == 2 and "p.npy" in err
    (tmp_path / "g.nii.gz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="g.nii.gz"):
        evaluate_paths(tmp_path / "g.npy", tmp_path / "g.nii.gz", progress=False)


@pytest.mark.parametrize("spacing", [["0", "1", "1"], ["-1", "1", "1"], ["1", "nan", "1"], ["a", "1", "1"]])
def test_bad_spacing(tmp_path, capsys, spacing):
    np.save(tmp_path / "g.npy", np.zeros((4, 5, 6), bool))
    rc, err = _run_err(["evaluate", str(tmp_path / "g.npy"), str(tmp_path / "g.npy"), "--spacing", *spacing], capsys)
    assert rc == 2 and "--spacing" in err
    with pytest.raises(ValueError, match="spacing"):
        evaluate_paths(tmp_path / "g.npy", tmp_path / "g.npy", spacing=(1.0, 0.0, 1.0))


def test_other_errors(tmp_path, folders, capsys):
    pdir, gdir = folders
    f = tmp_path / "x.npy"
    np.save(f, np.zeros((2, 2, 2), bool))
    rc, err = _run_err(["evaluate", str(tmp_path / "missing"), str(gdir)], capsys)
    assert rc == 2 and "pred" in err and "missing" in err
    rc, err = _run_err(["evaluate", str(f), str(gdir)], capsys)
    assert rc == 2 and "two cases or two folders of cases" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, err = _run_err(["evaluate", str(empty), str(gdir)], capsys)
    assert rc == 2 and "no file" in err
    rc, err = _run_err(["evaluate", str(pdir), str(gdir), "--figures"], capsys)
    assert rc == 2 and "--out" in err
    rc, err = _run_err(["evaluate", str(pdir), str(gdir), "--n-scales", "1"], capsys)
    assert rc == 2 and "--n-scales" in err
    rc, err = _run_err(["bogus"], capsys)
    assert rc == 2


def test_nifti_spacing_mismatch(tmp_path, capsys):
    m = np.zeros((4, 5, 6), np.uint8)
    m[1:3, 1:3, 1:4] = 1
    save_volume(tmp_path / "p.nii.gz", m, (1.0, 1.0, 1.0))
    save_volume(tmp_path / "g.nii.gz", m, (2.0, 1.0, 1.0))
    rc, err = _run_err(["evaluate", str(tmp_path / "p.nii.gz"), str(tmp_path / "g.nii.gz")], capsys)
    assert rc == 2 and "voxel sizes differ" in err
    rc, _ = _run_err(["evaluate", str(tmp_path / "p.nii.gz"), str(tmp_path / "g.nii.gz"),
                      "--spacing", "2", "1", "1", "--no-vessel", "--quiet"], capsys)
    assert rc == 0


def test_command_runs_without_torch(tmp_path):
    """The command path never imports torch (no GPU, light start)."""
    m = np.zeros((6, 7, 8), bool)
    m[2:4, 2:5, 1:7] = True
    np.save(tmp_path / "a.npy", m)
    code = (
        "import sys; from vesselnet.cli import main; "
        f"rc = main(['evaluate', {str(tmp_path / 'a.npy')!r}, {str(tmp_path / 'a.npy')!r}, '--quiet', '--no-vessel']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "100.00 \u00b1 0.00" in r.stdout  # identical masks: DSC 100 %
    r = subprocess.run([sys.executable, "-m", "vesselnet", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "vesselnet" in r.stdout


# ------------------------------------------------------------------------------ figures
def test_confusion_volume_and_mip_panels(tmp_path):
    """Issue 14 item 7: errors drawn over TP, and every TP visible in its own panel."""
    from vesselnet.plot import (MIP_PANELS, confusion_volume, overlay_mip, overlay_slices,
                                plot_scale_recall)

    gt = np.zeros((3, 4, 5), bool)
    pred = np.zeros_like(gt)
    gt[0, 1, 1] = pred[0, 1, 1] = True  # TP on ray (y=1, x=1) along z ...
    gt[2, 1, 1] = True  # ... and an FN behind it
    pred[1, 2, 3] = True  # FP alone on its ray
    gt[:2, 3, 0] = pred[:2, 3, 0] = True  # two TP ...
    gt[2, 3, 0] = True  # ... and one FN on ray (3, 0): a majority of TP, still an error
    conf = confusion_volume(pred, gt)
    assert (conf[0, 1, 1], conf[2, 1, 1], conf[1, 2, 3]) == (1, 3, 2)
    assert np.count_nonzero(conf) == 6
    fig = overlay_mip(pred, gt, (2.0, 1.0, 1.0), axes=(0,), crop=False, path=tmp_path / "m.png")
    assert [a.get_title() for a in fig.axes[:4]] == [f"{n}, along z" for n in MIP_PANELS]
    shown = [np.ma.filled(fig.axes[k].images[1].get_array(), 0) for k in range(4)]
    # brute force: which classes each (y, x) ray crosses
    crosses = {k: (conf == k).any(axis=0) for k in (1, 2, 3)}
    for k, panel in zip((1, 2, 3), shown[1:]):  # one panel per class: nothing hidden
        np.testing.assert_array_equal(panel == k, crosses[k])
        np.testing.assert_array_equal(panel > 0, crosses[k])
    assert shown[1][1, 1] == shown[1][3, 0] == 1  # the TPs behind an FN
    # first panel: FN over FP over TP
    expected = np.where(crosses[3], 3, np.where(crosses[2], 2, np.where(crosses[1], 1, 0)))
    np.testing.assert_array_equal(shown[0], expected)
    assert (shown[0][1, 1], shown[0][2, 3], shown[0][3, 0]) == (3, 2, 3)
    # axes in mm: voxel i centred at i * spacing
    assert fig.axes[0].images[1].get_extent() == pytest.approx((-0.5, 4.5, 3.5, -0.5))
    assert fig.axes[0].get_xlabel() == "x (mm)"
    assert (tmp_path / "m.png").stat().st_size > 0
    image = np.random.default_rng(0).random(gt.shape)
    fig = overlay_slices(pred, gt, (2.0, 1.0, 1.0), image=image, slices=[0, 2])
    assert [a.get_title() for a in fig.axes[:2]] == ["z = 0.0 mm (slice 0)",
                                                     "z = 4.0 mm (slice 2)"]
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), image[2].astype(np.float32))
    assert fig.axes[1].get_ylabel() == "y (mm)"
    fig = overlay_mip(pred, gt, (2.0, 1.0, 1.0), axes=(1, 2), crop=False, image=image)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(),
                               image.astype(np.float32).mean(axis=1), rtol=1e-6)
    assert fig.axes[4].get_title().endswith("along x")
    with pytest.raises(ValueError, match="slices"):
        overlay_slices(pred, gt, slices=[3])
    with pytest.raises(ValueError, match="recall"):
        plot_scale_recall([0.5, 1.5])
    plot_scale_recall([0.2, np.nan, 1.0], path=tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 0


def test_cropped_figures_keep_the_voxels_mm_position():
    """With ``crop``, the panels show the labelled box + 8 voxels at its place in mm."""
    from vesselnet.plot import overlay_mip, overlay_slices

    gt = np.zeros((20, 30, 40), bool)
    gt[5:8, 12:15, 15:25] = True
    pred = np.roll(gt, 3, axis=2)
    sp = (2.0, 0.7, 0.9)
    ys, xs = np.nonzero((gt | pred).any(axis=0))
    y0, y1 = max(ys.min() - 8, 0), min(ys.max() + 8, 29)  # first and last row shown
    x0, x1 = max(xs.min() - 8, 0), min(xs.max() + 8, 39)
    expected = ((x0 - 0.5) * sp[2], (x1 + 0.5) * sp[2], (y1 + 0.5) * sp[1], (y0 - 0.5) * sp[1])
    for fig in (overlay_mip(pred, gt, sp, axes=(0,)), overlay_slices(pred, gt, sp, slices=[6])):
        for image in fig.axes[0].images:
            assert image.get_extent() == pytest.approx(expected)
            assert image.get_array().shape == (y1 - y0 + 1, x1 - x0 + 1)


# ------------------------------------------------------------------------------ issue 9 / 16
def _tree_mask():
    m = np.zeros((12, 20, 24), bool)
    m[4:8, 2:18, 3:7] = True
    m[4:8, 8:12, 3:21] = True
    return m


def test_flipped_prediction_is_compared_in_physical_space(tmp_path, capsys):
    """Issue 9.3: a correct prediction stored as g[:, :, ::-1] with its affine's x column
    negated is the same object: DSC 100 %, not 26 %."""
    g = _tree_mask()
    sp = (2.0, 0.8, 0.7)
    aff = np.zeros((4, 4))
    aff[0, 2], aff[1, 1], aff[2, 0], aff[3, 3] = sp[2], sp[1], sp[0], 1.0
    aff[:3, 3] = (-20.0, 5.0, 30.0)
    flipped = aff.copy()
    flipped[:3, 2] = -aff[:3, 2]
    flipped[:3, 3] = aff[:3, 3] + aff[:3, 2] * (g.shape[2] - 1)
    save_volume(tmp_path / "g.nii.gz", g.astype(np.uint8), sp, aff)
    save_volume(tmp_path / "p.nii.gz", g[:, :, ::-1].astype(np.uint8), sp, flipped)
    out = tmp_path / "out"
    rc = main(["evaluate", str(tmp_path / "p.nii.gz"), str(tmp_path / "g.nii.gz"), "--out", str(out),
               "--quiet", "--n-scales", "2"])
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(out / "metrics.csv", index_col="case")
    assert df.loc["g", "dsc"] == pytest.approx(1.0)
    assert df.loc["g", "hd"] == pytest.approx(0.0)
    # transposed storage (x, y swapped) with the matching affine: same answer
    save_volume(tmp_path / "t.nii.gz", g.transpose(0, 2, 1).astype(np.uint8), (sp[0], sp[2], sp[1]),
                aff[:, [0, 2, 1, 3]])
    res = evaluate_paths(tmp_path / "t.nii.gz", tmp_path / "g.nii.gz", vessel=False, progress=False)
    assert res.evaluator.to_frame().loc["g", "dsc"] == pytest.approx(1.0)


def test_affines_that_differ_otherwise_are_refused(tmp_path, capsys):
    g = _tree_mask()
    sp = (2.0, 0.8, 0.7)
    save_volume(tmp_path / "g.nii.gz", g.astype(np.uint8), sp)
    shifted = np.zeros((4, 4))
    shifted[0, 2], shifted[1, 1], shifted[2, 0], shifted[3, 3] = sp[2], sp[1], sp[0], 1.0
    shifted[:3, 3] = (0.35, 0.0, 0.0)  # half a voxel along x
    save_volume(tmp_path / "p.nii.gz", g.astype(np.uint8), sp, shifted)
    rc, err = _run_err(["evaluate", str(tmp_path / "p.nii.gz"), str(tmp_path / "g.nii.gz"), "--quiet"], capsys)
    assert rc == 2 and "grid" in err and "p.nii.gz" in err and "Traceback" not in err


def test_npz_pairs_with_different_spacings_are_refused(tmp_path, capsys):
    g = _tree_mask()
    np.savez(tmp_path / "p.npz", mask=g, spacing=np.array([1.0, 1.0, 1.0]))
    np.savez(tmp_path / "g.npz", mask=g, spacing=np.array([2.0, 1.0, 1.0]))
    rc, err = _run_err(["evaluate", str(tmp_path / "p.npz"), str(tmp_path / "g.npz"), "--quiet"], capsys)
    assert rc == 2 and "voxel sizes differ" in err


def test_one_bad_pair_does_not_abort_the_others(tmp_path, capsys):
    pdir, gdir = tmp_path / "pred", tmp_path / "gt"
    pdir.mkdir()
    gdir.mkdir()
    g = _tree_mask()
    for name in ("a", "b", "c"):
        np.save(gdir / f"{name}.npy", g)
        np.save(pdir / f"{name}.npy", g)
    np.save(pdir / "b.npy", np.zeros((3, 3, 3), bool))  # wrong shape
    out = tmp_path / "out"
    rc, err = _run_err(["evaluate", str(pdir), str(gdir), "--out", str(out), "--quiet", "--no-vessel"], capsys)
    assert rc == 2
    assert "b.npy" in err and "shape" in err and "1 of 3" in err
    df = pd.read_csv(out / "metrics.csv", index_col="case")
    assert list(df.index) == ["a", "c"]
    assert "b" in (out / "summary.md").read_text()  # the failure is listed in the summary
    with pytest.raises(ValueError, match="shape"):  # the Python API still raises by default
        evaluate_paths(pdir, gdir, vessel=False, progress=False)


def test_ctrl_c_exits_130_without_traceback(tmp_path, capsys, monkeypatch):
    import vesselnet.cli as vcli

    g = _tree_mask()
    np.save(tmp_path / "g.npy", g)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(vcli, "evaluate_paths", interrupted)
    rc, err = _run_err(["evaluate", str(tmp_path / "g.npy"), str(tmp_path / "g.npy"), "--quiet"], capsys)
    assert rc == 130 and "interrupted" in err and "Traceback" not in err


def test_out_is_a_unit_rerun_and_stale_figures(tmp_path, capsys):
    """Issue 9.1 for evaluate: a rerun needs --overwrite and leaves no figure of a case that
    is no longer evaluated; a foreign folder is never replaced."""
    pdir, gdir = tmp_path / "pred", tmp_path / "gt"
    pdir.mkdir()
    gdir.mkdir()
    g = _tree_mask()
    for name in ("c3", "c4"):
        np.save(gdir / f"{name}.npy", g)
        np.save(pdir / f"{name}.npy", g)
    out = tmp_path / "out"
    base = ["evaluate", str(pdir), str(gdir), "--out", str(out), "--quiet", "--no-vessel"]
    assert main([*base, "--figures"]) == 0
    assert (out / "figures" / "c3_mip.png").is_file()
    (pdir / "c3.npy").unlink()
    capsys.readouterr()
    rc, err = _run_err(base, capsys)
    assert rc == 2 and "--overwrite" in err
    assert main([*base, "--overwrite"]) == 0
    assert not (out / "figures").exists()
    assert list(pd.read_csv(out / "metrics.csv", index_col="case").index) == ["c4"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    rc, err = _run_err(["evaluate", str(pdir), str(gdir), "--out", str(foreign), "--overwrite",
                        "--quiet", "--no-vessel"], capsys)
    assert rc == 2 and "not an output folder" in err and (foreign / "notes.txt").read_text() == "keep"
    f = tmp_path / "file"
    f.write_text("x")
    rc, err = _run_err(["evaluate", str(pdir), str(gdir), "--out", str(f), "--quiet"], capsys)
    assert rc == 2 and "is a file" in err
    spaced = tmp_path / "my results"  # a user's folder name: any plain name is fine
    assert main(["evaluate", str(pdir), str(gdir), "--out", str(spaced), "--quiet", "--no-vessel"]) == 0
    assert (spaced / "metrics.csv").is_file()


def test_case_ids_cannot_escape_the_figures_folder(tmp_path):
    """Issue 16: figure names derived from case ids stay inside the folder."""
    from vesselnet.plot import save_case_figures

    g = _tree_mask()
    figs = tmp_path / "deep" / "figures"
    written = save_case_figures(g, g, (1.0, 1.0, 1.0), figs, "../../escape")
    assert written and all(p.resolve().parent == figs.resolve() for p in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]


# ------------------------------------------------------------------------------ 3D-IRCADb inputs
@pytest.fixture()
def ircadb_fake(tmp_path):
    """A tiny 3D-IRCADb folder (CT + masks zips, slices stored out of order) and a
    prediction on the masks' grid: the union minus one row, plus a false positive."""
    from tests.vesselnet.test_data_sources import PERM, _dcm, _ircadb, _phantom, _zip
    from vesseltree.io import load_volume

    root = _ircadb(tmp_path / "data")
    # the venous system leaves the liver (so --liver-only removes voxels)
    _, structs = _phantom()
    structs["venoussystem"][:, 15, 2:14] = True
    assert (structs["venoussystem"] & ~structs["liver"]).any()
    _zip(root / "3Dircadb1.1" / "MASKS_DICOM.zip",
         {f"MASKS_DICOM/{name}/image_{k}": _dcm(m[zi].astype(np.uint8) * 255, 10.0 + 2.5 * zi)
          for name, m in structs.items() for k, zi in enumerate(PERM)})
    gvol = load_volume(root / "3Dircadb1.1" / "MASKS_DICOM.zip")
    pred = gvol.data.copy()
    pred[:, 9, :] = False
    pred[0, 0, 0] = True
    pdir = tmp_path / "pred"
    pdir.mkdir()
    save_volume(pdir / "3Dircadb1.1.nii.gz", pred.astype(np.uint8), gvol.spacing, gvol.affine)
    return root, pdir, pred


def test_evaluate_reads_ircadb_like_load_volume(ircadb_fake, tmp_path, monkeypatch):
    """Issue 14 item 7: a patient folder, its MASKS_DICOM.zip or the folder of patients as
    ground truth, --structures and --liver-only as vesseltree.load_volume, --image the CT."""
    import vesselnet.plot
    from vesseltree.io import load_volume

    root, pdir, pred = ircadb_fake
    patient = root / "3Dircadb1.1"
    seen = {}
    real = vesselnet.plot.save_case_figures

    def spy(p, g, sp, out_dir, name, *, image=None):
        seen[name] = image
        return real(p, g, sp, out_dir, name, image=image)

    monkeypatch.setattr(vesselnet.plot, "save_case_figures", spy)
    ct = load_volume(patient / "PATIENT_DICOM.zip").data
    cases = [
        (pdir / "3Dircadb1.1.nii.gz", patient, [], load_volume(patient).data),
        (pdir / "3Dircadb1.1.nii.gz", patient / "MASKS_DICOM.zip", ["--structures", "portalvein"],
         load_volume(patient, structures="portalvein").data),
        (pdir, root, ["--liver-only", "--structures", "portalvein", "venoussystem"],
         load_volume(patient, structures=["portalvein", "venoussystem"],
                     restrict_to="liver").data),
    ]
    assert (cases[0][3] & ~cases[2][3]).any()  # the liver restriction matters here
    for k, (p, g, extra, truth) in enumerate(cases):
        out = tmp_path / f"eval{k}"
        image = patient if p.is_file() else root
        rc = main(["evaluate", str(p), str(g), *extra, "--no-vessel", "--out", str(out),
                   "--figures", "--image", str(image), "--quiet"])
        assert rc == 0, k
        df = pd.read_csv(out / "metrics.csv", index_col="case")
        assert list(df.index) == ["3Dircadb1.1"]
        assert df.loc["3Dircadb1.1", "dsc"] == pytest.approx(compute_dice(pred, truth), rel=1e-6)
        np.testing.assert_array_equal(seen.pop("3Dircadb1.1"), ct)  # the CT, on the masks' grid
        assert (out / "figures" / "3Dircadb1.1_slices.png").is_file()


def test_evaluate_ircadb_errors(ircadb_fake, tmp_path, capsys):
    root, pdir, _ = ircadb_fake
    nii = pdir / "3Dircadb1.1.nii.gz"
    cases = [
        (["--image", str(root / "3Dircadb1.1")], "--image: the CT is drawn under the figures"),
        (["--out", str(tmp_path / "o"), "--figures", "--image", str(tmp_path / "none")],
         "--image: no such file or folder"),
        (["--structures", "hepaticvein"], "no structure named 'hepaticvein'"),
    ]
    for extra, message in cases:
        rc = main(["evaluate", str(nii), str(root / "3Dircadb1.1"), "--no-vessel", "--quiet",
                   *extra])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "Traceback" not in err, (extra, err)
    rc = main(["evaluate", str(nii), str(nii), "--structures", "portalvein", "--no-vessel",
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "apply to 3D-IRCADb DICOM masks only" in err

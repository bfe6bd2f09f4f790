"""Centerline (.vtp) and surface (.vtp, .stl) export (vesseltree.export), read back with VTK.

References: the VesselTree the files were written from (skeleton voxels, local radii, branch
table, Eq. 2 recomputed from the file's point data), local_radius(method="inscribed"),
vtkMassProperties against a numpy divergence-theorem volume, the mask volume.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

vtk = pytest.importorskip("vtk", reason="the optional 'vtk' extra reads the files back")
from vtkmodules.util.numpy_support import vtk_to_numpy  # noqa: E402

from vesseltree.curvature import centerline_points  # noqa: E402
from vesseltree.export import (  # noqa: E402
    centerline_arrays, surface_mesh, write_centerlines, write_surface,
)
from vesseltree.io import default_affine  # noqa: E402
from vesseltree.radius import branch_radius, local_radius  # noqa: E402
from vesseltree.synthetic import make_phantom, torus, tube  # noqa: E402
from vesseltree.tree import analyze  # noqa: E402

SPACING = (1.2, 0.8, 0.8)


@pytest.fixture(scope="module")
def tree():
    """A branching phantom plus two separate blobs (components of their own);
    radius_mm is Eq. 1 here, so it differs from the corrected column."""
    ph = make_phantom((48, 72, 72), SPACING, seed=3, depth=4)
    mask = ph.mask.copy()
    assert not mask[1:6, 1:6, 1:12].any()
    mask[2:5, 2:5, 2:5] = True  # thins to a short 'isolated' branch
    mask[3, 3, 9] = True  # a single voxel: a 'point' branch
    t = analyze(mask, SPACING, radius_method="paper")
    assert (t.branches["kind"] == "point").sum() == 1
    assert (t.branch_graph.nodes["kind"] == "junction").sum() >= 2
    return t


def _read_vtp(path):
    r = vtk.vtkXMLPolyDataReader()
    r.SetFileName(str(path))
    r.Update()
    return r.GetOutput()


def _lines(pd):
    offsets = vtk_to_numpy(pd.GetLines().GetOffsetsArray())
    conn = vtk_to_numpy(pd.GetLines().GetConnectivityArray())
    return [conn[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def _strings(arr):
    return [arr.GetValue(i) for i in range(arr.GetNumberOfValues())]


def test_vtp_round_trip_matches_the_tree(tree, tmp_path):
    """Issue 14: as many points as skeleton voxels, radii equal to the branch table's."""
    path = write_centerlines(tree, tmp_path / "centerlines.vtp")
    pd = _read_vtp(path)
    sc = tree.skeleton_coords
    br = tree.branches
    assert pd.GetNumberOfPoints() == len(sc)
    assert pd.GetNumberOfLines() == len(br)
    pts = vtk_to_numpy(pd.GetPoints().GetData())
    aff = default_affine(SPACING)
    np.testing.assert_allclose(pts, sc @ aff[:3, :3].T + aff[:3, 3], rtol=0, atol=1e-9)
    pdata, cdata = pd.GetPointData(), pd.GetCellData()
    point = {n: vtk_to_numpy(pdata.GetArray(n)) for n in
             ("MaximumInscribedSphereRadius", "radius_inscribed_mm", "radius_corrected_mm",
              "radius_paper_mm", "branch_radius_mm", "branch_id", "scale", "structure_id")}
    # local radii: the tree's, and local_radius(method="inscribed") for VMTK's array
    np.testing.assert_allclose(point["radius_corrected_mm"], tree.radius_corrected, rtol=1e-12)
    np.testing.assert_allclose(point["radius_paper_mm"], tree.radius_paper, rtol=1e-12)
    _, ins = local_radius(tree.mask, tree.skeleton, SPACING, method="inscribed",
                          output="points")
    # the same estimator; the file uses analyze's Voronoi partition, whose ties (vessel voxels
    # equidistant from two skeleton voxels) go to the smaller branch id, local_radius's to the
    # first voxel: equal nearly everywhere, within a quarter voxel where a tie moved a voxel
    same = np.isclose(point["MaximumInscribedSphereRadius"], ins, rtol=1e-12, atol=0)
    assert same.mean() >= 0.9
    np.testing.assert_allclose(point["MaximumInscribedSphereRadius"], ins, rtol=0,
                               atol=0.25 * min(SPACING))
    np.testing.assert_array_equal(point["radius_inscribed_mm"],
                                  point["MaximumInscribedSphereRadius"])
    np.testing.assert_array_equal(point["branch_id"], tree.skeleton_branch)
    # branch radius per point and per cell: the branch table's, within float32
    lut = np.zeros(br.index.max() + 1)
    lut[br.index] = br["radius_mm"]
    np.testing.assert_allclose(point["branch_radius_mm"], lut[tree.skeleton_branch], rtol=1e-6)
    for col in ("radius_mm", "radius_paper_mm", "radius_corrected_mm", "length_mm",
                "volume_mm3", "tortuosity"):
        np.testing.assert_allclose(vtk_to_numpy(cdata.GetArray(col)), br[col].to_numpy(),
                                   rtol=1e-6, equal_nan=True)
    for col in ("generation", "strahler", "scale", "n_voxels"):
        np.testing.assert_array_equal(vtk_to_numpy(cdata.GetArray(col)), br[col].to_numpy())
    assert _strings(cdata.GetAbstractArray("kind")) == br["kind"].tolist()
    np.testing.assert_array_equal(vtk_to_numpy(cdata.GetArray("branch_id")), br.index)
    # Eq. 2 recomputed from the file's point data gives the file's (and the table's) branches
    nb = int(br.index.max())
    ids = br.index.to_numpy()
    np.testing.assert_allclose(
        branch_radius(point["radius_corrected_mm"], point["branch_id"].astype(np.int64), nb)[ids],
        br["radius_corrected_mm"], rtol=1e-12)
    np.testing.assert_allclose(
        branch_radius(point["MaximumInscribedSphereRadius"],
                      point["branch_id"].astype(np.int64), nb)[ids],
        vtk_to_numpy(cdata.GetArray("radius_inscribed_mm")), rtol=1e-12)
    np.testing.assert_allclose(vtk_to_numpy(cdata.GetArray("radius_inscribed_mm")),
                               br["radius_inscribed_mm"], rtol=1e-12)  # analyze's column
    # VMTK's branch arrays and the geometry columns
    np.testing.assert_array_equal(vtk_to_numpy(cdata.GetArray("GroupIds")), np.arange(len(br)))
    assert not vtk_to_numpy(cdata.GetArray("Blanking")).any()
    curv = vtk_to_numpy(cdata.GetArray("curvature_per_mm"))
    long_ = (br["n_voxels"] >= 10).to_numpy()
    assert np.isfinite(curv[long_]).all() and (curv[long_] >= 0).all()
    assert _strings(pdata.GetAbstractArray("structure")) == ["vessel"] * len(sc)


def test_polylines_follow_the_branch_paths(tree, tmp_path):
    pd = _read_vtp(write_centerlines(tree, tmp_path / "c.vtp"))
    sc = tree.skeleton_coords
    for (bid, row), line in zip(tree.branches.iterrows(), _lines(pd)):
        vox = sc[line]
        path = tree.branch_graph.paths[bid]
        if row["kind"] == "point":  # a two-point line on its voxel(s)
            assert len(line) >= 2
            np.testing.assert_array_equal(np.unique(vox, axis=0), np.unique(path, axis=0))
            continue
        # consecutive points are 26-neighbours, and the path is the line's run of voxels
        assert (np.abs(np.diff(vox, axis=0)).max(axis=1) == 1).all()
        start = int(np.flatnonzero((vox == path[0]).all(axis=1))[0])
        np.testing.assert_array_equal(vox[start:start + len(path)], path)
        for node, end in ((row["src"], vox[0]), (row["dst"], vox[-1])):
            own = tree.branch_graph.node_voxels[node]
            if len(own) and row["kind"] != "cycle":
                assert (own == end).all(axis=1).any()  # ends on its junction's voxels


def test_a_ring_is_a_closed_line_of_the_branch_length():
    sp = (1.0, 0.9, 0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = analyze(torus((12, 40, 40), (6.0, 18.0, 18.0), 12.0, 2.5, sp, supersample=2), sp)
    assert t.branches["kind"].tolist() == ["cycle"]
    arr = centerline_arrays(t)
    (line,) = arr["lines"]
    assert line[0] == line[-1] and len(line) == len(t.skeleton_coords) + 1
    p = arr["points"][line]
    assert np.linalg.norm(np.diff(p, axis=0), axis=1).sum() == pytest.approx(
        t.branches["length_mm"].iloc[0], rel=1e-9)


def test_two_structures_and_centroid_positions(tmp_path):
    sp = (1.0, 1.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one branch: fewer than 3 scales
        a = analyze(tube((30, 24, 24), (4, 6, 6), (26, 8, 7), 2.5, sp, supersample=2), sp)
        b = analyze(tube((30, 24, 24), (5, 17, 16), (25, 18, 19), 3.0, sp, supersample=2), sp)
    arr = centerline_arrays({"portalvein": a, "venoussystem": b}, positions="centroid")
    n_a, n_b = len(a.skeleton_coords), len(b.skeleton_coords)
    assert len(arr["points"]) == n_a + n_b
    assert arr["structures"] == ["portalvein", "venoussystem"]
    np.testing.assert_array_equal(arr["point_data"]["structure_id"], [1] * n_a + [2] * n_b)
    assert list(arr["cell_data"]["structure"]) == (["portalvein"] * len(a.branches)
                                                   + ["venoussystem"] * len(b.branches))
    aff = default_affine(sp)
    cent = np.concatenate([centerline_points(a), centerline_points(b)])
    np.testing.assert_allclose(arr["points"], cent @ aff[:3, :3].T + aff[:3, 3], atol=1e-9)
    # line indices of the second structure point into its own points
    assert min(arr["lines"][-1]) >= n_a
    pd = _read_vtp(write_centerlines({"portalvein": a, "venoussystem": b}, tmp_path / "t.vtp"))
    assert pd.GetNumberOfPoints() == n_a + n_b


def test_affine_is_applied(tree):
    aff = np.array([[0, 0, -0.8, 100.0], [0, -0.8, 0, 50.0], [1.2, 0, 0, -20.0], [0, 0, 0, 1]])
    arr = centerline_arrays(tree, affine=aff)
    ijk = np.c_[tree.skeleton_coords, np.ones(len(tree.skeleton_coords))]
    np.testing.assert_allclose(arr["points"], (ijk @ aff.T)[:, :3], atol=1e-9)


def _signed_volume(v, f):
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0


@pytest.mark.parametrize("flip", [False, True])
def test_surface_mesh_closed_outward_and_volume(tree, tmp_path, flip):
    aff = default_affine(SPACING)
    if flip:  # a mirroring affine: normals must still point out
        aff = aff @ np.diag([1, 1, -1, 1.0])
    mesh = surface_mesh(tree, affine=aff)
    v, f, s = mesh["vertices"], mesh["faces"], mesh["scale"]
    assert set(np.unique(s)) == {1, 2, 3}
    vox = np.prod(SPACING)
    for k, expected in enumerate(tree.scale_volumes(), start=1):
        vol = _signed_volume(v, f[s == k])
        assert vol > 0  # outward normals
        # marching cubes at 0.5 cuts the voxel corners, most on thin vessels and blobs
        assert vol == pytest.approx(expected, rel=0.15)
    total = _signed_volume(v, f)
    assert total == pytest.approx(tree.mask.sum() * vox, rel=0.08)
    # written as .vtp, read back: VTK's own volume of the closed surface agrees
    pd = _read_vtp(write_surface(tree, tmp_path / "s.vtp", affine=aff))
    assert pd.GetNumberOfPolys() == len(f)
    np.testing.assert_array_equal(vtk_to_numpy(pd.GetCellData().GetArray("scale")), s)
    mp = vtk.vtkMassProperties()
    mp.SetInputData(pd)
    mp.Update()
    assert mp.GetVolume() == pytest.approx(total, rel=1e-4)


def test_stl_reads_back(tree, tmp_path):
    mesh = surface_mesh(tree)
    path = write_surface(tree, tmp_path / "s.stl")
    r = vtk.vtkSTLReader()
    r.SetFileName(str(path))
    r.Update()
    out = r.GetOutput()
    assert out.GetNumberOfCells() == len(mesh["faces"])
    pts = vtk_to_numpy(out.GetPoints().GetData())
    lo, hi = mesh["vertices"].min(axis=0), mesh["vertices"].max(axis=0)
    np.testing.assert_allclose(pts.min(axis=0), lo, atol=1e-4)
    np.testing.assert_allclose(pts.max(axis=0), hi, atol=1e-4)
    # the STL's stored normals point out too (float32 file)
    mp = vtk.vtkMassProperties()
    mp.SetInputData(out)
    mp.Update()
    assert mp.GetVolume() == pytest.approx(_signed_volume(mesh["vertices"], mesh["faces"]),
                                           rel=1e-3)


def test_bad_arguments(tree, tmp_path):
    with pytest.raises(ValueError, match="path"):
        write_centerlines(tree, tmp_path / "c.vtk")
    with pytest.raises(ValueError, match="path"):
        write_surface(tree, tmp_path / "s.obj")
    with pytest.raises(ValueError, match="affine"):
        centerline_arrays(tree, affine=np.eye(3))
    with pytest.raises(ValueError, match="affine") as err:
        centerline_arrays(tree, affine=np.eye(4))  # 1 mm steps, the tree has 1.2/0.8 mm
    assert "got (1.0, 1.0, 1.0)" in str(err.value)  # plain numbers, not np.float64(...)
    with pytest.raises(ValueError, match="positions"):
        centerline_arrays(tree, positions="subvoxel")
    with pytest.raises(TypeError, match="trees"):
        centerline_arrays(tree.mask)
    with pytest.raises(TypeError, match="trees"):
        centerline_arrays({"a": tree, "b": tree.mask})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        other = analyze(tube((20, 20, 20), (3, 9, 9), (16, 9, 9), 2.0), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="trees"):
        centerline_arrays({"a": tree, "b": other})
    assert not list(tmp_path.iterdir())  # nothing written, no temporary left


def test_tube_filter_of_the_docs_runs(tree, tmp_path):
    """docs/centerlines.md: VTK's tube filter sized by MaximumInscribedSphereRadius (what
    ParaView's Tube filter with 'Vary Radius: By Absolute Scalar' and pyvista's tube() run)."""
    pd = _read_vtp(write_centerlines(tree, tmp_path / "c.vtp"))
    pd.GetPointData().SetActiveScalars("MaximumInscribedSphereRadius")
    f = vtk.vtkTubeFilter()
    f.SetInputData(pd)
    f.SetVaryRadiusToVaryRadiusByAbsoluteScalar()
    f.SetNumberOfSides(12)
    f.Update()
    out = f.GetOutput()
    assert out.GetNumberOfPoints() > 0
    # the tubes stay within the vessels' world bounding box, grown by a voxel
    lo = np.array(out.GetBounds()[0::2])
    hi = np.array(out.GetBounds()[1::2])
    mesh = surface_mesh(tree)
    assert (lo >= mesh["vertices"].min(axis=0) - 1.2).all()
    assert (hi <= mesh["vertices"].max(axis=0) + 1.2).all()

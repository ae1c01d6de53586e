"""Meshing accuracy on a known surface, gaps kept open, repair and levels of detail."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import UsageError
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.ops._o3d_convert import trimesh_from_o3d, trimesh_to_o3d
from twin.ops.decimate import levels_of_detail
from twin.ops.mesh_repair import repair_mesh
from twin.ops.meshing import ball_pivoting_mesh, poisson_mesh
from twin.ops.spacing import point_spacing

GAP = (1.0, 1.5)  # x range between the two blocks


def _truth():
    from twin._deps import open3d

    o3d = open3d()

    def box(size, at):
        m = o3d.geometry.TriangleMesh.create_box(*size)
        m.translate(at)
        return m

    mesh = box((3.0, 2.0, 0.1), (-0.5, -0.5, -0.1))
    mesh += box((1.0, 1.0, 1.2), (0.0, 0.0, 0.0))
    mesh += box((1.0, 1.0, 1.2), (GAP[1], 0.0, 0.0))
    mesh.compute_triangle_normals()
    return mesh


def _visible(points: np.ndarray) -> np.ndarray:
    """Drop what a scanner cannot see: the underside of the plate, the blocks' bottoms."""
    return ~((np.abs(points[:, 2] + 0.1) < 1e-6) | (np.abs(points[:, 2]) < 1e-6))


@pytest.fixture(scope="module")
def scan():
    """Points on the known surface with 2 mm noise (about 1 cm spacing) and true normals."""
    from twin._deps import open3d

    truth = _truth()
    rng = np.random.default_rng(0)
    open3d().utility.random.seed(0)
    pcd = truth.sample_points_uniformly(70_000, use_triangle_normal=True)
    xyz, normals = np.asarray(pcd.points), np.asarray(pcd.normals)
    keep = _visible(xyz)
    xyz = xyz[keep] + rng.normal(0, 0.002, (keep.sum(), 3))
    cloud = PointCloud(xyz, origin=[775000.0, 1822000.0, 3.0], attrs={"normals": normals[keep].astype(np.float32)})
    return truth, cloud


def _surface_to_mesh(truth, mesh: TriMesh) -> np.ndarray:
    from twin._deps import open3d

    o3d = open3d()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(trimesh_to_o3d(mesh)))
    o3d.utility.random.seed(1)
    probe = np.asarray(truth.sample_points_uniformly(20_000).points)
    probe = probe[_visible(probe)]
    return scene.compute_distance(o3d.core.Tensor(probe.astype(np.float32))).numpy()


def _faces_in_gap(mesh: TriMesh) -> int:
    c = mesh.vertices[mesh.faces].mean(axis=1)
    inside = (c[:, 0] > GAP[0] + 0.05) & (c[:, 0] < GAP[1] - 0.05) & (c[:, 1] > 0.05) & (c[:, 1] < 0.95)
    return int((inside & (c[:, 2] > 0.05) & (c[:, 2] < 1.15)).sum())


@pytest.fixture(scope="module")
def poisson(scan):
    _, cloud = scan
    return poisson_mesh(cloud, depth=8)


def test_poisson_follows_the_true_surface(scan, poisson):
    truth, cloud = scan
    d = _surface_to_mesh(truth, poisson)
    assert d.mean() < 0.005 and np.quantile(d, 0.95) < 0.015, (d.mean(), np.quantile(d, 0.95))
    np.testing.assert_array_equal(poisson.origin, cloud.origin)
    assert poisson.vertices.dtype == np.float64 and poisson.faces.dtype == np.int32


def test_poisson_does_not_bridge_the_gap(poisson):
    assert _faces_in_gap(poisson) == 0


def _wall_with_door(along: float = 0.015, across: float = 0.015) -> PointCloud:
    """A 3 m x 2.5 m wall (y = 0, facing -y) with a 1 m x 2 m doorway, sampled on a
    jittered grid as a scanner samples it (``along`` apart on horizontal scan lines
    ``across`` apart), 2 mm noise."""
    rng = np.random.default_rng(2)
    gx, gz = np.meshgrid(np.arange(0.0, 3.0, along), np.arange(0.0, 2.5, across), indexing="ij")
    xz = np.column_stack([gx.ravel(), gz.ravel()]) + rng.normal(0, 0.002, (gx.size, 2))
    solid = ~((xz[:, 0] > 1.0) & (xz[:, 0] < 2.0) & (xz[:, 1] < 2.0))
    xz = xz[solid]
    xyz = np.column_stack([xz[:, 0], rng.normal(0, 0.002, len(xz)), xz[:, 1]])
    normals = np.tile(np.array([0.0, -1.0, 0.0], dtype=np.float32), (len(xz), 1))
    return PointCloud(xyz, attrs={"normals": normals})


def _faces_in_door(mesh: TriMesh) -> int:
    c = mesh.vertices[mesh.faces].mean(axis=1)
    return int(((c[:, 0] > 1.1) & (c[:, 0] < 1.9) & (c[:, 2] > 0.1) & (c[:, 2] < 1.9) & (np.abs(c[:, 1]) < 0.5)).sum())


def test_a_doorway_stays_open_and_the_trim_is_what_keeps_it():
    wall = _wall_with_door()
    trimmed = poisson_mesh(wall, depth=8)
    untrimmed = poisson_mesh(wall, depth=8, density_quantile=0.0, max_distance=10.0)
    assert _faces_in_door(untrimmed) > 0  # Poisson alone closes the opening
    assert _faces_in_door(trimmed) == 0
    assert trimmed.area() == pytest.approx(3.0 * 2.5 - 2.0, rel=0.05)


def test_the_trim_keeps_a_surface_seen_on_scan_lines_far_apart():
    """Far from the scanner, points lie 1 cm apart along scan lines 5 cm apart. The
    surface between the lines is seen and stays whole; the surface past the jambs, where
    the lines end, is held to the spacing along the lines."""
    from twin._deps import open3d

    o3d = open3d()
    wall = _wall_with_door(along=0.01, across=0.05)
    trimmed = poisson_mesh(wall, depth=8)
    assert _faces_in_door(trimmed) == 0
    gx, gz = np.meshgrid(np.arange(0.1, 2.9, 0.01), np.arange(0.1, 2.4, 0.01), indexing="ij")
    probe = np.column_stack([gx.ravel(), np.zeros(gx.size), gz.ravel()])
    probe = probe[~((probe[:, 0] > 0.9) & (probe[:, 0] < 2.1) & (probe[:, 2] < 2.1))]
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(trimesh_to_o3d(trimmed)))
    gaps = scene.compute_distance(o3d.core.Tensor(probe.astype(np.float32))).numpy()
    assert np.quantile(gaps, 0.99) < 0.005  # no strips cut out between the lines
    c = trimmed.vertices[trimmed.faces].mean(axis=1)
    jambs = (c[:, 0] > 1.0) & (c[:, 0] < 2.0) & (c[:, 2] > 0.1) & (c[:, 2] < 1.8)
    overhang = np.minimum(c[jambs, 0] - 1.0, 2.0 - c[jambs, 0])
    assert overhang.max(initial=0.0) < 0.05  # held to the 1 cm spacing along; across, 5 cm lines allow 9 cm


def test_ball_pivoting_keeps_the_gap_open(scan):
    truth, cloud = scan
    sub = cloud.subset(slice(0, None, 2))
    mesh = ball_pivoting_mesh(sub)
    assert _faces_in_gap(mesh) == 0
    assert np.median(_surface_to_mesh(truth, mesh)) < 0.005


def test_meshing_needs_normals(scan):
    _, cloud = scan
    bare = PointCloud(cloud.xyz)
    with pytest.raises(UsageError, match="normals"):
        poisson_mesh(bare)
    with pytest.raises(UsageError):
        poisson_mesh(cloud, depth=30)
    assert 0.003 < point_spacing(cloud.xyz) < 0.02


def _dirty_mesh() -> TriMesh:
    """Two quads sharing an edge, plus: a duplicate vertex, a degenerate face, a
    duplicated face, and a tiny floating triangle."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0],
                  [1, 0, 0],  # duplicate of vertex 1
                  [5, 5, 5], [5.01, 5, 5], [5, 5.01, 5]], dtype=float)
    f = np.array([[0, 1, 2], [0, 2, 3], [6, 4, 5], [1, 5, 2],
                  [0, 0, 1],  # degenerate
                  [2, 0, 1],  # the first face again, rotated
                  [7, 8, 9]])  # island
    return TriMesh(v, f)


def test_repair_removes_each_defect():
    mesh, report = repair_mesh(_dirty_mesh(), min_island_faces=2)
    assert report.duplicate_vertices == 1
    assert report.degenerate_faces == 1
    assert report.duplicate_faces == 1
    assert report.islands == 1 and report.island_faces == 1
    assert mesh.n_faces == 4 and mesh.n_vertices == 6
    assert repair_mesh(mesh)[1].as_dict() == dict.fromkeys(report.as_dict(), 0)
    with pytest.raises(UsageError):
        repair_mesh(mesh, min_island_faces=-1)


def test_levels_of_detail_skip_levels_that_would_not_reduce(poisson):
    n = poisson.n_faces
    levels = levels_of_detail(poisson, {"full": None, "big": 10 * n, "half": n // 2, "tiny": 2000})
    assert list(levels) == ["full", "half", "tiny"]
    assert levels["full"] is poisson
    assert levels["half"].n_faces <= n // 2 and levels["tiny"].n_faces <= 2000
    assert levels["tiny"].n_faces > 1000
    np.testing.assert_array_equal(levels["tiny"].origin, poisson.origin)
    with pytest.raises(UsageError):
        levels_of_detail(poisson, {"bad": 2})


def _grid(n: int, hole: tuple[int, int] | None = None) -> TriMesh:
    """An n x n grid of unit squares in the z = 0 plane, two faces per square, without
    the squares whose index range ``hole`` covers in both x and y."""
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    vertices = np.column_stack([i.ravel(), j.ravel(), np.zeros(i.size)]).astype(float)
    faces = []
    for a in range(n):
        for b in range(n):
            if hole and hole[0] <= a < hole[1] and hole[0] <= b < hole[1]:
                continue
            v00, v10, v01, v11 = a * (n + 1) + b, (a + 1) * (n + 1) + b, a * (n + 1) + b + 1, (a + 1) * (n + 1) + b + 1
            faces += [[v00, v10, v11], [v00, v11, v01]]
    return TriMesh(vertices, np.array(faces))


def test_repair_removes_non_manifold_edges_as_open3d_does():
    """Flaps on some edges of a grid (three or four faces on an edge): the smallest go."""
    grid = _grid(6)
    rng = np.random.default_rng(1)
    vertices, faces = [grid.vertices], [grid.faces]
    flaps = 0
    for face in grid.faces[rng.choice(grid.n_faces, 8, replace=False)]:
        for height in rng.uniform(0.2, 2.0, rng.integers(1, 3)):
            apex = grid.vertices[face[:2]].mean(axis=0) + [0, 0, height]
            faces.append([[face[0], face[1], sum(len(v) for v in vertices)]])
            vertices.append(apex[None])
            flaps += 1
    mesh = TriMesh(np.concatenate(vertices), np.concatenate(faces))
    repaired, report = repair_mesh(mesh)
    edges = np.sort(np.concatenate([repaired.faces[:, [0, 1]], repaired.faces[:, [1, 2]], repaired.faces[:, [2, 0]]]),
                    axis=1)
    assert np.unique(edges, axis=0, return_counts=True)[1].max() <= 2
    reference = trimesh_to_o3d(mesh)
    reference.remove_non_manifold_edges()
    assert report.non_manifold_faces == mesh.n_faces - len(reference.triangles) > 0
    # open3d keeps the two largest faces of each edge too: the same area survives
    kept = trimesh_from_o3d(reference)
    assert abs(repaired.area() - kept.area()) < 1e-9


def test_decimation_keeps_the_borders_of_openings():
    """A 40 x 40 grid with a 10 x 10 hole: the levels keep the hole's outline and the
    outer edge, carry colours, and give unit normals."""
    mesh = _grid(40, hole=(15, 25))
    mesh.vertex_attrs["rgb"] = np.tile(np.array([[200, 100, 50]], dtype=np.uint8), (mesh.n_vertices, 1))
    mesh.vertex_attrs["normals"] = np.tile(np.array([[0, 0, 1]], dtype=np.float32), (mesh.n_vertices, 1))
    levels = levels_of_detail(mesh, {"full": None, "1k": 1000, "300": 300})
    for name in ("1k", "300"):
        level = levels[name]
        assert level.n_faces <= {"1k": 1000, "300": 300}[name]
        assert abs(level.area() - (40 * 40 - 10 * 10)) < 1e-6  # nothing added, nothing lost
        assert (level.vertex_attrs["rgb"] == [200, 100, 50]).all()
        np.testing.assert_allclose(np.abs(level.vertex_attrs["normals"][:, 2]), 1.0, atol=1e-6)

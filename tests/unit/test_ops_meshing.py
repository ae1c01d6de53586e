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
from twin.ops.meshing import (
    ball_pivoting_mesh,
    consistent_orientation,
    poisson_mesh,
    poisson_reconstruct,
    project_to_points,
    trim_by_local_spacing,
)
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


def _scan_lines(along: float = 0.01, across: float = 0.05, size: float = 1.0) -> PointCloud:
    """A plate (z = 0) sampled on lines along x, ``along`` apart on a line, lines ``across``
    apart, 1 mm noise, normals up."""
    rng = np.random.default_rng(3)
    gx, gy = np.meshgrid(np.arange(0.0, size, along), np.arange(0.0, size, across), indexing="ij")
    xyz = np.column_stack([gx.ravel(), gy.ravel(), rng.normal(0, 0.001, gx.size)])
    return PointCloud(xyz, attrs={"normals": np.tile(np.array([0, 0, 1], dtype=np.float32), (gx.size, 1))})


def test_the_trim_drops_surface_beside_the_points_but_off_their_plane():
    """Poisson between scan lines far apart can bulge off the points: a sheet 3 cm over
    lines 5 cm apart lies within the lines' sideways reach (1.75 x 5 cm) but 3 x the
    spacing along them off their surface, and goes; the sheet on the points stays."""
    cloud = _scan_lines()
    mesh = TriMesh(*_grid_arrays(0.1, 0.9, 0.02, z=0.0))
    raised = TriMesh(*_grid_arrays(0.1, 0.9, 0.02, z=0.03))
    both = TriMesh(np.concatenate([mesh.vertices, raised.vertices]),
                   np.concatenate([mesh.faces, raised.faces + mesh.n_vertices]))
    without_normals = trim_by_local_spacing(both, cloud.xyz, 3.0, 1.75, 0.0)
    assert without_normals.n_faces == both.n_faces  # the reach alone keeps the bulge
    kept = trim_by_local_spacing(both, cloud.xyz, 3.0, 1.75, 0.0, normals=cloud.attrs["normals"])
    assert kept.n_faces == mesh.n_faces and np.abs(kept.vertices[:, 2]).max() < 1e-12


def _grid_arrays(lo: float, hi: float, step: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    n = int(round((hi - lo) / step))
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    vertices = np.column_stack([lo + step * i.ravel(), lo + step * j.ravel(), np.full(i.size, z)])
    a = (i[:-1, :-1] * (n + 1) + j[:-1, :-1]).ravel()
    faces = np.concatenate([np.column_stack([a, a + n + 1, a + n + 2]), np.column_stack([a, a + n + 2, a + 1])])
    return vertices, faces


def test_normals_turned_against_their_neighbours_are_turned_back():
    cloud = _scan_lines(0.01, 0.01)
    rng = np.random.default_rng(4)
    normals = cloud.attrs["normals"].astype(np.float64)
    wrong = rng.random(len(normals)) < 0.25
    normals[wrong] *= -1
    fixed, turned = consistent_orientation(cloud.xyz, normals)
    assert (fixed[:, 2] > 0).all() and turned == wrong.sum()


def test_vertices_move_onto_the_plane_of_their_points_and_round_a_corner_by_millimetres():
    """A mesh 4 mm over a plate of points moves onto it. Where the plate meets a wall
    (points on two planes) the quadric rounds the edge, as Poisson's surface does: the
    vertices there end within 8 mm of the two planes (7.6 mm measured), never farther
    than the limit given."""
    plate = _scan_lines(0.01, 0.01).xyz
    gy, gz = np.meshgrid(np.arange(0.0, 1.0, 0.01), np.arange(0.01, 0.5, 0.01), indexing="ij")
    wall = np.column_stack([np.full(gy.size, 1.0), gy.ravel(), gz.ravel()])  # x = 1: the plate's far edge
    points = np.concatenate([plate, wall])
    normals = np.concatenate([np.tile([0.0, 0.0, 1.0], (len(plate), 1)), np.tile([-1.0, 0.0, 0.0], (len(wall), 1))])
    mesh = TriMesh(*_grid_arrays(0.1, 1.0, 0.02, z=0.004))
    projected, moved = project_to_points(mesh, points, normals, max_move=0.01)
    inside = (mesh.vertices[:, 0] < 0.95) & (mesh.vertices[:, 1] < 0.95)  # 5 cm from the wall and the plate's end
    # onto the fitted surface: within the points' 1 mm noise
    assert np.abs(projected.vertices[inside, 2]).mean() < 0.0007 and np.abs(projected.vertices[inside, 2]).max() < 0.0025
    np.testing.assert_allclose(moved[inside], 0.004, atol=0.0025)
    edge = mesh.vertices[:, 0] >= 0.95
    off_planes = np.minimum(np.abs(projected.vertices[edge, 2]), np.abs(1.0 - projected.vertices[edge, 0]))
    assert off_planes.max() < 0.008 and moved.max() < 0.01
    _, none = project_to_points(mesh, points, normals, max_move=0.001)  # 4 mm: too far to move
    assert (none[inside] == 0).all()


def test_a_curved_surface_is_projected_onto_its_curve():
    """A column 20 cm in radius scanned on rings 2 cm apart, and a mesh of it 3 mm too
    thin (Poisson's smoothing shrinks a curved surface between sparse lines): every
    vertex ends within 0.3 mm of the true radius. A fitted plane cannot do this: over
    the neighbourhood of 16 points the cylinder departs 1.5 mm from its tangent plane."""
    angle, height = np.meshgrid(np.linspace(0, 2 * np.pi, 64, endpoint=False), np.arange(0.0, 1.0, 0.02), indexing="ij")
    points = np.column_stack([0.2 * np.cos(angle.ravel()), 0.2 * np.sin(angle.ravel()), height.ravel()])
    normals = points * [1, 1, 0] / 0.2
    a, h = np.meshgrid(np.linspace(0, 2 * np.pi, 90, endpoint=False), np.arange(0.2, 0.8, 0.013), indexing="ij")
    vertices = np.column_stack([0.197 * np.cos(a.ravel()), 0.197 * np.sin(a.ravel()), h.ravel()])
    mesh = TriMesh(vertices, np.array([[0, 1, 2]]))
    projected, moved = project_to_points(mesh, points, normals, max_move=0.01)
    radius = np.linalg.norm(projected.vertices[:, :2], axis=1)
    assert np.abs(radius - 0.2).max() < 0.0003, np.abs(radius - 0.2).max()
    assert (moved > 0).all()


def test_poisson_reports_how_well_the_points_support_the_mesh():
    wall = _wall_with_door()
    result = poisson_reconstruct(wall, depth=8)
    support = result.support
    assert support.area == pytest.approx(result.mesh.area())
    assert support.within_2_spacing > 0.99 and support.within_1_spacing > 0.9
    assert support.area == pytest.approx(3.0 * 2.5 - 2.0, rel=0.05)
    assert support.support_trimmed_area > 0.5  # the doorway Poisson closed (what the density trim left)
    assert support.normals_turned == 0 and support.vertices_projected > 0.5 * result.mesh.n_vertices
    assert set(support.as_dict()) >= {"within_1_spacing", "within_2_spacing", "support_trimmed_area"}
    assert _faces_in_door(result.mesh) == 0


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

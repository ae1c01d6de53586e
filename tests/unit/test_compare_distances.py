"""Cloud-to-cloud and cloud-to-mesh distances, signed where normals allow."""

from __future__ import annotations

import numpy as np
import pytest

from twin.compare.distances import cloud_to_cloud, cloud_to_mesh
from twin.errors import UsageError

UTM = np.array([749_012.0, 1_821_034.0, 12.0])


def grid(step: float, z: float = 0.0, size: float = 1.0) -> np.ndarray:
    g = np.arange(0.0, size + 1e-9, step)
    x, y = np.meshgrid(g, g)
    return np.c_[x.ravel(), y.ravel(), np.full(x.size, z)]


def unit_cube() -> tuple[np.ndarray, np.ndarray]:
    """The cube [0, 1]^3 with outward (counter-clockwise seen from outside) winding."""
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = []
    for a, b, c, d in quads:
        tris += [(a, b, c), (a, c, d)]
    tris = np.array(tris)
    # make every face point away from the centre, whatever the quad order above
    centre = v[tris].mean(axis=1)
    normal = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    flip = np.einsum("ij,ij->i", normal, centre - 0.5) < 0
    tris[flip] = tris[flip][:, ::-1]
    return v, tris


def test_c2c_plane_offset_with_and_without_normals():
    reference = grid(0.01)
    compared = grid(0.05, z=0.01)[:, :] + np.array([0.005, 0.005, 0.0])
    compared = compared[(compared[:, :2] < 0.99).all(axis=1)]
    r = cloud_to_cloud(compared, reference)
    assert r.signed is None and r.point_to_plane is None
    assert np.allclose(r.distance, np.hypot(0.01, np.hypot(0.005, 0.005)), atol=1e-9)
    normals = np.tile([0.0, 0.0, 1.0], (len(reference), 1))
    up = cloud_to_cloud(compared, reference, reference_normals=normals)
    assert np.allclose(up.point_to_plane, 0.01) and np.all(up.signed > 0)
    below = compared - [0.0, 0.0, 0.02]
    down = cloud_to_cloud(below, reference, reference_normals=normals)
    assert np.allclose(down.point_to_plane, -0.01) and np.all(down.signed < 0)
    assert np.allclose(np.linalg.norm(compared - reference[r.nearest], axis=1), r.distance)


def test_c2c_max_distance_and_georeferenced_coordinates():
    reference = grid(0.01) + UTM
    compared = np.array([[0.5, 0.5, 0.003], [0.5, 0.5, 2.0]]) + UTM
    r = cloud_to_cloud(compared, reference, max_distance=0.5)
    assert r.distance[0] == pytest.approx(0.003, abs=1e-9)
    assert np.isnan(r.distance[1]) and r.nearest[1] == -1
    with pytest.raises(UsageError):
        cloud_to_cloud(compared, np.empty((0, 3)))
    with pytest.raises(UsageError):
        cloud_to_cloud(compared, reference, max_distance=0.0)
    with pytest.raises(UsageError):
        cloud_to_cloud(compared, reference, reference_normals=np.ones((3, 3)))


def test_c2m_cube_signs():
    v, t = unit_cube()
    pts = np.array([
        [0.5, 0.5, 1.2],  # 0.2 above the top face
        [0.5, 0.5, 0.9],  # 0.1 inside, below the top face
        [-0.3, 0.5, 0.5],  # 0.3 outside the x = 0 face
        [0.5, 0.75, 0.5],  # 0.25 inside, nearest the y = 1 face
    ])
    expected = np.array([0.2, -0.1, 0.3, -0.25])
    by_normal = cloud_to_mesh(pts, v, t)
    assert np.allclose(by_normal.distance, expected, atol=1e-6)
    by_inside = cloud_to_mesh(pts, v, t, sign="inside")
    assert np.allclose(by_inside.distance, expected, atol=1e-6)
    unsigned = cloud_to_mesh(pts, v, t, sign="none")
    assert np.allclose(unsigned.distance, np.abs(expected), atol=1e-6)
    assert np.allclose(by_normal.closest[0], [0.5, 0.5, 1.0], atol=1e-6)
    assert set(by_normal.triangle[[0, 1]]) <= set(np.flatnonzero(v[t][:, :, 2].min(axis=1) == 1.0))


def test_c2m_open_mesh_and_georeferenced_millimetres():
    v = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 10.0, 0.0], [0.0, 10.0, 0.0]]) + UTM
    t = np.array([[0, 1, 2], [0, 2, 3]])  # counter-clockwise from above: normal +z
    pts = np.array([[2.0, 3.0, 0.003], [7.5, 8.5, -0.0015], [5.0, 5.0, 0.0]]) + UTM
    r = cloud_to_mesh(pts, v, t)
    assert np.allclose(r.distance, [0.003, -0.0015, 0.0], atol=2e-6)
    assert np.allclose(r.closest, pts * [1, 1, 0] + [0, 0, UTM[2]], atol=2e-6)


def test_c2m_bad_input():
    v, t = unit_cube()
    with pytest.raises(UsageError):
        cloud_to_mesh(np.zeros((1, 3)), v, t + 10)
    with pytest.raises(UsageError):
        cloud_to_mesh(np.zeros((1, 3)), v, t, sign="maybe")
    with pytest.raises(UsageError):
        cloud_to_mesh(np.zeros((1, 2)), v, t)
    assert len(cloud_to_mesh(np.empty((0, 3)), v, t).distance) == 0

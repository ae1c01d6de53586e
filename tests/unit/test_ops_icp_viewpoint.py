from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.io.registry import read_scan
from twin.ops.icp import point_to_plane_icp
from twin.ops.viewpoint import estimate_scanner_position
from twin.sample.truth import load_truth

SAMPLE = Path(__file__).resolve().parents[2] / "sample_scans" / "pavilion"


def test_scanner_position_is_recovered_from_scan_order_within_3_cm():
    truth = load_truth(SAMPLE / "truth" / "ground_truth.json")
    for st in truth.survey("survey-2024").stations:
        cloud = read_scan(truth.path(st.file))
        found = estimate_scanner_position(cloud.xyz)
        assert found is not None, st.name
        pose = st.pose_matrix()
        utm = pose[:3, :3] @ (found + cloud.origin) + pose[:3, 3]
        assert np.linalg.norm(utm - np.asarray(st.position_utm)) < 0.03, st.name


def test_shuffled_points_give_no_scanner_position():
    truth = load_truth(SAMPLE / "truth" / "ground_truth.json")
    cloud = read_scan(truth.path(truth.survey("survey-2024").stations[1].file))
    shuffled = cloud.xyz[np.random.default_rng(0).permutation(len(cloud))]
    assert estimate_scanner_position(shuffled) is None


def _column(centre_x: float, facing: np.ndarray, n: int = 4000, seed: int = 0):
    """Points and outward normals of the half of a 0.15 m column that faces ``facing``,
    plus a wall behind it."""
    rng = np.random.default_rng(seed)
    base = np.arctan2(facing[1], facing[0])
    a = base + rng.uniform(-np.pi / 2, np.pi / 2, n)
    z = rng.uniform(0, 3, n)
    pts = np.column_stack([centre_x + 0.15 * np.cos(a), 0.15 * np.sin(a), z])
    nrm = np.column_stack([np.cos(a), np.sin(a), np.zeros(n)])
    wall_x, wall_z = rng.uniform(-3, 3, n), rng.uniform(0, 3, n)
    wall = np.column_stack([wall_x, np.full(n, 1.0), wall_z])
    floor = np.column_stack([rng.uniform(-3, 3, n), rng.uniform(-3, 1, n), np.zeros(n)])
    up = np.tile([0.0, 0.0, 1.0], (n, 1))
    back = np.tile([0.0, -1.0, 0.0], (n, 1))
    return np.vstack([pts, wall, floor]), np.vstack([nrm, back, up])


def test_icp_does_not_pair_the_two_sides_of_a_column():
    # One scanner saw the column's south-west half, the other its south-east half; a
    # start 0.25 m off along the wall must come back, not slide onto the other side.
    src, src_n = _column(0.0, np.array([-1.0, -1.0]) / np.sqrt(2), seed=1)
    dst, dst_n = _column(0.0, np.array([1.0, -1.0]) / np.sqrt(2), seed=2)
    init = np.eye(4)
    init[0, 3] = 0.25
    result = point_to_plane_icp(src, src_n, dst, dst_n, init, 0.3)
    assert abs(result.transform[0, 3]) < 0.01, result.transform[:3, 3]
    unsigned = point_to_plane_icp(src, src_n, dst, dst_n, init, 0.3, signed=False)
    assert abs(unsigned.transform[0, 3]) > 0.1, unsigned.transform[:3, 3]  # it slides to the other side


def _wall_and_floor(rng, y_range, n=6000):
    """A wall (x = 2, normal -x) and a floor (z = 0, normal +z) between y_range."""
    y = rng.uniform(*y_range, n)
    wall = np.column_stack([np.full(n // 2, 2.0), y[: n // 2], rng.uniform(0, 3, n // 2)])
    floor = np.column_stack([rng.uniform(-2, 2, n - n // 2), y[n // 2 :], np.zeros(n - n // 2)])
    normals = np.vstack([np.tile([-1.0, 0, 0], (n // 2, 1)), np.tile([0, 0, 1.0], (n - n // 2, 1))])
    return np.vstack([wall, floor]), normals


def _tab(y0: float, n: int = 25):
    """A small patch facing -y half a metre in front of the wall at y0: a few points that
    pull along the wall."""
    g = np.linspace(0, 0.1, 5)
    x, z = np.meshgrid(1.4 + g, 1.0 + g)
    return np.column_stack([x.ravel(), np.full(n, y0), z.ravel()]), np.tile([0, -1.0, 0], (n, 1))


def test_conditioned_icp_does_not_slide_along_a_lone_wall():
    """A wall and a floor leave the slide along the wall free: a handful of points (here
    a small tab placed differently in the two clouds, as the edge of one station's view
    would be) drags plain ICP along it, the degeneracy-aware solve leaves it where it was
    and still corrects the two directions the overlap fixes."""
    rng = np.random.default_rng(4)
    src, src_n = _wall_and_floor(rng, (0, 6))
    dst, dst_n = _wall_and_floor(rng, (1, 8))
    tab_s, tab_sn = _tab(3.0)
    tab_d, tab_dn = _tab(3.25)
    src, src_n = np.vstack([src, tab_s]), np.vstack([src_n, tab_sn])
    dst, dst_n = np.vstack([dst, tab_d]), np.vstack([dst_n, tab_dn])
    init = np.eye(4)
    init[:3, 3] = [0.04, 0.0, -0.03]  # off the wall and the floor by a few cm
    plain = point_to_plane_icp(src, src_n, dst, dst_n, init, 0.5, iterations=60)
    aware = point_to_plane_icp(src, src_n, dst, dst_n, init, 0.5, iterations=60, min_conditioning=0.01)
    assert plain.transform[1, 3] > 0.1  # plain ICP followed the tab along the wall
    assert abs(aware.transform[1, 3]) < 1e-3  # the aware one did not move along it
    # x and z corrected from 4 and 3 cm (the tab's pull, off the frozen axis, leaves mm)
    assert abs(aware.transform[0, 3]) < 5e-3 and abs(aware.transform[2, 3]) < 5e-3
    assert np.allclose(aware.transform[:3, :3], np.eye(3), atol=1e-3)


def test_conditioned_icp_converges_where_every_direction_is_fixed():
    """In a corner (two walls and a floor) nothing is frozen: the aware solve converges as
    plain ICP does."""
    rng = np.random.default_rng(5)
    src, src_n = _wall_and_floor(rng, (0, 6))
    dst, dst_n = _wall_and_floor(rng, (0, 6))
    m = 3000
    back = np.column_stack([rng.uniform(-2, 2, m), np.full(m, 6.0), rng.uniform(0, 3, m)])
    back_n = np.tile([0, -1.0, 0], (m, 1))
    src, src_n = np.vstack([src, back]), np.vstack([src_n, back_n])
    back2 = np.column_stack([rng.uniform(-2, 2, m), np.full(m, 6.0), rng.uniform(0, 3, m)])
    dst, dst_n = np.vstack([dst, back2]), np.vstack([dst_n, back_n])
    init = np.eye(4)
    init[:3, 3] = [0.04, -0.06, -0.03]
    aware = point_to_plane_icp(src, src_n, dst, dst_n, init, 0.5, iterations=60, min_conditioning=0.01)
    assert np.linalg.norm(aware.transform[:3, 3]) < 1e-3

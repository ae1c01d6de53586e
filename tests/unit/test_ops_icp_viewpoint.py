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

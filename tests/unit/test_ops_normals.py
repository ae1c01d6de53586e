"""Normals: PCA via open3d, oriented toward the scanner station."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.normals import estimate_normals


def _two_walls() -> PointCloud:
    """Two parallel walls (x = 0 and x = 4) sampled densely, scanned from x = 2."""
    rng = np.random.default_rng(0)
    yz = rng.random((4000, 2)) * [5.0, 3.0]
    a = np.column_stack([np.zeros(4000), yz])
    b = np.column_stack([np.full(4000, 4.0), yz])
    xyz = np.vstack([a, b]) + rng.normal(0, 0.001, (8000, 3))
    ids = np.repeat(np.array([1, 2], dtype=np.uint16), 4000)
    return PointCloud(xyz, attrs={"point_source_id": ids})


def test_normals_point_to_the_station():
    cloud = _two_walls()
    out = estimate_normals(cloud, radius=0.2, max_nn=30, station=np.array([2.0, 2.5, 1.5]))
    n = out.attrs["normals"]
    assert n.dtype == np.float32 and n.shape == (8000, 3)
    assert np.all(n[:4000, 0] > 0.99) and np.all(n[4000:, 0] < -0.99)


def test_per_source_station_positions():
    cloud = _two_walls()
    # Station 1 stands in front of the first wall (x < 0), station 2 behind the second (x > 4).
    out = estimate_normals(cloud, radius=0.2, station={1: [-3.0, 2.5, 1.5], 2: [7.0, 2.5, 1.5]})
    n = out.attrs["normals"]
    assert np.all(n[:4000, 0] < -0.99) and np.all(n[4000:, 0] > 0.99)
    with pytest.raises(UsageError, match="point_source_id"):
        estimate_normals(cloud, radius=0.2, station={1: [0.0, 0.0, 0.0]})


def test_viewpoint_and_consistent_orientation():
    cloud = _two_walls().subset(slice(0, 4000))
    toward = estimate_normals(cloud, radius=0.2, orientation="viewpoint", viewpoint=[-5.0, 0.0, 0.0])
    assert np.all(toward.attrs["normals"][:, 0] < -0.99)
    consistent = estimate_normals(cloud, radius=0.2, orientation="consistent")
    signs = np.sign(consistent.attrs["normals"][:, 0])
    assert abs(signs.sum()) == len(signs)  # one orientation over the whole wall


@pytest.mark.parametrize(
    "kwargs",
    [{"radius": -1.0}, {"radius": None, "max_nn": None}, {"max_nn": 2}, {"orientation": "up"},
     {"orientation": "viewpoint"}],
)
def test_bad_parameters(kwargs):
    with pytest.raises(UsageError):
        estimate_normals(_two_walls(), **kwargs)

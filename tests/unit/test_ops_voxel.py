"""Voxel downsampling: open3d's voxel set, attributes averaged or voted, nearest option."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.voxel import group_by_voxel, voxel_downsample


@pytest.fixture(scope="module")
def cloud() -> PointCloud:
    rng = np.random.default_rng(3)
    n = 40_000
    xyz = rng.random((n, 3)) * [3.0, 2.0, 1.0] + [775000.0 - 775000.0, 12.3, -4.0]
    normals = rng.normal(size=(n, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return PointCloud(
        xyz,
        origin=[775000.0, 1822000.0, 0.0],
        attrs={
            "rgb": rng.integers(0, 256, (n, 3), dtype=np.uint8),
            "intensity": rng.random(n).astype(np.float32) * 1000,
            "classification": rng.integers(1, 4, n).astype(np.uint8),
            "normals": normals,
        },
    )


@pytest.mark.parametrize("size", [0.05, 0.1, 0.37])
def test_same_voxels_and_centroids_as_open3d(cloud, size):
    from twin.ops._o3d_convert import points_to_o3d

    ours = voxel_downsample(cloud, size)
    theirs = np.asarray(points_to_o3d(cloud.xyz).voxel_down_sample(size).points)
    assert len(ours) == len(theirs)
    a = ours.xyz[np.lexsort(ours.xyz.T)]
    b = theirs[np.lexsort(theirs.T)]
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_attributes_follow_their_kind(cloud):
    out = voxel_downsample(cloud, 0.2)
    assert set(out.attrs) == set(cloud.attrs)
    assert out.attrs["rgb"].dtype == np.uint8 and out.attrs["intensity"].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out.attrs["normals"], axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out.origin, cloud.origin)
    # One voxel by hand: means for rgb/intensity, the most common class.
    groups = group_by_voxel(cloud.xyz, 0.2)
    members = groups.order[groups.starts[0] : groups.starts[0] + groups.counts[0]]
    np.testing.assert_allclose(out.xyz[0], cloud.xyz[members].mean(axis=0))
    np.testing.assert_array_equal(out.attrs["rgb"][0], np.rint(cloud.attrs["rgb"][members].mean(axis=0)))
    assert out.attrs["intensity"][0] == pytest.approx(cloud.attrs["intensity"][members].mean(), rel=1e-5)
    values, counts = np.unique(cloud.attrs["classification"][members], return_counts=True)
    assert out.attrs["classification"][0] == values[np.argmax(counts)]


def test_every_voxel_takes_its_most_common_class_whether_uniform_or_mixed(cloud):
    """Voxels of one class and voxels of several sit side by side: each gets its mode, ties
    to the smallest value, and the input is left as it was."""
    xyz = cloud.xyz.copy()
    classes = np.where(xyz[:, 0] < 1.5, 6, cloud.attrs["classification"]).astype(np.uint8)
    mixed = PointCloud(xyz, cloud.origin, {"classification": classes})
    out = voxel_downsample(mixed, 0.1)
    np.testing.assert_array_equal(mixed.xyz, cloud.xyz)
    groups = group_by_voxel(xyz, 0.1)
    expected = []
    for start, count in zip(groups.starts, groups.counts):
        values, counts = np.unique(classes[groups.order[start : start + count]], return_counts=True)
        expected.append(values[np.argmax(counts)])  # np.unique sorts: argmax takes the smallest tie
    np.testing.assert_array_equal(out.attrs["classification"], expected)
    uniform = out.attrs["classification"] == 6
    assert 0.3 < uniform.mean() < 0.7  # both kinds of voxel are exercised


def test_nearest_keeps_measured_points(cloud):
    out = voxel_downsample(cloud, 0.2, method="nearest")
    assert len(out) == len(voxel_downsample(cloud, 0.2))
    rows = {tuple(r) for r in cloud.xyz}
    assert all(tuple(r) in rows for r in out.xyz[:200])
    # The kept point is the one nearest its voxel's centre.
    groups = group_by_voxel(cloud.xyz, 0.2)
    members = groups.order[groups.starts[5] : groups.starts[5] + groups.counts[5]]
    centre = groups.min_bound + (groups.ijk[5] + 0.5) * 0.2
    best = members[np.argmin(((cloud.xyz[members] - centre) ** 2).sum(axis=1))]
    np.testing.assert_array_equal(out.xyz[5], cloud.xyz[best])


def test_inverse_maps_every_point_to_its_voxel(cloud):
    groups = group_by_voxel(cloud.xyz, 0.3)
    inv = groups.inverse()
    assert inv.max() == len(groups) - 1
    np.testing.assert_array_equal(np.floor((cloud.xyz - groups.min_bound) / 0.3).astype(np.int64), groups.ijk[inv])


def test_empty_and_bad_sizes(cloud):
    assert len(voxel_downsample(PointCloud(np.empty((0, 3))), 0.1)) == 0
    for size in (0.0, -1.0, float("nan")):
        with pytest.raises(UsageError):
            voxel_downsample(cloud, size)
    with pytest.raises(UsageError):
        voxel_downsample(cloud, 0.1, method="median")

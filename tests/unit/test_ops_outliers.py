"""Outlier flagging matches open3d's definitions, flags instead of deleting."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.flags import FLAG_CROPPED, FLAG_RADIUS_OUTLIER, FLAG_STAT_OUTLIER, drop_flagged, with_flag
from twin.ops.outliers import (
    flag_radius_outliers,
    flag_statistical_outliers,
    knn_mean_distances,
    radius_outlier_mask,
    spatial_order,
    statistical_outlier_mask,
)


@pytest.fixture(scope="module")
def noisy_surface() -> np.ndarray:
    """A wavy surface with 2 mm noise, 1 % of points thrown off it, in shuffled order."""
    rng = np.random.default_rng(0)
    n = 30_000
    xy = rng.random((n, 2)) * [6.0, 4.0]
    z = 0.3 * np.sin(xy[:, 0]) * np.cos(xy[:, 1])
    xyz = np.column_stack([xy, z]) + rng.normal(0, 0.002, (n, 3))
    bad = rng.choice(n, n // 100, replace=False)
    xyz[bad] += rng.normal(0, 0.2, (len(bad), 3))
    return xyz


def _o3d_removed_statistical(xyz, k, ratio):
    from twin.ops._o3d_convert import points_to_o3d

    _, kept = points_to_o3d(xyz).remove_statistical_outlier(k, ratio)
    removed = np.ones(len(xyz), dtype=bool)
    removed[np.asarray(kept)] = False
    return removed


@pytest.mark.parametrize("backend", ["scipy", "open3d", "auto"])
def test_statistical_mask_equals_open3d(noisy_surface, backend):
    expected = _o3d_removed_statistical(noisy_surface, 20, 2.0)
    got = statistical_outlier_mask(noisy_surface, 20, 2.0, backend=backend)
    assert expected.sum() > 200
    assert (got != expected).sum() <= 2  # exact ties at the threshold only


def test_mean_distances_include_the_point_itself():
    xyz = np.array([[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0]])
    np.testing.assert_allclose(knn_mean_distances(xyz, 2, backend="scipy"), [0.5, 0.5, 1.0])


def test_flagging_keeps_every_point(noisy_surface):
    cloud = PointCloud(noisy_surface, attrs={"intensity": np.ones(len(noisy_surface), np.float32)})
    flagged = flag_statistical_outliers(cloud, 20, 2.0)
    assert len(flagged) == len(cloud)
    assert (flagged.attrs["flags"] == FLAG_STAT_OUTLIER).sum() == statistical_outlier_mask(noisy_surface).sum()
    assert len(drop_flagged(flagged)) == len(cloud) - flagged.attrs["flags"].astype(bool).sum()


def test_already_flagged_points_take_no_part(noisy_surface):
    cloud = PointCloud(noisy_surface)
    cropped = with_flag(cloud, noisy_surface[:, 0] > 3.0, FLAG_CROPPED)
    flagged = flag_statistical_outliers(cropped, 20, 2.0)
    inside = noisy_surface[:, 0] <= 3.0
    expected = _o3d_removed_statistical(noisy_surface[inside], 20, 2.0)
    assert ((flagged.attrs["flags"][inside] & FLAG_STAT_OUTLIER) > 0).sum() == pytest.approx(expected.sum(), abs=2)
    assert not (flagged.attrs["flags"][~inside] & FLAG_STAT_OUTLIER).any()


def test_radius_mask_equals_open3d(noisy_surface):
    from twin.ops._o3d_convert import points_to_o3d

    _, kept = points_to_o3d(noisy_surface).remove_radius_outlier(6, 0.03)
    expected = np.ones(len(noisy_surface), dtype=bool)
    expected[np.asarray(kept)] = False
    got = radius_outlier_mask(noisy_surface, 6, 0.03)
    assert expected.sum() > 100 and (got != expected).sum() == 0
    flagged = flag_radius_outliers(PointCloud(noisy_surface), 6, 0.03)
    assert ((flagged.attrs["flags"] & FLAG_RADIUS_OUTLIER) > 0).sum() == expected.sum()


def test_spatial_order_is_a_permutation(noisy_surface):
    order = spatial_order(noisy_surface)
    np.testing.assert_array_equal(np.sort(order), np.arange(len(noisy_surface)))


def test_tiny_and_degenerate_inputs():
    assert not statistical_outlier_mask(np.zeros((1, 3))).any()
    dup = np.zeros((30, 3))  # all at one place: mean distance 0, which open3d removes too
    assert statistical_outlier_mask(dup, 5, 2.0, backend="scipy").all()
    assert radius_outlier_mask(np.empty((0, 3)), 3, 0.1).shape == (0,)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: flag_statistical_outliers(c, 1, 2.0),
        lambda c: flag_statistical_outliers(c, 20, 0.0),
        lambda c: flag_statistical_outliers(c, 20, 2.0, backend="faiss"),
        lambda c: flag_radius_outliers(c, 0, 0.1),
        lambda c: flag_radius_outliers(c, 3, -1.0),
    ],
)
def test_impossible_parameters(call):
    with pytest.raises(UsageError):
        call(PointCloud(np.random.default_rng(0).random((100, 3))))

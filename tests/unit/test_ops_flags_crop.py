"""Flag bits, drop_flagged, and cropping by boxes and polygon footprints."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.crop import AxisAlignedBox, OrientedBox, PolygonPrism, crop, crop_mask, region_from_params
from twin.ops.flags import (
    FLAG_CROPPED,
    FLAG_RADIUS_OUTLIER,
    FLAG_STAT_OUTLIER,
    drop_flagged,
    flag_bits,
    flags_of,
    with_flag,
)


def _grid_cloud() -> PointCloud:
    g = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0), np.arange(10.0), indexing="ij"), -1).reshape(-1, 3)
    return PointCloud(g, origin=[775000.0, 1822000.0, 0.0], attrs={"intensity": np.arange(1000, dtype=np.float32)})


def test_flags_accumulate_and_drop_by_bit():
    cloud = _grid_cloud()
    a = with_flag(cloud, cloud.xyz[:, 0] < 2, FLAG_STAT_OUTLIER)
    b = with_flag(a, cloud.xyz[:, 1] < 1, FLAG_RADIUS_OUTLIER)
    assert "flags" not in cloud.attrs  # the input is never modified
    assert flags_of(b).dtype == np.uint8
    assert (flags_of(b) == FLAG_STAT_OUTLIER | FLAG_RADIUS_OUTLIER).sum() == 2 * 10
    assert len(drop_flagged(b, FLAG_STAT_OUTLIER)) == 800
    assert len(drop_flagged(b, "radius_outlier")) == 900
    assert len(drop_flagged(b)) == 1000 - 200 - 100 + 20
    kept = drop_flagged(b)
    assert kept.attrs["intensity"].shape == (len(kept),)


def test_flag_names_are_checked():
    assert flag_bits(["stat_outlier", "cropped"]) == FLAG_STAT_OUTLIER | FLAG_CROPPED
    assert flag_bits("all") == 255
    with pytest.raises(UsageError, match="unknown flag"):
        flag_bits(["stat_outlire"])
    with pytest.raises(UsageError):
        flag_bits(300)


def test_axis_aligned_box_in_local_and_world_coordinates():
    cloud = _grid_cloud()
    box = AxisAlignedBox([0, 0, 0], [4.5, 4.5, 4.5])
    assert crop_mask(cloud, box).sum() == 125
    world_box = AxisAlignedBox([775000.0, 1822000.0, 0.0], [775004.5, 1822004.5, 4.5])
    np.testing.assert_array_equal(crop_mask(cloud, world_box, world=True), crop_mask(cloud, box))
    assert len(crop(cloud, box)) == 125
    assert len(crop(cloud, box, invert=True)) == 875
    flagged = crop(cloud, box, flag=True)
    assert len(flagged) == 1000 and (flagged.attrs["flags"] == FLAG_CROPPED).sum() == 875


def test_oriented_box_rotated_45_degrees():
    cloud = _grid_cloud()
    a = np.radians(45)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    box = OrientedBox([4.5, 4.5, 4.5], [2.0, 2.0, 20.0], rot)
    inside = cloud.xyz[crop_mask(cloud, box)]
    local = (inside - [4.5, 4.5, 4.5]) @ rot
    assert len(inside) > 0 and np.all(np.abs(local[:, :2]) <= 1.0 + 1e-9)
    assert region_from_params({"center": [4.5, 4.5, 4.5], "extent": [2, 2, 20], "yaw_deg": 45}).contains(
        cloud.xyz
    ).sum() == len(inside)


def test_polygon_footprint_with_z_range():
    cloud = _grid_cloud()
    # An L-shaped footprint: the square 0..5 minus its corner 3..5 x 3..5.
    poly = PolygonPrism([[-0.5, -0.5], [5.5, -0.5], [5.5, 2.5], [2.5, 2.5], [2.5, 5.5], [-0.5, 5.5]], z_min=1, z_max=3)
    mask = crop_mask(cloud, poly)
    assert mask.sum() == (36 - 9) * 3
    assert not mask[(cloud.xyz[:, 0] == 4) & (cloud.xyz[:, 1] == 4)].any()
    assert region_from_params({"polygon": poly.polygon_xy.tolist(), "z_min": 1, "z_max": 3}).contains(
        cloud.xyz
    ).sum() == mask.sum()


@pytest.mark.parametrize(
    "params",
    [
        {"min": [0, 0, 0], "max": [-1, 1, 1]},
        {"polygon": [[0, 0], [1, 1]]},
        {"polygon": [[0, 0], [1, 0], [1, 1]], "z_min": 3, "z_max": 1},
        {"centre": [0, 0, 0], "extent": [1, 1, 1]},
        {"center": [0, 0, 0], "extent": [1, -1, 1]},
    ],
)
def test_impossible_regions_are_usage_errors(params):
    with pytest.raises(UsageError):
        region_from_params(params)

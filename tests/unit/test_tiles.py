"""The tile store: bucketing streamed chunks, halo reads, and a step run per tile that
equals the untiled step."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud
from twin.ops.flags import FLAG_STAT_OUTLIER
from twin.ops.outliers import knn_mean_distances, statistical_outlier_mask
from twin.tiles import TileLayout, TileStore
from twin.tiles.layout import tile_size_for_budget
from twin.tiles.tasks import flag_statistical_outliers_tiled

ORIGIN = np.array([775_100.0, 1_822_500.0, 0.0])


def _site(n: int = 60_000, seed: int = 5) -> PointCloud:
    """Ground and two walls over 30 x 20 m, 2 mm noise, and 1 % stray points above."""
    rng = np.random.default_rng(seed)
    ground = np.column_stack([rng.uniform(0, 30, n), rng.uniform(0, 20, n), rng.normal(0, 0.002, n)])
    wall = np.column_stack([rng.uniform(0, 30, n // 3), rng.normal(10, 0.002, n // 3), rng.uniform(0, 6, n // 3)])
    stray = np.column_stack([rng.uniform(0, 30, n // 100), rng.uniform(0, 20, n // 100), rng.uniform(0.3, 8, n // 100)])
    xyz = np.concatenate([ground, wall, stray])
    return PointCloud(xyz, ORIGIN.copy(), {"intensity": rng.random(len(xyz)).astype(np.float32),
                                           "rgb": rng.integers(0, 255, (len(xyz), 3), dtype=np.uint8)})


def _chunks(cloud: PointCloud, parts: int = 4):
    for rows in np.array_split(np.arange(len(cloud)), parts):
        yield cloud.subset(rows).with_origin(cloud.origin + [100.0, 0.0, 0.0])  # chunks in another frame


def _layout(cloud: PointCloud, size: float = 8.0, halo: float = 1.0) -> TileLayout:
    return TileLayout.covering(cloud.xyz.min(axis=0), cloud.xyz.max(axis=0), cloud.origin, size, halo)


def _rows_key(xyz: np.ndarray) -> np.ndarray:
    return np.lexsort(np.round(xyz, 9).T[::-1])


def test_every_point_lands_in_exactly_one_tile_unchanged(tmp_path):
    cloud = _site()
    layout = _layout(cloud)
    store = TileStore.bucket(tmp_path / "tiles", layout, _chunks(cloud))
    assert layout.shape == (4, 3) and len(store.keys) == 12 and store.points == len(cloud)
    merged = store.merged()
    a, b = _rows_key(cloud.xyz), _rows_key(merged.xyz)
    np.testing.assert_allclose(merged.xyz[b], cloud.xyz[a], rtol=0, atol=1e-9)  # the frame change only
    assert np.array_equal(merged.attrs["rgb"][b], cloud.attrs["rgb"][a])
    assert np.array_equal(merged.attrs["intensity"][b], cloud.attrs["intensity"][a])
    for key in store.keys:  # each tile holds what its rectangle holds
        own, n = store.read(key, halo=0.0)
        lo, hi = layout.bounds(key)
        inside = np.all((cloud.xyz[:, :2] >= lo) & (cloud.xyz[:, :2] < hi), axis=1)
        assert n == len(own) == inside.sum() == store.records[key].points
        # its record keeps the box of its points (what a reader needs without a pass over them)
        xyz = store.arrays(key)["xyz"]
        assert store.records[key].lo == tuple(xyz.min(axis=0)) and store.records[key].hi == tuple(xyz.max(axis=0))
    store.update(store.keys[0], {"intensity": np.zeros(store.records[store.keys[0]].points, dtype=np.uint16)})
    assert store.records[store.keys[0]].lo is not None  # an update of attributes keeps it
    reopened = TileStore.open(tmp_path / "tiles")
    assert reopened.records == store.records and reopened.layout == layout
    assert not (tmp_path / "tiles" / "spill").exists()


def test_a_halo_read_adds_exactly_the_neighbours_points_near_the_edge(tmp_path):
    cloud = _site(20_000)
    layout = _layout(cloud, size=8.0, halo=1.5)
    store = TileStore.bucket(tmp_path / "tiles", layout, [cloud])
    key = (1, 1)
    tile, own = store.read(key)
    lo, hi = layout.bounds(key)
    xy = cloud.xyz[:, :2]
    mine = np.all((xy >= lo) & (xy < hi), axis=1)
    near = np.all((xy >= lo - 1.5) & (xy <= hi + 1.5), axis=1) & ~mine
    assert own == mine.sum() and len(tile) - own == near.sum()
    np.testing.assert_allclose(np.sort(tile.xyz[own:, 0]), np.sort(cloud.xyz[near, 0]), atol=1e-9)


def test_a_failed_bucketing_leaves_nothing(tmp_path):
    cloud = _site(5_000)

    def broken():
        yield cloud.subset(slice(0, 2_000))
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        TileStore.bucket(tmp_path / "tiles", _layout(cloud), broken())
    assert not (tmp_path / "tiles").exists()
    odd = [cloud.subset(slice(0, 10)), PointCloud(cloud.xyz[10:20], cloud.origin)]  # attributes differ
    with pytest.raises(UsageError, match="same attributes"):
        TileStore.bucket(tmp_path / "tiles", _layout(cloud), odd)
    assert not (tmp_path / "tiles").exists()
    TileStore.bucket(tmp_path / "tiles", _layout(cloud), [cloud])
    with pytest.raises(UsageError, match="already exists"):
        TileStore.bucket(tmp_path / "tiles", _layout(cloud), [cloud])


def test_statistical_outliers_per_tile_equal_the_untiled_step(tmp_path):
    """Twelve tiles with a 1 m halo: every flag equals open3d's rule over the whole
    cloud (scipy backend, the same neighbour distances). The stray points in the air
    whose 20th neighbour lies farther than the halo reaches past their tile's edge (291,
    0.4 %) are measured again among every point in reach; without that, 100 of them got a
    different mean and the survey's spread moved enough to flip other points. With a
    narrower halo more points need it, and the flags are still exact."""
    cloud = _site()
    TileStore.bucket(tmp_path / "tiles", _layout(cloud), [cloud])
    result = flag_statistical_outliers_tiled(tmp_path / "tiles", k=20, std_ratio=2.0)
    merged = TileStore.open(tmp_path / "tiles").merged()
    expected = statistical_outlier_mask(merged.xyz, 20, 2.0, backend="scipy")
    got = (merged.attrs["flags"] & FLAG_STAT_OUTLIER) > 0
    assert result.points == len(cloud) and 0 < result.widened < 0.005 * len(cloud)
    assert expected.sum() > 500 and np.array_equal(got, expected)
    assert result.flagged == expected.sum()
    np.testing.assert_allclose(merged.attrs["knn_mean"], knn_mean_distances(merged.xyz, 20, backend="scipy"),
                               rtol=1e-12)
    narrow = TileStore.bucket(tmp_path / "narrow", _layout(cloud, halo=0.05), [cloud])
    again = flag_statistical_outliers_tiled(narrow.folder, k=20)
    assert again.widened > 2 * result.widened
    merged = narrow.merged()
    assert np.array_equal((merged.attrs["flags"] & FLAG_STAT_OUTLIER) > 0, expected)


def test_the_tile_size_follows_the_memory_budget():
    size = tile_size_for_budget(points=200_000_000, area_m2=40_000, memory_bytes=2 * 2**30, halo=0.5)
    assert 44 < size < 46  # 5,000 points per m², 10.7 M points a tile and halo at 200 bytes: 46.3 m less 2 halos
    with pytest.raises(UsageError, match="cannot hold a tile"):
        tile_size_for_budget(points=200_000_000, area_m2=400, memory_bytes=2**20, halo=0.5)
    with pytest.raises(UsageError, match="narrower than a tile"):
        TileLayout.covering(np.zeros(3), np.ones(3), np.zeros(3), size=1.0, halo=1.0)

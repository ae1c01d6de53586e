"""Work over the tiles of a store, in this process or on a Dask cluster.

:func:`map_tiles` runs one function per tile: a plain loop without a client, else
``client.map`` with retries, so a tile whose worker dies runs again elsewhere (Dask
re-runs the lost task; the function must be safe to run twice, which writing a tile's
arrays atomically makes it). Functions get the store's folder and a tile key, never
arrays, so nothing big travels to the workers: the workspace must be on a path every
worker sees (a shared disk for a real cluster).

:func:`flag_statistical_outliers_tiled` is the first step built this way. open3d's
statistical rule compares each point's mean neighbour distance with the mean and spread
over the *whole* cloud, so it runs in two passes: each tile's own points measured
against their neighbours in the tile and its halo, then the survey's mean and spread
summed from the tiles' partial sums, then each tile flagged. A point whose neighbours
reach past the halo (a stray return metres from anything) is measured again among every
point within its reach, from as many tiles as that takes, so the flags equal the
untiled step's exactly; the step says how many points needed that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from twin.ops.flags import FLAG_STAT_OUTLIER
from twin.tiles.store import TileStore

Key = tuple[int, int]


class TileStep:
    """A per-tile step whose result is kept with the tile, ``<tile>/step-<name>.json``
    (with the tile's hash after the step), so that a run interrupted and started again on
    the same store skips the tiles already done. ``name`` must say everything the result
    depends on besides the store (the step and its parameters). Steps must be safe to run
    twice (each writes its arrays atomically, then its result): a tile cut off between
    the two simply runs again. Picklable, for Dask."""

    def __init__(self, name: str, fn: Callable[[str, Key], Any]):
        self.name, self.fn = name, fn

    def path(self, folder: str, key: Key) -> Path:
        from twin.tiles.store import tile_dir  # noqa: PLC0415

        return Path(folder) / tile_dir(key) / f"step-{self.name}.json"

    def kept(self, folder: str, key: Key) -> tuple[bool, Any]:
        """Whether the tile's result is kept, and the result."""
        import json  # noqa: PLC0415

        try:
            return True, json.loads(self.path(folder, key).read_text())["result"]
        except (FileNotFoundError, ValueError, KeyError):
            return False, None

    def __call__(self, folder: str, key: Key) -> Any:
        import json  # noqa: PLC0415

        from twin.io.atomic import atomic_write_bytes  # noqa: PLC0415
        from twin.tiles.store import RECORD, tile_dir  # noqa: PLC0415

        key = tuple(key)
        done, result = self.kept(folder, key)
        if done:
            return result
        result = self.fn(folder, key)
        sha = json.loads((Path(folder) / tile_dir(key) / RECORD).read_text())["sha256"]
        atomic_write_bytes(self.path(folder, key), json.dumps({"result": result, "sha256": sha}).encode())
        return result


def map_tiles(fn: Callable[[str, Key], Any], folder: Path, keys: Iterable[Key], *, client=None, retries: int = 3,
              on_done: Callable[[Key, Any], None] | None = None) -> dict[Key, Any]:
    """``fn(str(folder), key)`` for every key; results by key."""
    keys = [tuple(k) for k in keys]
    results: dict[Key, Any] = {}
    if client is None:
        for key in keys:
            results[key] = fn(str(folder), key)
            if on_done:
                on_done(key, results[key])
        return results
    from distributed import as_completed  # noqa: PLC0415

    futures = client.map(fn, [str(folder)] * len(keys), keys, retries=retries, pure=False)
    by_future = {f.key: k for f, k in zip(futures, keys, strict=True)}
    for future in as_completed(futures):
        key = by_future[future.key]
        results[key] = future.result()
        if on_done:
            on_done(key, results[key])
    return {key: results[key] for key in keys}  # in the keys' order, not the finishing order: sums add up alike


class TiledOutliers(BaseModel):
    points: int
    flagged: int
    mean: float  # the survey's mean neighbour distance (open3d's μ)
    sigma: float
    widened: int  # points whose neighbours reached past the halo, measured again among every point in reach
    resumed: int = 0  # tile steps whose result an interrupted run had kept


def _measure(folder: str, key: Key, k: int, backend: str) -> dict:
    from twin.ops.outliers import knn_mean_distances_of  # noqa: PLC0415

    store = TileStore.open(Path(folder))
    cloud, own = store.read(key)
    mean, kth = knn_mean_distances_of(cloud.xyz, own, k, backend)
    lo, hi = store.layout.bounds(key)
    xy = cloud.xyz[:own, :2]
    to_edge = np.minimum(xy - lo, hi - xy).min(axis=1)  # inf at the grid's outer edges
    # a point whose k-th neighbour in tile and halo lies farther than the halo reaches past
    # the edge (or a tile with fewer than k points in reach) may have nearer neighbours
    # beyond: measure it again among every point within its k-th distance, from as many
    # tiles as that takes, widening until the k-th neighbour lies inside what was read
    short = len(cloud.xyz) < k
    unsure = np.arange(own) if short else np.flatnonzero(kth > to_edge + store.layout.halo)
    if len(unsure):
        everything = store.layout.size * (sum(store.layout.shape) + 2)  # a reach that takes in every tile
        reach = store.layout.size if short else float(kth[unsure].max())
        rest = np.delete(cloud.xyz[:own], unsure, axis=0)
        while True:
            near = store.points_in(xy[unsure].min(axis=0) - reach, xy[unsure].max(axis=0) + reach, skip=key)
            again, again_kth = knn_mean_distances_of(np.concatenate([cloud.xyz[unsure], rest, near]), len(unsure), k,
                                                     backend)
            if len(unsure) + len(rest) + len(near) >= k and again_kth.max() <= reach or reach >= everything:
                break
            reach = min(max(2 * reach, float(again_kth.max())), everything)
        mean[unsure] = again
    store.update(key, {"knn_mean": mean})
    positive = mean > 0
    return {"points": own, "sum": float(mean[positive].sum()), "sum_sq": float((mean[positive] ** 2).sum()),
            "positive": int(positive.sum()), "widened": len(unsure)}


def _flag(folder: str, key: Key, limit: float) -> int:
    from twin.ops.flags import with_flag  # noqa: PLC0415
    from twin.models.pointcloud import PointCloud  # noqa: PLC0415

    store = TileStore.open(Path(folder))
    arrays = store.arrays(key)
    mean = arrays["knn_mean"]
    outlier = ~((mean > 0) & (mean < limit))
    flags = with_flag(PointCloud(arrays["xyz"], attrs={"flags": arrays["flags"]} if "flags" in arrays else {}),
                      outlier, FLAG_STAT_OUTLIER).attrs["flags"]
    store.update(key, {"flags": flags})
    return int(outlier.sum())


def flag_statistical_outliers_tiled(folder: Path, k: int = 20, std_ratio: float = 2.0, *, client=None,
                                    on_tile: Callable[[Key, Any], None] | None = None,
                                    backend: str = "scipy") -> TiledOutliers:
    """open3d's statistical outlier rule over every point of the store, tile by tile
    (see the module's docstring); each tile gets ``knn_mean`` and its ``flags``.

    Distances are float64 (scipy) by default: pykdtree's float32, centred on each tile,
    rounds differently from tile to tile, and near-duplicate points (two stations
    registered onto the same surface) then flip across the threshold."""
    from functools import partial  # noqa: PLC0415

    from twin.ops.outliers import _check_statistical  # noqa: PLC0415

    _check_statistical(k, std_ratio)
    store = TileStore.open(folder)
    resumed = 0

    def kept(step: TileStep) -> int:  # results are written atomically: a file there is a result kept
        return sum(step.path(str(folder), key).exists() for key in store.keys)

    measure = TileStep(f"measure-k{int(k)}-{backend}", partial(_measure, k=int(k), backend=backend))
    resumed += kept(measure)
    parts = map_tiles(measure, folder, store.keys, client=client, on_done=on_tile)
    n = sum(p["points"] for p in parts.values())
    total = sum(p["sum"] for p in parts.values())
    total_sq = sum(p["sum_sq"] for p in parts.values())
    positive = sum(p["positive"] for p in parts.values())
    mu = total / n
    # Σ(m - μ)² over the positive means, from the partial sums
    sigma = float(np.sqrt(max(total_sq - 2 * mu * total + positive * mu**2, 0.0) / max(n - 1, 1)))
    limit = mu + std_ratio * sigma
    flag = TileStep(f"flag-{limit!r}", partial(_flag, limit=limit))  # the limit to the last bit, from every tile
    resumed += kept(flag)
    flagged = map_tiles(flag, folder, store.keys, client=client, on_done=on_tile)
    return TiledOutliers(points=n, flagged=sum(flagged.values()), mean=mu, sigma=sigma,
                         widened=sum(p["widened"] for p in parts.values()), resumed=resumed)

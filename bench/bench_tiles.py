"""The tile store at survey scale: stream generated points into tiles, then flag
statistical outliers tile by tile, in bounded memory.

    ./run bench tiles                       # 10M points
    ./run bench tiles --points 50000000 --tile 20
    ./run bench tiles --workers 2           # the tiles on a local Dask cluster

The site grows with the points (ground, walls and stray returns at about 1,000 points
per m² of plan), generated chunk by chunk so that the generator never holds the survey.
Prints, per phase: seconds, points per second, and the peak RSS of this process and its
children (Dask workers included).
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.models.pointcloud import PointCloud  # noqa: E402
from twin.tiles import TileLayout, TileStore  # noqa: E402
from twin.tiles.tasks import flag_statistical_outliers_tiled  # noqa: E402

DENSITY = 1_000.0  # points per m² of plan
CHUNK = 2_000_000


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def site_chunks(points: int, side: float, seed: int = 1):
    """Ground with 2 mm noise, a wall every 10 m, 1 % strays, in chunks of CHUNK points."""
    rng = np.random.default_rng(seed)
    for start in range(0, points, CHUNK):
        n = min(CHUNK, points - start)
        xyz = np.column_stack([rng.uniform(0, side, n), rng.uniform(0, side, n), rng.normal(0, 0.002, n)])
        wall = rng.random(n) < 0.25
        xyz[wall, 1] = np.round(xyz[wall, 1] / 10) * 10 + rng.normal(0, 0.002, wall.sum())
        xyz[wall, 2] = rng.uniform(0, 6, wall.sum())
        stray = rng.random(n) < 0.01
        xyz[stray, 2] = rng.uniform(0.3, 8, stray.sum())
        yield PointCloud(xyz, np.zeros(3), {"intensity": rng.random(n).astype(np.float32)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--tile", type=float, default=20.0, help="tile size, m")
    parser.add_argument("--halo", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=0, help="a local Dask cluster of this many workers (0: none)")
    args = parser.parse_args()
    side = math.sqrt(args.points / DENSITY)
    layout = TileLayout.covering(np.zeros(3), np.array([side, side, 8.0]), np.zeros(3), args.tile, args.halo)
    work = Path(tempfile.mkdtemp(prefix="twin-bench-tiles-"))
    client = None
    try:
        if args.workers:
            from distributed import Client, LocalCluster  # noqa: PLC0415

            client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True))
        print(f"{args.points:,} points over {side:.0f} x {side:.0f} m, {layout.count} tiles of {args.tile:g} m "
              f"(halo {args.halo:g} m), {'Dask, %d workers' % args.workers if args.workers else 'in process'}")
        t = time.perf_counter()
        store = TileStore.bucket(work / "tiles", layout, site_chunks(args.points, side))
        s = time.perf_counter() - t
        print(f"  bucket    {s:8.1f} s  {args.points / s / 1e6:6.2f} M points/s  peak RSS {peak_rss_mb():7.0f} MB")
        t = time.perf_counter()
        result = flag_statistical_outliers_tiled(store.folder, k=20, std_ratio=2.0, client=client)
        s = time.perf_counter() - t
        print(f"  outliers  {s:8.1f} s  {args.points / s / 1e6:6.2f} M points/s  peak RSS {peak_rss_mb():7.0f} MB "
              f"({result.flagged:,} flagged, {result.widened:,} measured again past the halo)")
    finally:
        if client is not None:
            client.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Streaming COPC writer: time, points per second and peak memory on generated points.

    .venv/bin/python bench/bench_copc.py                        # 5M points in 500k-point chunks
    .venv/bin/python bench/bench_copc.py --points 20000000 --memory-limit 2000000
    .venv/bin/python bench/bench_copc.py --single-pass          # a generator: records staged on disk

The points are a 40 x 30 x 15 m building near Hue (UTM 48N): two walls and the floor
scanned to 3 mm noise plus a dense 1 m statue (a tenth of the points, so the writer must bin its
cell again), with intensity, colour and element/phase/material labels. They are made
chunk by chunk from a seed, so a callable can hand the writer the same chunks twice
(bounds, then points) and nothing ever holds the whole cloud. The write runs in a fresh
process: its peak RSS is the writer's (plus one chunk), and is printed beside the size
the whole cloud would take in memory; CPU time (all threads: LAZ compression runs on
every core) is printed beside wall time, which other processes on the machine inflate. The file is then checked with laspy's CopcReader.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ORIGIN = np.array([749000.0, 1821000.0, 0.0])


def make_chunk(index: int, n: int):
    from twin.models.pointcloud import PointCloud  # noqa: PLC0415

    rng = np.random.default_rng(1000 + index)
    xyz = rng.random((n, 3)) * [40.0, 30.0, 15.0] + [10.0, 20.0, 5.0]
    face = rng.integers(0, 10, n)
    south, west, floor, statue = face < 3, (face >= 3) & (face < 6), (face >= 6) & (face < 9), face == 9
    xyz[south, 1] = 20.0 + rng.normal(0, 0.003, south.sum())
    xyz[west, 0] = 10.0 + rng.normal(0, 0.003, west.sum())
    xyz[floor, 2] = 5.0 + rng.normal(0, 0.003, floor.sum())
    sphere = rng.normal(0, 1, (statue.sum(), 3))
    xyz[statue] = sphere / np.linalg.norm(sphere, axis=1, keepdims=True) * 0.5 + [30.0, 35.0, 6.0]
    element = np.where(south, 1, np.where(west, 2, np.where(statue, 7, 3))).astype(np.int32)
    return PointCloud(xyz, ORIGIN, {
        "intensity": rng.integers(0, 65535, n).astype(np.float32),
        "rgb": rng.integers(0, 256, (n, 3)).astype(np.uint8),
        "classification": np.full(n, 6, dtype=np.uint8),
        "element": element,
        "phase": (element % 3).astype(np.int32),
        "material": (element % 2).astype(np.int32),
    })


def chunk_sizes(points: int, chunk: int) -> list[int]:
    return [min(chunk, points - start) for start in range(0, points, chunk)]


def child(args) -> None:
    import resource  # noqa: PLC0415

    from twin.io.copc import write_copc  # noqa: PLC0415

    sizes = chunk_sizes(args.points, args.chunk)

    def chunks():
        for i, n in enumerate(sizes):
            yield make_chunk(i, n)

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t, cpu = time.perf_counter(), time.process_time()
    summary = write_copc(chunks() if args.single_pass else chunks, args.target, origin=ORIGIN,
                         crs_wkt=None, max_points_per_node=args.max_per_node, memory_limit_points=args.memory_limit)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak, "base_mb": base, "points": summary.point_count,
                      "nodes": summary.node_count, "levels": summary.points_per_level,
                      "bytes": Path(args.target).stat().st_size}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=5_000_000)
    parser.add_argument("--chunk", type=int, default=500_000)
    parser.add_argument("--memory-limit", type=int, default=None, help="writer's memory_limit_points")
    parser.add_argument("--max-per-node", type=int, default=None, help="writer's max_points_per_node")
    parser.add_argument("--single-pass", action="store_true", help="hand the writer a generator (staged on disk)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from twin.io import copc  # noqa: PLC0415

    args.memory_limit = args.memory_limit or copc.DEFAULT_MEMORY_LIMIT_POINTS
    args.max_per_node = args.max_per_node or copc.DEFAULT_MAX_POINTS_PER_NODE
    if args.child:
        child(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        target = Path(scratch) / "bench.copc.laz"
        command = [sys.executable, __file__, "--child", "--target", str(target), "--points", str(args.points),
                   "--chunk", str(args.chunk), "--memory-limit", str(args.memory_limit),
                   "--max-per-node", str(args.max_per_node)] + ["--single-pass"] * args.single_pass
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr)
        run = json.loads(done.stdout.strip().splitlines()[-1])
        whole_mb = args.points * (3 * 8 + 4 + 1 + 3 + 3 * 4) / 2**20
        print(f"points {run['points']:,} in {len(chunk_sizes(args.points, args.chunk))} chunks of {args.chunk:,}"
              f"{' (single pass, staged)' if args.single_pass else ' (two passes)'}; "
              f"memory_limit_points {args.memory_limit:,}, max_points_per_node {args.max_per_node:,}")
        print(f"write {run['seconds']:.1f} s ({run['cpu']:.1f} s CPU, all threads), "
              f"{run['points'] / run['seconds'] / 1e6:.2f} Mpts/s; "
              f"peak RSS {run['peak_mb']:.0f} MB (after imports {run['base_mb']:.0f} MB; the whole cloud in "
              f"memory would be {whole_mb:.0f} MB); file {run['bytes'] / 2**20:.0f} MB, {run['nodes']:,} nodes, "
              f"points per level {run['levels']}")
        import laspy  # noqa: PLC0415

        t = time.perf_counter()
        with laspy.CopcReader.open(str(target)) as reader:
            assert reader.header.point_count == args.points
            nodes = sum(e.point_count for e in reader.root_page.entries.values())
            assert nodes == args.points, (nodes, args.points)
            level0 = len(reader.query(level=0))
            box = reader.query(bounds=laspy.copc.Bounds(np.array([749029.0, 1821034.0, 5.0]),
                                                        np.array([749031.0, 1821036.0, 7.0])))
        print(f"check: CopcReader header and hierarchy hold {args.points:,} points; level 0 {level0:,} points; "
              f"a 2 x 2 x 2 m box round the statue {len(box):,} points ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()

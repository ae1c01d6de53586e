"""Inspect (--stats) and ingest throughput and peak memory on large generated LAS/LAZ.

    ./run bench io                      # 10M points, LAS and LAZ
    ./run bench io --points 50000000    # the issue's 50M-point memory check
    ./run bench io --repeat 3

Each measurement runs in a fresh process so its peak RSS is its own; imports are
excluded from the time. Prints points per second (median of --repeat runs) and peak
memory. Ingest = a full validating read, SHA-256, and the copy into the store.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _synthetic import write_synthetic_las  # noqa: E402

_MEASURE = r"""
import json, resource, sys, time
from pathlib import Path
from twin.io.registry import inspect_scan, formats
from twin.catalog.ingest import ingest
from twin.catalog.workspace import init_workspace
import laspy; formats()
t = time.perf_counter()
if sys.argv[1] == "inspect":
    info = inspect_scan(Path(sys.argv[2]), stats=True)
    n = info.stats.points_read
else:
    ws = init_workspace(Path(sys.argv[3]))
    n = ingest(ws, [Path(sys.argv[2])], "bench", "s1").added[0].point_count
seconds = time.perf_counter() - t
print(json.dumps({"points": n, "seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(kind: str, path: Path, scratch: Path, i: int) -> dict:
    args = [sys.executable, "-c", _MEASURE, kind, str(path), str(scratch / f"ws-{kind}-{path.suffix}-{i}")]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=["las", "laz"])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'file':<28}{'step':<9}{'points':>12}{'median s':>10}{'Mpts/s':>9}{'peak MB':>9}")
    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        for fmt in args.formats:
            path = args.out / f"synthetic-{args.points // 1_000_000}M.{fmt}"
            if not path.exists():
                t = time.perf_counter()
                write_synthetic_las(path, args.points)
                print(f"(generated {path.name}: {path.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t:.1f} s)")
            for kind in ("inspect", "ingest"):
                runs = [measure(kind, path, Path(scratch), i) for i in range(args.repeat)]
                secs = statistics.median(r["seconds"] for r in runs)
                peak = max(r["peak_mb"] for r in runs)
                n = runs[0]["points"]
                print(f"{path.name:<28}{kind:<9}{n:>12,}{secs:>10.2f}{n / secs / 1e6:>9.1f}{peak:>9.0f}")


if __name__ == "__main__":
    main()

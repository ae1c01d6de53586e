"""Registration of real scans moved at random: every scan placed, loops closed, time.

    ./run bench real_registration [--seeds 1-11] [--reach 200]

The six close-range scans of a lion statue in ``../shared/data/real/lion`` come roughly
pre-aligned (their gaps are a few units, so that is no ground truth). For each seed,
every scan is turned by a uniform random rotation and shifted within ``--reach`` units,
and the six are registered with no initial pose. A scan counts as placed when the
registration puts it within 10 degrees and 10 units (centroid) of the pre-alignment;
a survey counts when every scan is placed and every loop of the quality report closes
within 0.5 degrees and 1.5 point spacings (what
``tests/realdata/test_real_registration.py`` asks). Printed: per seed the worst scan
and loop, the time per scan; then the success rate and the peak RSS.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_registration import peak_rss_mb

from twin.errors import TwinError
from twin.io.registry import read_scan
from twin.models.pointcloud import PointCloud
from twin.ops.registration import register_stations, rotation_angle_deg
from twin.sample.motion import random_motion

LION = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "lion"
PLACED_DEG, PLACED_UNITS = 10.0, 10.0
LOOP_DEG, LOOP_SPACINGS = 0.5, 1.5


def seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def run_one(scans: list[np.ndarray], seed: int, reach: float) -> dict:
    rng = np.random.default_rng(seed)
    motions = [random_motion(rng, reach) for _ in scans]
    moved = [PointCloud(xyz @ m[:3, :3].T + m[:3, 3]) for xyz, m in zip(scans, motions, strict=True)]
    start = time.perf_counter()
    try:
        result = register_stations(moved, names=[f"L{k}" for k in range(1, len(scans) + 1)])
    except TwinError as exc:
        return {"seed": seed, "ok": False, "error": str(exc), "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    ref = result.reference
    degs, gaps = [], []
    for k, pose in enumerate(result.stations):
        implied = np.linalg.inv(motions[ref]) @ pose.transform @ motions[k]
        centroid = scans[k].mean(axis=0)
        degs.append(rotation_angle_deg(implied))
        gaps.append(float(np.linalg.norm(implied[:3, :3] @ centroid + implied[:3, 3] - centroid)))
    spacing = float(result.lengths["spacing"])
    loops = result.quality.loops
    loop_deg = max((lp.rotation_deg for lp in loops), default=0.0)
    loop_spacings = max((lp.shift_mm / 1000 / spacing for lp in loops), default=0.0)
    placed = max(degs) < PLACED_DEG and max(gaps) < PLACED_UNITS
    closed = loop_deg < LOOP_DEG and loop_spacings < LOOP_SPACINGS
    return {"seed": seed, "ok": placed and closed, "error": "", "seconds": seconds, "worst_deg": max(degs),
            "worst_scan": f"L{int(np.argmax(degs)) + 1}", "loops": len(loops), "loop_deg": loop_deg,
            "loop_spacings": loop_spacings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-11", help="a seed or a range, e.g. 1-11")
    parser.add_argument("--reach", type=float, default=200.0, help="shift of each scan, in its units")
    args = parser.parse_args()
    if not LION.is_dir():
        raise SystemExit(f"{LION} is missing: the real scans live in ../shared/data/real beside the checkout")
    scans = [read_scan(LION / f"lionscan{k}approx.xyz").world_xyz for k in range(1, 7)]
    rows = []
    for seed in seeds(args.seeds):
        row = run_one(scans, seed, args.reach)
        rows.append(row)
        per_scan = row["seconds"] / len(scans)
        if row["error"]:
            print(f"seed {seed:3d}  FAILED after {per_scan:.1f} s/scan: {row['error'][:160]}", flush=True)
            continue
        print(f"seed {seed:3d}  worst scan {row['worst_scan']} {row['worst_deg']:6.2f} deg from the pre-alignment; "
              f"{row['loops']} loops, worst {row['loop_deg']:.2f} deg and {row['loop_spacings']:.2f} spacings; "
              f"{per_scan:.1f} s/scan  {'ok' if row['ok'] else 'FAILED'}", flush=True)
    ok = sum(r["ok"] for r in rows)
    print(f"\n{ok}/{len(rows)} motions: every scan placed and every loop closed ({100 * ok / max(1, len(rows)):.0f} %); "
          f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()

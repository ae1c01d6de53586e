"""``python -m twin.sample``: generate the synthetic pavilion and its ground truth."""

from __future__ import annotations

import argparse
import sys
import time

from twin.sample.generate import DEFAULT_POINTS_PER_STATION, DEFAULT_SEED, DEFAULT_STATIONS, SURVEYS, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m twin.sample",
        description=(
            "Generate scans of a synthetic heritage pavilion (one LAZ per scanner station, two surveys, "
            "the second with a leaning column and a bulging wall) and its ground truth under OUT/pavilion."
        ),
    )
    parser.add_argument("--out", required=True, help="folder to write into (the committed sample: sample_scans)")
    parser.add_argument(
        "--points-per-station",
        type=int,
        default=DEFAULT_POINTS_PER_STATION,
        help=f"about how many points each station records (default {DEFAULT_POINTS_PER_STATION:,})",
    )
    parser.add_argument("--stations", type=int, default=DEFAULT_STATIONS, help=f"stations per survey (default {DEFAULT_STATIONS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument(
        "--surveys",
        type=int,
        default=len(SURVEYS),
        choices=range(1, len(SURVEYS) + 1),
        help="1: the 2024 baseline only; 2: also the 2025 survey with the deformations (default 2)",
    )
    parser.add_argument(
        "--full-dome",
        action="store_true",
        help="sweep 360° x (-60°..90°) instead of a window fitted to the pavilion",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        truth = generate(
            args.out,
            points_per_station=args.points_per_station,
            stations=args.stations,
            seed=args.seed,
            surveys=args.surveys,
            full_dome=args.full_dome,
            progress=say,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    total = sum(st.point_count for s in truth.surveys for st in s.stations)
    say(f"wrote {total:,} points in {time.perf_counter() - t0:.1f} s; truth: {truth.root / 'truth' / 'ground_truth.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Suggested elements (`twin layers suggest`) on a large cloud: seconds per step and peak RSS.

    ./run bench suggest                        # a generated 2M-point building (twin.sample.building)
    ./run bench suggest --points 10000000      # denser
    ./run bench suggest --cloud cloud.laz      # any cloud file, e.g. a model's cloud.laz

The cloud is thinned to at most --max-points (600,000) before any fitting, so the time
after reading and thinning does not grow with the input. For the generated building it
also prints the columns found (axis and radius errors) and the point-level IoU of floor,
platform, walls and roof against the truth labels. Peak RSS is the process's (ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=2_000_000, help="points of the generated building")
    ap.add_argument("--cloud", type=Path, help="a cloud file instead of the generated building")
    ap.add_argument("--max-points", type=int, default=None)
    args = ap.parse_args()

    from twin.ops.suggest import MAX_POINTS, suggest_elements
    from twin.models.pointcloud import PointCloud

    t0 = time.perf_counter()
    building = None
    if args.cloud:
        from twin.io.registry import read_scan

        cloud = read_scan(args.cloud)
        what = str(args.cloud)
    else:
        from twin.sample.building import Layout, build

        density = 250.0 * args.points / 298_000  # the default layout holds ~298k points at 250 per m²
        building = build(Layout(density=density), seed=0)
        origin = np.floor(building.xyz.min(axis=0))
        cloud = PointCloud(building.xyz - origin, origin)
        what = f"generated building, {density:.0f} points/m²"
    read_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    s = suggest_elements(cloud, max_points=args.max_points or MAX_POINTS)
    total = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    kinds: dict[str, int] = {}
    for c in s.candidates:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    print(f"{what}: {len(cloud):,} points (read/generated in {read_s:.1f} s)")
    print(f"  thinned to {len(s.thinned):,} at {s.voxel * 100:.2f} cm; suggest {total:.1f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in s.seconds.items())}); peak RSS {peak:.0f} MB")
    print(f"  candidates: {', '.join(f'{v} {k}' for k, v in kinds.items())}")
    if building is not None:
        from twin.ops.suggest.evaluate import CLASSES, column_errors, columns_ok, draft_ious
        from twin.sample.building import truth_class

        errors = column_errors(s.candidates, [(c.bottom, c.top, c.radius) for c in building.columns])
        share, _ = columns_ok(errors)
        ious = draft_ious(s, building.xyz, truth_class(building.labels))
        print(f"  columns within 2 cm / 1 cm: {share:.0%} of {len(errors)} (worst axis "
              f"{max(e['axis_m'] for e in errors) * 1000:.1f} mm, radius {max(abs(e['radius_m']) for e in errors) * 1000:.1f} mm)")
        print("  IoU: " + ", ".join(f"{c} {ious[c]['iou']:.3f}" for c in CLASSES))


if __name__ == "__main__":
    main()

"""Registration over the scene family: success rate, errors against the truth, time per station, peak RSS.

    ./run bench registration [--seeds 20] [--kinds gate,hall,tower,courtyard,statue] [--points 30000]

Each generated survey is cleaned as the default pipeline cleans it (its stages before
``register``), registered from the stations' own frames with no initial poses, and
compared with its truth: rotation error and the position error at each
station's centroid (the worst station of the survey), against the issue's limits
(buildings 0.05 degrees and 5 mm; objects 0.1 degrees and half the point spacing).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from twin.errors import TwinError
from twin.models.pointcloud import PointCloud
from twin.ops.registration import register_stations, rotation_angle_deg
from twin.pipeline.spec import load_pipeline
from twin.pipeline.stages import prepare_stations
from twin.sample.scenes import SCENE_KINDS, generate_scene, truth_relative


def survey_errors(scene, result) -> tuple[float, float]:
    """(worst rotation error in degrees, worst position error at the centroid in metres)."""
    truth = truth_relative(scene, result.reference)
    worst_rot = worst_pos = 0.0
    for st, pose, true in zip(scene.stations, result.stations, truth, strict=True):
        c = st.xyz.mean(axis=0)
        worst_rot = max(worst_rot, rotation_angle_deg(np.linalg.inv(true) @ pose.transform))
        moved = pose.transform[:3, :3] @ c + pose.transform[:3, 3]
        worst_pos = max(worst_pos, float(np.linalg.norm(moved - (true[:3, :3] @ c + true[:3, 3]))))
    return worst_rot, worst_pos


def limits(scene) -> tuple[float, float]:
    return (0.1, 0.5 * scene.nominal_spacing) if scene.is_object else (0.05, 0.005)


def cleaned_stations(scene) -> list[PointCloud]:
    """The scene's stations as the default pipeline's stages before ``register`` leave them."""
    pipeline, _ = load_pipeline("default")
    names = [st.name for st in scene.stations]
    clean = prepare_stations({st.name: PointCloud(st.xyz) for st in scene.stations}, pipeline)
    return [clean[name] for name in names]


def run_one(kind: str, seed: int, points: int) -> dict:
    scene = generate_scene(kind, seed, points_per_station=points)
    clouds = cleaned_stations(scene)
    names = [st.name for st in scene.stations]
    start = time.perf_counter()
    try:
        result = register_stations(clouds, names=names)
    except TwinError as exc:
        return {"kind": kind, "seed": seed, "stations": len(clouds), "ok": False, "error": str(exc),
                "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    rot, pos = survey_errors(scene, result)
    max_rot, max_pos = limits(scene)
    return {"kind": kind, "seed": seed, "stations": len(clouds), "ok": rot <= max_rot and pos <= max_pos,
            "rot_deg": rot, "pos_mm": pos * 1000, "seconds": seconds, "error": ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(SCENE_KINDS))
    parser.add_argument("--points", type=int, default=30_000)
    args = parser.parse_args()
    rows = []
    for kind in args.kinds.split(","):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            row = run_one(kind, seed, args.points)
            rows.append(row)
            if row["error"]:
                print(f"{kind:9s} seed {seed:3d}  {row['stations']} stations  FAILED  {row['error'][:160]}", flush=True)
            else:
                print(f"{kind:9s} seed {seed:3d}  {row['stations']} stations  rot {row['rot_deg']:.4f} deg  "
                      f"pos {row['pos_mm']:.2f} mm  {row['seconds'] / row['stations']:.1f} s/station  "
                      f"{'ok' if row['ok'] else 'OUT OF LIMITS'}", flush=True)
    print()
    for kind in args.kinds.split(","):
        mine = [r for r in rows if r["kind"] == kind]
        done = [r for r in mine if not r["error"]]
        ok = sum(r["ok"] for r in mine)
        worst_rot = max((r["rot_deg"] for r in done), default=float("nan"))
        worst_pos = max((r["pos_mm"] for r in done), default=float("nan"))
        per_station = sum(r["seconds"] for r in mine) / max(1, sum(r["stations"] for r in mine))
        print(f"{kind:9s} {ok}/{len(mine)} within limits; worst {worst_rot:.4f} deg, {worst_pos:.2f} mm; "
              f"{per_station:.1f} s per station of {args.points:,} points")
    total = sum(r["ok"] for r in rows)
    print(f"all: {total}/{len(rows)} surveys within limits ({100 * total / max(1, len(rows)):.0f} %)")
    points = sum(r["stations"] for r in rows) * args.points
    seconds = sum(r["seconds"] for r in rows)
    print(f"{points / max(seconds, 1e-9):,.0f} points registered per second; peak RSS {peak_rss_mb():,.0f} MB "
          "(this process and its children, scene generation included)")


def peak_rss_mb() -> float:
    """The largest resident set of this process and of any child it waited for, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


if __name__ == "__main__":
    main()

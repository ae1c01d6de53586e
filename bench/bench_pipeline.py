"""The whole default pipeline on one survey: twin against a plain open3d script, side by side.

    ./run bench pipeline                                  # generates 4 stations x 2.5M points (10M) first
    ./run bench pipeline --samples /tmp/big --runs 3      # a folder from `twin sample --out /tmp/big ...`

Both sides start from the same LAZ files of one survey and write the cleaned cloud as LAZ
and each mesh level as PLY:

- twin: ``twin process STRUCTURE --survey ID --json`` with ``pipelines/default.yaml``, in
  a fresh workspace (``twin init`` and ``twin ingest`` first, timed apart);
- open3d: ``bench/open3d_pipeline.py``, the same steps with the same parameters written
  with the open3d calls a Python user would make (see its docstring), given the
  georeferenced station's scanner position, which twin finds itself.

Each runs in its own process; wall time and peak memory are that process tree's (bench/_measure.py).
Runs alternate between the two sides and the figures are medians over ``--runs``.
Printed: wall time and its ratio, peak memory, seconds per stage, faces per level,
each station's registration error against the sample's truth (degrees; millimetres at
the scanner), and the full mesh's distance from the true surface its cloud saw.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _measure import run_child  # noqa: E402

from twin.io.ply import ply_element_counts  # noqa: E402
from twin.io.registry import inspect_scan  # noqa: E402
from twin.sample import load_truth  # noqa: E402
from twin.sample.evaluate import registration_errors  # noqa: E402

TWIN = [str(Path(sys.executable).parent / "twin")]  # the console script of this environment


def run_twin(samples: Path, structure: str, survey: str) -> dict:
    root = Path(tempfile.mkdtemp(prefix="twin-bench-pipeline-")) / "ws"
    subprocess.run([*TWIN, "init", str(root)], check=True, capture_output=True)
    ingest_s, _, _ = run_child([*TWIN, "ingest", str(samples / structure / survey), "--structure", structure,
                                "--survey", survey, "--workspace", str(root)])
    seconds, peak, out = run_child([*TWIN, "process", structure, "--survey", survey, "--json",
                                    "--workspace", str(root)])
    result = json.loads(out)["succeeded"][0]
    provenance = json.loads((Path(result["path"]) / "provenance.json").read_text())
    stages = {s["stage"]: s["seconds"] for s in provenance["stages"]}
    faces = {p.stem.removeprefix("mesh-"): ply_element_counts(p).get("face", 0) for p in Path(result["path"]).glob("mesh-*.ply")}
    transforms = {n: s["transform"] for n, s in result["registration"]["stations"].items()}
    return {"seconds": seconds, "peak_mb": peak, "ingest_seconds": ingest_s, "stages": stages, "faces": faces,
            "points_out": result["point_count"], "transforms": transforms, "folder": result["path"]}


def run_open3d(samples: Path, structure: str, survey: str, truth) -> dict:
    out = Path(tempfile.mkdtemp(prefix="open3d-bench-pipeline-"))
    scanners = [f"--scanner={s.name}=" + ",".join(f"{v:.6f}" for v in s.position_utm)
                for s in truth.survey(survey).stations if s.frame != "local"]
    seconds, peak, stdout = run_child([sys.executable, str(ROOT / "bench" / "open3d_pipeline.py"),
                                       str(samples / structure / survey), str(out), *scanners])
    result = json.loads(stdout)
    return {"seconds": seconds, "peak_mb": peak, "stages": result["seconds"], "faces": result["faces"],
            "points_out": result["points_out"], "transforms": result["transforms"], "folder": str(out)}


def generate(points_per_station: int, stations: int) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="twin-bench-sample-"))
    print(f"generating {stations} stations x {points_per_station:,} points into {folder} ...", file=sys.stderr)
    subprocess.run([*TWIN, "sample", "--out", str(folder), "--points-per-station", str(points_per_station),
                    "--stations", str(stations)], check=True, capture_output=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=None, help="a generated sample folder (default: generate one)")
    parser.add_argument("--points-per-station", type=int, default=2_500_000)
    parser.add_argument("--stations", type=int, default=4)
    parser.add_argument("--survey", default=None, help="survey id (default: the first)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=("twin", "open3d"), default=None)
    args = parser.parse_args()
    samples = args.samples or generate(args.points_per_station, args.stations)
    structure = next(p.name for p in sorted(samples.iterdir()) if (p / "truth").is_dir())
    truth = load_truth(samples / structure / "truth" / "ground_truth.json")
    survey = args.survey or truth.surveys[0].id
    points = sum(inspect_scan(f).point_count for f in (samples / structure / survey).glob("*.la[sz]"))
    print(f"{structure}/{survey}: {points:,} points in {len(truth.survey(survey).stations)} stations")

    results: dict[str, list[dict]] = {"twin": [], "open3d": []}
    sides = [s for s in ("twin", "open3d") if args.only in (None, s)]
    for run in range(args.runs):
        for side in sides if run % 2 == 0 else sides[::-1]:
            r = run_twin(samples, structure, survey) if side == "twin" else run_open3d(samples, structure, survey, truth)
            results[side].append(r)
            print(f"run {run + 1} {side}: {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB", file=sys.stderr)

    print(f"\n{'':28s}" + "".join(f"{s:>14s}" for s in sides))
    med = {s: {k: statistics.median(r[k] for r in results[s]) for k in ("seconds", "peak_mb")} for s in sides}
    print(f"{'wall time, s (median)':28s}" + "".join(f"{med[s]['seconds']:14.1f}" for s in sides))
    print(f"{'throughput, M points/s':28s}" + "".join(f"{points / 1e6 / med[s]['seconds']:14.3f}" for s in sides))
    print(f"{'peak memory, MB (median)':28s}" + "".join(f"{med[s]['peak_mb']:14.0f}" for s in sides))
    if len(sides) == 2:
        print(f"twin / open3d wall time: {med['twin']['seconds'] / med['open3d']['seconds']:.2f} "
              f"(below 1: twin faster); peak memory {med['twin']['peak_mb'] / med['open3d']['peak_mb']:.2f}")
    for side in sides:
        stages = results[side][0]["stages"]
        print(f"\n{side}: seconds per stage (median of {len(results[side])})")
        for name in stages:
            print(f"  {name:18s}{statistics.median(r['stages'][name] for r in results[side]):9.1f}")
        if side == "twin":
            print(f"  (ingest, apart: {statistics.median(r['ingest_seconds'] for r in results[side]):.1f} s)")
        last = results[side][-1]
        print(f"  points out {last['points_out']:,}; faces " +
              ", ".join(f"{k} {v:,}" for k, v in sorted(last["faces"].items(), key=lambda kv: -kv[1])))
        for e in registration_errors(truth, survey, last["transforms"]):
            print(f"  registration {e.station}: {e.rotation_deg:.4f} deg, {e.translation_mm:.1f} mm")
        acc = _mesh_accuracy(Path(last["folder"]), truth, survey)
        print(f"  mesh-full against the truth: mean {acc.mean_mm:.2f} mm, median {acc.median_mm:.2f} mm, "
              f"p95 {acc.p95_mm:.2f} mm over {acc.seen_share:.1%} of the true surface (seen by its own cloud); "
              f"{acc.bridging_faces} faces bridging openings")


def _mesh_accuracy(folder: Path, truth, survey: str):
    from twin.io.ply_write import read_mesh_ply  # noqa: PLC0415
    from twin.io.registry import read_scan  # noqa: PLC0415
    from twin.sample.evaluate import mesh_accuracy  # noqa: PLC0415

    return mesh_accuracy(read_mesh_ply(folder / "mesh-full.ply"), read_scan(folder / "cloud.laz"), truth, survey)


if __name__ == "__main__":
    main()

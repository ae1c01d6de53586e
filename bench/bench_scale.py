"""Survey scale: generated sites of about 10M, 50M and 200M points through the default pipeline.

    ./run bench scale                        # 10M, 50M and 200M points (1, 5 and 20 buildings)
    ./run bench scale --sizes 10M            # one size
    ./run bench scale --sizes 2M --per-building 2M --keep   # a quick look, folders kept

Per size, each step runs as its own process (``bench/_measure.py``: wall time, and the
peak resident memory of the whole process tree, workers included):

1. ``twin sample --buildings N --points P --stations K`` writes the site: N buildings at
   ``--per-building`` points each (10M: the density of ``./run bench pipeline``'s
   pavilion survey), so that the surface grows with the points. One building is the
   sample pavilion's first survey alone (``--surveys 1``).
2. ``twin init`` and ``twin ingest`` of every station into one structure and survey.
3. ``twin process STRUCTURE --survey ID`` with ``pipelines/default.yaml`` (or
   ``--pipeline``), ``--workers`` as given.

Printed per size: points, buildings and stations; generation seconds and peak; ingest
seconds; processing seconds, points per second and peak; the Poisson depth and the mesh's
finest cell (the Poisson cube over 2**depth, from provenance) against the median point
spacing the pipeline measured; the worst station's registration error against the truth
(every building's). A survey that fails is reported with its reason, and the next size runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _measure import run_child  # noqa: E402

from twin.pipeline.spec import load_pipeline  # noqa: E402
from twin.sample import load_truth  # noqa: E402
from twin.sample.evaluate import registration_errors  # noqa: E402
from twin.sample.sites import load_site  # noqa: E402

TWIN = [str(Path(sys.executable).parent / "twin")]  # the console script of this environment
UNITS = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}


def count(text: str) -> int:
    """``10M``, ``200M``, ``500K`` or a plain number."""
    text = text.strip().upper()
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def generate(folder: Path, points: int, buildings: int, stations: int) -> tuple[float, float, str, str, list]:
    """Write the site; returns (seconds, peak MB, structure, survey, every building's truth)."""
    cmd = [*TWIN, "sample", "--out", str(folder), "--points", str(points), "--stations", str(stations)]
    if buildings == 1:
        seconds, peak, _ = run_child([*cmd, "--surveys", "1"])
        truth = load_truth(folder / "pavilion" / "truth" / "ground_truth.json")
        return seconds, peak, truth.structure.id, truth.surveys[0].id, [truth]
    seconds, peak, _ = run_child([*cmd, "--buildings", str(buildings)])
    site = load_site(folder / "site")
    return seconds, peak, "site", site.survey.id, [site.building_truth(b.id) for b in site.buildings]


def worst_registration(truths: list, survey: str, result: dict) -> dict:
    """The largest station errors against the truth, every building's stations together."""
    transforms = {name: s["transform"] for name, s in result["registration"]["stations"].items()}
    errors = [e for truth in truths for e in registration_errors(truth, survey, transforms)]
    return {"reg_deg": max(e.rotation_deg for e in errors), "reg_mm": max(e.translation_mm for e in errors)}


def mesh_cell(provenance: dict) -> dict:
    """The mesh stage's Poisson depth and finest cell, from the lengths it recorded."""
    record = next((r for r in provenance.get("lengths", []) if r.get("stage") == "mesh"), None)
    if record is None:
        return {}
    stage = next(s for s in provenance["pipeline"]["stages"] if s["stage"] == "mesh")
    depth = record["resolved"].get("depth", stage.get("depth"))
    cube = record["measured"]["extent"] * stage["scale"]
    return {"depth": depth, "cell_m": cube / 2**depth, "spacing_m": record["measured"]["spacing"]}


def run_size(points: int, buildings: int, args, scratch: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"twin-bench-scale-{points}-", dir=scratch))
    print(f"\n{points:,} points, {buildings} building(s) x {args.stations} stations: generating into {work} ...",
          file=sys.stderr)
    gen_s, gen_peak, structure, survey, truths = generate(work / "sample", points, buildings, args.stations)
    files = [truth.path(st.file) for truth in truths for st in truth.survey(survey).stations]
    written = sum(f.stat().st_size for f in files)
    ws = work / "ws"
    subprocess.run([*TWIN, "init", str(ws)], check=True, capture_output=True)
    ingest_s, ingest_peak, _ = run_child([*TWIN, "ingest", *sorted({str(f.parent) for f in files}), "--structure",
                                          structure, "--survey", survey, "--workspace", str(ws)])  # fmt: skip
    cmd = [*TWIN, "process", structure, "--survey", survey, "--json", "--workspace", str(ws), "--pipeline",
           args.pipeline, "--workers", str(args.workers)]  # fmt: skip
    print(f"processing {len(files)} stations ...", file=sys.stderr)
    seconds, peak, out = run_child(cmd, ok_codes=(0, 6))  # 6: the survey failed; its reason is in the report
    report = json.loads(out)
    row = {"points": points, "buildings": buildings, "stations": len(files), "laz_mb": written / 2**20,
           "points_in": sum(_points(f) for f in files), "generate_s": gen_s, "generate_peak_mb": gen_peak,
           "ingest_s": ingest_s, "ingest_peak_mb": ingest_peak, "process_s": seconds, "process_peak_mb": peak,
           "folder": str(work)}  # fmt: skip
    if report["failed"]:
        row["failed"] = report["failed"][0]["error"]
    else:
        result = report["succeeded"][0]
        row["points_out"] = result["point_count"]
        row |= mesh_cell(json.loads((Path(result["path"]) / "provenance.json").read_text()))
        row |= worst_registration(truths, survey, result)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        row["folder"] = None
    return row


def _points(path: Path) -> int:
    import laspy  # noqa: PLC0415

    with laspy.open(path) as reader:
        return reader.header.point_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10M,50M,200M", help="points per site, comma-separated")
    parser.add_argument("--per-building", default="10M", help="points per building (10M: 1, 5 and 20 buildings)")
    parser.add_argument("--stations", type=int, default=4, help="stations per building (default 4)")
    parser.add_argument("--workers", type=int, default=1, help="twin process --workers (default 1)")
    parser.add_argument("--pipeline", default=str(ROOT / "pipelines" / "default.yaml"))
    parser.add_argument("--scratch", type=Path, default=None, help="where the sites and workspaces go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep each size's site and workspace")
    args = parser.parse_args()
    load_pipeline(args.pipeline)  # refused here, before anything is generated
    per_building = count(args.per_building)
    rows = []
    for size in args.sizes.split(","):
        points = count(size)
        rows.append(run_size(points, max(1, round(points / per_building)), args, args.scratch))
        _print_rows(rows)


def _print_rows(rows: list[dict]) -> None:
    print(f"\n{'points':>13s} {'bldg':>4s} {'stn':>4s} | {'generate s':>10s} {'peak MB':>8s} | {'ingest s':>8s} | "
          f"{'process s':>9s} {'Mpts/s':>7s} {'peak MB':>8s} | {'depth':>5s} {'cell mm':>7s} {'spacing mm':>10s}")
    for r in rows:
        cell = f"{r.get('depth', '-'):>5} {1000 * r['cell_m']:7.1f} {1000 * r['spacing_m']:10.1f}" if "cell_m" in r \
            else f"{'-':>5} {'-':>7} {'-':>10}"
        print(f"{r['points_in']:13,d} {r['buildings']:4d} {r['stations']:4d} | {r['generate_s']:10.1f} "
              f"{r['generate_peak_mb']:8.0f} | {r['ingest_s']:8.1f} | {r['process_s']:9.1f} "
              f"{r['points_in'] / r['process_s'] / 1e6:7.3f} {r['process_peak_mb']:8.0f} | {cell}")
        if "reg_deg" in r:
            print(f"{'':13s} worst station against the truth: {r['reg_deg']:.4f} deg, {r['reg_mm']:.1f} mm")
        if r.get("failed"):
            print(f"{'':13s} FAILED after {r['process_s']:.0f} s: {r['failed']}")
        if r["folder"]:
            print(f"{'':13s} kept: {r['folder']}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The catalog at a city's scale (issue 16.5): 1,000 structures with their inventory records and
20,000 scans listed, on SQLite and on PostgreSQL (a throwaway cluster, as the tests start it).

    ./run bench catalog                                  # both backends
    ./run bench catalog --structures 1000 --scans 20000 --backends sqlite

The inventory is generated (twin.inventory.synthetic) and imported as a user does; the
surveys and scans are written straight into the catalog's tables (rows as `twin ingest`
writes them, without files: what is measured is how fast the catalog answers, not how fast
scans are read). Then, per backend, the seconds of:

- ``structures``: what `twin structures` lists (``Workspace.structures``);
- ``status --json``: `twin inventory status` as JSON (``inventory_status`` + its JSON);
- ``status page``: the HTML status page (``twin.report.inventory_page``);

each in-process (the median of --repeat runs, modules imported beforehand) and as the
command a user types (wall time of the ``twin`` process, its start-up included; the start-up
alone, `twin --version`, is printed beside it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TWIN = Path(sys.executable).parent / "twin"


def fill_scans(ws, n_scans: int, surveys_per_structure: int = 2) -> int:
    """Surveys and scans rows spread over every structure (as `twin ingest` writes them);
    returns the number of scans written."""
    from sqlalchemy import insert, select  # noqa: PLC0415

    from twin.catalog import db  # noqa: PLC0415

    with ws.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(db.structures.c.id).order_by(db.structures.c.id))]
    now = db.now()
    surveys, scans = [], []
    per = max(1, n_scans // (len(ids) * surveys_per_structure))
    for i, sid in enumerate(ids):
        for k in range(surveys_per_structure):
            survey = f"{2015 + 5 * k + i % 5}"
            surveys.append({"structure_id": sid, "id": survey, "date": f"{survey}-0{1 + i % 9}-15", "team": "bench",
                            "instrument": "generated", "created_at": now})
            for station in range(per):
                if len(scans) == n_scans:
                    break
                digest = hashlib.sha256(f"{sid}/{survey}/{station}".encode()).hexdigest()
                scans.append({
                    "structure_id": sid, "survey_id": survey, "station": f"S{station + 1:02d}", "sha256": digest,
                    "store_path": f"store/raw/{digest[:2]}/{digest}.laz", "original_name": f"S{station + 1:02d}.laz",
                    "original_path": f"/survey/{sid}/{survey}/S{station + 1:02d}.laz", "format": "laz",
                    "size_bytes": 250_000_000, "point_count": 20_000_000, "crs_epsg": 32648,
                    "crs_name": "WGS 84 / UTM zone 48N", "crs_wkt": None, "crs_source": "file", "crs_override": False,
                    "capture_date": f"{survey}-0{1 + i % 9}-15", "header_json": "{}", "ingested_at": now})
    with db.transaction(ws.engine) as conn:
        conn.execute(insert(db.surveys), surveys)
        for start in range(0, len(scans), 5000):
            conn.execute(insert(db.scans), scans[start:start + 5000])
    return len(scans)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def command(args: list[str], env: dict, repeat: int) -> float:
    def run():
        done = subprocess.run([str(TWIN), *args], capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"twin {' '.join(args)} failed: {done.stderr.strip()}")
    return timed(run, repeat)


def measure(backend: str, root: Path, url: str | None, structures: int, n_scans: int, repeat: int,
            env: dict) -> dict:
    from twin.catalog.workspace import init_workspace  # noqa: PLC0415
    from twin.inventory import synthetic  # noqa: PLC0415
    from twin.inventory.importer import import_inventory  # noqa: PLC0415
    from twin.inventory.status import inventory_status  # noqa: PLC0415
    from twin.report.inventory_page import write_status_page  # noqa: PLC0415

    ws = init_workspace(root / backend, catalog=url)
    rows = synthetic.generate(structures)
    started = time.perf_counter()
    import_inventory(ws, synthetic.write_gpkg(rows, root / f"{backend}.gpkg"))
    imported = time.perf_counter() - started
    started = time.perf_counter()
    written = fill_scans(ws, n_scans)
    filled = time.perf_counter() - started
    listed = ws.structures()
    assert len(listed) == structures and sum(r.scans for r in listed) == written, "the catalog lost rows"
    as_of = dt.date(2025, 6, 1)
    page = root / f"{backend}-status.html"
    figures = {
        "structures": timed(ws.structures, repeat),
        "status --json": timed(lambda: json.dumps(inventory_status(ws, as_of=as_of).model_dump(mode="json")),
                               repeat),
        "status page": timed(lambda: write_status_page(ws, page, as_of=as_of), repeat),
    }
    cli = {
        "structures": command(["structures", "--json", "-w", str(ws.root)], env, repeat),
        "status --json": command(["inventory", "status", "--json", "--as-of", "2025-06-01", "-w", str(ws.root)],
                                 env, repeat),
        "status page": command(["inventory", "status", "--html", str(page), "--as-of", "2025-06-01",
                                "-w", str(ws.root)], env, repeat),
    }
    return {"backend": backend, "structures": structures, "scans": written, "import_s": imported, "fill_s": filled,
            "in_process": figures, "command": cli}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structures", type=int, default=1000)
    parser.add_argument("--scans", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    import pyogrio  # noqa: F401,PLC0415  (GDAL's import, outside the timings)

    sys.path.insert(0, str(REPO))
    cluster = None
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    try:
        if "postgresql" in backends:
            from tests.pg_cluster import find_bin_dir, start_cluster  # noqa: PLC0415

            bin_dir = find_bin_dir()
            if bin_dir is None:
                raise SystemExit("PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)")
            cluster = start_cluster(bin_dir)
            env["PGPASSWORD"] = os.environ["PGPASSWORD"] = cluster.password
        startup = command(["--version"], env, args.repeat)
        with tempfile.TemporaryDirectory(prefix="twin-bench-catalog-") as tmp:
            results = [measure(b, Path(tmp), cluster.create_database() if b == "postgresql" else None,
                               args.structures, args.scans, args.repeat, env) for b in backends]
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"catalog of {args.structures:,} structures and {args.scans:,} scans; median of {args.repeat} runs; "
          f"`twin --version` alone: {startup:.2f} s")
    print(f"{'backend':<11} {'what':<15} {'in-process':>11} {'as a command':>13}")
    for r in results:
        for what, seconds in r["in_process"].items():
            print(f"{r['backend']:<11} {what:<15} {seconds:>10.3f}s {r['command'][what]:>12.2f}s")
        print(f"{r['backend']:<11} (setup: inventory import {r['import_s']:.2f} s, {r['scans']:,} scan rows "
              f"{r['fill_s']:.2f} s)")


if __name__ == "__main__":
    main()

"""The inventory import (issue 16.1): a generated Hue-like inventory imported as CSV,
GeoJSON and GeoPackage into a fresh workspace, re-imported unchanged, and the status.

    ./run bench inventory                  # 850 monuments
    ./run bench inventory --rows 5000 --repeat 3

Prints seconds per import (median of --repeat runs, each into a fresh workspace; module
imports done beforehand, so the time is reading, checking and writing), rows per second,
and the seconds of a re-import that finds nothing changed and of `inventory status`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=850)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import pyogrio  # noqa: F401,PLC0415  (GDAL's import, outside the timings)
    import pyproj  # noqa: F401,PLC0415

    from twin.catalog.workspace import init_workspace  # noqa: PLC0415
    from twin.inventory import synthetic  # noqa: PLC0415
    from twin.inventory.importer import import_inventory  # noqa: PLC0415
    from twin.inventory.status import inventory_status  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="twin-bench-inventory-") as tmp:
        tmp = Path(tmp)
        rows = synthetic.generate(args.rows)
        files = {
            "csv": synthetic.write_csv([dict(r, crs=f"EPSG:{synthetic.EPSG}") for r in rows], tmp / "inventory.csv"),
            "geojson": synthetic.write_geojson(rows, tmp / "inventory.geojson"),
            "gpkg": synthetic.write_gpkg(rows, tmp / "inventory.gpkg"),
        }
        n_footprints = sum(1 for r in rows if r["footprint"])
        n_nested = sum(1 for r in rows if r["parent"])
        print(f"inventory: {args.rows} monuments, {n_footprints} with footprints, {n_nested} inside a complex")
        print(f"{'format':8} {'import s':>9} {'rows/s':>9} {'reimport s':>11} {'status s':>9} {'file KB':>8}")
        for kind, path in files.items():
            first, again, status = [], [], []
            for i in range(args.repeat):
                ws = init_workspace(tmp / f"ws-{kind}-{i}")
                t = time.perf_counter()
                report = import_inventory(ws, path)
                first.append(time.perf_counter() - t)
                assert len(report.added) == args.rows, report
                t = time.perf_counter()
                report = import_inventory(ws, path)
                again.append(time.perf_counter() - t)
                assert len(report.unchanged) == args.rows
                t = time.perf_counter()
                inventory_status(ws)
                status.append(time.perf_counter() - t)
                ws.engine.dispose()
            seconds = statistics.median(first)
            print(f"{kind:8} {seconds:9.3f} {args.rows / seconds:9.0f} {statistics.median(again):11.3f} "
                  f"{statistics.median(status):9.3f} {path.stat().st_size / 1024:8.0f}")


if __name__ == "__main__":
    main()

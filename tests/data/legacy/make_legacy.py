"""Build a workspace with the code of an earlier twin, for the migration tests.

The workspaces under ``tests/data/legacy/`` were made by this script running the twin of an
earlier commit (its own ``init_workspace``, ``ingest``, ``set_layers``, ``record_comparison``
and inventory import, each where that version had it), so their catalogs hold exactly the
schema and the rows that version wrote:

    git archive COMMIT | tar -x -C /tmp/old          # 25b19d8 (schema 1, no models/runs/layers
                                                     # tables), eee2b92 (1), da71bac (2), 4585599 (3)
    SP=$(.venv/bin/python -c "import site; print(site.getsitepackages()[0])")
    PYTHONPATH=/tmp/old:$SP .venv/bin/python -S tests/data/legacy/make_legacy.py tests/data/legacy/v1

(``-S`` keeps the editable install of today's twin off the path.) Then ``expected.json`` beside
it, what the twin of 4585599 (the last before Alembic) reads back from a copy of that
workspace, was written by ``read_back.py`` the same way with ``PYTHONPATH=/tmp/4585599``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import laspy
import numpy as np
from pyproj import CRS

HERE = Path(__file__).resolve().parent


def write_las(path: Path, n: int, seed: int, date: dt.date | None) -> Path:
    rng = np.random.default_rng(seed)
    header = laspy.LasHeader(point_format=7, version="1.4")
    header.scales = [0.001, 0.001, 0.001]
    header.offsets = [749000.0, 1821000.0, 0.0]
    header.creation_date = date
    header.add_crs(CRS.from_epsg(32648))
    las = laspy.LasData(header)
    xyz = rng.random((n, 3)) * [20, 12, 9] + [749010.0, 1821020.0, 5.0]
    las.x, las.y, las.z = xyz.T
    las.intensity = rng.integers(0, 65535, n, dtype=np.uint16)
    las.write(str(path))
    return path


def build(out: Path) -> None:
    import twin.catalog.db as db
    from twin.catalog.ingest import ingest
    from twin.catalog.workspace import init_workspace

    tmp = Path(tempfile.mkdtemp())
    ws = init_workspace(tmp / "ws", name="legacy", organisation="Hue Monuments Conservation Centre")
    scans = tmp / "scans"
    scans.mkdir()
    gate = [write_las(scans / f"S{i}.las", 40, i, dt.date(2024, 3, 12)) for i in (1, 2)]
    ingest(ws, gate, "ngo-mon-gate", "2024-03")
    ingest(ws, [write_las(scans / "north.las", 30, 7, None)], "thai-hoa", "2025", station="North-1",
           survey_date="2025-01-20")
    tables = set(db.metadata.tables)
    with db.transaction(ws.engine) as conn:
        if "models" in tables:
            conn.execute(db.models.insert().values(
                key="a" * 64, structure_id="ngo-mon-gate", survey_id="2024-03", pipeline="default",
                path="models/ngo-mon-gate/2024-03/" + "a" * 64, point_count=75, face_count=120, crs_epsg=32648,
                provenance_json='{"pipeline": "default", "crs": {"epsg": 32648}}', created_at=db.now()))
            conn.execute(db.runs.insert().values(
                structure_id="ngo-mon-gate", survey_id="2024-03", pipeline="default", model_key="a" * 64,
                status="succeeded", started_at=db.now(), finished_at=db.now(), provenance_json="{}"))
    try:
        from twin.catalog.layers import set_layers
    except ImportError:
        set_layers = None
    if set_layers is not None:
        layers = HERE.parents[0] / "layers" / "example.yaml"
        set_layers(ws, "ngo-mon-gate", layers, author="Trần Văn An", message="first")
        changed = tmp / "layers.yaml"
        changed.write_text(layers.read_text(encoding="utf-8").replace("Stone platform", "Stone platform (east)"),
                           encoding="utf-8")
        set_layers(ws, "ngo-mon-gate", changed, author="Trần Văn An", message="renamed the platform")
    try:
        from twin.catalog.comparisons import record_comparison
    except ImportError:
        record_comparison = None
    if record_comparison is not None:
        record_comparison(ws, structure_id="ngo-mon-gate", from_survey="2024-03", to_survey="2024-03",
                          method="m3c2", params={"core_spacing": 0.05}, folder=ws.root / "comparisons" / "c1",
                          from_model="a" * 64, to_model="a" * 64, layers_rev=1, summary={"significant": 0.01})
    try:
        from twin.inventory.importer import import_inventory
    except ImportError:
        import_inventory = None
    if import_inventory is not None:
        csv = tmp / "inventory.csv"
        csv.write_text(
            "inventory_number,id,name_vi,name_en,type,designation,parent,x,y,crs\n"
            "HUE-0001,hoang-thanh,Hoàng thành Huế,Imperial Citadel,complex,special national,,749500,1821500,"
            "EPSG:32648\n"
            "HUE-0002,ngo-mon-gate,Ngọ Môn,Meridian Gate,gate,special national,HUE-0001,749020,1821025,"
            "EPSG:32648\n"
            "HUE-0003,,Điện Thái Hòa,Thai Hoa Palace,palace,special national,HUE-0001,749100,1821100,"
            "EPSG:32648\n", encoding="utf-8")
        import_inventory(ws, csv)
    ws.engine.dispose()
    con = sqlite3.connect(ws.root / "catalog.sqlite")  # one file, no WAL beside it
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ws.root, out)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{out}: schema version {db.SCHEMA_VERSION}, tables {sorted(tables)}")


if __name__ == "__main__":
    build(Path(sys.argv[1]).resolve())

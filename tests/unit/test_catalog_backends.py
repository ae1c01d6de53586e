"""The catalog operations that the other catalog tests do not reach, on SQLite and on PostgreSQL,
with the same answers on both: comparisons, models and runs, inventory records and their history,
the order of identifiers and of undated surveys, times in UTC, counts beyond 32 bits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.conftest import BACKENDS
from twin.catalog import db
from twin.catalog.comparisons import comparisons, record_comparison
from twin.catalog.inventory import history, list_inventory
from twin.catalog.models import latest_model
from twin.inventory import synthetic
from twin.inventory.importer import import_inventory
from twin.inventory.status import inventory_status

CATALOG_BACKENDS = BACKENDS
IDS = ["b-gate", "B-gate", "a.hall", "a_hall", "a-hall", "ahall", "Z9", "z10"]  # collations disagree on these


def _structures_and_surveys(ws, surveys: dict[str, str | None]) -> None:
    with db.transaction(ws.engine) as conn:
        for sid in IDS:
            conn.execute(db.structures.insert().values(id=sid, name=f"Điện {sid}", created_at=db.now()))
        for survey, date in surveys.items():
            conn.execute(db.surveys.insert().values(structure_id="a-hall", id=survey, date=date, created_at=db.now()))


def test_identifiers_and_undated_surveys_sort_as_on_sqlite(workspace):
    _structures_and_surveys(workspace, {"2025": "2025-03-01", "undated": None, "2024": "2024-03-12"})
    assert [s.id for s in workspace.structures()] == sorted(IDS)  # byte order, whatever the locale
    assert [s.name for s in workspace.structures()] == [f"Điện {sid}" for sid in sorted(IDS)]
    assert [s.id for s in workspace.surveys("a-hall")] == ["undated", "2024", "2025"]


def test_times_are_utc_and_read_back_alike(workspace):
    """Written as an aware time in another zone, read back as the same moment in naive UTC."""
    hue = dt.timezone(dt.timedelta(hours=7))
    with db.transaction(workspace.engine) as conn:
        conn.execute(db.structures.insert().values(id="gate", created_at=dt.datetime(2025, 3, 1, 9, 30, tzinfo=hue)))
    (record,) = workspace.structures()
    assert record.created_at == "2025-03-01T02:30:00"


def test_models_and_runs_with_counts_beyond_32_bits(workspace, tmp_path: Path):
    _structures_and_surveys(workspace, {"2024": "2024-03-12"})
    folder = workspace.root / "models" / "a-hall" / "2024" / ("k" * 64)
    folder.mkdir(parents=True)
    with db.transaction(workspace.engine, immediate=True) as conn:
        conn.execute(db.models.insert().values(
            key="k" * 64, structure_id="a-hall", survey_id="2024", pipeline="default",
            path=str(folder.relative_to(workspace.root)), point_count=6_000_000_000, face_count=3_000_000_000,
            crs_epsg=32648, provenance_json='{"crs": {"epsg": 32648}}', created_at=db.now()))
        conn.execute(db.runs.insert().values(
            structure_id="a-hall", survey_id="2024", pipeline="default", model_key="k" * 64, status="succeeded",
            started_at=db.now(), finished_at=db.now()))
    model = latest_model(workspace, "a-hall", "2024")
    assert (model.point_count, model.face_count, model.provenance["crs"]["epsg"]) == (6_000_000_000, 3_000_000_000,
                                                                                      32648)


def test_comparisons_recorded_and_listed(workspace):
    _structures_and_surveys(workspace, {"2024": "2024-03-12", "2025": "2025-03-01"})
    ids = [record_comparison(workspace, structure_id="a-hall", from_survey="2024", to_survey="2025", method=m,
                             params={"core_spacing": 0.05}, folder=workspace.root / "changes" / m, from_model=None,
                             to_model=None, layers_rev=None, summary={"significant_share": 0.012})
           for m in ("m3c2", "c2c")]
    listed = comparisons(workspace, "a-hall")
    assert [c.id for c in listed] == ids[::-1] and listed[0].path == "changes/c2c"
    assert listed[1].params == {"core_spacing": 0.05} and listed[1].summary == {"significant_share": 0.012}
    assert [c.method for c in comparisons(workspace, "a-hall", method="m3c2")] == ["m3c2"]


def test_inventory_import_reimport_history_and_status(workspace, tmp_path: Path):
    rows = synthetic.generate(60, seed=5)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("crs: EPSG:32648\n", encoding="utf-8")
    first = import_inventory(workspace, synthetic.write_csv(rows, tmp_path / "a.csv"), mapping_path=mapping)
    assert len(first.added) == 60
    rows[3]["name_en"] = "Renamed pavilion"
    second = import_inventory(workspace, synthetic.write_csv(rows, tmp_path / "b.csv"), mapping_path=mapping)
    assert (len(second.added), len(second.updated), len(second.unchanged)) == (0, 1, 59)
    entries = list_inventory(workspace)
    assert [e.inventory_number for e in entries] == sorted(r["inventory_number"] for r in rows)
    assert {e.name_vi for e in entries} == {r["name_vi"] for r in rows}  # diacritics kept
    changes = history(workspace, rows[3]["inventory_number"])
    assert [c.action for c in changes] == ["added", "updated"] and changes[1].new == {"name_en": "Renamed pavilion"}
    status = inventory_status(workspace)
    assert len(status.structures) == 60

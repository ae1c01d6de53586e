"""`twin registration`: the quality of a survey's registration at a glance, its --json,
the errors for what was never processed; and the report's registration section.

The workspace is the compare tests' processed pavilion (one station per survey, built
once per process). Its survey 2025 then gets the four-station record of
tests/unit/test_report_registration.py written into its model's provenance, as the
``register`` stage would have recorded it, so every table, flag and picture has
something to show without registering a survey here.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli.compare_workspace import processed_workspace
from tests.conftest import write_las
from tests.unit.test_report_registration import record


def set_registration(ws: Path, survey: str, registration: dict | None) -> None:
    """Write ``registration`` into the provenance of the survey's models (catalog and file)."""
    con = sqlite3.connect(ws / "catalog.sqlite")
    with con:
        rows = con.execute("select key, path, provenance_json from models where structure_id = 'pavilion' and "
                           "survey_id = ?", (survey,)).fetchall()
        assert rows
        for key, path, text in rows:
            provenance = json.loads(text)
            provenance["registration"] = registration
            con.execute("update models set provenance_json = ? where key = ?", (json.dumps(provenance), key))
            (ws / path / "provenance.json").write_text(json.dumps(provenance, indent=2))
    con.close()


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    ws = processed_workspace(tmp_path_factory.mktemp("registration"))
    set_registration(ws, "2025", record())
    return ws


def test_quick_look_tables_survey_line_and_warnings(cli, ws: Path):
    result = cli("registration", "pavilion", "--survey", "2025", "-w", ws)
    assert result.exit_code == 0, result.stderr  # warnings are not errors
    text = result.stdout
    assert text.startswith("pavilion/2025: model ") and "4 stations, reference S1" in text
    rows = {line.split()[0] + line.split()[1] + line.split()[2]: line.split() for line in text.splitlines()
            if line.strip().startswith("S") and " - " in line[:10]}
    assert rows["S1-S2"][3:] == ["62/48", "1.2", "1.0", "97%", "0.52", "0.47", "0.81", "tree"]
    assert rows["S1-S4"][3:] == ["62/48", "9.0", "7.2", "41%", "0.52", "0.47", "0.81", "loop", "!"]
    assert len(rows) == 5 and "share within 6.0 mm" in text
    stations = {line.split()[0]: line for line in text.splitlines() if line.strip()[:2] in ("S1", "S2", "S3", "S4")
                and " - " not in line[:10]}
    assert stations["S3"].split()[1:6] == ["0.710", "2.4", "S2,", "S4,", "S1"]
    assert "S2 180.0° 0.21 m 0.55/0.58" in stations["S3"] and stations["S3"].rstrip().endswith("!")
    assert "S1 (ref)" in text
    assert "survey: bundle RMS 2.9 mm over 5 links; worst loop closure 14.2 mm (2 loops" in text
    warnings = [line for line in text.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: survey: loop S4 -> S3 -> S2 -> S1 does not close: 14.2 mm (0.020 deg) by link S1 - S4",
        "warning: link S1 - S4: only 41% of the overlap lies within 6.0 mm: check for movement between the scans "
        "(vegetation, people, vehicles) or a poor alignment",
        "warning: station S3: near tie with an alternative 180.0 deg / 0.21 m away (support 0.55 against 0.58): "
        "the building's symmetry or repetition; check the station in the report's plan",
    ]
    assert text.rstrip().endswith("3 warnings")
    # without --survey: the latest survey with a model
    assert cli("registration", "pavilion", "-w", ws).stdout == text


def test_json_is_the_recorded_quality_report(cli, ws: Path):
    result = cli("registration", "pavilion", "--survey", "2025", "-w", ws, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == record()["quality"]


def test_no_warnings_and_a_single_station(cli, ws: Path, tmp_path: Path):
    clean = record()
    quality = clean["quality"]
    quality["flags"], quality["links"][3]["flags"], quality["stations"][2]["flags"] = [], [], []
    set_registration(ws, "2025", clean)
    try:
        result = cli("registration", "pavilion", "--survey", "2025", "-w", ws)
        assert result.exit_code == 0 and result.stdout.rstrip().endswith("no warnings")
        assert "warning: " not in result.stdout
    finally:
        set_registration(ws, "2025", record())
    single = cli("registration", "pavilion", "--survey", "2024", "-w", ws)  # as processed: one station
    assert single.exit_code == 0, single.stderr
    assert "1 station, reference S1" in single.stdout and "one station: nothing to register it against" in single.stdout
    assert cli("registration", "pavilion", "--survey", "2024", "-w", ws, "--json").stdout.strip() == "null"


def test_never_processed_or_unknown_is_one_line_and_exit_4(cli, ws: Path, tmp_path: Path):
    write_las(tmp_path / "S1.laz", n=500)
    assert cli("ingest", tmp_path / "S1.laz", "--structure", "pavilion", "--survey", "2026", "-w", ws).exit_code == 0
    result = cli("registration", "pavilion", "--survey", "2026", "-w", ws)
    assert result.exit_code == 4 and result.stdout == ""
    assert result.stderr.strip() == ("error: survey pavilion/2026 has no processed model yet; run: twin process "
                                     "pavilion --survey 2026")
    for args in (("gate", "--survey", "2025"), ("pavilion", "--survey", "1999"), ("gate",)):
        result = cli("registration", *args, "-w", ws)
        assert result.exit_code == 4 and len(result.stderr.strip().splitlines()) == 1, args
        assert "Traceback" not in result.stderr


def test_a_model_that_records_no_registration(cli, ws: Path):
    set_registration(ws, "2024", None)
    try:
        result = cli("registration", "pavilion", "--survey", "2024", "-w", ws)
    finally:
        set_registration(ws, "2024", {"reference": "S1", "stations": {"S1": {"fitness": 1.0, "inlier_rmse": 0.0}},
                                      "quality": None})
    assert result.exit_code == 4
    assert "records no registration: its pipeline has no register stage" in result.stderr


def test_report_shows_the_station_graph_tables_and_flags(cli, ws: Path, tmp_path: Path):
    out = tmp_path / "report.html"
    result = cli("report", "pavilion", "--survey", "2025", "--out", out, "-w", ws, "--json")
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    start = text.index(">Registration quality</h2>")
    part = text[start:text.index("<h2", start)]  # headings carry ids (the table of contents links them)
    assert '>Survey 2025: 4 stations, reference S1</h3>' in part and ">Survey 2024: 1 station" in part
    assert part.count('<img src="data:image/png;base64,') == 1  # one graph: survey 2024 has one station
    assert 'alt="station graph of survey 2025"' in part
    assert "<h4>Links</h4>" in part and "<h4>Stations</h4>" in part and "<h4>Loop closures</h4>" in part
    assert "3 warnings" in part and "near tie with an alternative" in part and "does not close: 14.2 mm" in part
    assert "bundle RMS 2.9 mm" in part
    assert json.loads(result.stdout)["images"] >= 1

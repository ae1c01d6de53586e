"""`twin inventory footprint`: a record's footprint from a processed survey's GeoJSON export
(issue 16.1), on the processed test pavilion (tests/cli/test_cli_export.py, EPSG:32648):
the record takes the export's structure outline, from either file (the CRS one, or WGS 84
carried back to the record's CRS), the change is in the record's history, and bad input is
one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
import shapely.geometry

from tests.cli.test_cli_export import ORIGIN, processed  # noqa: F401  (processed: a fixture)


@pytest.fixture(scope="module")
def recorded(processed, tmp_path_factory):  # noqa: F811  (the fixture imported above)
    """The workspace, its pavilion with a point-only record, and the pavilion's GeoJSON export."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    root = tmp_path_factory.mktemp("footprint")
    runner = CliRunner()
    done = runner.invoke(app, ["export", "pavilion", "--survey", "2024", "-f", "geojson", "--out", str(root / "gis"),
                               "-w", str(processed)])
    assert done.exit_code == 0, done.stderr
    (root / "records.csv").write_text(
        f"inventory_number,id,name_en,x,y,crs\nHUE-P01,pavilion,Test pavilion,{ORIGIN[0] + 13},{ORIGIN[1] + 22},"
        "EPSG:32648\n", encoding="utf-8")
    done = runner.invoke(app, ["inventory", "import", str(root / "records.csv"), "-w", str(processed)])
    assert done.exit_code == 0, done.stderr
    return processed, root / "gis"


def _outline(path: Path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    (feature,) = [f for f in doc["features"] if f["properties"]["kind"] == "structure"]
    return shapely.geometry.shape(feature["geometry"])


def _record(cli, ws) -> dict:
    result = cli("inventory", "list", "--json", "-w", ws)
    assert result.exit_code == 0, result.stderr
    return next(r for r in json.loads(result.stdout) if r["id"] == "pavilion")


def test_the_record_takes_the_exports_outline_and_keeps_the_change(cli, recorded):
    ws, gis = recorded
    crs_file = next(gis.glob("*.crs.geojson"))
    assert _record(cli, ws)["footprint"] is None
    result = cli("inventory", "footprint", "pavilion", crs_file, "-w", ws)
    assert result.exit_code == 0, result.stderr
    expected = _outline(crs_file)
    assert f"footprint {expected.area:,.1f} m² in EPSG:32648" in result.stdout
    record = _record(cli, ws)
    assert record["crs_epsg"] == 32648 and record["location"] is not None  # the point is kept
    assert shapely.geometry.shape(record["footprint"]).equals_exact(expected, 1e-6)
    history = json.loads(cli("inventory", "history", "pavilion", "--json", "-w", ws).stdout)
    change = history[-1]
    assert change["action"] == "updated" and set(change["new"]) == {"footprint"} and change["previous"] == {
        "footprint": None}
    import hashlib

    assert change["source_sha256"] == hashlib.sha256(crs_file.read_bytes()).hexdigest()
    again = cli("inventory", "footprint", "pavilion", crs_file, "-w", ws)
    assert again.exit_code == 0 and "nothing changed" in again.stdout


def test_the_wgs84_file_is_carried_back_to_the_records_crs(cli, recorded):
    ws, gis = recorded
    result = cli("--json", "inventory", "footprint", "pavilion", next(gis.glob("*.wgs84.geojson")), "-w", ws)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["crs"] == "EPSG:32648"
    got = shapely.geometry.shape(_record(cli, ws)["footprint"])
    assert got.hausdorff_distance(_outline(next(gis.glob("*.crs.geojson")))) < 0.002  # metres: 1e-8° rounding


@pytest.mark.parametrize("case", ["not in the file", "no record", "not geojson", "missing"])
def test_bad_input_is_one_line(cli, recorded, tmp_path: Path, case):
    ws, gis = recorded
    crs_file = next(gis.glob("*.crs.geojson"))
    args = {"not in the file": ("gate", crs_file), "no record": ("pavilion", crs_file),
            "not geojson": ("pavilion", tmp_path / "x.txt"), "missing": ("pavilion", tmp_path / "none.geojson")}[case]
    if case == "not in the file":  # gate has scans but the pavilion's export holds no outline of it
        cli("inventory", "import", _gate_record(tmp_path), "-w", ws)
    if case == "no record":
        ws = _no_records(tmp_path)
    (tmp_path / "x.txt").write_text("x", encoding="utf-8")
    result = cli("inventory", "footprint", *args, "-w", ws)
    code, text = {"not in the file": (2, "no footprint of gate in it"),
                  "no record": (4, "pavilion has no inventory record to update"),
                  "not geojson": (2, "not an inventory file"), "missing": (2, "no such file")}[case]
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr


def _gate_record(folder: Path) -> Path:
    path = folder / "gate.csv"
    path.write_text(f"inventory_number,id,name_en,x,y,crs\nHUE-G01,gate,Gate,{ORIGIN[0]},{ORIGIN[1]},EPSG:32648\n",
                    encoding="utf-8")
    return path


def _no_records(folder: Path) -> Path:
    from twin.catalog.workspace import init_workspace

    return init_workspace(folder / "empty").root

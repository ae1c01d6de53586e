"""`twin inventory export` and `twin inventory status --html` through the CLI: what they print,
--json, and one clear line with a non-zero exit (and no file written) for bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.unit import inventory_workspace


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return inventory_workspace.make(tmp_path_factory.mktemp("inventory-cli"), n=60)


def test_export_writes_three_files_and_says_so(cli, made, tmp_path: Path):
    out = tmp_path / "gis"
    result = cli("inventory", "export", "--out", out, "-w", made.ws.root, "--as-of", "2025-06-01")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == [str(out / n) for n in
                                                      ("inventory.gpkg", "inventory.geojson", "inventory.city.json")]
    footprints = sum(1 for m in made.monuments if m["footprint"])
    assert lines[3].startswith(f"60 structures ({footprints} footprints, 2 extruded to their model's height, ")
    assert "as of 2025-06-01 in EPSG:32648 (GeoJSON: WGS 84)" in lines[3] and result.stderr == ""
    again = cli("--json", "inventory", "export", "-o", out, "-f", "geojson,cityjson", "-w", made.ws.root)
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["formats"] == ["geojson", "cityjson"] and report["structures"] == 60
    assert [f["path"] for f in report["files"]] == ["inventory.geojson", "inventory.city.json"]


def _one_line(result, code: int, text: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_an_unknown_format_is_one_line(cli, made, tmp_path: Path):
    result = cli("inventory", "export", "-f", "gpkg", "-f", "shp", "--out", tmp_path / "gis", "-w", made.ws.root)
    _one_line(result, 2, "unknown export format 'shp': use one or more of gpkg, geojson, cityjson, 3dtiles")
    assert not (tmp_path / "gis").exists()


def test_a_workspace_without_records_is_one_line(cli, workspace, tmp_path: Path):
    result = cli("inventory", "export", "--out", tmp_path / "gis", "-w", workspace.root)
    _one_line(result, 4, "the workspace holds no inventory records; import them first: twin inventory import FILE")
    assert not (tmp_path / "gis").exists()


def test_a_folder_that_cannot_be_written_is_one_line(cli, made, tmp_path: Path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    result = cli("inventory", "export", "--out", tmp_path / "file", "-w", made.ws.root)
    _one_line(result, 2, "file: exists and is not a folder; choose a folder")
    result = cli("inventory", "export", "--out", tmp_path / "file" / "gis", "-w", made.ws.root)
    _one_line(result, 2, "cannot write there (Not a directory); choose a folder you can write to")
    if os.geteuid() == 0:
        return  # root writes anywhere: the read-only folder below would not refuse it
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        result = cli("inventory", "export", "--out", locked / "gis", "-w", made.ws.root)
        _one_line(result, 2, "cannot write there (Permission denied)")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_status_html_writes_the_page(cli, made, tmp_path: Path):
    page = tmp_path / "status.html"
    result = cli("inventory", "status", "-w", made.ws.root, "--as-of", "2025-06-01", "--html", page)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"status page: {page}"
    text = page.read_text(encoding="utf-8")
    assert all(f'id="s-{m["inventory_number"].lower()}"' in text for m in made.monuments)
    assert '<svg id="plan-all"' in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "<script" not in text and "https://" not in text
    as_json = cli("inventory", "status", "-w", made.ws.root, "--html", tmp_path / "again.html", "--json")
    assert as_json.exit_code == 0 and len(json.loads(as_json.stdout)["structures"]) == 60
    _one_line(cli("inventory", "status", "-w", made.ws.root, "--html", tmp_path), 2, "is a folder; give a file name")


def test_status_reports_coverage_holes_and_suggested_stations(cli, made, tmp_path: Path):
    """The palace's model leaves a 4 x 3 m patch of its south wall unsampled: the table gives the
    shares and the hole, the lines under it the station, --json every figure, the page the plan
    (hole and station drawn); a model in its scans' own frame is named, not measured."""
    import numpy as np
    import shapely

    args = ("inventory", "status", "-w", made.ws.root, "--as-of", "2025-06-01")
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    number = made.palace.upper()
    assert f"{number} Điện Thái Hòa: 1 hole(s), " in result.stdout
    assert "suggested stations in EPSG:32648" in result.stdout
    assert f"coverage of {made.parts.upper()}: not measured: the model of 2025 is in its scans' own frame" \
        in result.stderr
    report = json.loads(cli(*args, "--json").stdout)
    palace = next(s for s in report["structures"] if s["id"] == made.palace)
    cover = palace["coverage"]
    assert cover["crs_epsg"] == 32648 and cover["survey_id"] == "2024" and cover["walls"] > 0.99
    (hole,) = cover["holes"]
    footprint = shapely.from_wkt(next(m for m in made.monuments if m["inventory_number"] == number)["footprint"])
    corners = np.asarray(footprint.exterior.coords)
    spec = inventory_workspace.PALACE_HOLE
    a, b = corners[spec["face"]], corners[spec["face"] + 1]
    along = (b - a) / np.linalg.norm(b - a)
    centre = [*(a + along * sum(spec["u"]) / 2), sum(spec["z"]) / 2]
    assert np.linalg.norm(np.array(hole["centroid"]) - centre) < 0.3 and hole["direction"] == "S"
    assert hole["area_m2"] == pytest.approx(12.0, rel=0.1) and hole["seen_by_suggested"] == 1.0
    (station,) = cover["stations"]
    eye = shapely.Point(station["x"], station["y"])
    assert not footprint.intersects(eye) and [v["hole"] for v in station["sees"]] == [hole["id"]]
    # from there to the hole the line of sight stays outside the building
    sight = shapely.LineString([(station["x"], station["y"]), tuple(hole["centroid"][:2])])
    assert sight.intersection(footprint).length < 0.05
    assert report["min_coverage"] == 0.8 and "low coverage" not in palace["priority"]
    strict = json.loads(cli(*args, "--json", "--min-coverage", "0.995").stdout)
    assert "low coverage" in next(s for s in strict["structures"] if s["id"] == made.palace)["priority"]
    skipped = json.loads(cli(*args, "--json", "--no-coverage").stdout)
    assert skipped["min_coverage"] is None and all(s["coverage"] is None for s in skipped["structures"])
    assert list((made.ws.root / "cache" / "coverage").glob("*.json"))  # measured once, then read back

    page = tmp_path / "status.html"
    assert cli(*args, "--html", page).exit_code == 0
    text = page.read_text(encoding="utf-8")
    assert f'<svg id="coverage-{made.palace}"' in text and 'data-hole="1"' in text and 'data-station="1"' in text
    assert f'href="#coverage-of-{made.palace}"' in text


def test_status_html_of_structures_without_records(cli, surveyed, tmp_path: Path):
    page = tmp_path / "status.html"
    result = cli("inventory", "status", "-w", surveyed.root, "--html", page)
    assert result.exit_code == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    assert 'id="s-pavilion"' in text and "No structure has a location or footprint yet." in text
    result = cli("inventory", "export", "-w", surveyed.root, "--out", tmp_path / "gis")
    assert result.exit_code == 4 and not (tmp_path / "gis").exists()


def test_3dtiles_with_no_placed_model_is_one_line(cli, tmp_path: Path):
    """Records but no model on the globe: -f 3dtiles cannot be made; nothing is written."""
    from twin.catalog.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    (tmp_path / "records.csv").write_text("inventory_number,name_en,x,y\nHUE-1,Shrine,749000,1821000\n",
                                          encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text("crs: EPSG:32648\n", encoding="utf-8")
    assert cli("inventory", "import", tmp_path / "records.csv", "-m", tmp_path / "mapping.yaml",
               "-w", ws.root).exit_code == 0
    result = cli("inventory", "export", "-f", "cityjson,3dtiles", "--out", tmp_path / "gis", "-w", ws.root)
    _one_line(result, 2, "cannot export 3dtiles: no structure with a record has a processed model with a "
                         "coordinate system")
    assert not (tmp_path / "gis").exists()

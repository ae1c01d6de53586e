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

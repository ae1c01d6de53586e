"""The city's models as one 3D Tiles tileset (issue 16.3): `twin inventory export -f 3dtiles`
on a workspace whose inventory holds the processed test pavilion (tests/cli/test_cli_export.py,
UTM 48N) and a monument with no model. The root tileset and every structure's own tileset pass
the 3D Tiles 1.1 schema, each child's region holds its structure, and CesiumJS in headless
Chromium, offline, loads the root, follows it into the pavilion's tileset and picks the stele
and the platform with their elements and phases through the metadata API
(tests/e2e/test_3dtiles_cesium.py's page and server)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.cli.test_cli_export import ORIGIN, PLATFORM, STELE, processed  # noqa: F401  (processed: a fixture)
from tests.e2e.test_3dtiles_cesium import PLATFORM_TOP, STELE_SOUTH_FACE, _ecef, browser_tools, view_in_cesium  # noqa: F401

FOOTPRINT = (f"POLYGON (({ORIGIN[0] + 8} {ORIGIN[1] + 18}, {ORIGIN[0] + 19} {ORIGIN[1] + 18}, "
             f"{ORIGIN[0] + 19} {ORIGIN[1] + 26}, {ORIGIN[0] + 8} {ORIGIN[1] + 26}, {ORIGIN[0] + 8} {ORIGIN[1] + 18}))")
INVENTORY = f"""inventory_number,id,name_en,x,y,footprint
HUE-P01,pavilion,Test pavilion,{ORIGIN[0] + 13},{ORIGIN[1] + 22},"{FOOTPRINT}"
HUE-P02,,Unsurveyed shrine,{ORIGIN[0] + 400},{ORIGIN[1] + 300},
"""


@pytest.fixture(scope="module")
def city(processed, tmp_path_factory) -> tuple[Path, dict]:  # noqa: F811  (the fixture imported above)
    from typer.testing import CliRunner

    from twin.cli.app import app

    root = tmp_path_factory.mktemp("city")
    (root / "inventory.csv").write_text(INVENTORY, encoding="utf-8")
    (root / "mapping.yaml").write_text("crs: EPSG:32648\n", encoding="utf-8")
    runner = CliRunner()
    imported = runner.invoke(app, ["inventory", "import", str(root / "inventory.csv"), "--mapping",
                                   str(root / "mapping.yaml"), "-w", str(processed)])
    assert imported.exit_code == 0, imported.stderr + imported.stdout
    done = runner.invoke(app, ["inventory", "export", "-f", "3dtiles", "-f", "cityjson", "--out", str(root / "gis"),
                               "-w", str(processed), "--json"])
    assert done.exit_code == 0, done.stderr + done.stdout
    return root / "gis" / "city-3dtiles", json.loads(done.stdout)


def test_the_city_tileset_and_each_structures_tileset_pass_the_schema(city):
    from tests.unit.test_export_3dtiles import tileset_validator

    folder, report = city
    assert report["tiles"] == ["pavilion"] and report["tiles_left_out"] == {}
    root = json.loads((folder / "tileset.json").read_text(encoding="utf-8"))
    validator = tileset_validator()
    assert [e.message for e in validator.iter_errors(root)] == []
    (child,) = root["root"]["children"]
    assert child["extras"]["structure"] == "pavilion" and child["extras"]["inventory_number"] == "HUE-P01"
    inner = folder / child["content"]["uri"]
    assert inner.is_file() and inner.parent.name == "pavilion-2024-3dtiles"
    assert [e.message for e in validator.iter_errors(json.loads(inner.read_text(encoding="utf-8")))] == []
    assert sorted(p.name for p in inner.parent.glob("*.glb"))  # its contents came along


def test_each_childs_region_holds_its_structure(city):
    from pyproj import Transformer

    folder, _ = city
    root = json.loads((folder / "tileset.json").read_text(encoding="utf-8"))
    west, south, east, north, low, high = root["root"]["children"][0]["boundingVolume"]["region"]
    to_wgs84 = Transformer.from_crs("EPSG:32648", "EPSG:4979", always_xy=True)
    for x, y, z in (PLATFORM[0], PLATFORM[1], STELE[0], STELE[1]):
        lon, lat, h = to_wgs84.transform(x, y, z)
        assert west <= math.radians(lon) <= east and south <= math.radians(lat) <= north, (x, y)
        assert low - 0.01 <= h <= high + 0.01, (z, low, high)
    assert (east - west) * 6_378_137 < 40 and (north - south) * 6_378_137 < 40  # the pavilion, not the city
    assert root["root"]["boundingVolume"]["region"][:4] == [west, south, east, north]


@pytest.fixture(scope="module")
def seen(browser_tools, city, tmp_path_factory) -> dict:  # noqa: F811  (the fixture imported above)
    targets = dict(zip(("stele", "platform"), _ecef([STELE_SOUTH_FACE, PLATFORM_TOP]), strict=True))
    return view_in_cesium(browser_tools, city[0], targets, tmp_path_factory.mktemp("city-site") / "site")


def test_cesium_follows_the_city_into_the_pavilion_and_picks_its_elements(seen):
    assert seen["failure"] is None, seen["failure"]
    assert seen["result"]["tilesLoaded"] is True
    errors = [m for m in seen["messages"] if m["type"] == "error"]
    assert errors == [] and seen["errors"] == [], (errors, seen["errors"])
    network = [u for u in seen["requests"] if not u.startswith(("data:", "blob:"))]
    assert all(u.startswith(seen["origin"] + "/") for u in network)
    assert any(u.endswith("/tiles/tileset.json") for u in network)
    assert any(u.endswith("/tiles/pavilion/pavilion-2024-3dtiles/tileset.json") for u in network), network
    picks = seen["result"]["picks"]
    assert (picks["stele"]["id"], picks["stele"]["primaryPhase"]) == ("stele", "built"), picks["stele"]
    assert (picks["platform"]["id"], picks["platform"]["primaryMaterial"]) == ("platform", "stone"), picks["platform"]

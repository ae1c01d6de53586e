"""The inventory (issue 16.1): 850 generated Hue monuments imported from CSV, GeoJSON and
GeoPackage; refused rows named by their numbers with nothing imported; --skip-invalid;
re-imports that update in place and keep history; a catalog from before the inventory."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import workspace_state
from twin.catalog.inventory import history, list_inventory
from twin.catalog.workspace import Workspace, init_workspace
from twin.errors import UsageError
from twin.inventory import synthetic
from twin.inventory.importer import InventoryRefused, import_inventory

# The CSV as the centre's spreadsheet might name its columns, and the mapping that reads it.
VI_HEADERS = {"inventory_number": "Mã số", "name_vi": "Tên di tích", "name_en": "Tên tiếng Anh",
              "type": "Loại hình", "designation": "Xếp hạng", "address": "Địa chỉ", "site": "Khu vực",
              "parent": "Thuộc quần thể", "x": "X", "y": "Y", "footprint": "Ranh giới (WKT)",
              "dc:creator": "Người lập hồ sơ", "dc:date": "Niên đại"}
MAPPING = """\
columns:
  inventory_number: Mã số
  name_vi: Tên di tích
  name_en: Tên tiếng Anh
  type: Loại hình
  designation: Xếp hạng
  address: Địa chỉ
  site: Khu vực
  parent: Thuộc quần thể
  x: X
  y: Y
  footprint: Ranh giới (WKT)
dc:
  creator: Người lập hồ sơ
  date: Niên đại
crs: EPSG:32648
"""


@pytest.fixture(scope="module")
def monuments() -> list[dict]:
    return synthetic.generate(850, seed=7)


def _csv(rows, folder: Path, name="inventory.csv", bom=True) -> tuple[Path, Path]:
    path = synthetic.write_csv(rows, folder / name, columns=VI_HEADERS, bom=bom)
    mapping = folder / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    return path, mapping


def _plain_csv(rows: list[dict], path: Path, delimiter: str = ",") -> Path:
    """Columns named as the twin fields (no mapping needed), a crs column."""
    keys = [*rows[0], "crs"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(keys)
        for r in rows:
            w.writerow(["" if r.get(k) is None else r.get(k, "EPSG:32648") for k in keys[:-1]] + ["EPSG:32648"])
    return path


def _records(ws) -> list[dict]:
    return [r.model_dump(exclude={"updated_at"}) for r in list_inventory(ws)]


def test_850_monuments_in_three_formats_give_the_same_inventory(monuments, tmp_path: Path):
    csv_path, mapping = _csv(monuments, tmp_path)
    sources = {
        "csv": (csv_path, mapping),
        "geojson": (synthetic.write_geojson(monuments, tmp_path / "inventory.geojson"), None),
        "gpkg": (synthetic.write_gpkg(monuments, tmp_path / "inventory.gpkg"), None),
    }
    inventories = {}
    for kind, (path, mapping_path) in sources.items():
        ws = init_workspace(tmp_path / f"ws-{kind}")
        report = import_inventory(ws, path, mapping_path=mapping_path)
        assert report.imported and report.format == kind
        assert (len(report.added), len(report.updated), len(report.unchanged)) == (850, 0, 0), kind
        inventories[kind] = _records(ws)
    assert inventories["csv"] == inventories["geojson"] == inventories["gpkg"]

    records = {r["inventory_number"]: r for r in inventories["csv"]}
    assert len(records) == 850
    palace = next(r for r in records.values() if r["name_vi"] == "Điện Thái Hòa")
    assert palace["name_en"] == "Thai Hoa Palace" and palace["id"] == palace["inventory_number"].lower()
    assert palace["crs_epsg"] == 32648 and palace["footprint"]["type"] == "Polygon"
    assert palace["dc"] == {"creator": "Trung tâm Bảo tồn Di tích Cố đô Huế", "date": palace["dc"]["date"]}
    # nested complexes: the Forbidden City in the Imperial City in the Capital Citadel
    by_id = {r["id"]: r for r in records.values()}
    forbidden = records["HUE-0003"]
    assert forbidden["name_vi"] == "Tử Cấm Thành"
    chain = [forbidden["id"]]
    while by_id[chain[-1]]["parent_id"]:
        chain.append(by_id[chain[-1]]["parent_id"])
    assert chain == ["hue-0003", "hue-0002", "hue-0001"]
    theatre = next(r for r in records.values() if r["name_vi"] == "Duyệt Thị Đường")
    assert theatre["parent_id"] == "hue-0003"
    # every footprint and location as generated, to the millimetre
    for source in monuments:
        record = records[source["inventory_number"]]
        assert record["location"]["coordinates"] == pytest.approx([source["x"], source["y"]], abs=1e-3)
        assert (record["footprint"] is None) == (source["footprint"] is None)
        assert (record["parent_id"] or None) == (source["parent"].lower() if source["parent"] else None)
    assert sum(1 for r in records.values() if r["footprint"]) == sum(1 for m in monuments if m["footprint"]) > 300


def test_default_mapping_plain_csv_without_bom_and_semicolons(monuments, tmp_path: Path):
    ws = init_workspace(tmp_path / "ws")
    path = _plain_csv(monuments[:40], tmp_path / "plain.csv", delimiter=";")
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    report = import_inventory(ws, path)
    assert len(report.added) == 40
    (first,) = [r for r in list_inventory(ws) if r.inventory_number == "HUE-0001"]
    assert first.name_vi == "Kinh thành Huế" and first.crs_epsg == 32648


def _refused(ws, path, **kwargs) -> InventoryRefused:
    before = workspace_state(ws.root)
    with pytest.raises(InventoryRefused) as info:
        import_inventory(ws, path, **kwargs)
    assert workspace_state(ws.root) == before  # nothing imported, nothing recorded
    return info.value


def _broken(monuments: list[dict]) -> list[dict]:
    rows = [dict(r) for r in monuments[:60]]
    # a bow tie: self-intersecting
    rows[9]["footprint"] = "POLYGON ((749000 1821000, 749010 1821010, 749010 1821000, 749000 1821010, 749000 1821000))"
    rows[24]["inventory_number"] = rows[4]["inventory_number"]  # a duplicate number
    rows[30]["parent"] = "HUE-9999"  # no such complex
    rows[41]["name_vi"] = rows[41]["name_en"] = None  # no name
    rows[50]["x"], rows[50]["y"] = rows[50]["y"], rows[50]["x"]  # swapped coordinates
    return rows


def test_refused_rows_are_listed_with_their_numbers_and_nothing_is_imported(monuments, tmp_path: Path):
    ws = init_workspace(tmp_path / "ws")
    path, mapping = _csv(_broken(monuments), tmp_path)
    refused = _refused(ws, path, mapping_path=mapping)
    text = "\n".join(refused.problems)
    assert refused.problems[0].startswith(f"{path}: 6 of 60 rows refused, nothing imported")
    assert "row 10 (line 11) [HUE-0010]: footprint: the footprint is not a valid polygon (Self-intersection" in text
    assert "row 5 (line 6) [HUE-0005]: inventory_number: the inventory number 'HUE-0005' is also on row 25" in text
    assert "row 25 (line 26) [HUE-0005]: inventory_number: the inventory number 'HUE-0005' is also on row 5" in text
    assert "row 31 (line 32) [HUE-0031]: parent: the parent 'HUE-9999' is neither" in text
    assert "row 42 (line 43) [HUE-0042]: name_vi: no name" in text
    assert "row 51 (line 52) [HUE-0051]: location: the location (1.8" in text and "x and y swapped" in text
    assert {p.row for p in refused.report.problems} == {5, 10, 25, 31, 42, 51}
    assert list_inventory(ws) == [] and history(ws) == []


def test_an_unknown_column_and_a_value_beyond_the_header(monuments, tmp_path: Path):
    ws = init_workspace(tmp_path / "ws")
    rows = [dict(r, **{"Ghi chú": ""}) for r in monuments[:12]]
    path = _plain_csv(rows, tmp_path / "extra.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[7] += ",surplus"  # row 7: one value more than the header has columns
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = _refused(ws, path, skip_invalid=True)  # a header problem refuses even under --skip-invalid
    text = "\n".join(refused.problems)
    assert "header: Ghi chú: the column 'Ghi chú' is not a twin field" in text
    assert "row 7 (line 8) [HUE-0007]: 1 value(s) beyond the header's columns ('surplus')" in text
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("ignore: [Ghi chú]\n", encoding="utf-8")
    report = import_inventory(ws, path, mapping_path=ignore, skip_invalid=True)
    assert len(report.added) == 11 and [p.row for p in report.skipped] == [7]


def test_skip_invalid_imports_the_rest_and_skips_the_children_of_refused_complexes(monuments, tmp_path: Path):
    ws = init_workspace(tmp_path / "ws")
    rows = _broken(monuments)
    rows[2]["footprint"] = "POLYGON ((1 1, 2 2))"  # HUE-0003, the Forbidden City: unreadable footprint
    path, mapping = _csv(rows, tmp_path)
    report = import_inventory(ws, path, mapping_path=mapping, skip_invalid=True)
    refused = {3, 5, 10, 25, 31, 42, 51}
    children = {i + 1 for i, r in enumerate(rows) if r["parent"] == "HUE-0003"} - refused
    assert children  # Duyệt Thị Đường and others stood in it
    cascade = set()  # the rows inside a refused row, and inside those
    while True:
        numbers = {rows[i - 1]["inventory_number"] for i in refused | cascade}
        more = {i + 1 for i, r in enumerate(rows) if r["parent"] in numbers} - refused
        if more <= cascade:
            break
        cascade |= more
    assert children <= cascade
    skipped = {p.row for p in report.skipped}
    assert skipped == refused | cascade
    assert all("its parent 'HUE-0003' is refused (row 3)" in p.message
               for p in report.skipped if p.row in children)
    assert len(report.added) == 60 - len(skipped)
    numbers = {r.inventory_number for r in list_inventory(ws)}
    assert "HUE-0003" not in numbers and "HUE-0004" in numbers and "HUE-0005" not in numbers


def test_reimport_updates_in_place_and_keeps_history(monuments, tmp_path: Path):
    ws = init_workspace(tmp_path / "ws")
    first_path, mapping = _csv(monuments, tmp_path, name="v1.csv")
    first = import_inventory(ws, first_path, mapping_path=mapping)
    assert len(first.added) == 850
    changed = [dict(r) for r in monuments]
    changed[1]["designation"] = "Di tích quốc gia"  # the Imperial City downgraded (a change to record)
    changed[20]["name_en"] = "Palace of Heavenly Stability"
    changed[30]["footprint"] = "POLYGON ((749000 1821000, 749020 1821000, 749020 1821015, 749000 1821015, 749000 1821000))"
    changed[40]["parent"] = "HUE-0007"
    extra = dict(changed[-1], inventory_number="HUE-0851", name_vi="Đình làng Mới", parent=None)
    second_path, _ = _csv([*changed, extra], tmp_path, name="v2.csv")
    second = import_inventory(ws, second_path, mapping_path=mapping)
    assert (len(second.added), len(second.updated), len(second.unchanged)) == (1, 4, 846)
    assert sorted(second.updated) == ["HUE-0002", "HUE-0021", "HUE-0031", "HUE-0041"]
    records = {r.inventory_number: r for r in list_inventory(ws)}
    assert len(records) == 851 and records["HUE-0002"].designation == "Di tích quốc gia"
    assert records["HUE-0041"].parent_id == "hue-0007"
    assert records["HUE-0031"].footprint["coordinates"][0][1] == [749020.0, 1821000.0]
    # the history: what was there before, from which file, when
    entries = history(ws, "HUE-0002")
    assert [e.action for e in entries] == ["added", "updated"]
    update = entries[1]
    assert update.previous == {"designation": "Di tích quốc gia đặc biệt"}
    assert update.new == {"designation": "Di tích quốc gia"}
    assert update.source_sha256 == second.sha256 != first.sha256 and update.source_name == "v2.csv"
    assert history(ws, "hue-0021")[-1].previous == {"name_en": "Thien Dinh Palace"}
    assert len(history(ws)) == 850 + 1 + 4
    # the same file again: nothing changes, the import itself is recorded
    third = import_inventory(ws, second_path, mapping_path=mapping)
    assert (len(third.added), len(third.updated), len(third.unchanged)) == (0, 0, 851)
    assert len(history(ws)) == 855
    con = sqlite3.connect(ws.root / "catalog.sqlite")
    imports = con.execute("select source_name, added, updated, unchanged, sha256 from inventory_imports").fetchall()
    con.close()
    assert imports == [("v1.csv", 850, 0, 0, first.sha256), ("v2.csv", 1, 4, 846, second.sha256),
                       ("v2.csv", 0, 0, 851, second.sha256)]


def test_parents_may_not_make_a_cycle(monuments, tmp_path: Path):
    ws = init_workspace(tmp_path / "ws")
    path, mapping = _csv(monuments[:10], tmp_path)
    import_inventory(ws, path, mapping_path=mapping)
    rows = [dict(r) for r in monuments[:10]]
    rows[0]["parent"] = "HUE-0003"  # the Citadel inside the Forbidden City, which is inside it
    path, _ = _csv(rows, tmp_path, name="cycle.csv")
    refused = _refused(ws, path, mapping_path=mapping)
    text = "\n".join(refused.problems)
    assert "row 1 (line 2) [HUE-0001]: parent: the parents make a cycle: hue-0001 → hue-0003 → hue-0002 → hue-0001" in text
    rows[0]["parent"] = "HUE-0001"
    path, _ = _csv(rows, tmp_path, name="self.csv")
    assert "is its own parent" in "\n".join(_refused(ws, path, mapping_path=mapping).problems)


def test_inventory_numbers_keep_their_structure(monuments, tmp_path: Path):
    ws = init_workspace(tmp_path / "ws")
    rows = [dict(r, id=None) for r in monuments[:5]]
    rows[0]["id"] = "kinh-thanh-hue"
    path = _plain_csv(rows, tmp_path / "ids.csv")
    import_inventory(ws, path)
    assert {r.id for r in list_inventory(ws)} == {"kinh-thanh-hue", "hue-0002", "hue-0003", "hue-0004", "hue-0005"}
    rows[0]["id"] = "citadel"  # an id may not change under the same number
    path = _plain_csv(rows, tmp_path / "ids2.csv")
    assert "is the structure 'kinh-thanh-hue' in the workspace, not 'citadel'" in "\n".join(
        _refused(ws, path).problems)


def test_a_structure_known_from_its_scans_gains_its_record(surveyed, monuments, tmp_path: Path):
    row = dict(monuments[20], id="pavilion", parent=None)
    path = _plain_csv([row], tmp_path / "one.csv")
    report = import_inventory(surveyed, path)
    assert report.added == [row["inventory_number"]]
    (entry,) = list_inventory(surveyed)
    assert entry.id == "pavilion" and entry.surveys == 1 and entry.name == row["name_vi"]


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "absent.csv", "absent.csv: no such file"),
    (lambda d: _write(d / "inventory.xlsx", "x"), "not an inventory file; give a .csv, .geojson (.json) or .gpkg"),
    (lambda d: _write(d / "empty.csv", ""), "the file is empty"),
    (lambda d: _write(d / "latin1.csv", "inventory_number,name_vi\nHUE-1,Ch\xf9a\n", "latin-1"), "line 2 is not UTF-8"),
    (lambda d: _write(d / "bad.geojson", "{\"type\": \"FeatureCollection\", "), "not valid JSON"),
    (lambda d: _write(d / "bad.gpkg", "not a database"), "not a GeoPackage GDAL can open"),
])
def test_bad_files_are_one_clear_line(workspace, tmp_path: Path, make, message):
    before = workspace_state(workspace.root)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        import_inventory(workspace, make(tmp_path))
    assert workspace_state(workspace.root) == before


@pytest.mark.parametrize(("mapping", "message"), [
    ("columns: {name_vn: Tên}\n", "mapping.yaml: columns: 'name_vn' is not a twin field"),
    ("columns: {name_vi: [a\n", "mapping.yaml: line 2: not valid YAML"),
    ("colums: {name_vi: Tên}\n", "mapping.yaml: colums: unknown key"),
    ("dc: {author: Tên}\n", "mapping.yaml: dc: 'author' is not a Dublin Core term"),
    ("columns: {name_vi: Tên}\n", "the mapping's columns.name_vi names the column 'Tên', which the file does not have"),
    ("crs: EPSG:999999\n", "the mapping's crs: unknown coordinate system 'EPSG:999999'"),
    ("- a\n- b\n", "a mapping file holds keys"),
])
def test_bad_mappings_are_one_clear_line(workspace, monuments, tmp_path: Path, mapping, message):
    path = _plain_csv(monuments[:3], tmp_path / "inv.csv")
    (tmp_path / "mapping.yaml").write_text(mapping, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        import_inventory(workspace, path, mapping_path=tmp_path / "mapping.yaml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_geojson_geometries_and_crs_are_checked(monuments, tmp_path: Path):
    ws = init_workspace(tmp_path / "ws")
    path = synthetic.write_geojson(monuments[:20], tmp_path / "inv.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["features"][3]["geometry"] = {"type": "LineString", "coordinates": [[749000, 1821000], [749010, 1821000]]}
    doc["features"][6]["geometry"] = {"type": "Polygon", "coordinates": [[[1, 2]]]}  # unreadable
    path.write_text(json.dumps(doc), encoding="utf-8")
    problems = {p.row: p for p in _refused(ws, path).report.problems}
    assert set(problems) == {4, 7}
    assert problems[4].message == "the geometry is a LineString; give a Point or a (Multi)Polygon"
    assert problems[7].field == "geometry" and "cannot be read" in problems[7].message
    del doc["crs"]  # RFC 7946: WGS 84, where UTM metres are no place
    doc["features"] = doc["features"][:3]
    path.write_text(json.dumps(doc), encoding="utf-8")
    refused = _refused(ws, path)
    assert "is no place in EPSG:4326" in refused.problems[1] or "outside the area EPSG:4326" in refused.problems[1]
    (tmp_path / "m.yaml").write_text("crs: EPSG:32648\n", encoding="utf-8")
    assert len(import_inventory(ws, path, mapping_path=tmp_path / "m.yaml").added) == 3


def test_a_catalog_from_before_the_inventory_upgrades(surveyed, monuments, tmp_path: Path):
    """A schema-2 catalog (structures with id, name, created_at; no inventory tables) opens,
    keeps its structures and scans, and imports."""
    from twin.catalog import db

    path = surveyed.root / "catalog.sqlite"
    surveyed.engine.dispose()
    con = sqlite3.connect(path)
    con.executescript("""
        PRAGMA foreign_keys=OFF;
        DROP TABLE inventory_history; DROP TABLE inventory_imports;
        DROP INDEX ix_structures_inventory_number;
        CREATE TABLE structures_v2 (id VARCHAR NOT NULL, name TEXT, created_at DATETIME NOT NULL, PRIMARY KEY (id));
        INSERT INTO structures_v2 SELECT id, name, created_at FROM structures;
        DROP TABLE structures; ALTER TABLE structures_v2 RENAME TO structures;
        UPDATE meta SET value = '2' WHERE key = 'schema_version';
        DROP TABLE alembic_version;  -- as before Alembic
    """)
    con.commit()
    assert [r[1] for r in con.execute("PRAGMA table_info(structures)")] == ["id", "name", "created_at"]
    con.close()

    ws = Workspace.open(surveyed.root)
    assert [s.id for s in ws.structures()] == ["pavilion"] and len(ws.scans("pavilion")) == 2
    csv_path, mapping = _csv(monuments[:100], tmp_path)
    assert len(import_inventory(ws, csv_path, mapping_path=mapping).added) == 100
    con = sqlite3.connect(path)
    version = con.execute("select value from meta where key = 'schema_version'").fetchone()[0]
    con.close()
    assert version == str(db.SCHEMA_VERSION)
    assert len(list_inventory(ws, include_all=True)) == 101 and len(history(ws)) == 100


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path

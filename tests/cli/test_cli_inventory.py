"""`twin inventory import|list|history|status` through the CLI: exit codes, the refusal
block with row numbers, --skip-invalid, --json, and one clear line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import workspace_state
from twin.inventory import synthetic


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch):
    """Tables as wide as their rows. Under pytest-xdist the workers start with COLUMNS=80,
    which rich reads once, when twin's console is made; the test sets a width of its own."""
    from twin.cli.common import out

    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setattr(out, "_width", None)


@pytest.fixture(scope="module")
def monuments() -> list[dict]:
    return synthetic.generate(850, seed=3)


def _gpkg(rows, tmp_path: Path, name="inventory.gpkg") -> Path:
    return synthetic.write_gpkg(rows, tmp_path / name)


def test_import_list_and_history(cli, workspace, monuments, tmp_path: Path):
    ws = workspace.root
    path = _gpkg(monuments, tmp_path)
    result = cli("inventory", "import", path, "-w", ws)
    assert result.exit_code == 0, result.stderr
    assert f"{path}: 850 added, 0 updated, 0 unchanged (850 features" in result.stdout
    listed = json.loads(cli("inventory", "list", "-w", ws, "--json").stdout)
    assert len(listed) == 850 and listed[0]["inventory_number"] == "HUE-0001"
    assert listed[0]["name_vi"] == "Kinh thành Huế" and listed[2]["parent_id"] == "hue-0002"
    table = cli("inventory", "list", "-w", ws)
    assert table.exit_code == 0 and "Tử Cấm Thành" in table.stdout and "850 inventory record(s)" in table.stdout

    changed = [dict(r) for r in monuments]
    changed[8]["designation"] = "Di tích cấp tỉnh"
    again = cli("--json", "inventory", "import", _gpkg(changed, tmp_path, "v2.gpkg"), "-w", ws)
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    assert (len(report["added"]), report["updated"], len(report["unchanged"])) == (0, ["HUE-0009"], 849)
    hist = json.loads(cli("inventory", "history", "HUE-0009", "-w", ws, "--json").stdout)
    assert [h["action"] for h in hist] == ["added", "updated"]
    assert hist[1]["new"] == {"designation": "Di tích cấp tỉnh"} and hist[1]["source_sha256"] == report["sha256"]
    shown = cli("inventory", "history", "HUE-0009", "-w", ws)
    assert shown.exit_code == 0 and "designation" in shown.stdout and "v2.gpkg" in shown.stdout
    assert cli("inventory", "history", "HUE-9999", "-w", ws).exit_code == 4


def test_a_refused_file_is_one_block_with_row_numbers(cli, workspace, monuments, tmp_path: Path):
    ws = workspace.root
    rows = [dict(r) for r in monuments[:50]]
    rows[11]["inventory_number"] = rows[9]["inventory_number"]  # Hiển Lâm Các twice (no structure inside it)
    rows[20]["footprint"] = "POLYGON ((749000 1821000, 749010 1821010, 749010 1821000, 749000 1821010, 749000 1821000))"
    path = synthetic.write_csv([dict(r, crs="EPSG:32648") for r in rows], tmp_path / "inv.csv")
    before = workspace_state(ws)
    result = cli("inventory", "import", path, "-w", ws)
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == (f"error: {path}: 3 of 50 rows refused, nothing imported; fix them, or import the others "
                        "with --skip-invalid")
    assert lines[1].startswith("error:   row 10 (line 11) [HUE-0010]: inventory_number: the inventory number "
                               "'HUE-0010' is also on row 12")
    assert lines[2].startswith("error:   row 12 (line 13) [HUE-0010]")
    assert lines[3].startswith("error:   row 21 (line 22) [HUE-0021]: footprint: the footprint is not a valid polygon")
    assert len(lines) == 4 and "Traceback" not in result.stderr
    assert workspace_state(ws) == before

    as_json = cli("inventory", "import", path, "-w", ws, "--json")
    assert as_json.exit_code == 2
    report = json.loads(as_json.stdout)
    assert report["imported"] is False and [p["row"] for p in report["problems"]] == [10, 12, 21]

    skipped = cli("inventory", "import", path, "-w", ws, "--skip-invalid")
    assert skipped.exit_code == 0, skipped.stderr
    assert "47 added, 0 updated, 0 unchanged, 3 row(s) skipped" in skipped.stdout
    assert "skipped row 21 (line 22) [HUE-0021]: footprint:" in skipped.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["absent.csv"], "absent.csv: no such file"),
    (["notes.txt"], "notes.txt: not an inventory file"),
    (["inv.csv", "--mapping", "bad.yaml"], "bad.yaml: line 2: not valid YAML"),
    (["inv.csv", "--mapping", "unknown.yaml"], "unknown.yaml: columns: 'names' is not a twin field"),
    (["inv.csv", "--mapping", "absent.yaml"], "absent.yaml: no such mapping file"),
])
def test_bad_input_is_one_line(cli, workspace, monuments, tmp_path: Path, args, message):
    synthetic.write_csv([dict(r, crs="EPSG:32648") for r in monuments[:5]], tmp_path / "inv.csv")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("columns: [\n", encoding="utf-8")
    (tmp_path / "unknown.yaml").write_text("columns: {names: Tên}\n", encoding="utf-8")
    full = [str(tmp_path / a) if not a.startswith("-") else a for a in args]
    result = cli("inventory", "import", *full, "-w", workspace.root)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr


def test_every_inventory_command_needs_a_workspace(cli, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TWIN_WORKSPACE", raising=False)
    for args in (["list"], ["history"], ["status"]):
        result = cli("inventory", *args)
        assert result.exit_code == 4 and "workspace" in result.stderr, (args, result.stderr)


def test_status_derives_surveys_layers_labels_changes_and_priorities(cli, surveyed, monuments, tmp_path: Path):
    """Ten monuments and the surveyed pavilion (in the Imperial City); one monument surveyed
    in 2010; the pavilion with layers, a labelled model and a comparison that changed."""
    from tests.cli.compare_workspace import layers_yaml
    from tests.conftest import write_las
    from twin.catalog import db
    from twin.catalog.comparisons import record_comparison
    from twin.catalog.ingest import ingest
    from twin.catalog.layers import set_layers

    ws = surveyed.root
    rows = [*(dict(r, id=None) for r in monuments[:10]),
            dict(monuments[10], inventory_number="HUE-0100", id="pavilion", parent="HUE-0002")]
    path = synthetic.write_csv([dict(r, crs="EPSG:32648") for r in rows], tmp_path / "inv.csv")
    assert cli("inventory", "import", path, "-w", ws).exit_code == 0
    ingest(surveyed, [write_las(tmp_path / "old.las", n=200)], "hue-0009", "2010", survey_date="2010-05-01")
    (tmp_path / "layers.yaml").write_text(layers_yaml(), encoding="utf-8")
    set_layers(surveyed, "pavilion", tmp_path / "layers.yaml", author="N. Lan")
    provenance = {"labels": {"layers_rev": 1, "unlabelled_points": 20, "points_per_element": {"column": 80}}}
    with db.transaction(surveyed.engine) as conn:
        conn.execute(db.models.insert().values(key="k" * 64, structure_id="pavilion", survey_id="2024",
                                               pipeline="default", path="models/x", point_count=100, face_count=0,
                                               provenance_json=json.dumps(provenance), created_at=db.now()))
    record_comparison(surveyed, structure_id="pavilion", from_survey="2024", to_survey="2024", method="m3c2",
                      params={}, folder=tmp_path / "cmp", from_model=None, to_model=None, layers_rev=1,
                      summary={"figures": {"core_points": 120, "with_distance": 100, "significant": 30}})

    result = cli("inventory", "status", "-w", ws, "--as-of", "2025-06-01", "--stale-years", "10", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    by_id = {s["id"]: s for s in report["structures"]}
    pavilion = by_id["pavilion"]
    assert pavilion["inventory_number"] == "HUE-0100" and "hue-0100" not in by_id
    assert pavilion["surveys"] == [{"id": "2024", "date": "2024-03-12"}] and pavilion["age_years"] == 1.22
    assert pavilion["layers"] == {"elements": 7, "phases": pavilion["layers"]["phases"], "materials":
                                  pavilion["layers"]["materials"], "metadata": 1} and pavilion["layers_rev"] == 1
    assert pavilion["labelled_share"] == 0.8 and pavilion["models"] == 1
    assert pavilion["last_comparison"]["significant_share"] == 0.3
    assert pavilion["priority"] == ["significant change"]
    assert by_id["hue-0009"]["priority"] == ["stale"] and by_id["hue-0009"]["age_years"] == 15.09
    assert by_id["hue-0001"]["priority"] == ["never surveyed"] and by_id["hue-0001"]["last_survey"] is None
    order = [p["id"] for p in report["priorities"]]
    assert order.index("hue-0001") < order.index("hue-0009") < order.index("pavilion") == len(order) - 1
    assert len(order) == 11, " ".join(order)  # nine never surveyed, one stale, one changed
    complexes = {c["id"]: c for c in report["complexes"]}
    citadel = complexes["hue-0001"]  # holds the Imperial City, the Forbidden City and what stands in them
    assert citadel["surveyed"] == 2 and citadel["stale"] == 1 and citadel["significant_change"] == 1
    assert citadel["oldest_last_survey"] == "2010-05-01" and citadel["with_layers"] == 1
    assert complexes["hue-0002"]["structures"] < citadel["structures"]

    relaxed = json.loads(cli("inventory", "status", "-w", ws, "--as-of", "2025-06-01", "--stale-years", "20",
                             "--change-share", "0.5", "--json").stdout)
    assert [p["id"] for p in relaxed["priorities"] if p["id"] in ("hue-0009", "pavilion")] == []
    table = cli("inventory", "status", "-w", ws, "--as-of", "2025-06-01")
    assert table.exit_code == 0 and "priority: 11 of 11 structure(s): 9 never surveyed, 1 stale, 1 significant change" \
        in table.stdout
    assert cli("inventory", "status", "-w", ws, "--as-of", "June").exit_code == 2

"""Layer files: the model, the loader's error messages, revisions in the catalog, diff and query."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import BACKENDS, workspace_state
from twin.errors import NotFoundError, SpecError, UsageError
from twin.layers import load_layers, parse_layers
from twin.models.layers import (
    LayerFile,
    canonical_json,
    effective_links,
    layers_digest,
)
from twin.models.schemas import SCHEMA_DIR, render

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "layers" / "example.yaml"
TEXT = EXAMPLE.read_text(encoding="utf-8")
CATALOG_BACKENDS = BACKENDS  # the revisions, diff and query run on SQLite and on PostgreSQL


def add_structure(ws, structure_id: str = "pavilion") -> None:
    from twin.catalog import db

    with db.transaction(ws.engine) as conn:
        conn.execute(db.structures.insert().values(id=structure_id, name=structure_id, created_at=db.now()))


def edited(tmp_path: Path, *replacements: tuple[str, str], name: str = "layers.yaml") -> Path:
    text = TEXT
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the model ---------------------------------------------------------------------------


def test_example_loads():
    layers = load_layers(EXAMPLE)
    assert [e.id for e in layers.elements] == ["platform", "column-ne", "column-sw", "columns", "roof", "altar"]
    assert layers.metadata.creator == ["Hue Monuments Conservation Centre"]
    assert layers.metadata.date == "2024-03" and layers.metadata.temporal == "1805/.."
    assert layers.phases[0].date == "1805"  # YAML read a number; it stays the EDTF year
    assert layers.element("column-ne").region.oriented_box.yaw_deg == 15
    assert layers.element("roof").stable is False and layers.element("platform").stable is True
    assert layers.element("platform").class_ == "B3_Filled_Morphological_Building_Section"
    assert layers.material("tile").properties == {"glazed": True, "colour": "yellow"}


def test_unions_pass_their_phases_and_materials_to_members():
    layers = load_layers(EXAMPLE)
    assert effective_links(layers, "column-ne") == (["reconstruction-1833", "construction-1805"], ["ironwood"])
    assert effective_links(layers, "column-sw") == (["construction-1805"], ["ironwood"])
    assert effective_links(layers, "platform") == (["construction-1805"], ["stone"])


def test_canonical_form_ignores_comments_and_layout():
    a = parse_layers(TEXT)
    b = parse_layers("# another comment\n" + TEXT.replace("date: 1805\n", "date: '1805'\n"))
    assert canonical_json(a) == canonical_json(b) and layers_digest(a) == layers_digest(b)
    assert '"class":"B3_Filled_Morphological_Building_Section"' in canonical_json(a)


def test_the_json_schema_accepts_the_example_and_rejects_mistakes():
    schema = json.loads(render(LayerFile))
    jsonschema.validate(yaml.safe_load(TEXT), schema)
    for bad in (
        TEXT.replace("    stable: false", "    stabel: false"),
        TEXT.replace("status: inferred", "status: guessed"),
        TEXT.replace("aat/300011176", "aat/stone"),
        TEXT.replace("      union: [column-ne, column-sw]", "      onion: [column-ne, column-sw]"),
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(bad), schema)


def test_the_written_schema_matches_when_present():
    path = SCHEMA_DIR / "layers.schema.json"
    if not path.is_file():
        pytest.skip("schemas/layers.schema.json not generated yet (python -m twin.models.schemas)")
    assert path.read_text() == render(LayerFile)
    jsonschema.validate(yaml.safe_load(TEXT), json.loads(path.read_text()))


def test_python_api_accepts_years_as_numbers_and_dates():
    import datetime as dt

    data = yaml.safe_load(TEXT)
    data["phases"][0]["date"] = 1805
    data["metadata"]["date"] = dt.date(2024, 3, 1)
    layers = LayerFile.model_validate(data)
    assert layers.phases[0].date == "1805" and layers.metadata.date == "2024-03-01"
    data["phases"][0]["date"] = 805
    with pytest.raises(ValueError, match="four-digit"):
        LayerFile.model_validate(data)


# -- the loader's messages: file, place, line, reason ---------------------------------------------


@pytest.mark.parametrize(
    ("replacements", "expected"),
    [
        ([("phases: [reconstruction-1833]", "phases: [reconstruction-1833, restoration-1999]")],
         "elements[1].phases[1] (line 32): unknown phase 'restoration-1999'"),
        ([("materials: [stone]", "materials: [marble]")], "elements[0].materials[0] (line 24): unknown material 'marble'"),
        ([("union: [column-ne, column-sw]", "union: [column-ne, column-xx]")],
         "elements[3].region.union[1] (line 45): unknown element 'column-xx'"),
        ([("union: [column-ne, column-sw]", "union: [columns]")], "cannot contain itself"),
        ([("max: [749030.0, 1821032.0, 5.6]", "max: [749030.0, 1821032.0]")],
         "elements[0].region.box.max (line 21): too few values: expected at least 3"),
        ([("max: [749030.0, 1821032.0, 5.6]", "max: [749030.0, 1821032.0, 4.0]")],
         "elements[0].region.box (line 21): max must be greater than min on every axis (not on z)"),
        ([("    stable: false", "    stabel: false")], "elements[4].stabel (line 58): unknown key 'stabel' (allowed here: id,"),
        ([("  title: Test pavilion, layers", "  title: Test pavilion, layers\n  titel: x")],
         "metadata.titel (line 4): unknown key 'titel' (allowed here: title, creator,"),
        ([("date: 1833~", "date: 1833~?")], "phases[1].date (line 80): '1833~?': two qualifiers in a row"),
        ([("date: 1920/1925", "date: 1925/1920")], "phases[2].date (line 84): '1925/1920': the interval starts"),
        ([("date: 1968-02", "date: 1968-13")], "phases[3].date (line 88): '1968-13': month 13 does not exist"),
        ([("date: 1805\n", "date: 805\n")], "phases[0].date (line 75): '805' is not an EDTF date"),
        ([("type: damage", "type: fire")], "phases[3].type (line 87): Input should be 'construction', 'reconstruction', 'restoration', 'repair', 'damage' or 'other' (got 'fire')"),
        ([("      union: [column-ne, column-sw]", "      onion: [column-ne, column-sw]")],
         "elements[3].region (line 44): a region is one of: box, boxes, oriented_box, polygon (with z_min, z_max) or union"),
        ([("z_max: 14.0", "z_max: 10.0")], "elements[4].region (line 53): z_max (10.0) must be greater than z_min (10.4)"),
        ([("yaw_deg: 15}", "yaw_deg: 15, rotation: [[1,0,0],[0,1,0],[0,0,1]]}")], "give yaw_deg or rotation, not both"),
        ([("extent: [0.5, 0.5, 4.8], yaw_deg: 15}\n    knowledge: {status: measured",
           "extent: [0.5, 0.5, 4.8], rotation: [[1,0,0],[0,2,0],[0,0,1]]}\n    knowledge: {status: measured")],
         "rotation must be orthonormal"),
        ([("extent: [0.5, 0.5, 4.8], yaw_deg: 15}\n    knowledge: {status: measured",
           "extent: [0.5, 0, 4.8], yaw_deg: 15}\n    knowledge: {status: measured")],
         "elements[1].region.oriented_box.extent[1] (line 30): Input should be greater than 0 (got 0)"),
        ([("status: inferred", "status: guessed")], "elements[2].knowledge.status (line 39): Input should be 'measured', 'inferred' or 'hypothetical' (got 'guessed')"),
        ([("{status: hypothetical, sources: [oral history 2023], note: lost; position after a 1925 photograph}",
           "{status: hypothetical}")], "elements[5].knowledge (line 67): an element whose status is hypothetical must name its sources"),
        ([("id: column-sw", "id: column-ne")], "elements[2].id (line 34): duplicate id 'column-ne' (also elements[1])"),
        ([("id: column-sw", "id: column/sw")], "elements[2].id (line 34): id 'column/sw' is not allowed"),
        ([("aat/300011176", "aat/stone")], "materials[0].aat (line 94): 'http://vocab.getty.edu/aat/stone' is not a Getty AAT URI"),
        ([("    name: Construction under Gia Long", "    periodo: https://example.org/nguyen")], "is not a PeriodO URI"),
        ([("license: https://creativecommons.org/licenses/by/4.0/", "license: CC BY")], "metadata.license (line 9): 'CC BY' is not an http(s) URI"),
        ([("    name: Stone platform\n", "")], "elements[0].name (line 17): required but missing"),
        ([("creator: [Hue Monuments Conservation Centre]", "creator: Hue Monuments Conservation Centre")],
         "metadata.creator (line 4): expected a list, got text"),
        ([("polygon: [[749009.0, 1821019.0], [749031.0, 1821019.0], [749031.0, 1821033.0], [749009.0, 1821033.0]]",
           "polygon: [[749009.0, 1821019.0], [749031.0, 1821019.0], [749020.0, 1821019.0]]")], "zero area"),
        ([("center: [749027.0, 1821029.0, 8.0]", "center: [749027.0, .nan, 8.0]")], "finite number"),
    ],
)
def test_invalid_files_name_the_place_and_reason(tmp_path: Path, replacements, expected):
    path = edited(tmp_path, *replacements)
    with pytest.raises(SpecError) as err:
        load_layers(path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message
    assert "\n" not in message


def test_rule_two_overlapping_constructions_of_one_element(tmp_path: Path):
    path = edited(
        tmp_path,
        ("phases: [reconstruction-1833]", "phases: [reconstruction-1833, rebuilt]"),
        ("phases:\n  - id: construction-1805", "phases:\n  - id: rebuilt\n    type: construction\n    date: 1800/1806\n"
                                               "  - id: construction-1805"),
    )
    with pytest.raises(SpecError, match=re.escape(
        "elements[1].phases (line 32): element 'column-ne': construction phases 'rebuilt' (1800/1806) and "
        "'construction-1805' (1805) overlap")):
        load_layers(path)
    # the same two phases one after the other are fine; so is a restoration overlapping a construction
    ok = edited(
        tmp_path,
        ("phases: [reconstruction-1833]", "phases: [reconstruction-1833, rebuilt, restoration-1920s]"),
        ("phases:\n  - id: construction-1805", "phases:\n  - id: rebuilt\n    type: construction\n    date: 1900\n"
                                               "  - id: construction-1805"),
        name="ok.yaml",
    )
    assert load_layers(ok).element("column-ne").phases == ["reconstruction-1833", "rebuilt", "restoration-1920s"]


def test_rule_reconstruction_cannot_end_before_construction(tmp_path: Path):
    path = edited(tmp_path, ("date: 1833~", "date: 1790/1795"))
    with pytest.raises(SpecError, match=re.escape(
        "element 'column-ne': reconstruction 'reconstruction-1833' (1790/1795) ends before its construction "
        "'construction-1805' (1805) begins")):
        load_layers(path)


def test_union_cycles_are_refused(tmp_path: Path):
    path = edited(
        tmp_path,
        ("union: [column-ne, column-sw]", "union: [column-ne, frame]"),
        ("  - id: roof\n", "  - id: frame\n    name: Frame\n    class: B2_Morphological_Building_Section\n"
                           "    region: {union: [columns]}\n    knowledge: {status: measured}\n  - id: roof\n"),
    )
    with pytest.raises(SpecError, match=re.escape("unions form a cycle: columns → frame → columns")):
        load_layers(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the layer file is empty"),
        ("- a\n- b\n", "a layer file is a mapping with metadata, elements, phases and materials, not a list"),
        ("metadata: {title: x\n", "line 2, column 1: not valid YAML"),
        ("metadata: {title: x}\nmetadata: {title: y}\n", "key 'metadata' appears twice (first on line 1)"),
        ("metadata: {title: x}\nelements: {a: 1}\n", "elements (line 2): expected a list, got mapping"),
        ("elements: []\n", "x.yaml: metadata (line 1): required but missing"),
        ("metadata: {title: x}\nsurveys: []\n", "surveys (line 2): unknown key 'surveys' (allowed here: metadata, crs, elements, phases, materials)"),
    ],
)
def test_structural_problems(text, expected):
    with pytest.raises(SpecError, match=re.escape(expected)):
        parse_layers(text, source="x.yaml")


def test_minimal_file_and_null_sections():
    layers = parse_layers("metadata: {title: Gate}\nelements:\nphases:\n")
    assert layers.elements == [] and layers.phases == [] and layers.materials == []


def test_dates_are_kept_as_written_by_yaml():
    text = TEXT.replace("date: 1805\n", "date: 0805\n").replace("date: 1968-02", "date: 1968-02-14")
    text = text.replace("1805/..", "0805/..")
    layers = parse_layers(text)
    assert layers.phases[0].date == "0805" and layers.phases[3].date == "1968-02-14"


def test_many_problems_are_reported_together(tmp_path: Path):
    path = edited(tmp_path, ("status: inferred", "status: guessed"), ("type: damage", "type: fire"))
    with pytest.raises(SpecError) as err:
        load_layers(path)
    assert "elements[2].knowledge.status" in str(err.value) and "phases[3].type" in str(err.value)
    assert [d["location"].split(" ")[0] for d in err.value.details] == ["elements[2].knowledge.status", "phases[3].type"]


def test_missing_and_unreadable_files(tmp_path: Path):
    with pytest.raises(SpecError, match="no such layer file"):
        load_layers(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("metadata: {title: Thái Hòa}\n".encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_layers(bad)


# -- revisions in the catalog --------------------------------------------------------------


def test_set_history_get(workspace, tmp_path: Path):
    from twin.catalog.layers import get_layers, history, set_layers

    add_structure(workspace)
    first = set_layers(workspace, "pavilion", EXAMPLE, author="N. Lan", message="first survey")
    assert (first.rev, first.created, first.author, first.elements, first.phases, first.materials) == (
        1, True, "N. Lan", 6, 4, 3)
    same = set_layers(workspace, "pavilion", edited(tmp_path, ("# A small", "# Still a small")), author="x")
    assert same.created is False and same.rev == 1

    second = set_layers(workspace, "pavilion", edited(tmp_path, ("label: stone\n", "label: limestone\n")), author="B")
    assert second.rev == 2 and second.created and second.sha256 != first.sha256
    revs = history(workspace, "pavilion")
    assert [(r.rev, r.author, r.message) for r in revs] == [(1, "N. Lan", "first survey"), (2, "B", None)]
    assert revs[0].created_at.endswith("+00:00")

    latest = get_layers(workspace, "pavilion")
    assert latest.rev == 2 and latest.layers.material("stone").label == "limestone"
    # the stored digest is the content's identity wherever it is computed (labelling cache keys use it)
    from twin.ops.labelling import compile_layers

    assert latest.sha256 == second.sha256 == layers_digest(latest.layers) == compile_layers(latest.layers).digest
    old = get_layers(workspace, "pavilion", 1)
    assert old.layers.material("stone").label == "stone" and old.yaml_text == TEXT  # verbatim, comments kept


def test_author_defaults_to_the_environment(workspace, monkeypatch):
    from twin.catalog.layers import set_layers

    add_structure(workspace)
    monkeypatch.setenv("TWIN_AUTHOR", "Archivist A")
    assert set_layers(workspace, "pavilion", EXAMPLE).author == "Archivist A"


def test_refusals_leave_the_catalog_unchanged(workspace, tmp_path: Path):
    from twin.catalog.layers import get_layers, history, set_layers

    add_structure(workspace)
    set_layers(workspace, "pavilion", EXAMPLE, author="a")
    before = workspace_state(workspace.root)
    with pytest.raises(SpecError, match="unknown phase"):
        set_layers(workspace, "pavilion", edited(tmp_path, ("phases: [reconstruction-1833]", "phases: [nope]")))
    with pytest.raises(NotFoundError, match="no structure 'gate'"):
        set_layers(workspace, "gate", EXAMPLE)
    with pytest.raises(SpecError, match="no such layer file"):
        set_layers(workspace, "pavilion", tmp_path / "missing.yaml")
    assert workspace_state(workspace.root) == before
    assert len(history(workspace, "pavilion")) == 1
    with pytest.raises(NotFoundError, match=re.escape("no revision 3 of the layers of 'pavilion' (revisions: 1)")):
        get_layers(workspace, "pavilion", 3)


def test_no_layers_yet(workspace):
    from twin.catalog.layers import get_layers, history

    add_structure(workspace, "gate")
    assert history(workspace, "gate") == []
    with pytest.raises(NotFoundError, match="has no layers yet; add them with: twin layers set gate FILE"):
        get_layers(workspace, "gate")


def test_ensure_tables_is_idempotent(workspace):
    from sqlalchemy import inspect

    from twin.catalog.layers import ensure_tables

    ensure_tables(workspace.engine)
    ensure_tables(workspace.engine)
    assert "layer_revisions" in inspect(workspace.engine).get_table_names()


# -- diff ------------------------------------------------------------------------------------


def test_diff_reports_sections_fields_and_links(workspace, tmp_path: Path):
    from twin.catalog.layers import diff, set_layers

    add_structure(workspace)
    set_layers(workspace, "pavilion", EXAMPLE)
    set_layers(workspace, "pavilion", edited(
        tmp_path,
        ("phases: [reconstruction-1833]", "phases: [reconstruction-1833, damage-1968]"),  # column-ne gains a phase
        ("union: [column-ne, column-sw]", "union: [column-ne]"),  # column-sw leaves the union
        ("label: stone\n", "label: limestone\n"),
        ("max: [749022.0, 1821027.0, 7.0]", "max: [749022.0, 1821027.0, 7.5]"),
        ("  title: Test pavilion, layers", "  title: Test pavilion"),
        ("  - id: damage-1968", "  - id: repair-1970\n    type: repair\n    date: 1970\n  - id: damage-1968"),
    ))
    d = diff(workspace, "pavilion", 1, 2)
    assert not d.identical
    assert [(c.field, c.old, c.new) for c in d.metadata] == [("title", "Test pavilion, layers", "Test pavilion")]
    changed = {c.id: {f.field: (f.old, f.new) for f in c.fields} for c in d.elements.changed}
    assert changed["altar"] == {"region.box.max": ([749022.0, 1821027.0, 7.0], [749022.0, 1821027.0, 7.5])}
    assert changed["column-ne"]["phases"] == (["reconstruction-1833"], ["reconstruction-1833", "damage-1968"])
    assert changed["columns"] == {"region.union": (["column-ne", "column-sw"], ["column-ne"])}
    assert d.phases.added == ["repair-1970"] and d.phases.removed == []
    assert d.materials.changed[0].id == "stone"
    phase_links = {c.element: (c.added, c.removed) for c in d.element_phases}
    assert phase_links == {"column-ne": (["damage-1968"], []), "column-sw": ([], ["construction-1805"])}
    assert {c.element: (c.added, c.removed) for c in d.element_materials} == {"column-sw": ([], ["ironwood"])}

    back = diff(workspace, "pavilion", 2, 1)
    assert back.phases.removed == ["repair-1970"]
    assert diff(workspace, "pavilion", 1, 1).identical
    with pytest.raises(NotFoundError):
        diff(workspace, "pavilion", 1, 9)


def test_diff_added_and_removed_elements():
    from twin.catalog.layers import diff_layers

    a = parse_layers(TEXT)
    b = parse_layers(TEXT.replace("  - id: altar", "  - id: altar-table"))
    d = diff_layers(a, b)
    assert d.elements.added == ["altar-table"] and d.elements.removed == ["altar"]


# -- query ------------------------------------------------------------------------------------


@pytest.fixture
def catalog_with_two_structures(workspace, tmp_path: Path):
    from twin.catalog.layers import set_layers

    add_structure(workspace, "pavilion")
    add_structure(workspace, "gate")
    add_structure(workspace, "empty")
    set_layers(workspace, "pavilion", EXAMPLE)
    gate = edited(
        tmp_path,
        ("date: 1920/1925", "date: 1950/1955"),
        ("{status: hypothetical, sources: [oral history 2023], note: lost; position after a 1925 photograph}",
         "{status: measured}"),
        name="gate.yaml",
    )
    set_layers(workspace, "gate", gate)
    return workspace


def _ids(hits):
    return [(h.structure_id, h.element_id) for h in hits]


def test_query_by_material(catalog_with_two_structures):
    from twin.catalog.layers import query_elements

    ws = catalog_with_two_structures
    assert _ids(query_elements(ws, material="stone")) == [("gate", "platform"), ("pavilion", "platform")]
    by_aat = query_elements(ws, material="http://vocab.getty.edu/aat/300010669", structure="pavilion")
    assert _ids(by_aat) == [("pavilion", "roof")]
    assert _ids(query_elements(ws, material="300010669", structure="pavilion")) == [("pavilion", "roof")]
    # part of a label, any case; members of a union inherit its material
    wood = _ids(query_elements(ws, material="IRONWOOD", structure="pavilion"))
    assert wood == [("pavilion", e) for e in ("column-ne", "column-sw", "columns", "roof", "altar")]


def test_query_by_phase_and_dates(catalog_with_two_structures):
    from twin.catalog.layers import query_elements

    ws = catalog_with_two_structures
    assert _ids(query_elements(ws, phase="restoration")) == [("gate", "roof"), ("pavilion", "roof")]
    assert _ids(query_elements(ws, phase="reconstruction-1833", structure="gate")) == [("gate", "column-ne")]
    twenties = query_elements(ws, date_from="1921", date_to="1922")
    assert _ids(twenties) == [("pavilion", "roof")] and twenties[0].matched_phases == ["restoration-1920s"]
    # approximate 1833~ spans the year 1833; 19XX overlaps the 1920s
    assert _ids(query_elements(ws, date_from="1833-06", date_to="1833-06", structure="pavilion")) == [
        ("pavilion", "column-ne")]
    assert len(query_elements(ws, date_from="19XX", structure="pavilion")) == 1
    # phase and date must hold for the same phase
    assert query_elements(ws, phase="construction", date_from="1900") == []
    open_ended = query_elements(ws, date_from="1960/..")
    assert {h.element_id for h in open_ended} == {"roof"}


def test_query_by_status_and_combined(catalog_with_two_structures):
    from twin.catalog.layers import query_elements

    ws = catalog_with_two_structures
    assert _ids(query_elements(ws, status="hypothetical")) == [("pavilion", "altar")]
    assert _ids(query_elements(ws, status="inferred", material="ironwood")) == [
        ("gate", "column-sw"), ("pavilion", "column-sw")]
    hit = query_elements(ws, status="hypothetical")[0]
    assert hit.rev == 1 and hit.element_class == "E22_Human-Made_Object" and hit.materials[0].id == "ironwood"
    assert hit.phases[0].earliest == "1805-01-01" and hit.phases[0].latest == "1805-12-31"


def test_query_uses_the_latest_revision(catalog_with_two_structures, tmp_path: Path):
    from twin.catalog.layers import query_elements, set_layers

    ws = catalog_with_two_structures
    set_layers(ws, "pavilion", edited(tmp_path, ("{status: hypothetical, sources: [oral history 2023], note: lost; "
                                                  "position after a 1925 photograph}", "{status: measured}"),
                                      name="v2.yaml"))
    assert query_elements(ws, status="hypothetical") == []
    assert {h.rev for h in query_elements(ws, structure="pavilion")} == {2}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"status": "guessed"}, UsageError, "unknown knowledge status 'guessed'"),
        ({"date_from": "19xx"}, UsageError, "--from: '19xx' is not an EDTF date"),
        ({"date_to": "1925/1920"}, UsageError, "--to: '1925/1920': the interval starts"),
        ({"date_from": "1950", "date_to": "1900"}, UsageError, "--from 1950 is after --to 1900"),
        ({"structure": "nope"}, NotFoundError, "no structure 'nope'"),
    ],
)
def test_query_refuses_bad_filters(catalog_with_two_structures, kwargs, error, message):
    from twin.catalog.layers import query_elements

    with pytest.raises(error, match=re.escape(message)):
        query_elements(catalog_with_two_structures, **kwargs)

"""The sample pavilion's layer file: generated from the ground truth, complete, accepted by
`twin layers set`, and accurate: the points on each element's true surface carry its id."""

from __future__ import annotations

import re
from pathlib import Path

import laspy
import numpy as np
import pytest

from tests.conftest import write_las
from twin.layers import load_layers
from twin.models.edtf import parse_edtf
from twin.models.layers import BoxesRegion, PolygonRegion, UnionRegion, effective_links
from twin.ops.labelling import compile_layers, label_points
from twin.sample import LAYERS_FILE, generate, layers_yaml, load_truth, load_truth_mesh

REPO = Path(__file__).resolve().parents[2]
PAVILION = REPO / "sample_scans" / "pavilion"
COMMITTED_TRUTH = PAVILION / "truth" / "ground_truth.json"
COMMITTED_LAYERS = PAVILION / LAYERS_FILE
ON_SURFACE = 0.01  # m: a point this close to an element's true triangles lies on its surface


@pytest.fixture(scope="module")
def truth():
    return load_truth(COMMITTED_TRUTH)


@pytest.fixture(scope="module")
def layers():
    return load_layers(COMMITTED_LAYERS)


def test_the_committed_file_is_what_the_generator_writes(truth, tmp_path):
    assert COMMITTED_LAYERS.read_text(encoding="utf-8") == layers_yaml(truth)
    # the generator writes it beside the scans; few points, same regions, same file
    generate(tmp_path, points_per_station=1500, stations=1, surveys=2)
    assert (tmp_path / "pavilion" / LAYERS_FILE).read_bytes() == COMMITTED_LAYERS.read_bytes()


def test_the_file_describes_the_pavilion(truth, layers):
    meta = layers.metadata
    assert meta.title and meta.creator and meta.date == "2024-03-12" and meta.license and meta.rights
    assert meta.identifier and meta.spatial and meta.temporal and meta.source and meta.description
    assert layers.crs == "EPSG:32648"
    ids = [e.id for e in layers.elements]
    assert {e.id for e in truth.elements} <= set(ids)  # every part of the truth, under its own id
    for group, members in [("steps", ["steps-south", "steps-east"]), ("walls", ["wall-south", "wall-north",
                           "wall-east", "wall-west"]), ("roof", ["roof-lower", "roof-upper"])]:
        assert layers.element(group).region.union == members
    rows = layers.element("columns").region.union
    assert rows == ["columns-row-a", "columns-row-b", "columns-row-c", "columns-row-d"]
    assert layers.element("columns-row-a").region.union == [f"column-A{i}" for i in range(1, 7)]
    assert layers.element("columns-row-b").region.union == ["column-B1", "column-B6"]
    for e in layers.elements:
        assert e.class_ and e.knowledge.status in ("measured", "inferred", "hypothetical") and e.knowledge.sources
    assert layers.element("roof-upper").knowledge.status == "inferred"
    assert isinstance(layers.element("wall-south").region, BoxesRegion)  # the wall round the door
    assert isinstance(layers.element("column-A1").region, PolygonRegion)  # round columns

    phases = {p.id: p for p in layers.phases}
    assert {p.type for p in phases.values()} >= {"construction", "reconstruction", "restoration"}
    assert [p.date for p in layers.phases if p.type in ("construction", "reconstruction", "restoration")] == [
        "1805", "1833~", "1920/1925", "199X"]
    for p in phases.values():
        parse_edtf(p.date)
        assert p.description and p.sources
    aat = {m.id: m.aat for m in layers.materials}
    assert {"stone", "ironwood", "lacquered-wood", "glazed-tile", "brick"} <= set(aat)
    assert all(re.fullmatch(r"http://vocab\.getty\.edu/aat/300\d{6}", uri) for uri in aat.values())

    assert effective_links(layers, "column-C6") == (["reconstruction-1833", "restoration-199X"],
                                                   ["ironwood", "lacquer"])
    assert effective_links(layers, "roof-lower")[1] == ["glazed-tile", "ironwood"]
    assert effective_links(layers, "platform") == (["construction-1805"], ["stone"])
    assert effective_links(layers, "door")[1] == ["lacquered-wood"]


def test_regions_are_in_the_registered_models_frame(truth, layers):
    # the control station S1 writes UTM and is the reference of registration: regions are UTM too
    s1 = truth.survey("survey-2024").stations[0]
    assert s1.control and s1.frame == "utm" and np.allclose(s1.pose_matrix(), np.eye(4))
    header = laspy.open(truth.path(s1.file)).header
    assert header.parse_crs().to_epsg() == 32648
    compiled = compile_layers(layers)
    for region in compiled.regions:
        assert 775_000 < region.lo[0] < 775_400 and 1_822_500 < region.lo[1] < 1_822_700 and 4 < region.lo[2] < 15


def test_points_on_each_elements_true_surface_carry_its_id(truth, layers):
    """The survey-2024 stations placed with their true poses: for every element, at least 98 %
    of the points on its true surface (nearest true triangle, within 1 cm) carry its id."""
    survey = truth.survey("survey-2024")
    points = np.concatenate([
        st.to_utm(np.column_stack([np.asarray(c) for c in (las.x, las.y, las.z)]))
        for st in survey.stations for las in [laspy.read(truth.path(st.file))]
    ])
    distance, element_index = load_truth_mesh(truth, "survey-2024").closest(points)
    true_ids = np.array(truth.element_ids(), dtype=object)[element_index]
    on = distance < ON_SURFACE

    compiled = compile_layers(layers)
    origin = truth.origin
    got = np.array([*compiled.element_ids, ""], dtype=object)[label_points(compiled, points - origin, origin)]
    shares = {}
    for element_id in truth.element_ids():
        mask = on & (true_ids == element_id)
        assert mask.sum() > 300, f"{element_id}: too few points on its surface to judge"
        shares[element_id] = float(np.mean(got[mask] == element_id))
    worst = min(shares, key=shares.get)
    assert shares[worst] >= 0.98, f"{worst}: {shares[worst]:.2%} of its points carry its id"
    assert np.mean(got[on] == true_ids[on]) > 0.99


def test_unions_do_not_label_points(layers):
    compiled = compile_layers(layers)
    groups = {e.id for e in layers.elements if isinstance(e.region, UnionRegion)}
    assert groups == {"steps", "columns-row-a", "columns-row-b", "columns-row-c", "columns-row-d", "columns",
                      "walls", "roof", "planters"}
    assert not {compiled.element_ids[r.element] for r in compiled.regions} & groups


def test_layers_set_accepts_the_sample_file(cli, tmp_path):
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    write_las(tmp_path / "S1.laz", n=500)
    assert cli("ingest", tmp_path / "S1.laz", "--structure", "pavilion", "--survey", "survey-2024",
               "-w", ws).exit_code == 0
    result = cli("layers", "set", "pavilion", COMMITTED_LAYERS, "-w", ws)
    assert result.exit_code == 0, result.stderr
    assert "recorded layers revision 1" in result.stdout
    shown = cli("layers", "show", "pavilion", "-w", ws)
    assert shown.exit_code == 0 and "wall-south" in shown.stdout and "3 boxes" in shown.stdout
    hits = cli("query", "--material", "glazed", "-w", ws, "--json")
    assert hits.exit_code == 0 and {"roof-lower", "roof-upper", "roof"} <= {
        h["element_id"] for h in __import__("json").loads(hits.stdout)}

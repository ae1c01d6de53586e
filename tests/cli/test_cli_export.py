"""`twin export` and `twin verify BAG` as a user runs them, on the smallest processed model
that has everything: one georeferenced station (a platform and a stele, with colour),
registered, meshed into two levels of detail, labelled with layers. The workspace names
its organisation and contact (twin.yaml)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import laspy
import numpy as np
import pytest
import yaml

from tests.conftest import write_las
from tests.unit.test_export_gltf import crs_positions, merged, property_table, read_glb, run_validator

ORIGIN = np.array([749000.0, 1821000.0, 0.0])
PLATFORM = (ORIGIN + [10, 20, 5], ORIGIN + [14, 24, 6])
STELE = (ORIGIN + [16, 21, 5], ORIGIN + [16.6, 21.6, 7])

PIPELINE = """name: tiny
stages:
  - stage: register
  - stage: voxel_downsample
    voxel_size: 0.05
  - stage: normals
    radius: 0.15
  - stage: mesh
    depth: 6
  - stage: decimate
    levels: {full: null, small: 500}
  - stage: label
  - stage: write
"""
CLOUD_ONLY = """name: cloud-only
stages:
  - stage: voxel_downsample
    voxel_size: 0.2
  - stage: label
  - stage: write
"""

LAYERS = """metadata:
  title: Test pavilion
  creator: [Test Org]
  rights: © Test Org
crs: EPSG:32648
elements:
  - id: platform
    name: Stone platform
    class: B3_Filled_Morphological_Building_Section
    region: {box: {min: [749009.8, 1821019.8, 4.8], max: [749014.2, 1821024.2, 6.2]}}
    knowledge: {status: measured, sources: [survey 2024]}
    phases: [built]
    materials: [stone]
  - id: stele
    name: Stele
    class: E22_Human-Made_Object
    region: {box: {min: [749015.8, 1821020.8, 4.8], max: [749016.8, 1821021.8, 7.2]}}
    knowledge: {status: inferred, sources: [inscription]}
    phases: [built]
    materials: [limestone]
phases:
  - {id: built, type: construction, date: 1805, description: Built.}
materials:
  - {id: stone, label: stone, aat: "http://vocab.getty.edu/aat/300011176"}
  - {id: limestone, label: limestone, aat: "http://vocab.getty.edu/aat/300011286"}
"""


def _box_surface(lo, hi, n, rng) -> np.ndarray:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    size = hi - lo
    areas = np.array([size[1] * size[2]] * 2 + [size[0] * size[2]] * 2 + [size[0] * size[1]] * 2)
    face = rng.choice(6, n, p=areas / areas.sum())
    points = lo + rng.random((n, 3)) * size
    axis = face // 2
    points[np.arange(n), axis] = np.where(face % 2 == 0, lo[axis], hi[axis])
    return points


CONTACT = {"organisation_address": "23 Le Loi, Hue, Viet Nam", "contact_name": "Nguyen Van A",
           "contact_email": "archive@hmcc.example.org"}


def build_processed(root: Path) -> Path:
    """A workspace: pavilion/2024 processed and labelled; pavilion/2025 ingested only; gate/2024
    processed (cloud only) without layers. Its twin.yaml names a contact. Returns its root."""
    from twin.catalog.ingest import ingest
    from twin.catalog.layers import set_layers
    from twin.catalog.workspace import init_workspace
    from twin.pipeline.runner import run_model
    from twin.pipeline.spec import load_pipeline

    rng = np.random.default_rng(0)
    xyz = np.vstack([_box_surface(*PLATFORM, 12000, rng), _box_surface(*STELE, 3000, rng)])
    write_las(root / "S1.laz", xyz=xyz)
    write_las(root / "S1-2025.laz", xyz=xyz + [0, 0, 0.001])
    write_las(root / "G1.laz", n=2000, seed=5)
    ws = init_workspace(root / "ws", organisation="Hue Monuments Conservation Centre")
    ingest(ws, [root / "S1.laz"], "pavilion", "2024")
    ingest(ws, [root / "S1-2025.laz"], "pavilion", "2025", station="S1")
    ingest(ws, [root / "G1.laz"], "gate", "2024")
    (root / "layers.yaml").write_text(LAYERS, encoding="utf-8")
    set_layers(ws, "pavilion", root / "layers.yaml")
    for name, text, structure in (("tiny", PIPELINE, "pavilion"), ("cloud-only", CLOUD_ONLY, "gate")):
        (root / f"{name}.yaml").write_text(text)
        spec, source = load_pipeline(str(root / f"{name}.yaml"))
        result = run_model(ws, structure, "2024", spec, source)
        assert result.status == "built"
    settings = yaml.safe_load((ws.root / "twin.yaml").read_text(encoding="utf-8"))
    (ws.root / "twin.yaml").write_text(yaml.safe_dump({**settings, **CONTACT}, sort_keys=False), encoding="utf-8")
    return ws.root


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    return build_processed(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def package(processed, tmp_path_factory):
    """The default export (every format, as a bag) of pavilion/2024, made through the CLI."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    out = tmp_path_factory.mktemp("packages") / "pavilion-2024"
    result = CliRunner().invoke(app, ["export", "pavilion", "--survey", "2024", "--out", str(out), "-w",
                                      str(processed), "--base-uri", "https://monuments.example.org/twin/"])
    assert result.exit_code == 0, result.stderr + result.stdout
    assert "into the BagIt bag" in result.stdout
    return out


def _hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# -- the package ---------------------------------------------------------------------------------


def test_default_export_is_a_bag_of_every_format(package):
    exports = package / "data" / "exports"
    names = sorted(p.name for p in exports.iterdir())
    assert names == sorted([
        "pavilion-2024-full.glb", "pavilion-2024-small.glb",
        "pavilion-2024-cloud.ply", "pavilion-2024-mesh-full.ply", "pavilion-2024-mesh-small.ply",
        "pavilion-2024-cloud.laz", "pavilion-2024-mesh-full.laz", "pavilion-2024-mesh-small.laz",
        "pavilion-2024-cloud.copc.laz", "pavilion-2024-3dtiles",
        "legend.json", "legend.csv", "pavilion.jsonld", "pavilion.wgs84.geojson", "pavilion.crs.geojson",
        "pavilion.gpkg", "pavilion-2024-full.ifc", "export.json",
    ])
    assert [p.name for p in (package / "data" / "raw" / "S1").iterdir()] == ["S1.laz"]
    provenance = sorted(p.name for p in (package / "data" / "provenance").iterdir())
    assert provenance[0] == "layers-rev-1.yaml" and provenance[1].startswith("model-") and provenance[2] == "scans.json"
    info = (package / "bag-info.txt").read_text()
    for line in ("Source-Organization: Hue Monuments Conservation Centre", "Structure-Id: pavilion",
                 "Survey-Id: 2024", "External-Identifier: pavilion/2024", "Layers-Revision: 1",
                 "Organization-Address: 23 Le Loi, Hue, Viet Nam", "Contact-Name: Nguyen Van A",
                 "Contact-Email: archive@hmcc.example.org"):
        assert line in info
    labels = dict(line.split(": ", 1) for line in info.splitlines())
    payload = [p for p in (package / "data").rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in payload)
    assert labels["Payload-Oxum"] == f"{size}.{len(payload)}"
    assert labels["Bag-Size"] == f"{size / 1e6:.1f} MB"
    assert (package / "manifest-sha512.txt").is_file() and (package / "tagmanifest-sha512.txt").is_file()
    assert _hidden(package.parent) == []  # no temporary folder left beside it
    report = json.loads((exports / "export.json").read_text())
    assert report["layers_rev"] == 1
    assert report["formats"] == ["glb", "ply", "laz", "copc", "3dtiles", "jsonld", "bagit", "geojson", "gpkg", "ifc"]
    assert report["ifc_level"] == "full"  # the finest level of at most 200,000 faces
    assert report["warnings"] == []  # the workspace names its contact
    assert sorted(p.name for p in (exports / "pavilion-2024-3dtiles").iterdir()) == [
        "cloud-root.glb", "mesh-full.glb", "mesh-small.glb", "tileset.json"]


def test_every_glb_passes_the_khronos_validator(package):
    for path in sorted((package / "data" / "exports").glob("*.glb")):
        report = run_validator(path)
        assert report["issues"]["numErrors"] == 0, [m for m in report["issues"]["messages"] if m["severity"] == 0]


def test_glb_and_laz_labels_read_back_to_the_same_element_for_the_same_point(package):
    from scipy.spatial import cKDTree

    exports = package / "data" / "exports"
    legend = json.loads((exports / "legend.json").read_text())
    ids = [e["id"] for e in legend["elements"]]
    doc, binary = read_glb(exports / "pavilion-2024-small.glb")
    both = merged(doc, binary)
    world = crs_positions(doc, both["positions"])
    feature = both["ids"]
    assert [row["id"] for row in property_table(doc, binary)] == ids  # feature id = row = legend value

    las = laspy.read(exports / "pavilion-2024-mesh-small.laz")
    points = np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])
    distance, nearest = cKDTree(points).query(world)
    assert distance.max() < 0.001  # the same points, to well under a millimetre
    assert np.array_equal(np.asarray(las.element)[nearest], feature)
    assert set(feature) == {0, 1}  # both elements present, every vertex labelled

    # the cloud carries them too: platform points are platform, stele points are stele
    cloud = laspy.read(exports / "pavilion-2024-cloud.laz")
    x = np.asarray(cloud.x)
    element = np.asarray(cloud.element)
    assert np.all(element[x < ORIGIN[0] + 14.5] == ids.index("platform"))
    assert np.all(element[x > ORIGIN[0] + 15.5] == ids.index("stele"))
    assert np.array_equal(np.asarray(cloud.material)[x > ORIGIN[0] + 15.5], np.full((x > ORIGIN[0] + 15.5).sum(), 1))


def test_the_copc_cloud_answers_bounds_queries_with_its_labels(package):
    """The COPC export holds the same points and labels as the cloud's LAZ, and laspy's
    CopcReader answers a bounds query with exactly the points inside the box."""
    exports = package / "data" / "exports"
    plain = laspy.read(exports / "pavilion-2024-cloud.laz")
    xyz = np.column_stack([np.asarray(plain.x), np.asarray(plain.y), np.asarray(plain.z)])
    with laspy.CopcReader.open(exports / "pavilion-2024-cloud.copc.laz") as reader:
        assert reader.header.point_count == len(xyz)
        everything = reader.query()
        lo = np.array([xyz[:, 0].mean() - 1.0, xyz[:, 1].min() - 1.0, xyz[:, 2].min() - 1.0])
        hi = np.array([xyz[:, 0].mean() + 1.0, xyz[:, 1].max() + 1.0, xyz[:, 2].max() + 1.0])
        box = laspy.copc.Bounds(mins=lo, maxs=hi)
        inside = reader.query(bounds=box)
    got = np.column_stack([np.asarray(everything.x), np.asarray(everything.y), np.asarray(everything.z)])
    order_a, order_b = np.lexsort(xyz.T[::-1]), np.lexsort(got.T[::-1])
    np.testing.assert_allclose(got[order_b], xyz[order_a], atol=1e-4)
    for name in ("element", "phase", "material"):
        assert np.array_equal(np.asarray(everything[name])[order_b], np.asarray(plain[name])[order_a]), name
    expected = np.all((xyz >= lo) & (xyz < hi), axis=1).sum()
    assert 0 < len(inside) == expected < len(xyz)


def test_ply_labels_are_scalar_fields_on_the_georeferenced_points(package):
    from plyfile import PlyData

    exports = package / "data" / "exports"
    ply = PlyData.read(str(exports / "pavilion-2024-mesh-small.ply"))
    names = {"scalar_element", "scalar_phase", "scalar_material"}
    assert names <= {p.name for p in ply["face"].properties}
    assert names <= {p.name for p in ply["vertex"].properties}
    cloud = PlyData.read(str(exports / "pavilion-2024-cloud.ply"))["vertex"].data
    las = laspy.read(exports / "pavilion-2024-cloud.laz")
    xyz = np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])
    assert np.abs(np.column_stack([cloud["x"], cloud["y"], cloud["z"]]) - xyz).max() < 1e-4  # no origin to add
    assert np.array_equal(cloud["scalar_element"], np.asarray(las.element))


def test_las_extra_bytes_declare_no_data_and_the_crs_is_wkt1(package):
    import twin

    exports = package / "data" / "exports"
    for name in ("pavilion-2024-cloud.laz", "pavilion-2024-mesh-small.laz"):
        las = laspy.read(exports / name)
        assert las.header.generating_software == f"twin {twin.__version__}"
        wkt = las.header.vlrs.get("WktCoordinateSystemVlr")[0].string
        assert wkt.startswith('PROJCS["WGS 84 / UTM zone 48N"')
        records = {r.name.rstrip(b"\0").decode(): r
                   for r in las.header.vlrs.get("ExtraBytesVlr")[0].extra_bytes_structs}
        for label in ("element", "phase", "material"):
            assert records[label].no_data.tolist() == [-1]
            assert records[label].description.rstrip(b"\0").decode().startswith(f"{label}; legend.json")


def test_glb_has_the_scans_colours_and_no_duplicate_faces(package):
    from scipy.spatial import cKDTree

    from tests.unit.test_export_gltf import duplicate_faces_by_position

    exports = package / "data" / "exports"
    las = laspy.read(exports / "pavilion-2024-cloud.laz")
    xyz = np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])
    rgb = (np.column_stack([np.asarray(las.red), np.asarray(las.green), np.asarray(las.blue)]) // 257).astype(np.uint8)
    for level in ("small", "full"):
        doc, binary = read_glb(exports / f"pavilion-2024-{level}.glb")
        both = merged(doc, binary)
        world = crs_positions(doc, both["positions"])
        colour = both["colours"]
        _, nearest = cKDTree(xyz).query(world)
        assert np.array_equal(colour, rgb[nearest])  # each vertex the colour of its nearest scan point
        assert len(np.unique(colour, axis=0)) > 20  # the scan's colours, not one grey
        assert duplicate_faces_by_position(world, both["faces"]) == (0, 0)
        assert set(doc["asset"]["extras"]["facesLeftOut"]) == {"degenerate", "duplicate"}


def test_jsonld_lists_every_exported_file_with_its_checksum(package):
    import hashlib

    from rdflib import Graph, URIRef

    exports = package / "data" / "exports"
    graph = Graph().parse(exports / "pavilion.jsonld", format="json-ld")
    rows = graph.query("""
        PREFIX crm: <http://www.cidoc-crm.org/cidoc-crm/>
        SELECT ?element WHERE { ?element crm:P45_consists_of ?m . ?m crm:P127_has_broader_term ?aat }""",
        initBindings={"aat": URIRef("http://vocab.getty.edu/aat/300011286")})
    assert [str(r.element) for r in rows] == ["https://monuments.example.org/twin/pavilion/element/stele"]
    rows = graph.query("""
        PREFIX crm: <http://www.cidoc-crm.org/cidoc-crm/>
        PREFIX crmdig: <http://www.cidoc-crm.org/extensions/crmdig/>
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?path ?sha ?export WHERE {
          ?export crmdig:L22_created_derivative ?file ; crmdig:L21_used_as_derivation_source ?model .
          ?model crm:P1_is_identified_by/crm:P2_has_type/rdfs:label "model-key" .
          ?file a crmdig:D1_Digital_Object ; rdfs:label ?path ;
                crm:P1_is_identified_by [ crm:P190_has_symbolic_content ?sha ; crm:P2_has_type/rdfs:label "sha256" ] .
        }""")
    listed = {str(r.path): str(r.sha) for r in rows}
    on_disk = {str(p.relative_to(exports)): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in exports.rglob("*") if p.is_file() and p.name not in ("pavilion.jsonld", "export.json")}
    assert listed == on_disk and len(listed) == 19  # GLB 2, PLY 3, LAZ 3, COPC, 3D Tiles 4, legend 2, GeoJSON 2, GPKG, IFC
    assert all(str(r.export).startswith("https://monuments.example.org/twin/pavilion/export/") for r in rows)
    wkt = [str(o) for o in graph.objects(None, URIRef("http://www.opengis.net/ont/geosparql#asWKT"))]
    assert any(w.startswith("<http://www.opengis.net/def/crs/EPSG/0/32648> MULTIPOLYGON") for w in wkt)


def test_geojson_and_geopackage_open_in_gdal_with_valid_multipolygons(package):
    import pyogrio
    import pyogrio.raw
    import shapely

    exports = package / "data" / "exports"
    wgs = json.loads((exports / "pavilion.wgs84.geojson").read_text())
    lon, lat = wgs["features"][1]["geometry"]["coordinates"][0][0][0]
    assert 100 < lon < 110 and 10 < lat < 20  # Hue
    crs = json.loads((exports / "pavilion.crs.geojson").read_text())
    assert crs["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32648"
    for path, layer, epsg, count in ((exports / "pavilion.wgs84.geojson", None, "EPSG:4326", 3),
                                     (exports / "pavilion.crs.geojson", None, "EPSG:32648", 3),
                                     (exports / "pavilion.gpkg", "structure", "EPSG:32648", 1),
                                     (exports / "pavilion.gpkg", "elements", "EPSG:32648", 2)):
        info = pyogrio.read_info(path, layer=layer)
        assert (info["geometry_type"], info["crs"], info["features"]) == ("MultiPolygon", epsg, count)
        _, _, wkb, _ = pyogrio.raw.read(path, layer=layer)
        geometries = shapely.from_wkb(wkb)
        assert all(shapely.is_valid(geometries)) and set(shapely.get_type_id(geometries)) == {6}
    for feature in wgs["features"]:
        assert isinstance(feature["properties"]["phases"], list)  # a JSON array, not a string
    stele = next(f["properties"] for f in wgs["features"] if f["properties"]["id"] == "stele")
    assert (stele["primary_phase"], stele["phase_start"], stele["phase_end"], stele["primary_material"]) == (
        "built", "1805-01-01", "1805-12-31", "limestone")


def test_the_ifc_validates_and_holds_every_face_of_its_level_in_its_elements(package, processed):
    import ifcopenshell
    import ifcopenshell.util.element

    from tests.unit.test_export_ifc import iterated_shapes, placement_error, slivers, validation_errors
    from twin.catalog.models import latest_model
    from twin.catalog.workspace import Workspace
    from twin.io.ply import ply_element_counts
    from twin.io.ply_write import read_mesh_ply

    path = package / "data" / "exports" / "pavilion-2024-full.ifc"
    assert validation_errors(path) == []
    f = ifcopenshell.open(str(path))
    elements = {p.Tag or p.Name: p for p in f.by_type("IfcElement")}
    assert set(elements) - {"unlabelled"} == {"platform", "stele"}  # unlabelled: faces of no element, if any
    stele = elements["stele"]
    heritage = ifcopenshell.util.element.get_psets(stele)["Twin_Heritage"]
    assert stele.is_a() == "IfcBuildingElementPart" and elements["platform"].is_a() == "IfcSlab"
    assert (heritage["PrimaryPhase"], heritage["PhaseDates"], heritage["KnowledgeStatus"]) == ("built", ["1805"],
                                                                                                "inferred")
    assert ifcopenshell.util.element.get_material(stele).Name == "limestone"
    model = latest_model(Workspace.open(processed), "pavilion", "2024")
    mesh = read_mesh_ply(model.meshes["full"])
    assert ply_element_counts(package / "data" / "exports" / "pavilion-2024-mesh-full.ply")["face"] == mesh.n_faces
    written = [len(p.Representation.Representations[0].Items[0].CoordIndex) for p in f.by_type("IfcElement")]
    assert sum(written) == mesh.n_faces  # every face, in exactly one product
    assert sum(len(t) for t in iterated_shapes(f).values()) == mesh.n_faces - slivers(mesh)  # narrower than 1 µm
    (conversion,) = f.by_type("IfcMapConversion")
    assert abs(conversion.Eastings - mesh.origin[0]) < 1e-3 and abs(conversion.Northings - mesh.origin[1]) < 1e-3
    assert placement_error(f, mesh) < 1e-3


def test_ifc_of_a_chosen_level_alone(cli, processed, tmp_path):
    result = cli("export", "pavilion", "--survey", "2024", "--out", tmp_path / "out", "-f", "ifc", "--level", "small",
                 "-w", processed, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["formats"] == ["ifc"] and report["ifc_level"] == "small"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["export.json", "pavilion-2024-small.ifc"]


def test_base_uri_and_contact_come_from_the_workspace(cli, processed, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(processed, ws)
    settings = yaml.safe_load((ws / "twin.yaml").read_text(encoding="utf-8"))
    settings.update(base_uri="https://hmcc.example.org/id/", contact_name=None, contact_email=None)
    (ws / "twin.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    result = cli("export", "pavilion", "--survey", "2024", "--out", tmp_path / "bag", "-f", "jsonld", "-f", "bagit",
                 "-w", ws)
    assert result.exit_code == 0, result.stderr
    assert (f"warning: bag-info will have no contact_name, contact_email: set contact_name, contact_email in "
            f"{ws / 'twin.yaml'}") in result.stderr
    doc = json.loads((tmp_path / "bag" / "data" / "exports" / "pavilion.jsonld").read_text())
    assert all(n["@id"].startswith("https://hmcc.example.org/id/pavilion/") for n in doc["@graph"]
               if not n["@id"].startswith(("http://www.opengis.net/", "http://vocab.getty.edu/")))
    info = (tmp_path / "bag" / "bag-info.txt").read_text()
    assert "Contact-Name" not in info and "Organization-Address: 23 Le Loi, Hue, Viet Nam" in info
    settings["base_uri"] = "not a uri"
    (ws / "twin.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    bad = cli("export", "pavilion", "--survey", "2024", "--out", tmp_path / "x", "-f", "jsonld", "-w", ws)
    assert bad.exit_code == 4 and "base_uri 'not a uri' is not an absolute URI" in bad.stderr


def test_verify_accepts_the_bag_then_names_every_changed_file(cli, package, tmp_path):
    result = cli("verify", package)
    assert result.exit_code == 0 and "valid BagIt bag" in result.stdout
    bag = tmp_path / "bag"
    shutil.copytree(package, bag)
    with open(bag / "data" / "exports" / "pavilion.jsonld", "ab") as fh:
        fh.write(b" ")
    (bag / "data" / "raw" / "S1" / "S1.laz").unlink()
    result = cli("verify", bag)
    assert result.exit_code == 5
    assert f"{bag / 'data/exports/pavilion.jsonld'} changed" in result.stderr
    assert f"{bag / 'data/raw/S1/S1.laz'} is missing" in result.stderr
    data = json.loads(cli("verify", bag, "--json").stdout)
    assert data["valid"] is False and data["changed"] == ["data/exports/pavilion.jsonld"]


# -- chosen formats, skipped formats ---------------------------------------------------------------


def test_chosen_formats_without_bagit_are_plain_files(cli, processed, tmp_path):
    out = tmp_path / "out"
    out.mkdir()  # an empty folder is fine
    result = cli("export", "pavilion", "--survey", "2024", "--out", out, "--format", "glb", "-f", "laz",
                 "-w", processed, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["formats"] == ["glb", "laz"] and report["bag"] is False
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "pavilion-2024-full.glb", "pavilion-2024-small.glb", "pavilion-2024-cloud.laz",
        "pavilion-2024-mesh-full.laz", "pavilion-2024-mesh-small.laz", "legend.json", "legend.csv", "export.json"])
    assert {f["path"] for f in report["files"]} == {p.name for p in out.iterdir()}


def test_a_cloud_only_model_skips_glb_unless_asked(cli, processed, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(processed, ws)
    assert cli("layers", "set", "gate", Path(__file__).parents[1] / "data" / "layers" / "example.yaml",
               "-w", ws).exit_code == 0
    asked = cli("export", "gate", "--survey", "2024", "--out", tmp_path / "a", "-f", "glb", "-w", ws)
    assert asked.exit_code == 2 and "cannot export glb for gate/2024: the model has no mesh" in asked.stderr
    assert not (tmp_path / "a").exists()
    asked = cli("export", "gate", "--survey", "2024", "--out", tmp_path / "a", "-f", "ifc", "-w", ws)
    assert asked.exit_code == 2 and "cannot export ifc for gate/2024: the model has no mesh" in asked.stderr
    assert not (tmp_path / "a").exists()
    default = cli("export", "gate", "--survey", "2024", "--out", tmp_path / "b", "-w", ws)
    assert default.exit_code == 0, default.stderr
    assert "skipped glb: the model has no mesh" in default.stdout
    assert "skipped ifc: the model has no mesh" in default.stdout
    assert (tmp_path / "b" / "data" / "exports" / "gate-2024-cloud.laz").is_file()


def test_export_uses_the_current_layers_and_says_when_the_model_is_older(cli, processed, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(processed, ws)
    moved = tmp_path / "layers-2.yaml"
    moved.write_text(LAYERS.replace("[749015.8, 1821020.8, 4.8]", "[749015.8, 1821020.8, 6.5]"), encoding="utf-8")
    assert cli("layers", "set", "pavilion", moved, "-w", ws).exit_code == 0
    result = cli("export", "pavilion", "--survey", "2024", "--out", tmp_path / "out", "-f", "laz", "-w", ws)
    assert result.exit_code == 0, result.stderr
    assert "warning: the model was labelled with layers revision 1; the export uses the current one (2)" in result.stderr
    cloud = laspy.read(tmp_path / "out" / "pavilion-2024-cloud.laz")
    stele = np.asarray(cloud.x) > ORIGIN[0] + 15.5
    z, element = np.asarray(cloud.z), np.asarray(cloud.element)
    assert np.all(element[stele & (z < 6.49)] == -1) and np.all(element[stele & (z > 6.51)] == 1)


def test_a_survey_without_layers_exports_its_geometry_and_says_what_is_missing(cli, processed, tmp_path):
    """Issue 15, bad input: gate/2024 has a cloud, no mesh and no layers. The default export
    writes what can be made (the cloud unlabelled, the legend empty, the JSON-LD, the bag),
    names what it skipped and why, and warns that no label is carried."""
    import json

    out = tmp_path / "gate"
    result = cli("export", "gate", "--survey", "2024", "--out", out, "-w", processed, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["layers_rev"] == 0
    assert set(report["skipped"]) == {"glb", "ifc", "geojson", "gpkg"}, report["skipped"]
    assert "no layers yet" in report["skipped"]["geojson"] and "no mesh" in report["skipped"]["glb"]
    assert any("has no layers yet: the export carries no element" in w for w in report["warnings"])
    data = out / "data" / "exports" if (out / "bagit.txt").exists() else out
    cloud = laspy.read(data / "gate-2024-cloud.laz")
    assert len(cloud) > 1000 and np.all(np.asarray(cloud.element) == -1)
    legend = json.loads((data / "legend.json").read_text())
    assert legend["elements"] == [] and legend["none"] == -1
    assert (data / "gate.jsonld").is_file() and (data / "export.json").is_file()
    if (out / "bagit.txt").exists():  # no layers revision is filed as provenance
        assert not list((out / "data" / "provenance").glob("layers-rev-*"))


# -- bad input: one line, non-zero exit, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["ghost", "--survey", "2024"], 4, "no structure 'ghost'"),
        (["pavilion", "--survey", "1999"], 4, "no survey '1999' of structure 'pavilion'"),
        (["pavilion", "--survey", "2025"], 4, "has no processed model yet; run: twin process pavilion --survey 2025"),
        (["gate", "--survey", "2024", "-f", "geojson"], 2,
         "cannot export geojson for gate/2024: the structure has no layers yet (twin layers set gate FILE)"),
        (["gate", "--survey", "2024", "-f", "glb"], 2, "cannot export glb for gate/2024: the model has no mesh"),
        (["pavilion", "--survey", "2024", "-f", "obj"], 2, "unknown export format 'obj': use one or more of glb"),
        (["pavilion", "--survey", "2024", "--base-uri", "monuments"], 2, "is not an absolute URI"),
        (["pavilion", "--survey", "2024", "-f", "ifc", "--level", "tiny"], 2,
         "the model of pavilion/2024 has no mesh level 'tiny': use --level with one of full, small"),
        (["pavilion", "--survey", "2024", "-f", "glb", "--level", "small"], 2,
         "--level small chooses the level of the IFC export, which is not among the formats; add -f ifc"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(cli, processed, tmp_path, args, code, message):
    from tests.conftest import workspace_state

    before = workspace_state(processed)
    out = tmp_path / "new" / "package"
    result = cli("export", *args, "--out", out, "-w", processed)
    assert result.exit_code == code, result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "new").exists() and workspace_state(processed) == before


def test_an_out_folder_that_is_not_empty_is_refused(cli, processed, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    result = cli("export", "pavilion", "--survey", "2024", "--out", tmp_path / "full", "-w", processed)
    assert result.exit_code == 2 and "exists and is not empty" in result.stderr
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    (tmp_path / "file").write_text("x")
    result = cli("export", "pavilion", "--survey", "2024", "--out", tmp_path / "file", "-w", processed)
    assert result.exit_code == 2 and "is not a folder" in result.stderr


def test_a_failure_half_way_leaves_no_half_package(cli, processed, tmp_path, monkeypatch):
    import twin.export.jsonld

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(twin.export.jsonld, "write_jsonld", broken)
    result = cli("export", "pavilion", "--survey", "2024", "--out", tmp_path / "pkg", "-w", processed)
    assert result.exit_code != 0 and "disk full" in result.stderr
    assert list(tmp_path.iterdir()) == []  # neither the package nor a temporary folder


def test_verify_refuses_a_folder_that_is_neither_a_bag_nor_a_workspace(cli, tmp_path):
    result = cli("verify", tmp_path)
    assert result.exit_code == 2 and "neither a BagIt bag (no bagit.txt) nor a twin workspace" in result.stderr
    assert cli("verify", tmp_path / "nothing").exit_code == 2


def test_export_help_ends_with_an_example(cli):
    result = cli("export", "--help")
    assert result.exit_code == 0 and "Example: twin export" in result.stdout
    assert "Example: twin verify" in cli("verify", "--help").stdout

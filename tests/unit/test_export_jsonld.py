"""JSON-LD export: parses with rdflib, and CIDOC-CRM / CRMba / CRMdig questions get answers by SPARQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin.export.jsonld import CRM, CRMBA, CRMDIG, base_iri, jsonld_document, write_jsonld
from twin.layers import load_layers
from twin.models.catalog import SurveyRecord
from twin.pipeline.provenance import InputRecord, OutputRecord, RunProvenance, StageRecord

pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")  # rdflib's parser

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "layers" / "example.yaml"
PREFIXES = f"""
PREFIX crm: <{CRM}>
PREFIX crmba: <{CRMBA}>
PREFIX crmdig: <{CRMDIG}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
"""
EXPORT = {"id": "pavilion-2024-03-20240321T100000Z", "structure_id": "pavilion", "survey_id": "2024-03",
          "started_at": "2024-03-21T10:00:00Z", "software": {"twin": "0.1.0"}, "model_key": "f" * 64,
          "model_files": ["c" * 64, "d" * 64], "layers_rev": 2, "layers_sha256": "e" * 64}
FILES = [{"path": "pavilion-2024-03-full.glb", "format": "glb", "size_bytes": 1234, "sha256": "1a" * 32},
         {"path": "pavilion-2024-03-cloud.laz", "format": "laz", "size_bytes": 99, "sha256": "2b" * 32},
         {"path": "pavilion-2024-03-3dtiles/tileset.json", "format": "3dtiles", "size_bytes": 7, "sha256": "3c" * 32}]


@pytest.fixture(scope="module")
def layers():
    return load_layers(EXAMPLE)


def provenance() -> RunProvenance:
    return RunProvenance(
        structure_id="pavilion", survey_id="2024-03", pipeline={"name": "default", "stages": []},
        pipeline_source="pipelines/default.yaml", model_key="f" * 64, started_at="2024-03-20T09:00:00Z",
        finished_at="2024-03-20T09:04:00Z", software={"twin": "0.1.0", "numpy": "2.4.6"},
        inputs=[InputRecord(station=s, sha256=c * 64, store_path=f"raw/{c * 2}/{c * 64}.las",
                            original_name=f"{s}.las", point_count=1000, crs_epsg=32648)
                for s, c in (("st1", "a"), ("st2", "b"))],
        stages=[StageRecord(index=0, stage="voxel_downsample", params={"voxel": 0.01}, key="1" * 64, cached=False),
                StageRecord(index=1, stage="mesh", params={"method": "poisson", "depth": 9}, key="2" * 64,
                            cached=True)],
        outputs=[OutputRecord(role="cloud", path="cloud.ply", sha256="c" * 64, size_bytes=100),
                 OutputRecord(role="mesh:lod0", path="mesh-lod0.ply", sha256="d" * 64, size_bytes=200)],
    )


SURVEY = SurveyRecord(structure_id="pavilion", id="2024-03", date="2024-03-12", team="Survey team A",
                      instrument="Leica RTC360", created_at="2024-03-12T00:00:00Z")


@pytest.fixture(scope="module")
def graph(layers, tmp_path_factory):
    from rdflib import Graph

    from pyproj import CRS

    path = write_jsonld(layers, "pavilion", tmp_path_factory.mktemp("ld") / "pavilion.jsonld", [provenance()],
                        [SURVEY], crs=CRS.from_epsg(32648), export=EXPORT, files=FILES)
    return Graph().parse(path, format="json-ld")


def select(graph, query: str) -> list[tuple]:
    return [tuple(str(v) for v in row) for row in graph.query(PREFIXES + query)]


def test_which_elements_consist_of_a_material(graph):
    rows = select(graph, """
        SELECT ?id ?name WHERE {
          ?element crm:P45_consists_of ?material ; rdfs:label ?name ;
                   crm:P1_is_identified_by/crm:P190_has_symbolic_content ?id .
          ?material a crm:E57_Material ;
                    crm:P127_has_broader_term <http://vocab.getty.edu/aat/300011914> .
        } ORDER BY ?id""")
    # ironwood: the altar, the roof, and the columns group with its members (stated on each)
    assert rows == [("altar", "Altar"), ("column-ne", "North-east column"), ("column-sw", "South-west column"),
                    ("columns", "Columns"), ("roof", "Roof")]
    by_label = select(graph, """
        SELECT ?name WHERE { ?e crm:P45_consists_of [ rdfs:label "stone" ] ; rdfs:label ?name }""")
    assert by_label == [("Stone platform",)]


def test_structure_and_elements_use_crm_and_crmba_classes(graph):
    rows = select(graph, """
        SELECT ?name ?class WHERE {
          ?s a crmba:B1_Built_Work ; crm:P46_is_composed_of ?e .
          ?e rdfs:label ?name ; a ?class .
        } ORDER BY ?name""")
    classes = dict(rows)
    assert classes["Altar"] == CRM + "E22_Human-Made_Object"
    assert classes["Roof"] == CRMBA + "B2_Morphological_Building_Section"
    assert classes["Stone platform"] == CRMBA + "B3_Filled_Morphological_Building_Section"
    members = select(graph, """
        SELECT ?m WHERE { ?g rdfs:label "Columns" ; crm:P46_is_composed_of/rdfs:label ?m } ORDER BY ?m""")
    assert members == [("North-east column",), ("South-west column",)]
    title = select(graph, "SELECT ?t WHERE { ?d a crmdig:D1_Digital_Object ; crm:P129_is_about ?s ; dcterms:title ?t }")
    assert title == [("Test pavilion, layers",)]


def test_phases_are_events_with_dated_time_spans(graph):
    rows = select(graph, """
        SELECT ?begin ?end ?edtf WHERE {
          ?e rdfs:label "Roof" ; crm:P31i_was_modified_by ?p .
          ?p a crm:E11_Modification .
          FILTER NOT EXISTS { ?p a crm:E12_Production }
          ?p a crm:E11_Modification ; crm:P4_has_time-span ?ts .
          ?ts crm:P82a_begin_of_the_begin ?begin ; crm:P82b_end_of_the_end ?end ; rdfs:label ?edtf .
        }""")
    assert rows == [("1920-01-01T00:00:00+00:00", "1925-12-31T23:59:59+00:00", "1920/1925")]
    built = select(graph, """
        SELECT ?name WHERE { ?e crm:P108i_was_produced_by [ a crm:E12_Production ; rdfs:label ?name ] ;
                                rdfs:label "North-east column" } ORDER BY ?name""")
    # inherited from the columns group: built in 1805, and its present fabric made by the 1833
    # rebuilding (its primary phase, the one its points carry), not merely modified by it
    assert built == [("Construction under Gia Long",), ("reconstruction-1833",)]  # (no name: labelled by id)
    modified = select(graph, """
        SELECT ?name WHERE { ?e crm:P31i_was_modified_by/rdfs:label ?name ; rdfs:label "North-east column" }""")
    assert modified == []
    rebuilding = select(graph, """SELECT ?c WHERE { ?p rdfs:label "reconstruction-1833" ; a ?c } ORDER BY ?c""")
    assert rebuilding == [(CRM + "E11_Modification",), (CRM + "E12_Production",)]
    damaged = select(graph, "SELECT ?e WHERE { ?x crm:P12i_was_present_at [ a crm:E5_Event ] ; rdfs:label ?e }")
    assert damaged == [("Roof",)]


def test_knowledge_status_and_sources(graph):
    rows = select(graph, """
        SELECT ?status ?source WHERE {
          ?e rdfs:label "South-west column" ; crm:P2_has_type/rdfs:label ?status ;
             crm:P70i_is_documented_in/rdfs:label ?source } ORDER BY ?source""")
    assert rows == [("inferred", "drawing 1925"), ("inferred", "symmetry with column-ne")]


def test_scans_are_digitisations_of_the_structure(graph):
    rows = select(graph, """
        SELECT ?file ?device WHERE {
          ?d a crmdig:D2_Digitization_Process ; crmdig:L1_digitized [ a crmba:B1_Built_Work ] ;
             crmdig:L11_had_output [ a crmdig:D9_Data_Object ; rdfs:label ?file ] ;
             crmdig:L12_happened_on_device/rdfs:label ?device .
          ?survey crm:P9_consists_of ?d ; crm:P14_carried_out_by/rdfs:label "Survey team A" .
        } ORDER BY ?file""")
    assert rows == [("st1.las", "Leica RTC360"), ("st2.las", "Leica RTC360")]


def test_pipeline_stages_are_formal_derivations_with_parameters_and_software(graph):
    rows = select(graph, """
        SELECT ?stage ?params WHERE {
          ?s a crmdig:D3_Formal_Derivation ; rdfs:label ?stage ;
             crmdig:L13_used_parameters/crm:P190_has_symbolic_content ?params .
        } ORDER BY ?stage""")
    assert [(s, json.loads(p)) for s, p in rows] == [("0: voxel_downsample", {"voxel": 0.01}),
                                                     ("1: mesh", {"depth": 9, "method": "poisson"})]
    software = select(graph, """
        SELECT DISTINCT ?sw WHERE { ?s a crmdig:D3_Formal_Derivation ;
                                     crmdig:L23_used_software_or_firmware [ a crmdig:D14_Software ; rdfs:label ?sw ] }
        ORDER BY ?sw""")
    assert software == [("numpy 2.4.6",), ("twin 0.1.0",)]
    # the chain: scans -> voxel result -> mesh stage -> files
    chain = select(graph, """
        SELECT ?file WHERE {
          ?first rdfs:label "0: voxel_downsample" ; crmdig:L21_used_as_derivation_source/rdfs:label "st1.las" ;
                 crmdig:L22_created_derivative ?mid .
          ?second crmdig:L21_used_as_derivation_source ?mid ; crmdig:L22_created_derivative [ rdfs:label ?file ;
                  crm:P1_is_identified_by/crm:P190_has_symbolic_content "{}" ] .
        }""".replace("{}", "d" * 64))
    assert chain == [("mesh:lod0: mesh-lod0.ply",)]


def test_document_is_compact_sorted_json_ld(layers):
    doc = jsonld_document(layers, "pavilion", base="https://example.org/twin/")
    assert doc["@context"]["crm"] == CRM
    ids = [n["@id"] for n in doc["@graph"]]
    assert ids == sorted(ids) and all(i.startswith("https://example.org/twin/pavilion/") for i in ids)
    assert jsonld_document(layers, "pavilion", base="https://example.org/twin/") == doc  # deterministic


def test_the_place_has_its_footprint_as_geosparql_wkt_in_its_crs_and_in_wgs84(graph, layers):
    import shapely

    from twin.export.geojson import structure_footprint

    rows = select(graph, """
        SELECT ?wkt ?crs ?crsname WHERE {
          ?s a crmba:B1_Built_Work ; crm:P53_has_former_or_current_location ?place .
          ?place a crm:E53_Place ; geo:hasGeometry ?g .
          ?g a geo:Geometry ; geo:asWKT ?wkt .
          OPTIONAL { ?g dcterms:conformsTo ?crs . ?crs rdfs:label ?crsname }
        } ORDER BY ?wkt""")
    assert len(rows) == 2
    projected = next(r for r in rows if r[0].startswith("<http://www.opengis.net/def/crs/EPSG/0/32648> "))
    assert projected[1:] == ("http://www.opengis.net/def/crs/EPSG/0/32648", "WGS 84 / UTM zone 48N")
    footprint = shapely.from_wkt(projected[0].split("> ", 1)[1])
    assert footprint.is_valid and footprint.equals(structure_footprint(layers))
    lonlat = shapely.from_wkt(next(r for r in rows if r[0].startswith("MULTIPOLYGON"))[0])  # CRS84: no IRI
    assert lonlat.is_valid and 107.0 < lonlat.centroid.x < 107.6 and 16.3 < lonlat.centroid.y < 16.6  # Hue
    datatype = {str(o.datatype) for o in graph.objects(None, graph.namespace_manager.expand_curie("geo:asWKT"))}
    assert datatype == {"http://www.opengis.net/ont/geosparql#wktLiteral"}


def test_every_exported_file_is_a_digital_object_with_its_checksum_and_the_export_that_made_it(graph):
    rows = select(graph, """
        SELECT ?path ?sha ?size ?activity WHERE {
          ?activity a crmdig:D3_Formal_Derivation , crmdig:D10_Software_Execution ;
                    crmdig:L22_created_derivative ?file ;
                    crmdig:L23_used_software_or_firmware/rdfs:label "twin 0.1.0" .
          ?file a crmdig:D1_Digital_Object ; rdfs:label ?path ; dcterms:extent ?size ;
                crm:P129_is_about [ a crmba:B1_Built_Work ] ;
                crm:P1_is_identified_by [ crm:P190_has_symbolic_content ?sha ;
                                          crm:P2_has_type/rdfs:label "sha256" ] .
        } ORDER BY ?path""")
    assert [(p, sha, int(size)) for p, sha, size, _ in rows] == sorted(
        (f["path"], f["sha256"], f["size_bytes"]) for f in FILES)
    assert {a for *_, a in rows} == {"urn:twin:pavilion/export/pavilion-2024-03-20240321T100000Z"}
    sources = select(graph, """
        SELECT ?label WHERE { ?a crmdig:L22_created_derivative [ rdfs:label "pavilion-2024-03-full.glb" ] ;
                                 crmdig:L21_used_as_derivation_source/rdfs:label ?label } ORDER BY ?label""")
    # the model, its files (from the run's outputs) and the layer revision
    assert sources == [("cloud: cloud.ply",), ("layers, revision 2",), ("mesh:lod0: mesh-lod0.ply",),
                       (f"model {'f' * 12}",)]
    media = select(graph, """SELECT ?m WHERE { ?f rdfs:label "pavilion-2024-03-full.glb" ; dcterms:format ?m }""")
    assert media == [("model/gltf-binary",)]


def test_base_iri_gets_a_separator():
    assert base_iri(None) == "urn:twin:"
    assert base_iri("https://monuments.example.org/twin") == "https://monuments.example.org/twin/"
    assert base_iri("https://monuments.example.org/twin/") == "https://monuments.example.org/twin/"
    assert base_iri("urn:hue:") == "urn:hue:"

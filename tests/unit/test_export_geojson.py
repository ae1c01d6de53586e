"""GeoJSON footprints: shapes per region kind, WGS 84 and CRS files, properties for GIS; every
geometry a valid MultiPolygon (shapely), the files read by GDAL (pyogrio) with one geometry
type and one field type per property."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from twin.errors import CRSError
from twin.export.geojson import footprints, geojson_crs, geojson_wgs84, write_geojson
from twin.layers import load_layers
from twin.models.layers import LayerFile
from twin.models.scan import CRSInfo

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "layers" / "example.yaml"
SAMPLE = Path(__file__).resolve().parents[2] / "sample_scans" / "pavilion" / "layers.yaml"
CRS = CRSInfo(name="WGS 84 / UTM zone 48N", epsg=32648)


@pytest.fixture(scope="module")
def layers():
    return load_layers(EXAMPLE)


def signed_area(ring) -> float:
    ring = np.asarray(ring)
    x, y = ring[:-1, 0], ring[:-1, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def by_id(collection: dict) -> dict:
    return {f["properties"]["id"]: f for f in collection["features"]}


def test_footprint_of_each_region_kind(layers):
    prints = footprints(layers)
    (platform,), z0, z1 = prints["platform"]
    assert sorted(map(tuple, platform)) == [(749010, 1821020), (749010, 1821032), (749030, 1821020), (749030, 1821032)]
    assert (z0, z1) == (5.0, 5.6)
    (column,), z0, z1 = prints["column-ne"]  # 0.5 m square turned 15° about its centre
    assert len(column) == 4
    sides = np.linalg.norm(np.roll(column, -1, axis=0) - column, axis=1)
    assert sides == pytest.approx([0.5] * 4)
    edge = column[1] - column[0]
    assert math.degrees(math.atan2(edge[1], edge[0])) % 90 == pytest.approx(15.0)
    assert column.mean(axis=0) == pytest.approx([749027.0, 1821029.0])
    assert (z0, z1) == pytest.approx((5.6, 10.4))
    rings, _, _ = prints["columns"]  # a union: both members
    assert len(rings) == 2
    (roof,), z0, z1 = prints["roof"]
    assert len(roof) == 4 and (z0, z1) == (10.4, 14.0)


def test_a_boxes_region_is_the_multipolygon_of_its_boxes():
    layers = LayerFile.model_validate({"metadata": {"title": "t"}, "elements": [{
        "id": "frame", "name": "frame", "class": "B2_Morphological_Building_Section",
        "knowledge": {"status": "measured"},
        "region": {"boxes": [{"min": [0, 0, 4], "max": [10, 1, 5]}, {"min": [0, 0, 3.5], "max": [1, 8, 5]}]},
    }]})
    rings, z0, z1 = footprints(layers)["frame"]
    assert len(rings) == 2 and (z0, z1) == (3.5, 5.0)
    assert sorted(map(tuple, rings[1])) == [(0, 0), (0, 8), (1, 0), (1, 8)]


def test_crs_file_keeps_metres_and_names_its_crs(layers):
    data = geojson_crs(layers, "pavilion", CRS)
    assert data["crs"] == {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32648"}}
    assert "RFC 7946" in data["description"]
    features = by_id(data)
    structure = data["features"][0]
    assert structure["properties"]["kind"] == "structure"
    (hull,) = structure["geometry"]["coordinates"][0]  # convex hull of every element: here the roof outline
    assert sorted(map(tuple, hull[:-1])) == [(749009, 1821019), (749009, 1821033), (749031, 1821019),
                                             (749031, 1821033)]
    assert {f["geometry"]["type"] for f in data["features"]} == {"MultiPolygon"}  # one type, for GIS layers
    assert len(features["columns"]["geometry"]["coordinates"]) == 2  # two separate members, two parts
    assert len(features["platform"]["geometry"]["coordinates"]) == 1
    for f in data["features"]:
        for polygon in f["geometry"]["coordinates"]:
            ring = polygon[0]
            assert ring[0] == ring[-1]  # closed
            assert signed_area(ring) > 0  # counter-clockwise exterior (RFC 7946 right-hand rule)


def test_wgs84_file_is_lon_lat_to_a_millimetre(layers):
    from pyproj import Transformer

    data = geojson_wgs84(layers, "pavilion", CRS)
    assert "crs" not in data
    platform = by_id(data)["platform"]["geometry"]["coordinates"][0][0]
    lon, lat = np.array(platform).T
    assert 107.0 < lon.min() and lon.max() < 107.6 and 16.3 < lat.min() and lat.max() < 16.6  # Hue
    back = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
    x, y = back.transform(lon, lat)
    expected = np.array(by_id(geojson_crs(layers, "pavilion", CRS))["platform"]["geometry"]["coordinates"][0][0])
    assert len(expected) == len(platform) == 5
    got = np.column_stack([x, y])[:-1]
    for corner in expected[:-1]:  # each corner, wherever the ring starts
        assert np.linalg.norm(got - corner, axis=1).min() < 2e-3
    for f in data["features"]:
        assert all(signed_area(p[0]) > 0 for p in f["geometry"]["coordinates"])


def test_properties_carry_names_classes_phases_with_dates_and_materials(layers):
    roof = by_id(geojson_wgs84(layers, "pavilion", CRS))["roof"]["properties"]
    assert roof["name"] == "Roof" and roof["class"] == "B2_Morphological_Building_Section"
    assert roof["knowledge"] == "measured" and roof["stable"] is False
    # lists are JSON arrays of strings, one per phase or material (own, then the groups')
    assert roof["phases"] == ["construction-1805", "restoration-1920s", "damage-1968"]
    assert roof["phase_types"] == ["construction", "restoration", "damage"]
    assert roof["phase_dates"] == ["1805", "1920/1925", "1968-02"]
    assert roof["materials"] == ["tile", "ironwood"]
    assert roof["material_labels"] == ["glazed roof tile", "ironwood (lim)"]
    assert roof["material_aat"] == ["http://vocab.getty.edu/aat/300010669", "http://vocab.getty.edu/aat/300011914"]
    # and flat columns for the one phase and material the per-point labels carry
    assert (roof["primary_phase"], roof["primary_phase_type"], roof["primary_phase_date"]) == (
        "construction-1805", "construction", "1805")
    assert (roof["phase_start"], roof["phase_end"]) == ("1805-01-01", "1805-12-31")
    assert (roof["primary_material"], roof["primary_material_aat"]) == ("tile", "http://vocab.getty.edu/aat/300010669")
    column = by_id(geojson_wgs84(layers, "pavilion", CRS))["column-ne"]["properties"]
    assert column["primary_phase"] == "reconstruction-1833" and column["phase_start"] == "1833-01-01"
    assert column["primary_material"] == "ironwood"  # from the columns group
    assert by_id(geojson_wgs84(layers, "pavilion", CRS))["columns"]["properties"]["members"] == ["column-ne",
                                                                                                "column-sw"]


@pytest.mark.parametrize("path", [EXAMPLE, SAMPLE], ids=["example", "sample"])
def test_every_geometry_is_a_valid_multipolygon_and_every_property_has_one_type(path):
    """The sample pavilion's layers gave 21 invalid geometries of 51 (overlapping boxes of a
    wall: self-intersection; a stele's boxes one above the other, a planter's plant over its
    pot: nested shells) and mixed Polygon with MultiPolygon."""
    import shapely
    from shapely.geometry import shape

    layers = load_layers(path)
    for data in (geojson_crs(layers, "pavilion", CRS), geojson_wgs84(layers, "pavilion", CRS)):
        geometries = [shape(f["geometry"]) for f in data["features"]]
        assert len(geometries) == len(layers.elements) + 1
        invalid = [(f["properties"]["id"], shapely.is_valid_reason(g))
                   for f, g in zip(data["features"], geometries, strict=True) if not g.is_valid]
        assert invalid == []
        assert {g.geom_type for g in geometries} == {"MultiPolygon"} and all(g.area > 0 for g in geometries)
        keys = [tuple(f["properties"]) for f in data["features"]]
        assert len(set(keys)) == 1  # the same properties, in the same order, on every feature
        for key in keys[0]:
            kinds = {type(f["properties"][key]).__name__ for f in data["features"]} - {"NoneType"}
            assert len(kinds) <= 1, (key, kinds)
            if kinds == {"list"}:
                assert all(isinstance(v, str) for f in data["features"] for v in f["properties"][key]), key


def test_repair_keeps_what_the_parts_cover():
    """Nested boxes (an upper roof tier inside the lower) are their union, not the lower
    with a hole (what make_valid makes of the two as one MultiPolygon); a polygon drawn
    crossing itself becomes the two triangles it encloses."""
    layers = LayerFile.model_validate({"metadata": {"title": "t"}, "crs": "EPSG:32648", "elements": [
        {"id": "roof", "name": "roof", "class": "B2_Morphological_Building_Section",
         "knowledge": {"status": "measured"},
         "region": {"boxes": [{"min": [749000, 1821000, 9], "max": [749018, 1821012, 11]},
                              {"min": [749002, 1821003, 11], "max": [749014, 1821010, 14]}]}},
        {"id": "crossed", "name": "crossed", "class": "E22_Human-Made_Object", "knowledge": {"status": "measured"},
         "region": {"polygon": [[749030, 1821000], [749034, 1821004], [749034, 1821000], [749030, 1821001]],
                    "z_min": 0, "z_max": 1}},
    ]})
    from shapely.geometry import shape

    features = by_id(geojson_crs(layers, "site", CRS))
    roof = shape(features["roof"]["geometry"])
    assert roof.is_valid and roof.area == pytest.approx(18 * 12) and len(roof.geoms) == 1
    assert not roof.geoms[0].interiors
    crossed = shape(features["crossed"]["geometry"])  # its sides cross at (0.8, 0.8) from its first corner
    assert crossed.is_valid and len(crossed.geoms) == 2
    assert sorted(p.area for p in crossed.geoms) == pytest.approx([0.4, 6.4])


def test_gdal_reads_both_files_with_one_geometry_type_and_typed_columns(tmp_path, layers):
    import pyogrio

    wgs84, crs = write_geojson(layers, "pavilion", tmp_path, CRS)
    for path, epsg in ((wgs84, "EPSG:4326"), (crs, "EPSG:32648")):
        info = pyogrio.read_info(path)
        assert info["geometry_type"] == "MultiPolygon" and info["features"] == len(layers.elements) + 1
        assert info["crs"] == epsg
        types = dict(zip(info["fields"], info["ogr_types"], strict=True))
        assert types["phases"] == types["materials"] == "OFTStringList"  # real arrays, not JSON in a string
        assert types["phase_start"] == types["phase_end"] == "OFTDate"
        assert types["z_min"] == "OFTReal" and types["primary_phase"] == "OFTString"
        subtypes = dict(zip(info["fields"], info["ogr_subtypes"], strict=True))
        assert (types["stable"], subtypes["stable"]) == ("OFTInteger", "OFSTBoolean")


def test_write_both_files(tmp_path, layers):
    wgs84, crs = write_geojson(layers, "pavilion", tmp_path, CRS)
    assert (wgs84.name, crs.name) == ("pavilion.wgs84.geojson", "pavilion.crs.geojson")
    assert json.loads(wgs84.read_text(encoding="utf-8"))["type"] == "FeatureCollection"
    assert json.loads(crs.read_text(encoding="utf-8"))["crs"]["properties"]["name"].endswith("32648")


def test_layer_file_crs_is_the_fallback_and_none_is_an_error(layers):
    assert geojson_crs(layers, "pavilion")["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32648"
    bare = LayerFile.model_validate({"metadata": {"title": "t"}, "elements": [
        {"id": "a", "name": "a", "class": "B1_Built_Work", "knowledge": {"status": "measured"},
         "region": {"box": {"min": [0, 0, 0], "max": [1, 1, 1]}}}]})
    with pytest.raises(CRSError, match="no coordinate system"):
        geojson_wgs84(bare, "x")

"""GeoJSON footprints: shapes per region kind, WGS 84 and CRS files, properties for GIS."""

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
    hull = structure["geometry"]["coordinates"][0]  # convex hull of every element: here the roof outline
    assert sorted(map(tuple, hull[:-1])) == [(749009, 1821019), (749009, 1821033), (749031, 1821019),
                                             (749031, 1821033)]
    assert features["columns"]["geometry"]["type"] == "MultiPolygon"
    assert features["platform"]["geometry"]["type"] == "Polygon"
    for f in data["features"]:
        polygons = (f["geometry"]["coordinates"] if f["geometry"]["type"] == "MultiPolygon"
                    else [f["geometry"]["coordinates"]])
        for polygon in polygons:
            ring = polygon[0]
            assert ring[0] == ring[-1]  # closed
            assert signed_area(ring) > 0  # counter-clockwise exterior (RFC 7946 right-hand rule)


def test_wgs84_file_is_lon_lat_to_a_millimetre(layers):
    from pyproj import Transformer

    data = geojson_wgs84(layers, "pavilion", CRS)
    assert "crs" not in data
    platform = by_id(data)["platform"]["geometry"]["coordinates"][0]
    lon, lat = np.array(platform).T
    assert 107.0 < lon.min() and lon.max() < 107.6 and 16.3 < lat.min() and lat.max() < 16.6  # Hue
    back = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
    x, y = back.transform(lon, lat)
    expected = np.array(by_id(geojson_crs(layers, "pavilion", CRS))["platform"]["geometry"]["coordinates"][0])
    assert np.abs(np.column_stack([x, y]) - expected).max() < 2e-3
    for f in data["features"]:
        polygons = (f["geometry"]["coordinates"] if f["geometry"]["type"] == "MultiPolygon"
                    else [f["geometry"]["coordinates"]])
        assert all(signed_area(p[0]) > 0 for p in polygons)


def test_properties_carry_names_classes_phases_with_dates_and_materials(layers):
    roof = by_id(geojson_wgs84(layers, "pavilion", CRS))["roof"]["properties"]
    assert roof["name"] == "Roof" and roof["class"] == "B2_Morphological_Building_Section"
    assert roof["knowledge"] == "measured" and roof["stable"] is False
    assert [(p["id"], p["date"], p["earliest"], p["latest"]) for p in roof["phases"]] == [
        ("construction-1805", "1805", "1805-01-01", "1805-12-31"),
        ("restoration-1920s", "1920/1925", "1920-01-01", "1925-12-31"),
        ("damage-1968", "1968-02", "1968-02-01", "1968-02-29"),
    ]
    assert roof["materials"] == [
        {"id": "tile", "label": "glazed roof tile", "aat": "http://vocab.getty.edu/aat/300010669"},
        {"id": "ironwood", "label": "ironwood (lim)", "aat": "http://vocab.getty.edu/aat/300011914"},
    ]
    assert by_id(geojson_wgs84(layers, "pavilion", CRS))["columns"]["properties"]["members"] == ["column-ne",
                                                                                                "column-sw"]


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

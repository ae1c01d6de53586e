"""The GeoPackage of the footprints: opened by GDAL (pyogrio), two layers of valid
MultiPolygons in the structure's projected CRS, typed columns equal to the GeoJSON's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from twin.errors import CRSError
from twin.export.geojson import PROPERTIES, geojson_crs
from twin.export.gpkg import write_gpkg
from twin.layers import load_layers
from twin.models.layers import LayerFile
from twin.models.scan import CRSInfo

SAMPLE = Path(__file__).resolve().parents[2] / "sample_scans" / "pavilion" / "layers.yaml"
CRS = CRSInfo(name="WGS 84 / UTM zone 48N", epsg=32648)


@pytest.fixture(scope="module")
def layers():
    return load_layers(SAMPLE)


@pytest.fixture(scope="module")
def gpkg(layers, tmp_path_factory):
    return write_gpkg(layers, "pavilion", tmp_path_factory.mktemp("gpkg") / "pavilion.gpkg", crs=CRS)


def read(path: Path, layer: str):
    import pyogrio.raw
    import shapely

    meta, _, wkb, columns = pyogrio.raw.read(path, layer=layer)
    return shapely.from_wkb(wkb), dict(zip(meta["fields"], columns, strict=True))


def test_two_layers_of_multipolygons_in_the_projected_crs(gpkg, layers):
    import pyogrio

    assert [tuple(row) for row in pyogrio.list_layers(gpkg)] == [("structure", "MultiPolygon"),
                                                                ("elements", "MultiPolygon")]
    for layer, count in (("structure", 1), ("elements", len(layers.elements))):
        info = pyogrio.read_info(gpkg, layer=layer)
        assert info["driver"] == "GPKG" and info["crs"] == "EPSG:32648" and info["features"] == count
        assert list(info["fields"]) == list(PROPERTIES)
        types = dict(zip(info["fields"], info["ogr_types"], strict=True))
        assert types["phase_start"] == types["phase_end"] == "OFTDate"
        assert types["z_min"] == "OFTReal" and types["stable"] == "OFTInteger" and types["phases"] == "OFTString"
        assert info["total_bounds"][0] > 700_000  # UTM metres, not degrees


def test_every_geometry_is_valid_and_equals_the_geojsons(gpkg, layers):
    import shapely
    from shapely.geometry import shape

    geojson = {f["properties"]["id"]: f for f in geojson_crs(layers, "pavilion", CRS)["features"]}
    for layer in ("structure", "elements"):
        geometries, columns = read(gpkg, layer)
        assert all(shapely.is_valid(geometries)) and set(shapely.get_type_id(geometries)) == {6}  # MultiPolygon
        for i, element_id in enumerate(columns["id"]):
            expected = shape(geojson[element_id]["geometry"])
            assert geometries[i].symmetric_difference(expected).area < 1e-9, element_id


def test_columns_hold_the_phases_materials_and_dates(gpkg, layers):
    _, columns = read(gpkg, "elements")
    row = list(columns["id"]).index("column-A1")
    assert columns["primary_phase"][row] == "reconstruction-1833"  # from the columns group
    assert columns["phase_start"][row] == np.datetime64("1833-01-01")
    assert columns["phase_end"][row] == np.datetime64("1833-12-31")
    assert columns["primary_material"][row] == "ironwood"
    assert json.loads(columns["phases"][row]) == ["reconstruction-1833", "restoration-199X"]
    assert bool(columns["stable"][row]) is True
    courtyard = list(columns["id"]).index("courtyard")
    assert json.loads(columns["phases"][courtyard]) == [p for p in layers.element("courtyard").phases]
    _, structure = read(gpkg, "structure")
    assert structure["id"][0] == "pavilion" and structure["kind"][0] == "structure"
    assert json.loads(structure["members"][0]) == [e.id for e in layers.elements]


def test_no_crs_is_an_error_and_nothing_is_written(tmp_path):
    bare = LayerFile.model_validate({"metadata": {"title": "t"}, "elements": [
        {"id": "a", "name": "a", "class": "B1_Built_Work", "knowledge": {"status": "measured"},
         "region": {"box": {"min": [0, 0, 0], "max": [1, 1, 1]}}}]})
    with pytest.raises(CRSError, match="no coordinate system"):
        write_gpkg(bare, "x", tmp_path / "x.gpkg")
    assert list(tmp_path.iterdir()) == []

"""The GIS exports as QGIS opens them (issue 15, point 3).

QGIS's Python API (Debian's ``qgis`` and ``python3-qgis``, 3.22, installed by ``./run test``
as root) runs in the *system* Python (``/usr/bin/python3``, or ``$QGIS_PYTHON``), headless
(Qt's offscreen platform). A script written into the test's folder from :data:`SCRIPT`
opens each file as a QGIS user would, through the same providers (OGR for vectors, PDAL
for point clouds), and prints what QGIS sees as one JSON line; the test compares it with
what twin wrote (read here with GDAL through pyogrio, and as JSON):

- the **GeoPackage** ``pavilion.gpkg``, layers ``structure`` and ``elements``, and both
  **GeoJSON** files: a valid layer, as many features as twin wrote, the CRS QGIS recognises
  (EPSG:32648 for the GeoPackage and ``crs.geojson``, EPSG:4326 for ``wgs84.geojson``),
  MultiPolygons only, every geometry valid for QGIS's GEOS check (``isGeosValid``), each
  with the area and extent twin wrote; the typed columns as QGIS types them (``stable``
  Boolean, ``z_min`` Real, ``phase_start``/``phase_end`` Date, the GeoJSON lists as string
  lists, in the GeoPackage as JSON text) and every value of every feature as twin wrote it,
  the stele's ``primary_phase``, ``primary_material``, ``phase_start``, ``phase_end``
  spelled out; and QGIS's GDAL says nothing on opening them (it warned that a GeoPackage
  1.4, GDAL 3.9's default, "may only be partially supported": twin writes 1.2; and the
  GeoJSON's ``knowledge_sources`` was a JSON text column, the structure's empty list coming
  first: the structure now lists its elements' sources);
- the labelled **LAZ** and **COPC** clouds as point cloud layers: valid, as many points as
  the file holds, the CRS recognised as EPSG:32648 (twin writes OGC WKT1 in the LAS 1.4 WKT
  record), the extra-bytes ``element``, ``phase`` and ``material`` among the layer's
  attributes, and a point's element where the provider answers ``identify``. QGIS opens
  LAS/LAZ/COPC only through its PDAL provider, and Debian 12 has no PDAL, so its QGIS 3.22
  has none (its providers are listed in the skip message): these checks are skipped there,
  saying why, as the CloudCompare LAS test is; with a QGIS that has the provider they run
  (written to QGIS 3.22's API, never run against a PDAL provider yet). QGIS 3.22 crashes
  when asked for a point cloud layer of a provider it does not have, so the script asks
  only when ``pdal`` is among its providers.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.consumers import json_answer, needed, offscreen_env

QGIS_PYTHON = os.environ.get("QGIS_PYTHON", "/usr/bin/python3")
VECTORS = {  # name -> (file, GDAL layer, CRS)
    "gpkg-structure": ("pavilion.gpkg", "structure", "EPSG:32648"),
    "gpkg-elements": ("pavilion.gpkg", "elements", "EPSG:32648"),
    "geojson-crs": ("pavilion.crs.geojson", None, "EPSG:32648"),
    "geojson-wgs84": ("pavilion.wgs84.geojson", None, "EPSG:4326"),
}
CLOUDS = ("pavilion-2024-cloud.laz", "pavilion-2024-cloud.copc.laz")
LISTS = ("knowledge_sources", "members", "phases", "phase_types", "phase_dates", "materials", "material_labels",
         "material_aat")

SCRIPT = r'''
import json, sys, time
from qgis.core import (Qgis, QgsApplication, QgsGeometry, QgsPointCloudDataProvider, QgsPointCloudLayer,
                       QgsProviderRegistry, QgsRectangle, QgsVectorLayer, QgsWkbTypes)
from qgis.PyQt.QtCore import QDate, QDateTime, QVariant

request = json.load(open(sys.argv[1]))
app = QgsApplication([], False)
app.initQgis()
providers = QgsProviderRegistry.instance().providerList()


def plain(value):
    if isinstance(value, QVariant):
        return None if value.isNull() else plain(value.value())
    if isinstance(value, QDate):
        return value.toString("yyyy-MM-dd") if value.isValid() else None
    if isinstance(value, QDateTime):
        return value.toString("yyyy-MM-ddTHH:mm:ss") if value.isValid() else None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def vector(uri):
    layer = QgsVectorLayer(uri, "layer", "ogr")
    if not layer.isValid():
        return {"valid": False, "error": layer.error().summary()}
    features = []
    for feature in layer.getFeatures():
        geometry = feature.geometry()
        box = geometry.boundingBox()
        features.append({
            "attributes": {name: plain(feature[name]) for name in layer.fields().names()},
            "geos_valid": geometry.isGeosValid(), "type": QgsWkbTypes.displayString(geometry.wkbType()),
            "area": geometry.area(), "extent": [box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()],
        })
    return {"valid": True, "count": layer.featureCount(), "crs": layer.crs().authid(),
            "type": QgsWkbTypes.displayString(layer.wkbType()),
            "fields": {f.name(): f.typeName() for f in layer.fields()}, "features": features}


def cloud(path, probe):
    layer = QgsPointCloudLayer(path, "cloud", "pdal")  # only with the provider: without it QGIS 3.22 crashes
    if not layer.isValid():
        return {"valid": False, "error": layer.error().summary()}
    provider = layer.dataProvider()
    if provider.indexingState() == QgsPointCloudDataProvider.NotIndexed:
        provider.generateIndex()  # LAS/LAZ: QGIS indexes it first (untwine), as on a user's screen
    deadline = time.monotonic() + 120
    while provider.indexingState() == QgsPointCloudDataProvider.Indexing and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    out = {"valid": True, "count": layer.pointCount(), "crs": layer.crs().authid(),
           "attributes": [a.name() for a in layer.attributes().attributes()],
           "indexed": provider.indexingState() == QgsPointCloudDataProvider.Indexed}
    if out["indexed"] and provider.hasValidIndex():
        x, y, r = probe
        found = provider.identify(r, QgsGeometry.fromRect(QgsRectangle(x - r, y - r, x + r, y + r)))
        out["identified"] = [{k: plain(v) for k, v in point.items()} for point in found]
    return out


answer = {"version": Qgis.version(), "providers": providers,
          "vectors": {name: vector(uri) for name, uri in request["vectors"].items()}}
if "pdal" in providers:
    answer["clouds"] = {name: cloud(path, request["probe"]) for name, path in request["clouds"].items()}
print("TWIN-JSON " + json.dumps(answer))
app.exitQgis()
'''


@pytest.fixture(scope="module")
def seen(request, tmp_path_factory):
    """(QGIS's answer, its stderr, the export folder, the probe point (x, y, radius, element))."""
    import laspy

    if not (Path(QGIS_PYTHON).is_file()
            and subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode == 0):
        needed(f"QGIS's Python API is not installed for {QGIS_PYTHON} (apt-get install qgis python3-qgis)",
               "the QGIS test")
    small = request.getfixturevalue("small_exported")
    folder = small.folder
    work = tmp_path_factory.mktemp("qgis")
    # a point of the stele, to identify in the cloud
    las = laspy.read(folder / CLOUDS[0])
    element = np.asarray(las["element"])
    stele = json.loads((folder / "legend.json").read_text())["elements"]
    stele_value = next(e["value"] for e in stele if e["id"] == "stele")
    i = int(np.flatnonzero(element == stele_value)[0])
    probe = (float(las.x[i]), float(las.y[i]), 0.005, stele_value)
    vectors = {name: str(folder / file) + (f"|layername={layer}" if layer else "")
               for name, (file, layer, _) in VECTORS.items()}
    clouds = {name: str(folder / name) for name in CLOUDS}
    (work / "request.json").write_text(json.dumps({"vectors": vectors, "clouds": clouds, "probe": probe[:3]}))
    script = work / "qgis_open.py"
    script.write_text(SCRIPT, encoding="utf-8")
    answer, stderr = json_answer([QGIS_PYTHON, str(script), str(work / "request.json")], what="QGIS",
                                 env=offscreen_env(work), cwd=work)
    return answer, stderr, folder, probe


def written(folder: Path, name: str) -> tuple[list[dict], list]:
    """(properties, shapely geometries) of every feature as twin wrote it: the GeoJSON as
    JSON, the GeoPackage read with GDAL (pyogrio)."""
    import pyogrio.raw
    import shapely
    import shapely.geometry

    file, layer, _ = VECTORS[name]
    if file.endswith(".geojson"):
        features = json.loads((folder / file).read_text(encoding="utf-8"))["features"]
        return [f["properties"] for f in features], [shapely.geometry.shape(f["geometry"]) for f in features]
    meta, _, wkb, columns = pyogrio.raw.read(folder / file, layer=layer)
    rows = []
    for i in range(len(wkb)):
        row = {}
        for field, values in zip(meta["fields"], columns, strict=True):
            value = values[i]
            if isinstance(value, np.datetime64):
                value = None if np.isnat(value) else str(value)
            elif isinstance(value, np.generic):
                value = value.item()
            elif isinstance(value, np.ndarray):  # a string list
                value = value.tolist()
            if isinstance(value, float) and np.isnan(value):
                value = None
            row[str(field)] = value
        rows.append(row)
    return rows, list(shapely.from_wkb(wkb))


@pytest.mark.parametrize("name", list(VECTORS))
def test_qgis_opens_each_layer_with_its_crs_and_valid_multipolygons(seen, name):
    answer, _, folder, _ = seen
    layer = answer["vectors"][name]
    assert layer["valid"], layer.get("error")
    rows, geometries = written(folder, name)
    assert layer["count"] == len(layer["features"]) == len(rows) > 0
    assert layer["crs"] == VECTORS[name][2]
    assert layer["type"] == "MultiPolygon" and {f["type"] for f in layer["features"]} == {"MultiPolygon"}
    assert all(f["geos_valid"] for f in layer["features"]), [f["attributes"]["id"] for f in layer["features"]
                                                            if not f["geos_valid"]]
    for feature, geometry in zip(layer["features"], geometries, strict=True):  # the same shapes
        assert feature["area"] == pytest.approx(geometry.area, rel=1e-9)
        assert np.allclose(feature["extent"], geometry.bounds, rtol=0, atol=1e-9 if "wgs84" in name else 1e-6)


@pytest.mark.parametrize("name", list(VECTORS))
def test_qgis_reads_every_column_typed_and_every_value_as_written(seen, name):
    answer, _, folder, _ = seen
    layer = answer["vectors"][name]
    rows, _ = written(folder, name)
    fields = layer["fields"]
    typed = {"stable": "Boolean", "z_min": "Real", "phase_start": "Date", "phase_end": "Date",
             "primary_phase": "String", "primary_material": "String"}
    assert {k: fields[k] for k in typed} == typed
    geopackage = name.startswith("gpkg")
    # lists: string lists from GeoJSON; a GeoPackage column holds none, so JSON text there
    assert {fields[k] for k in LISTS} == ({"String"} if geopackage else {"StringList"}), fields
    for feature, row in zip(layer["features"], rows, strict=True):
        got = feature["attributes"]
        for key, value in row.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value), key
            else:
                assert got[key] == value, (key, got[key], value)
    if name == "gpkg-structure":
        return
    stele = next(f["attributes"] for f in layer["features"] if f["attributes"]["id"] == "stele")
    assert (stele["primary_phase"], stele["primary_material"], stele["phase_start"], stele["phase_end"]) == (
        "built", "limestone", "1805-01-01", "1805-12-31")
    phases = json.loads(stele["phases"]) if geopackage else stele["phases"]
    assert phases == ["built"]


def test_qgis_opens_the_files_without_a_warning(seen):
    _, stderr, _, _ = seen
    said = [line for line in stderr.splitlines() if line.strip()]
    assert not [line for line in said if "warning" in line.lower() or "error" in line.lower()], said


@pytest.mark.parametrize("name", CLOUDS)
def test_qgis_opens_the_clouds_as_point_cloud_layers_with_crs_and_labels(seen, name):
    import laspy

    answer, _, folder, probe = seen
    if "clouds" not in answer:
        pytest.skip(f"this QGIS ({answer['version']}) has no PDAL provider, its only reader of LAS/LAZ/COPC "
                    f"(Debian 12 has no PDAL); its providers: {', '.join(answer['providers'])}")
    layer = answer["clouds"][name]
    assert layer["valid"], layer.get("error")
    with laspy.open(folder / name) as reader:
        assert layer["count"] == reader.header.point_count
    assert layer["crs"] == "EPSG:32648"
    assert {"element", "phase", "material"} <= set(layer["attributes"]), layer["attributes"]
    assert layer["indexed"], "QGIS did not index the cloud within 2 minutes"
    if "identified" in layer:  # a point of the stele, by its coordinates
        assert layer["identified"] and {p["element"] for p in layer["identified"]} == {probe[3]}

"""Footprints of a structure and its elements as a GeoPackage, for QGIS and other GIS.

One file, ``<structure>.gpkg``, in the structure's own CRS (the survey's projected CRS,
e.g. UTM metres; the GeoPackage's spatial reference table names it by its EPSG code
where it has one), written through GDAL (pyogrio), with two layers of MultiPolygons:

``structure``
    one feature: the convex hull of every element's footprint;
``elements``
    one feature per element (groups included: their footprint is their members' union).

The features, their geometry and their columns are those of the GeoJSON files
(:func:`twin.export.geojson.feature_records`): valid MultiPolygons only (repaired and
checked with shapely), ``kind``, ``id``, ``name``, ``class``, ``knowledge``, ``stable``
(a boolean column), ``z_min``/``z_max``, the flat ``primary_phase``, ``phase_start`` and
``phase_end`` (date columns), ``primary_material`` and their labels, dates and AAT URIs.
The file is a GeoPackage 1.2 (:data:`GPKG_VERSION`), which every GDAL since 2.2 reads.
A GeoPackage column holds no lists: ``phases``, ``materials`` and the other lists are
JSON arrays as text (``["reconstruction-1833", "restoration-199X"]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from twin.catalog.store import atomic_target
from twin.export.geojson import GEOMETRY_TYPE, PROPERTIES, feature_records, layer_crs
from twin.models.layers import LayerFile
from twin.models.scan import CRSInfo

LAYERS = ("structure", "elements")
# GeoPackage 1.2, not GDAL 3.9+'s default 1.4: the GDAL of QGIS 3.22 (Debian 12's, 3.6) warns
# that a 1.4 file "may only be partially supported"; nothing here needs 1.3 or 1.4.
GPKG_VERSION = "1.2"


def typed_columns(rows: list[dict], kinds: dict[str, str]) -> tuple[list[np.ndarray], list[str], list]:
    """(arrays, names, null masks) for ``pyogrio.raw.write``: one typed column per name of
    ``kinds``, from the rows' values (None is null). Kinds: ``string``, ``number`` (Real),
    ``integer`` (Integer64), ``boolean``, ``date`` (Date, from ISO ``YYYY-MM-DD``), ``datetime``
    (DateTime, from ISO ``YYYY-MM-DDTHH:MM:SS[Z]`` in UTC) and ``strings`` (a list, as a JSON
    array in text)."""
    arrays, names, masks = [], [], []
    for name, kind in kinds.items():
        values = [row.get(name) for row in rows]
        missing = np.array([v is None for v in values], dtype=bool)
        if kind == "boolean":
            column = np.array([bool(v) for v in values])
        elif kind == "number":
            column = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        elif kind == "integer":
            column = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
        elif kind == "date":
            column = np.array(["NaT" if v is None else v for v in values], dtype="datetime64[D]")
        elif kind == "datetime":
            column = np.array(["NaT" if v is None else str(v).removesuffix("Z") for v in values],
                              dtype="datetime64[s]")
        elif kind == "strings":
            column = np.array([json.dumps(list(v), ensure_ascii=False) for v in values], dtype=object)
            missing = np.zeros(len(values), dtype=bool)
        else:
            column = np.array(["" if v is None else str(v) for v in values], dtype=object)
        arrays.append(column)
        names.append(name)
        masks.append(missing if missing.any() else None)
    return arrays, names, masks


def write_gpkg(layers: LayerFile, structure_id: str, path: Path, crs: CRSInfo | None = None) -> Path:
    """Write ``<path>`` (a GeoPackage: layers ``structure`` and ``elements``), atomically.

    Raises :class:`~twin.errors.CRSError` when neither ``crs`` nor the layer file names a CRS.
    """
    import pyogrio.raw  # noqa: PLC0415  (GDAL: slow to import)
    import shapely  # noqa: PLC0415

    source = layer_crs(crs, layers)
    epsg = source.to_epsg()
    crs_text = f"EPSG:{epsg}" if epsg else source.to_wkt()
    records = feature_records(layers, structure_id)
    path = Path(path)
    with atomic_target(path) as tmp:
        tmp.unlink()  # GDAL creates the file itself
        for name in LAYERS:
            chosen = [(g, p) for g, p in records if (p["kind"] == "structure") == (name == "structure")]
            geometry = np.array([None if g.is_empty else shapely.to_wkb(g) for g, _ in chosen], dtype=object)
            arrays, names, masks = typed_columns([p for _, p in chosen], PROPERTIES)
            pyogrio.raw.write(str(tmp), geometry, arrays, names, field_mask=masks, layer=name, driver="GPKG",
                              geometry_type=GEOMETRY_TYPE, crs=crs_text, encoding="UTF-8", promote_to_multi=True,
                              dataset_options={"VERSION": GPKG_VERSION},
                              layer_metadata={"DESCRIPTION": f"{structure_id}: footprints of the {name}, "
                                                             f"in {source.name}"})
    return path

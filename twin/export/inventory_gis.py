"""The inventory with its status for GIS: a GeoPackage in the inventory's projected CRS and a
GeoJSON in WGS 84 (RFC 7946), one feature per structure (twin.inventory.table).

- **Geometry**: the footprint as a MultiPolygon where the record has one, else the location
  as a Point (null when the record has neither). Footprints go through
  :func:`~twin.export.geojson.valid_multipolygon` (shapely's make_valid where needed) and are
  valid in both files; in the GeoJSON they are transformed to longitude/latitude with pyproj
  and snapped to 1e-8 degrees (about a millimetre) on a grid that keeps them valid.
- **Properties**: the table's flat, typed columns. In the GeoPackage each is a typed column
  (text, Integer64, Real, boolean, Date, DateTime); in the GeoJSON dates and times are ISO
  strings and numbers are numbers. ``x``, ``y`` and ``footprint_area_m2`` are in the
  projected CRS (``crs_epsg``) in both files.
- **CRS**: the GeoPackage's spatial reference is the projected CRS by its EPSG code; the
  GeoJSON is WGS 84 (OGC CRS84) as RFC 7946 requires, with no ``crs`` member, and a
  ``description`` member saying from which CRS it was transformed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.export.geojson import WGS84_DECIMALS, reproject, valid_multipolygon, wgs84_transform, write_json
from twin.export.gpkg import GPKG_VERSION, typed_columns

LAYER = "inventory"


def _features(table, transform=None, decimals: int | None = None) -> list[tuple[object | None, dict]]:
    """(valid shapely geometry or None, properties) per row; geometries through ``transform``."""
    out = []
    for row in table.rows:
        geometry = row.geometry
        if geometry is not None:
            geometry = reproject(geometry, transform, decimals)
            if row.footprint is not None:
                geometry = valid_multipolygon(geometry)
        out.append((geometry, row.properties))
    return out


def write_gpkg(table, path: Path) -> Path:
    """The GeoPackage: one layer, ``inventory``, in the table's CRS (GeoPackage 1.2)."""
    import pyogrio.raw  # noqa: PLC0415  (GDAL: slow to import)
    import shapely  # noqa: PLC0415

    features = _features(table)
    geometry = np.array([None if g is None else shapely.to_wkb(g) for g, _ in features], dtype=object)
    arrays, names, masks = typed_columns([p for _, p in features], table.columns)
    pyogrio.raw.write(str(path), geometry, arrays, names, field_mask=masks, layer=LAYER, driver="GPKG",
                      geometry_type="Unknown", crs=f"EPSG:{table.epsg}" if table.epsg else None,
                      encoding="UTF-8", dataset_options={"VERSION": GPKG_VERSION},
                      layer_metadata={"DESCRIPTION": _description(table, f"in {table.crs_name}")})
    return Path(path)


def geojson(table) -> dict:
    """The FeatureCollection in WGS 84 longitude/latitude."""
    import shapely  # noqa: PLC0415

    transform = wgs84_transform(f"EPSG:{table.epsg}") if table.epsg else None
    features = [{"type": "Feature", "id": props["id"],
                 "geometry": None if g is None else shapely.geometry.mapping(g), "properties": props}
                for g, props in _features(table, transform, WGS84_DECIMALS)]
    return {"type": "FeatureCollection", "name": LAYER,
            "description": _description(table, f"in WGS 84 longitude/latitude (RFC 7946), transformed with PROJ "
                                               f"from {table.crs_name} (EPSG:{table.epsg}); x, y and "
                                               f"footprint_area_m2 stay in EPSG:{table.epsg}"),
            "features": features}


def write_geojson(table, path: Path) -> Path:
    return write_json(path, geojson(table))


def _description(table, where: str) -> str:
    return (f"The inventory with its status as of {table.status.as_of} (stale: last survey over "
            f"{table.status.stale_years:g} years before; significant change: at least "
            f"{table.status.change_share:.0%} of core points), {len(table.rows)} structures, footprints "
            f"where known, else locations, {where}")

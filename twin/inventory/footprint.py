"""A structure's footprint taken from a processed survey's export (issue 16.1): the
``kind = structure`` feature of `twin export -f geojson` (either file: the structure's CRS
with its ``crs`` member, or WGS 84) or of `-f gpkg` (its ``structure`` layer) replaces the
footprint of the structure's inventory record.

The footprint is carried into the record's CRS (the file's own when the record has none)
with PROJ, checked valid, and written as an import of one record: the change is kept in
the record's history with the previous footprint, the time and the file's SHA-256, exactly
as a re-import keeps it. The record must exist (import the inventory first); nothing else
in it changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from twin.catalog import db
from twin.catalog import inventory as catalog_inventory
from twin.errors import NotFoundError, UsageError
from twin.inventory.sources import read_source

GEOJSON_DEFAULT_CRS = 4326  # RFC 7946: a GeoJSON without a crs member is WGS 84


class FootprintUpdate(BaseModel):
    structure_id: str
    inventory_number: str
    source: str
    sha256: str
    crs: str  # the record's CRS after the update
    area_m2: float | None  # the new footprint's area (None in a geographic CRS)
    previous_area_m2: float | None
    changed: bool
    import_id: int | None


def _epsg(text: str | None, path: Path) -> int:
    """The file's CRS as an EPSG code (a GeoJSON without a ``crs`` member is WGS 84)."""
    from twin.inventory.check import epsg_or_usage  # noqa: PLC0415

    return GEOJSON_DEFAULT_CRS if text is None else epsg_or_usage(text, str(path))


def _structure_feature(source, structure_id: str):
    found = [r for r in source.rows if r.values.get("kind") == "structure"
             and structure_id in (r.values.get("structure"), r.values.get("id"))]
    if not found:
        raise UsageError(f"{source.path}: no footprint of {structure_id} in it (a feature whose kind is 'structure'); "
                         f"make one with twin export {structure_id} --survey S -f geojson")
    geometry = found[0].geometry
    if geometry is None or geometry.geom_type not in ("Polygon", "MultiPolygon") or not geometry.is_valid:
        why = found[0].geometry_error or ("no geometry" if geometry is None else
                                          f"a {geometry.geom_type}" if geometry.geom_type not in
                                          ("Polygon", "MultiPolygon") else "not a valid polygon")
        raise UsageError(f"{source.path}: the footprint of {structure_id} cannot be used ({why})")
    return geometry


def update_footprint(ws, structure_id: str, path: Path) -> FootprintUpdate:
    """Replace the footprint of ``structure_id``'s record by the one in ``path``."""
    import shapely  # noqa: PLC0415
    import shapely.geometry  # noqa: PLC0415
    from pyproj import CRS, Transformer  # noqa: PLC0415

    path = Path(path)
    source = read_source(path, layer="structure" if path.suffix.lower() == ".gpkg" else None)
    geometry = shapely.force_2d(_structure_feature(source, structure_id))
    from_epsg = _epsg(source.crs, path)
    with db.transaction(ws.engine, immediate=True) as conn:
        existing = catalog_inventory.catalog_rows(conn)
        row = existing.get(structure_id)
        record = catalog_inventory.record_from_row(row) if row is not None else None
        if record is None:
            raise NotFoundError(f"{structure_id} has no inventory record to update; import the inventory first "
                                "(twin inventory import FILE)")
        to_epsg = record.crs_epsg or from_epsg
        if to_epsg != from_epsg:
            move = Transformer.from_crs(from_epsg, to_epsg, always_xy=True)
            geometry = shapely.transform(geometry, lambda xy: np.column_stack(move.transform(xy[:, 0], xy[:, 1])))
        if not geometry.is_valid or geometry.area <= 0:
            raise UsageError(f"{path}: the footprint of {structure_id} is not a valid polygon in EPSG:{to_epsg}")
        projected = CRS.from_epsg(to_epsg).is_projected
        previous = shapely.geometry.shape(record.footprint) if record.footprint else None
        updated = record.model_copy(update={"footprint": shapely.geometry.mapping(geometry), "crs_epsg": to_epsg})
        changed = updated.model_dump(mode="json") != record.model_dump(mode="json")
        import_id = None
        if changed:
            import_id = catalog_inventory.begin_import(
                conn, source_name=path.name, sha256=source.sha256, fmt=source.format,
                mapping_json=json.dumps({"footprint_of": structure_id}, sort_keys=True))
            added, done, same = catalog_inventory.write_records(conn, import_id, source.sha256, [updated], existing)
            catalog_inventory.finish_import(conn, import_id, len(added), len(done), len(same), 0)
    return FootprintUpdate(
        structure_id=structure_id, inventory_number=record.inventory_number, source=str(path), sha256=source.sha256,
        crs=f"EPSG:{to_epsg}", area_m2=round(geometry.area, 3) if projected else None,
        previous_area_m2=round(previous.area, 3) if previous is not None and projected and record.crs_epsg == to_epsg
        else None, changed=changed, import_id=import_id)

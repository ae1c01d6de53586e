"""The inventory with its status as one flat table: a row per structure, its geometry in one
projected CRS and flat, typed properties (what the GIS export writes and the status page shows).

Every figure comes from what is already derived: the inventory record (twin.catalog.inventory),
the status (twin.inventory.status: surveys, age, layers, labels, last comparison, coverage of
the footprint by the latest model, priority, the per-complex counts) and the latest model's
vertical extent (twin.inventory.heights).

**Geometry.** The footprint where the record has one, else the location point. All rows share
one CRS (:attr:`InventoryTable.epsg`): the CRS most records use when it is projected, else the
UTM zone of their centre; records in another CRS are transformed with pyproj. ``x``/``y`` are
the location in that CRS.

**Properties** are flat (no list, no object) and each column has one kind (:data:`COLUMNS`):
``string``, ``integer``, ``number``, ``boolean``, ``date`` (ISO ``YYYY-MM-DD``), ``datetime``
(ISO, UTC, ``...Z``); None is null. Dublin Core terms become ``dc_<term>`` string columns.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from twin.catalog.inventory import list_inventory
from twin.errors import NotFoundError
from twin.inventory.heights import ModelExtent, latest_model_extents
from twin.inventory.status import inventory_status
from twin.models.inventory import ComplexStatus, StatusReport, StructureStatus

# name -> kind, in the order the columns are written; then the dc_<term> columns
COLUMNS: dict[str, str] = {
    "inventory_number": "string", "id": "string", "name": "string", "name_vi": "string", "name_en": "string",
    "type": "string", "designation": "string", "address": "string", "site": "string",
    "parent_id": "string", "parent_number": "string", "is_complex": "boolean", "contains": "integer",
    "geometry_source": "string", "crs_epsg": "integer", "x": "number", "y": "number", "footprint_area_m2": "number",
    "surveys": "integer", "survey_ids": "string", "first_survey": "date", "last_survey": "date",
    "age_years": "number", "models": "integer",
    "model_survey": "string", "model_z_min": "number", "model_z_max": "number", "model_height_m": "number",
    "layers_rev": "integer", "elements": "integer", "phases": "integer", "materials": "integer",
    "has_metadata": "boolean", "labelled_share": "number",
    "comparison_from": "string", "comparison_to": "string", "comparison_method": "string",
    "comparison_at": "datetime", "core_points": "integer", "significant_points": "integer",
    "significant_share": "number",
    "coverage_walls": "number", "coverage_roof": "number", "holes": "integer", "hole_area_m2": "number",
    "suggested_stations": "integer",
    "priority": "string", "priority_reasons": "string", "priority_rank": "integer",
    "never_surveyed": "boolean", "stale": "boolean", "significant_change": "boolean", "low_coverage": "boolean",
    "inside_surveyed": "integer", "inside_never_surveyed": "integer", "inside_stale": "integer",
    "inside_with_layers": "integer", "inside_changed": "integer", "inside_oldest_last_survey": "date",
    "status_as_of": "date",
}


@dataclass
class Row:
    id: str
    parent_id: str | None
    footprint: object | None  # shapely (Multi)Polygon in the table's CRS
    location: object | None  # shapely Point in the table's CRS
    extent: ModelExtent | None
    status: StructureStatus
    properties: dict
    children: list[str] = field(default_factory=list)  # rows whose parent_id is this row

    @property
    def geometry(self):
        return self.footprint if self.footprint is not None else self.location


@dataclass
class InventoryTable:
    rows: list[Row]
    columns: dict[str, str]
    epsg: int | None  # None only when no row has a geometry
    crs_name: str | None
    status: StatusReport
    left_out: list[str]  # structures in the catalog with no inventory record (with records_only)

    def by_id(self) -> dict[str, Row]:
        return {r.id: r for r in self.rows}


def inventory_table(ws, *, stale_years: float = 10.0, change_share: float = 0.05, as_of: dt.date | None = None,
                    records_only: bool = True, coverage: bool = True, min_coverage: float = 0.8) -> InventoryTable:
    """The table; with ``records_only`` (the GIS export) only structures with an inventory
    record, refused with NotFoundError when there is none; else every structure (the page)."""
    records = {r.id: r for r in list_inventory(ws, include_all=not records_only)}
    if records_only and not records:
        raise NotFoundError(f"{ws.root}: the workspace holds no inventory records; import them first: "
                            "twin inventory import FILE")
    status = inventory_status(ws, stale_years=stale_years, change_share=change_share, as_of=as_of,
                              coverage=coverage, min_coverage=min_coverage)
    extents = latest_model_extents(ws)
    epsg = _common_epsg(records.values())
    to_common = _transformers(records.values(), epsg)
    complexes = {c.id: c for c in status.complexes}
    ranks = {p.id: i for i, p in enumerate(status.priorities, start=1)}
    numbers = {s.id: s.inventory_number for s in status.structures}
    dc_terms = sorted({k for r in records.values() for k in r.dc})
    rows = []
    for s in status.structures:
        record = records.get(s.id)
        if record is None:
            continue
        footprint, location = _geometries(record, to_common)
        properties = _properties(record, s, complexes.get(s.id), extents.get(s.id), footprint, location,
                                 epsg, numbers.get(record.parent_id), ranks.get(s.id), status.as_of)
        properties.update({f"dc_{k}": record.dc.get(k) for k in dc_terms})
        rows.append(Row(id=s.id, parent_id=record.parent_id, footprint=footprint, location=location,
                        extent=extents.get(s.id), status=s, properties=properties))
    by_id = {r.id: r for r in rows}
    for r in rows:
        if r.parent_id in by_id:
            by_id[r.parent_id].children.append(r.id)
    from pyproj import CRS  # noqa: PLC0415

    return InventoryTable(rows=rows, columns={**COLUMNS, **{f"dc_{k}": "string" for k in dc_terms}}, epsg=epsg,
                          crs_name=CRS.from_epsg(epsg).name if epsg else None, status=status,
                          left_out=sorted(s.id for s in status.structures if s.id not in records))


def _common_epsg(records) -> int | None:
    """The CRS most located records use when it is projected, else the UTM zone of their centre."""
    from pyproj import CRS, Transformer  # noqa: PLC0415
    from pyproj.aoi import AreaOfInterest  # noqa: PLC0415
    from pyproj.database import query_utm_crs_info  # noqa: PLC0415

    counts = Counter(r.crs_epsg for r in records if r.crs_epsg and (r.location or r.footprint))
    if not counts:
        return None
    epsg = counts.most_common(1)[0][0]
    if CRS.from_epsg(epsg).is_projected:
        return epsg
    lonlat = []
    for source in {r.crs_epsg for r in records if r.location and r.crs_epsg}:
        to_wgs84 = Transformer.from_crs(source, 4326, always_xy=True)
        lonlat += [to_wgs84.transform(*r.location["coordinates"][:2]) for r in records
                   if r.location and r.crs_epsg == source]
    lon = sum(p[0] for p in lonlat) / len(lonlat)
    lat = sum(p[1] for p in lonlat) / len(lonlat)
    zones = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    return int(zones[0].code)


def _transformers(records, epsg: int | None) -> dict[int, object]:
    """Source EPSG -> a function (n, 2) array -> (n, 2) array in ``epsg``, for each other CRS used."""
    import numpy as np  # noqa: PLC0415
    from pyproj import Transformer  # noqa: PLC0415

    out = {}
    for source in {r.crs_epsg for r in records if r.crs_epsg and r.crs_epsg != epsg}:
        transformer = Transformer.from_crs(source, epsg, always_xy=True)
        out[source] = lambda xy, t=transformer: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
    return out


def _geometries(record, to_common) -> tuple[object | None, object | None]:
    import shapely  # noqa: PLC0415
    from shapely.geometry import shape  # noqa: PLC0415

    transform = to_common.get(record.crs_epsg)
    out = []
    for geojson in (record.footprint, record.location):
        geometry = shape(geojson) if geojson else None
        if geometry is not None and transform is not None:
            geometry = shapely.transform(geometry, transform)
        out.append(geometry)
    return out[0], out[1]


def _properties(record, s: StructureStatus, complex_: ComplexStatus | None, extent: ModelExtent | None,
                footprint, location, epsg: int | None, parent_number: str | None, rank: int | None,
                as_of: str) -> dict:
    comparison = s.last_comparison or {}
    layers = s.layers or {}
    cover = s.coverage
    return {
        "inventory_number": record.inventory_number, "id": s.id, "name": s.name, "name_vi": record.name_vi,
        "name_en": record.name_en, "type": record.type, "designation": record.designation,
        "address": record.address, "site": record.site, "parent_id": record.parent_id,
        "parent_number": parent_number, "is_complex": complex_ is not None,
        "contains": complex_.structures if complex_ else None,
        "geometry_source": "footprint" if footprint is not None else "location" if location is not None else None,
        "crs_epsg": epsg if footprint is not None or location is not None else None,
        "x": _round(location.x, 3) if location is not None else None,
        "y": _round(location.y, 3) if location is not None else None,
        "footprint_area_m2": _round(footprint.area, 2) if footprint is not None else None,
        "surveys": len(s.surveys), "survey_ids": ", ".join(v.id for v in s.surveys) or None,
        "first_survey": s.surveys[0].date if s.surveys else None, "last_survey": s.last_survey,
        "age_years": s.age_years, "models": s.models,
        "model_survey": extent.survey_id if extent else None,
        "model_z_min": _round(extent.z_min, 3) if extent else None,
        "model_z_max": _round(extent.z_max, 3) if extent else None,
        "model_height_m": _round(extent.height, 3) if extent else None,
        "layers_rev": s.layers_rev, "elements": layers.get("elements"), "phases": layers.get("phases"),
        "materials": layers.get("materials"),
        "has_metadata": bool(layers.get("metadata")) if s.layers_rev is not None else None,
        "labelled_share": s.labelled_share,
        "comparison_from": comparison.get("from_survey"), "comparison_to": comparison.get("to_survey"),
        "comparison_method": comparison.get("method"), "comparison_at": _utc(comparison.get("created_at")),
        "core_points": comparison.get("core_points"), "significant_points": comparison.get("significant"),
        "significant_share": comparison.get("significant_share"),
        "coverage_walls": cover.walls if cover else None, "coverage_roof": cover.roof if cover else None,
        "holes": len(cover.holes) if cover else None, "hole_area_m2": cover.hole_area_m2 if cover else None,
        "suggested_stations": len(cover.stations) if cover else None,
        "priority": s.priority[0] if s.priority else None,
        "priority_reasons": "; ".join(s.priority) or None, "priority_rank": rank,
        "never_surveyed": "never surveyed" in s.priority, "stale": "stale" in s.priority,
        "significant_change": "significant change" in s.priority, "low_coverage": "low coverage" in s.priority,
        "inside_surveyed": complex_.surveyed if complex_ else None,
        "inside_never_surveyed": complex_.never_surveyed if complex_ else None,
        "inside_stale": complex_.stale if complex_ else None,
        "inside_with_layers": complex_.with_layers if complex_ else None,
        "inside_changed": complex_.significant_change if complex_ else None,
        "inside_oldest_last_survey": complex_.oldest_last_survey if complex_ else None,
        "status_as_of": as_of,
    }


def _round(value: float, digits: int) -> float:
    return round(float(value), digits)


def _utc(text: str | None) -> str | None:
    """An ISO time as UTC with a ``Z`` (a time without a zone is taken as UTC, as the catalog stores it)."""
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"

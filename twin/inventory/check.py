"""Checking an inventory file's rows: each row alone (required fields, CRS, geometry), then
the rows together and against the catalog (duplicate numbers and ids, parents that exist,
no cycles among complexes).

The result is an :class:`InventoryRecord` per accepted row and a :class:`RowProblem` per
reason a row is refused; a row may have several.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from twin.catalog.ids import check_identifier
from twin.errors import InvalidIdentifierError, UsageError
from twin.inventory.mapping import Mapping, Resolved
from twin.inventory.sources import Source, SourceRow
from twin.models.inventory import InventoryRecord, RowProblem

TEXT_FIELDS = ("name_vi", "name_en", "type", "designation", "address", "site")


@dataclass
class Catalogued:
    """What the catalog already holds, as the checks need it."""

    by_number: dict[str, str] = field(default_factory=dict)  # inventory number -> structure id
    numbers: dict[str, str | None] = field(default_factory=dict)  # structure id -> inventory number
    parents: dict[str, str | None] = field(default_factory=dict)  # structure id -> parent id


@dataclass
class _Row:
    source: SourceRow
    number: str | None = None
    id: str | None = None
    id_given: bool = False
    parent_ref: str | None = None
    parent_id: str | None = None
    values: dict = field(default_factory=dict)  # the record's fields but id and parent
    problems: list[RowProblem] = field(default_factory=list)
    places: list[tuple[str, str, float, float]] = field(default_factory=list)  # (field, what, x, y) to check
    epsg: int | None = None

    def refuse(self, message: str, field_name: str | None = None) -> None:
        self.problems.append(RowProblem(row=self.source.row, line=self.source.line, inventory_number=self.number,
                                        field=field_name, message=message))


@dataclass
class Checked:
    records: list[InventoryRecord]
    accepted_rows: list[int]
    problems: list[RowProblem]  # every problem, header first, then by row
    refused_rows: set[int]


def check(source: Source, resolved: Resolved, mapping: Mapping, catalog: Catalogued,
          skip_invalid: bool = False) -> Checked:
    header = [RowProblem(row=0, line=1 if source.format == "csv" else None, field=column,
                         message=f"the column {column!r} is not a twin field or a Dublin Core term (dc:...); "
                                 "map it in the mapping (columns: or dc:) or list it under ignore:")
              for column in resolved.unknown]
    default_crs = _file_crs(source, mapping)
    rows = [_check_alone(r, resolved, default_crs) for r in source.rows]
    _check_places(rows)
    _check_together(rows, catalog)
    _check_parents(rows, catalog, cascade=skip_invalid)
    problems = header + [p for r in rows for p in r.problems]
    refused = {r.source.row for r in rows if r.problems}
    accepted = [r for r in rows if not r.problems]
    records = [InventoryRecord(inventory_number=r.number, id=r.id, parent_id=r.parent_id, **r.values)
               for r in accepted]
    return Checked(records, [r.source.row for r in accepted], problems, refused)


# -- one row ------------------------------------------------------------------------------


def _file_crs(source: Source, mapping: Mapping) -> str | None:
    """The CRS of coordinates that do not name their own: the file's, else the mapping's
    (GeoJSON without a "crs" member is WGS 84, RFC 7946)."""
    if source.crs and mapping.crs:
        a, b = _epsg(source.crs), _epsg(mapping.crs)
        if a != b:
            raise UsageError(f"{source.path}: the file's CRS is {source.crs} but the mapping says crs: {mapping.crs}; "
                             "remove crs from the mapping or fix the file")
    if source.crs:
        return source.crs
    if mapping.crs:
        epsg_or_usage(mapping.crs, "the mapping's crs")
        return mapping.crs
    return "EPSG:4326" if source.format == "geojson" else None


def _check_alone(src: SourceRow, resolved: Resolved, default_crs: str | None) -> _Row:
    def get(name: str):
        column = resolved.fields.get(name)
        return src.values.get(column) if column is not None else None

    row = _Row(source=src)
    number = get("inventory_number")
    row.number = str(number).strip() if number is not None and str(number).strip() else None
    if src.extra:
        row.refuse(f"{len(src.extra)} value(s) beyond the header's columns ({', '.join(map(repr, src.extra[:3]))}); "
                   "a value in a column with no name, or a comma in an unquoted value")
    if row.number is None:
        row.refuse("the inventory number is missing", "inventory_number")
    for name in TEXT_FIELDS:
        value = get(name)
        row.values[name] = unicodedata.normalize("NFC", str(value).strip()) if value is not None else None
    if not row.values["name_vi"] and not row.values["name_en"]:
        row.refuse("no name: give name_vi or name_en", "name_vi")
    given = get("id")
    if given is not None:
        row.id_given = True
        try:
            row.id = check_identifier(str(given).strip(), "structure")
        except InvalidIdentifierError as exc:
            row.refuse(str(exc), "id")
    elif row.number is not None:
        row.id = derived_id(row.number)
        if row.id is None:
            row.refuse(f"no structure id can be made from {row.number!r}; give an id column", "id")
    parent = get("parent")
    row.parent_ref = str(parent).strip() if parent is not None and str(parent).strip() else None
    row.values["dc"] = {term: str(src.values[column]).strip() for term, column in resolved.dc.items()
                        if src.values.get(column) is not None and str(src.values[column]).strip()}
    _geometry(row, get, default_crs)
    return row


def derived_id(number: str) -> str | None:
    """A structure id from an inventory number: ``HUE/DT-001`` -> ``hue-dt-001``."""
    text = unicodedata.normalize("NFKD", number.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower()[:64].rstrip("-._")
    try:
        return check_identifier(slug, "structure") if slug else None
    except InvalidIdentifierError:
        return None


def _geometry(row: _Row, get, default_crs: str | None) -> None:
    import shapely  # noqa: PLC0415
    from shapely.geometry import Point  # noqa: PLC0415

    src = row.source
    location = footprint = None
    x, y = get("x"), get("y")
    if (x is None) != (y is None):
        row.refuse("give both x and y, or neither", "x" if x is None else "y")
    elif x is not None:
        fx, fy = _number(x), _number(y)
        if fx is None or fy is None:
            row.refuse(f"coordinates must be numbers (x {x!r}, y {y!r})", "x" if fx is None else "y")
        else:
            location = Point(fx, fy)
    text = get("location")
    if text is not None:
        geom = _parse_geometry(row, text, "location")
        if geom is not None:
            if geom.geom_type != "Point":
                row.refuse(f"the location is a {geom.geom_type}; give a Point", "location")
            elif location is not None and geom.distance(location) > 1e-3:
                row.refuse("the location column and x/y give different points", "location")
            else:
                location = geom
    text = get("footprint")
    if text is not None:
        footprint = _parse_geometry(row, text, "footprint")
    if src.geometry_error:
        row.refuse(src.geometry_error, "geometry")
    elif src.geometry is not None and not src.geometry.is_empty:
        geom = src.geometry
        if geom.geom_type == "MultiPoint" and len(geom.geoms) == 1:
            geom = geom.geoms[0]
        if geom.geom_type == "Point":
            if location is not None and geom.distance(location) > 1e-3:
                row.refuse("the feature's point and the row's x/y or location differ", "geometry")
            location = geom
        elif geom.geom_type in ("Polygon", "MultiPolygon"):
            if footprint is not None:
                row.refuse("the feature's polygon and the footprint column both give a footprint", "geometry")
            footprint = geom
        else:
            row.refuse(f"the geometry is a {geom.geom_type}; give a Point or a (Multi)Polygon", "geometry")
    if footprint is not None and footprint.geom_type not in ("Polygon", "MultiPolygon"):
        row.refuse(f"the footprint is a {footprint.geom_type}; give a Polygon or MultiPolygon", "footprint")
        footprint = None
    if location is None and footprint is None:
        row.values.update(crs_epsg=None, location=None, footprint=None)
        return
    crs_text = get("crs")
    crs_text = str(crs_text).strip() if crs_text is not None else default_crs
    if crs_text is None:
        row.refuse("coordinates without a CRS: give a crs column or crs: in the mapping (e.g. EPSG:32648)", "crs")
        return
    try:
        epsg = _epsg(crs_text)
    except ValueError as exc:
        row.refuse(str(exc), "crs")
        return
    if location is not None:
        location = shapely.force_2d(location)
        if not all(math.isfinite(c) for c in location.coords[0]):
            row.refuse("the location's coordinates are not finite numbers", "location")
            location = None
        else:
            row.places.append(("location", f"the location ({location.x:.6g}, {location.y:.6g})", location.x,
                               location.y))
    if footprint is not None:
        footprint = shapely.force_2d(footprint)
        if footprint.is_empty or not math.isfinite(sum(footprint.bounds)):
            row.refuse("the footprint is empty or has coordinates that are not numbers", "footprint")
            footprint = None
        elif not footprint.is_valid:
            row.refuse(f"the footprint is not a valid polygon ({shapely.is_valid_reason(footprint)})", "footprint")
        elif footprint.area <= 0:
            row.refuse("the footprint has no area", "footprint")
        else:
            inside = footprint.representative_point()
            row.places.append(("footprint", "the footprint", inside.x, inside.y))
            if location is None:  # the monument's point: the centroid when it lies inside, else a point inside
                centroid = footprint.centroid
                location = centroid if footprint.contains(centroid) else inside
    row.epsg = epsg
    row.values.update(crs_epsg=epsg, location=_geojson(location), footprint=_geojson(footprint))


def _parse_geometry(row: _Row, text, name: str):
    import shapely  # noqa: PLC0415
    import shapely.geometry  # noqa: PLC0415

    text = str(text).strip()
    try:
        if text.startswith("{"):
            return shapely.geometry.shape(json.loads(text))
        return shapely.from_wkt(text)
    except Exception as exc:  # noqa: BLE001 - GEOS and shapely raise several kinds
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        row.refuse(f"not a WKT or GeoJSON geometry ({detail[:120]})", name)
        return None


def _number(value) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _geojson(geom) -> dict | None:
    import shapely  # noqa: PLC0415

    return None if geom is None else json.loads(shapely.to_geojson(geom))


@lru_cache(maxsize=64)
def _crs(text: str):
    from pyproj import CRS  # noqa: PLC0415
    from pyproj.exceptions import CRSError as ProjCRSError  # noqa: PLC0415

    try:
        return CRS.from_user_input(text)
    except ProjCRSError:
        return None


@lru_cache(maxsize=64)
def _epsg(text: str) -> int:
    """The EPSG code of a CRS given as text; ValueError when it has none."""
    crs = _crs(text)
    if crs is None:
        raise ValueError(f"unknown coordinate system {text!r}; give an EPSG code such as EPSG:32648")
    epsg = crs.to_epsg() or crs.to_epsg(min_confidence=70)
    if epsg is None:
        raise ValueError(f"the coordinate system {crs.name!r} has no EPSG code; give the data in one that has")
    return int(epsg)


def epsg_or_usage(text: str, what: str) -> int:
    try:
        return _epsg(text)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


@lru_cache(maxsize=64)
def _to_lonlat(epsg: int):
    from pyproj import CRS, Transformer  # noqa: PLC0415

    crs = CRS.from_epsg(epsg)
    area = crs.area_of_use
    transformer = Transformer.from_crs(crs, CRS.from_epsg(4326), always_xy=True)
    return transformer, area


def _check_places(rows: list[_Row]) -> None:
    """Refuse locations and footprints outside their CRS's area of use (one transformation
    per CRS for all rows)."""
    import numpy as np  # noqa: PLC0415

    by_epsg: dict[int, list[tuple[_Row, str, str, float, float]]] = {}
    for r in rows:
        for place in r.places:
            by_epsg.setdefault(r.epsg, []).append((r, *place))
    for epsg, places in by_epsg.items():
        transformer, _ = _to_lonlat(epsg)
        xs = np.array([p[3] for p in places], dtype=float)
        ys = np.array([p[4] for p in places], dtype=float)
        lons, lats = transformer.transform(xs, ys)
        for (r, field_name, what, _, _), lon, lat in zip(places, np.atleast_1d(lons), np.atleast_1d(lats),
                                                          strict=True):
            if (why := _outside(epsg, float(lon), float(lat))) is not None:
                r.refuse(f"{what} {why}", field_name)


def _outside(epsg: int, lon: float, lat: float) -> str | None:
    """Why a place at (lon, lat) cannot be in EPSG:``epsg`` (outside its area of use, by more
    than a degree), or None."""
    _, area = _to_lonlat(epsg)
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lat) > 90:
        return f"is no place in EPSG:{epsg}; is the CRS right, or are x and y swapped?"
    if area is None:
        return None
    west, south, east, north = area.west, area.south, area.east, area.north
    inside_lon = (west - 1 <= lon <= east + 1) if west <= east else (lon >= west - 1 or lon <= east + 1)
    if not (inside_lon and south - 1 <= lat <= north + 1):
        return (f"lies outside the area EPSG:{epsg} is for ({area.name}; here lon {lon:.4f}, lat {lat:.4f}); "
                "is the CRS right, or are x and y swapped?")
    return None


# -- rows together and against the catalog ---------------------------------------------------


def _check_together(rows: list[_Row], catalog: Catalogued) -> None:
    by_number: dict[str, list[_Row]] = {}
    for r in rows:
        if r.number is not None:
            by_number.setdefault(r.number, []).append(r)
    for number, same in by_number.items():
        if len(same) > 1:
            for r in same:
                others = ", ".join(str(o.source.row) for o in same if o is not r)
                r.refuse(f"the inventory number {number!r} is also on row {others}", "inventory_number")
    for r in rows:  # ids: the catalog's for a known number; a known id must not carry another number
        if r.number is None or r.id is None:
            continue
        known = catalog.by_number.get(r.number)
        if known is not None and known != r.id:
            if r.id_given:
                r.refuse(f"inventory number {r.number!r} is the structure {known!r} in the workspace, not {r.id!r} "
                         f"(ids do not change; give {known!r} or leave the id empty)", "id")
                continue
            r.id = known
        held = catalog.numbers.get(r.id)
        if held is not None and held != r.number:
            r.refuse(f"the structure {r.id!r} already has the inventory number {held!r}", "id")
    by_id: dict[str, list[_Row]] = {}
    for r in rows:
        if r.id is not None and r.number is not None:
            by_id.setdefault(r.id, []).append(r)
    for sid, same in by_id.items():
        numbers = {r.number for r in same}
        if len(same) > 1 and len(numbers) > 1:
            for r in same:
                others = ", ".join(str(o.source.row) for o in same if o is not r)
                r.refuse(f"the structure id {sid!r} is also the id of row {others}", "id")


def _check_parents(rows: list[_Row], catalog: Catalogued, cascade: bool) -> None:
    """Resolve each parent to a structure id and refuse cycles. With ``cascade`` (under
    --skip-invalid) a row whose parent is a refused row that the catalog does not hold is
    refused too, until nothing changes."""
    while True:
        usable = [r for r in rows if r.number is not None and r.id is not None and not (cascade and r.problems)]
        file_numbers = {r.number: r for r in usable}
        file_ids = {r.id: r for r in usable}
        in_use = {id(r) for r in usable}
        refused_numbers = {r.number: r for r in rows if r.number is not None and id(r) not in in_use}
        refused_ids = {r.id: r for r in rows if r.id is not None and id(r) not in in_use}
        before = sum(len(r.problems) for r in rows)
        for r in usable:
            r.parent_id = None
            ref = r.parent_ref
            if ref is None:
                continue
            if ref in file_numbers:
                r.parent_id = file_numbers[ref].id
            elif ref in catalog.by_number:
                r.parent_id = catalog.by_number[ref]
            elif ref in file_ids or ref in catalog.numbers:
                r.parent_id = ref
            elif ref in refused_numbers or ref in refused_ids:
                parent = refused_numbers.get(ref) or refused_ids[ref]
                r.refuse(f"its parent {ref!r} is refused (row {parent.source.row})", "parent")
                continue
            else:
                r.refuse(f"the parent {ref!r} is neither an inventory number nor a structure id in the file or "
                         "the workspace", "parent")
                continue
            if r.parent_id == r.id:
                r.refuse(f"the structure is its own parent ({ref!r})", "parent")
        parents = dict(catalog.parents)
        parents.update({r.id: r.parent_id for r in usable if not r.problems or not cascade})
        for r in usable:
            if r.parent_id is None or r.parent_id == r.id:
                continue
            chain, seen, node = [r.id], {r.id}, r.parent_id
            while node is not None and node not in seen:
                chain.append(node)
                seen.add(node)
                node = parents.get(node)
            if node == r.id:
                r.refuse(f"the parents make a cycle: {' → '.join([*chain, r.id])}", "parent")
        if not cascade or sum(len(r.problems) for r in rows) == before:
            return

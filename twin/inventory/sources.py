"""Reading an inventory file: CSV (UTF-8, with or without BOM; comma, semicolon or tab),
GeoJSON, or GeoPackage, into rows of named values and, for GIS files, a geometry.

Nothing here knows the twin fields: a :class:`Source` is the file as a table, with the
numbers a user sees (row 1 is the first data row or feature; a CSV's line 1 is its header).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.errors import UsageError

FORMATS = {".csv": "csv", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg"}


@dataclass
class SourceRow:
    row: int  # 1-based data row / feature
    line: int | None  # CSV line where the row starts (the header is line 1)
    values: dict[str, Any]
    geometry: Any = None  # shapely geometry of a feature, or None
    geometry_error: str | None = None  # why a feature's geometry could not be read
    extra: list[str] = field(default_factory=list)  # CSV values beyond the header's columns


@dataclass
class Source:
    path: Path
    format: str
    sha256: str
    columns: list[str]
    rows: list[SourceRow]
    crs: str | None = None  # the file's own CRS (GeoJSON "crs" member, GeoPackage layer), as text
    unit: str = "row"  # how a user calls a row of this file: "row" or "feature"


def read_source(path: Path, layer: str | None = None) -> Source:
    """Read ``path`` by its extension. A missing file, an unknown extension or a file that is
    not what its extension says is a UsageError of one line."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"{path}: not an inventory file; give a .csv, .geojson (.json) or .gpkg file")
    if not path.is_file():
        raise UsageError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if kind == "csv":
        columns, rows = _read_csv(path, data)
        return Source(path, kind, digest, columns, rows)
    if kind == "geojson":
        columns, rows, crs = _read_geojson(path, data)
        return Source(path, kind, digest, columns, rows, crs=crs, unit="feature")
    columns, rows, crs = _read_gpkg(path, layer)
    return Source(path, kind, digest, columns, rows, crs=crs, unit="feature")


def _read_csv(path: Path, data: bytes) -> tuple[list[str], list[SourceRow]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{path}: line {line} is not UTF-8 (byte {exc.start}); save the inventory as UTF-8 "
                         "(in a spreadsheet: CSV UTF-8)") from None
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError(f"{path}: the file is empty; an inventory starts with a header line") from None
    except csv.Error as exc:
        raise UsageError(f"{path}: line 1: not valid CSV ({exc})") from None
    columns = [c.strip() for c in header]
    blank = [i + 1 for i, c in enumerate(columns) if not c]
    if blank:
        raise UsageError(f"{path}: line 1: column {blank[0]} has no name; every column needs one in the header")
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise UsageError(f"{path}: line 1: the column {c!r} appears twice in the header")
        seen.add(c)
    rows = []
    line = reader.line_num + 1
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise UsageError(f"{path}: line {reader.line_num}: not valid CSV ({exc})") from None
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # blank lines are no rows
        number += 1
        values = {c: (cells[i].strip() or None) if i < len(cells) else None for i, c in enumerate(columns)}
        rows.append(SourceRow(number, start, values, extra=[c for c in cells[len(columns):]]))
    return columns, rows


def _read_geojson(path: Path, data: bytes) -> tuple[list[str], list[SourceRow], str | None]:
    import shapely.geometry  # noqa: PLC0415

    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start}); GeoJSON is UTF-8") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        raise UsageError(f"{path}: not a GeoJSON FeatureCollection")
    features = doc.get("features") if doc["type"] == "FeatureCollection" else [doc]
    if not isinstance(features, list):
        raise UsageError(f"{path}: the FeatureCollection has no list of features")
    crs = None
    member = doc.get("crs")
    if isinstance(member, dict):
        crs = (member.get("properties") or {}).get("name")
    columns: dict[str, None] = {}
    rows = []
    for number, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            rows.append(SourceRow(number, None, {}, geometry_error="not a GeoJSON Feature"))
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            props = {}
        for key in props:
            columns.setdefault(key, None)
        values = {k: _cell(v) for k, v in props.items()}
        geometry, problem = None, None
        if feature.get("geometry") is not None:
            try:
                geometry = shapely.geometry.shape(feature["geometry"])
            except Exception as exc:  # noqa: BLE001 - shapely raises several kinds for a malformed geometry
                problem = f"the geometry cannot be read ({type(exc).__name__}: {exc})"
        rows.append(SourceRow(number, None, values, geometry=geometry, geometry_error=problem))
    names = list(columns)
    for r in rows:
        for name in names:
            r.values.setdefault(name, None)
    return names, rows, crs


def _read_gpkg(path: Path, layer: str | None) -> tuple[list[str], list[SourceRow], str | None]:
    import pyogrio  # noqa: PLC0415  (GDAL: slow to import)
    import pyogrio.raw  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # noqa: BLE001 - GDAL's errors for a file it cannot open
        raise UsageError(f"{path}: not a GeoPackage GDAL can open ({str(exc).splitlines()[0]})") from None
    if layer is None:
        if len(layers) != 1:
            raise UsageError(f"{path}: the GeoPackage has {len(layers)} layers ({', '.join(layers) or 'none'}); "
                             "name one with layer: in the mapping")
        layer = layers[0]
    elif layer not in layers:
        raise UsageError(f"{path}: no layer {layer!r} (layers: {', '.join(layers)})")
    meta, _fids, geometry, field_data = pyogrio.raw.read(path, layer=layer, return_fids=True)
    columns = [str(c) for c in meta["fields"]]
    rows = []
    for i in range(len(geometry) if geometry is not None else (len(field_data[0]) if field_data else 0)):
        values = {c: _cell(field_data[j][i]) for j, c in enumerate(columns)}
        geom, problem = None, None
        if geometry is not None and geometry[i] is not None:
            try:
                geom = shapely.from_wkb(geometry[i])
            except Exception as exc:  # noqa: BLE001
                problem = f"the geometry cannot be read ({type(exc).__name__}: {exc})"
        rows.append(SourceRow(i + 1, None, values, geometry=geom, geometry_error=problem))
    return columns, rows, meta.get("crs")


def _cell(value: Any) -> Any:
    """A property as the row holds it: text stripped (empty as None), numbers as they are."""
    try:
        import numpy as np  # noqa: PLC0415

        if isinstance(value, np.generic):
            value = value.item()
    except ImportError:  # pragma: no cover
        pass
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN: GDAL's null for a number
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value

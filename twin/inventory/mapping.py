"""The column mapping of an inventory file: which source column fills which twin field.

A mapping is a small YAML file (every key optional)::

    columns:                 # twin field: source column, as the header spells it
      inventory_number: Mã số
      name_vi: Tên di tích
      name_en: Name
      type: Loại hình
      designation: Xếp hạng
      address: Địa chỉ
      site: Khu vực
      parent: Thuộc quần thể      # inventory number (or structure id) of the complex
      x: X                        # or location: a WKT/GeoJSON column
      y: Y
      footprint: Footprint WKT
    dc:                      # Dublin Core term: source column
      creator: Người lập hồ sơ
      date: Năm xây dựng
    crs: EPSG:32648          # CRS of coordinates the file does not place itself (CSV, GeoJSON without "crs")
    layer: monuments         # GeoPackage layer (default: its only layer)
    ignore: [Ghi chú, STT]   # source columns deliberately left out

A source column whose name is a twin field (``inventory_number``, ``name_vi``, ...; see
``twin.models.inventory.FIELDS``) or a Dublin Core term with a prefix (``dc:creator``,
``dcterms:spatial``, ``dc_date``) is used without being named: with matching headers no
mapping is needed. Any other column is refused unless it is listed under ``ignore``.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twin.errors import UsageError
from twin.models.inventory import DC_TERMS, FIELDS, dc_term


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(default_factory=dict, description="twin field: source column")
    dc: dict[str, str] = Field(default_factory=dict, description="Dublin Core term: source column")
    crs: str | None = None
    layer: str | None = None
    ignore: list[str] = Field(default_factory=list)

    @field_validator("columns")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in value if k not in FIELDS]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a twin field (known: {', '.join(FIELDS)})")
        return value

    @field_validator("dc")
    @classmethod
    def _dc(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for key, column in value.items():
            term = dc_term(key)
            if term is None:
                raise ValueError(f"{key!r} is not a Dublin Core term (e.g. {', '.join(sorted(DC_TERMS)[:6])}, ...)")
            out[term] = column
        return out

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def load_mapping(path: Path | None) -> Mapping:
    """The mapping in ``path`` (the default, empty mapping when None). A missing or unreadable
    file, bad YAML or an unknown key is a UsageError of one line naming the file."""
    if path is None:
        return Mapping()
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such mapping file" if not path.exists() else f"{path}: not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start}); save the mapping as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{path}: {where}not valid YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a mapping file holds keys (columns, dc, crs, layer, ignore), not a "
                         f"{type(data).__name__}")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key (a mapping has columns, dc, crs, layer, ignore)"
        raise UsageError(f"{path}: {where}: {message}") from None


class Resolved(BaseModel):
    """Which source column fills each field and Dublin Core term; the columns nobody uses."""

    fields: dict[str, str]  # twin field -> source column
    dc: dict[str, str]  # dc term -> source column
    unknown: list[str]  # source columns neither mapped nor ignored


def resolve(mapping: Mapping, columns: list[str], source: str) -> Resolved:
    """Apply ``mapping`` to a file's ``columns``. A column the mapping names that the file
    lacks is a UsageError (the mapping does not fit the file)."""
    present = set(columns)
    for what, table in (("columns", mapping.columns), ("dc", mapping.dc)):
        for key, column in table.items():
            if column not in present:
                raise UsageError(
                    f"{source}: the mapping's {what}.{key} names the column {column!r}, which the file does not "
                    f"have (its columns: {', '.join(columns) or 'none'})"
                )
    fields = dict(mapping.columns)
    dc = dict(mapping.dc)
    used = set(fields.values()) | set(dc.values()) | set(mapping.ignore)
    unknown = []
    for column in columns:
        if column in used:
            continue
        key = column.strip()
        if key in FIELDS and key not in fields:
            fields[key] = column
        elif key.lower() in FIELDS and key.lower() not in fields:
            fields[key.lower()] = column
        elif (term := dc_term(key)) is not None and key.lower() != term.lower() and term not in dc:
            dc[term] = column  # dc:creator, dcterms:spatial (a bare "creator" is not taken for one)
        else:
            unknown.append(column)
    return Resolved(fields=fields, dc=dc, unknown=unknown)

"""`twin inventory export`: the inventory with its status for the city's GIS, in a folder.

``inventory.gpkg`` (GeoPackage, the inventory's projected CRS), ``inventory.geojson`` (WGS 84,
RFC 7946) and ``inventory.city.json`` (CityJSON 2.0), or those of ``formats``
(twin.export.inventory_gis, twin.export.inventory_cityjson); with ``3dtiles`` (asked for by
name: it exports every placed model) also ``city-3dtiles/``, the latest models of the city as
one 3D Tiles tileset (twin.export.inventory_tiles). Only structures with an inventory record
are written; the report names the others.

Everything is checked before anything is written (the formats, the folder, that the workspace
holds records); the files are written into a hidden folder inside the destination and moved
into place only when every one is complete, so a failure leaves no file behind (and removes
the folders it created). Files of the same names already there are replaced; nothing else in
the folder is touched.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from twin.errors import UsageError
from twin.export.package import ExportedFile, parse_formats

FORMATS = ("gpkg", "geojson", "cityjson", "3dtiles")
DEFAULT_FORMATS = ("gpkg", "geojson", "cityjson")
FILE_NAMES = {"gpkg": "inventory.gpkg", "geojson": "inventory.geojson", "cityjson": "inventory.city.json",
              "3dtiles": "city-3dtiles"}


class InventoryExport(BaseModel):
    out: str
    formats: list[str]
    files: list[ExportedFile] = Field(default_factory=list)
    structures: int = 0
    footprints: int = Field(default=0, description="structures written with their footprint (else their point)")
    extruded: int = Field(default=0, description="footprints extruded to their latest model's height (CityJSON LoD1)")
    complexes: int = 0
    crs: str | None = Field(default=None, description="the GeoPackage's and CityJSON's CRS; GeoJSON is WGS 84")
    as_of: str = ""
    left_out: list[str] = Field(default_factory=list, description="structures without an inventory record")
    tiles: list[str] = Field(default_factory=list, description="structures whose latest model is in city-3dtiles")
    tiles_left_out: dict[str, str] = Field(default_factory=dict, description="models not in city-3dtiles, and why")
    seconds: float = 0.0


def export_inventory(ws, out: Path, formats: Sequence[str] | None = None, *, stale_years: float = 10.0,
                     change_share: float = 0.05, as_of: dt.date | None = None, coverage: bool = True,
                     min_coverage: float = 0.8) -> InventoryExport:
    """Write the inventory files into ``out``. Raises UsageError (a format, the folder) or
    NotFoundError (no inventory record); nothing is written then."""
    from twin.export.inventory_cityjson import write_cityjson  # noqa: PLC0415
    from twin.export.inventory_gis import write_geojson, write_gpkg  # noqa: PLC0415
    from twin.export.inventory_tiles import write_city_tileset  # noqa: PLC0415
    from twin.inventory.table import inventory_table  # noqa: PLC0415

    started = time.perf_counter()
    wanted, _ = parse_formats(formats or DEFAULT_FORMATS, FORMATS)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder; choose a folder")
    table = inventory_table(ws, stale_years=stale_years, change_share=change_share, as_of=as_of,
                            coverage=coverage, min_coverage=min_coverage)
    if "3dtiles" in wanted and not any(r.extent is not None and r.extent.crs_epsg for r in table.rows):
        raise UsageError("cannot export 3dtiles: no structure with a record has a processed model with a "
                         "coordinate system to place it on the globe")

    def tiles(table, path: Path) -> None:
        made = write_city_tileset(ws, table, path)
        report.tiles, report.tiles_left_out = made["structures"], made["left_out"]

    writers = {"gpkg": write_gpkg, "geojson": write_geojson, "cityjson": write_cityjson, "3dtiles": tiles}
    report = InventoryExport(
        out=str(out), formats=wanted, structures=len(table.rows),
        footprints=sum(1 for r in table.rows if r.footprint is not None),
        extruded=sum(1 for r in table.rows if r.footprint is not None and r.extent is not None),
        complexes=sum(1 for r in table.rows if r.children),
        crs=f"EPSG:{table.epsg}" if table.epsg else None, as_of=table.status.as_of, left_out=table.left_out)
    created, work = _staging(out)
    try:
        for name in wanted:
            writers[name](table, work / FILE_NAMES[name])
        for name in wanted:
            target = out / FILE_NAMES[name]
            if target.is_dir():  # a folder (3dtiles) of an earlier export: replaced whole
                shutil.rmtree(target)
            os.replace(work / FILE_NAMES[name], target)
            report.files.append(ExportedFile(path=FILE_NAMES[name], format=name, size_bytes=_size(target)))
    except BaseException:
        for name in wanted[:len(report.files)]:  # a move that failed half way: take back what was moved
            target = out / FILE_NAMES[name]
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        shutil.rmtree(created or work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _staging(out: Path) -> tuple[Path | None, Path]:
    """(the topmost folder created for ``out``, or None; a new hidden folder inside ``out``)."""
    missing = [p for p in [out, *out.parents] if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        return (missing[-1] if missing else None), Path(tempfile.mkdtemp(dir=out, prefix=".inventory-export-"))
    except OSError as exc:
        if missing:
            shutil.rmtree(missing[-1], ignore_errors=True)
        raise UsageError(f"--out {out}: cannot write there ({exc.strerror or exc}); choose a folder you can "
                         "write to") from None

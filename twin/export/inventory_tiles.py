"""The city's models as one 3D Tiles 1.1 tileset: every structure's latest model that is placed
on the globe, each exported as its own tileset (twin.export.tiles3d, through the ordinary
export: its elements, phases and materials as metadata) and referenced from a root tileset as
an external tileset.

Layout inside ``city-3dtiles/``::

    tileset.json                               the root: one child per structure
    <structure>/<stem>-3dtiles/tileset.json    the structure's own tileset and its contents
    <structure>/export.json                    that export's record (model, layers revision)

Each child's bounding volume is a ``region`` (longitude, latitude in radians, heights in
metres on the WGS 84 ellipsoid) round the eight corners of its tileset's root box carried to
ECEF by that root's transform, so the root needs no transform of its own. Its geometric error
is its tileset's, so a viewer opens a structure's tileset as it comes near it. A structure
whose model has no CRS cannot be placed and is left out, and so is one with no model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import twin

ROOT_NAME = "tileset.json"


def _corners(box: list[float]) -> np.ndarray:
    """The eight corners of a 3D Tiles ``box`` (centre, then three half-axes)."""
    centre, axes = np.asarray(box[:3]), np.asarray(box[3:]).reshape(3, 3)
    signs = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=float)
    return centre + signs @ axes


def tileset_region(doc: dict) -> list[float]:
    """The region [west, south, east, north, minimum height, maximum height] round a placed
    tileset's root box (radians and metres, WGS 84)."""
    from pyproj import Transformer  # noqa: PLC0415

    root = doc["root"]
    corners = _corners(root["boundingVolume"]["box"])
    transform = np.asarray(root["transform"], dtype=float).reshape(4, 4, order="F")
    ecef = corners @ transform[:3, :3].T + transform[:3, 3]
    lon, lat, h = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True).transform(*ecef.T)
    lon, lat = np.radians(lon), np.radians(lat)
    return [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()), float(h.min()), float(h.max())]


def _union(regions: list[list[float]]) -> list[float]:
    r = np.asarray(regions)
    return [float(r[:, 0].min()), float(r[:, 1].min()), float(r[:, 2].max()), float(r[:, 3].max()),
            float(r[:, 4].min()), float(r[:, 5].max())]


def _span_m(region: list[float]) -> float:
    """The region's diagonal, roughly, in metres (for the root's geometric error)."""
    radius = 6_378_137.0
    dx = (region[2] - region[0]) * radius * np.cos((region[1] + region[3]) / 2)
    dy = (region[3] - region[1]) * radius
    return float(np.sqrt(dx * dx + dy * dy + (region[5] - region[4]) ** 2))


def write_city_tileset(ws, table, folder: Path) -> dict:
    """Export each placed structure's latest model as 3D Tiles under ``folder`` and write the
    root tileset; returns {"structures": [...], "left_out": {id: why}}."""
    from twin.export.package import export_package  # noqa: PLC0415

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    children, placed, left_out = [], [], {}
    for row in table.rows:
        extent = row.extent
        if extent is None:
            continue
        if extent.crs_epsg is None:
            left_out[row.id] = "its model has no coordinate system, so it cannot be placed on the globe"
            continue
        report = export_package(ws, row.id, extent.survey_id, folder / row.id, ["3dtiles"])
        tileset = next(p for p in (folder / row.id).glob("*-3dtiles/tileset.json"))
        doc = json.loads(tileset.read_text(encoding="utf-8"))
        children.append({
            "boundingVolume": {"region": tileset_region(doc)},
            "geometricError": float(doc["geometricError"]),
            "content": {"uri": tileset.relative_to(folder).as_posix()},
            "extras": {"structure": row.id, "inventory_number": row.properties.get("inventory_number"),
                       "name": row.properties.get("name_en") or row.properties.get("name_vi"),
                       "survey": extent.survey_id, "model": report.model_key, "layers_rev": report.layers_rev},
        })
        placed.append(row.id)
    if not children:
        return {"structures": [], "left_out": left_out}
    region = _union([c["boundingVolume"]["region"] for c in children])
    error = max(_span_m(region), max(c["geometricError"] for c in children))
    doc = {"asset": {"version": "1.1", "generator": f"twin {twin.__version__}"}, "geometricError": error,
           "root": {"boundingVolume": {"region": region}, "geometricError": error, "refine": "ADD",
                    "children": children},
           "extras": {"what": "the latest model of every structure placed on the globe, one external tileset each",
                      "as_of": table.status.as_of}}
    (folder / ROOT_NAME).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")  # staged by the caller
    return {"structures": placed, "left_out": left_out}

"""Footprints of a structure and its elements as GeoJSON, for GIS.

Two files with the same features:

- in **WGS 84** longitude/latitude (:func:`write_geojson_wgs84`), as RFC 7946 requires;
  coordinates are rounded to 1e-8 degrees (about a millimetre);
- in the **structure's CRS** (:func:`write_geojson_crs`, e.g. UTM metres), which RFC 7946
  does not allow: it carries the 2008 GeoJSON ``crs`` member naming the CRS by its OGC
  URN (``urn:ogc:def:crs:EPSG::32648``) so that GDAL/QGIS read it in place, and says so
  in a ``description`` member. Use it where the metres matter; use the WGS 84 file to
  exchange.

**Footprints** are the regions seen from above: an axis-aligned box is its rectangle; an
oriented box the convex hull of its eight corners projected on the ground (a rotated
rectangle when it only turns about the vertical); a polygon itself; a ``boxes`` region the
MultiPolygon of its boxes' rectangles; a union (a group of
elements) the MultiPolygon of its members' footprints (members that are groups are
flattened). Each region keeps its height range in the ``z_min``/``z_max`` properties.
The **structure's footprint** is the convex hull of all element footprints (a simple,
robust outline; it includes the courtyard of a U-shaped building).

Exterior rings run counter-clockwise (RFC 7946, right-hand rule) and are closed. Each
feature's properties: the element's id, name, class, knowledge status, stability,
group members, its phases (id, type, name, EDTF date, earliest and latest day) and
materials (id, label, Getty AAT URI) — its own and its groups'.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from twin.catalog.store import atomic_write_bytes
from twin.errors import CRSError
from twin.export.labelled import legend
from twin.models.layers import BoxesRegion, BoxRegion, LayerFile, OrientedBoxRegion, PolygonRegion, UnionRegion
from twin.models.scan import CRSInfo

WGS84_DECIMALS = 8


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull of 2-D points, counter-clockwise, not closed."""
    from scipy.spatial import ConvexHull  # noqa: PLC0415

    return points[ConvexHull(points).vertices]  # scipy gives 2-D hulls counter-clockwise


def _ccw(ring: np.ndarray) -> np.ndarray:
    x, y = ring[:, 0], ring[:, 1]
    signed = np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    return ring if signed > 0 else ring[::-1]


def _leaf_footprint(region) -> tuple[np.ndarray, float, float]:
    """(counter-clockwise ring without the closing point, z_min, z_max) of a geometric region."""
    if isinstance(region, BoxRegion):
        (x0, y0, z0), (x1, y1, z1) = region.box.min, region.box.max
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64), z0, z1
    if isinstance(region, OrientedBoxRegion):
        ob = region.oriented_box
        axes = np.array(ob.matrix(), dtype=np.float64)
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
        corners = np.array(ob.center) + (signs * np.array(ob.extent) / 2.0) @ axes.T
        return _hull(corners[:, :2]), float(corners[:, 2].min()), float(corners[:, 2].max())
    if isinstance(region, PolygonRegion):
        ring = np.array(region.polygon, dtype=np.float64)
        if len(ring) > 3 and np.array_equal(ring[0], ring[-1]):
            ring = ring[:-1]
        return _ccw(ring), region.z_min, region.z_max
    raise TypeError(f"no footprint for {type(region).__name__}")


def _leaf_footprints(region) -> tuple[list[np.ndarray], float, float]:
    """(rings, z_min, z_max) of a geometric region: one ring, or one per box of a ``boxes`` region."""
    if isinstance(region, BoxesRegion):
        parts = [_leaf_footprint(BoxRegion(box=box)) for box in region.boxes]
        return [ring for ring, _, _ in parts], min(z for _, z, _ in parts), max(z for _, _, z in parts)
    ring, z_min, z_max = _leaf_footprint(region)
    return [ring], z_min, z_max


def footprints(layers: LayerFile) -> dict[str, tuple[list[np.ndarray], float, float]]:
    """Every element's footprint: (rings, one per leaf region, z_min, z_max), in layer CRS units."""
    by_id = {e.id: e for e in layers.elements}
    leaves = {e.id: _leaf_footprints(e.region) for e in layers.elements if not isinstance(e.region, UnionRegion)}

    def members(element_id: str, seen: frozenset) -> list[str]:
        region = by_id[element_id].region
        if not isinstance(region, UnionRegion):
            return [element_id]
        out: list[str] = []
        for m in region.union:
            if m not in seen:  # the layer file forbids cycles; stay safe anyway
                out += [x for x in members(m, seen | {m}) if x not in out]
        return out

    result = {}
    for e in layers.elements:
        parts = members(e.id, frozenset([e.id]))
        rings = [ring for p in parts for ring in leaves[p][0]]
        zs = [leaves[p][1] for p in parts] + [leaves[p][2] for p in parts]
        result[e.id] = (rings, float(min(zs)), float(max(zs)))
    return result


def _geometry(rings: list[np.ndarray], transform, decimals: int | None) -> dict:
    def ring_coords(ring: np.ndarray) -> list:
        xy = transform(np.vstack([ring, ring[:1]]))  # closed
        if decimals is not None:
            xy = np.round(xy, decimals)
        return xy.tolist()

    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": [ring_coords(rings[0])]}
    return {"type": "MultiPolygon", "coordinates": [[ring_coords(r)] for r in rings]}


def feature_collection(layers: LayerFile, structure_id: str, *, transform=None, decimals: int | None = None,
                       name: str | None = None) -> dict:
    """A FeatureCollection: the structure's footprint first, then one feature per element.

    ``transform`` maps an (n, 2) array of layer coordinates to output coordinates
    (identity by default).
    """
    transform = transform or (lambda xy: xy)
    table = legend(layers)
    phases = {p["id"]: p for p in table["phases"]}
    materials = {m["id"]: m for m in table["materials"]}
    prints = footprints(layers)
    features = []
    if prints:
        every = np.vstack([ring for rings, _, _ in prints.values() for ring in rings])
        z_min = min(z for _, z, _ in prints.values())
        z_max = max(z for _, _, z in prints.values())
        features.append({
            "type": "Feature",
            "id": structure_id,
            "geometry": _geometry([_hull(every)], transform, decimals),
            "properties": {"kind": "structure", "id": structure_id, "name": layers.metadata.title,
                           "identifier": layers.metadata.identifier, "footprint": "convex hull of all elements",
                           "z_min": z_min, "z_max": z_max, "elements": [e.id for e in layers.elements]},
        })
    for row in table["elements"]:
        rings, z_min, z_max = prints[row["id"]]
        features.append({
            "type": "Feature",
            "id": f"{structure_id}/{row['id']}",
            "geometry": _geometry(rings, transform, decimals),
            "properties": {
                "kind": "element",
                "structure": structure_id,
                "id": row["id"],
                "name": row["name"],
                "class": row["class"],
                "knowledge": row["knowledge"],
                "knowledge_sources": row["knowledge_sources"],
                "stable": row["stable"],
                "members": row["members"],
                "z_min": z_min,
                "z_max": z_max,
                "phases": [{k: phases[p][k] for k in ("id", "type", "name", "date", "earliest", "latest", "periodo")}
                           for p in row["phases"]],
                "materials": [{k: materials[m][k] for k in ("id", "label", "aat")} for m in row["materials"]],
            },
        })
    out = {"type": "FeatureCollection"}
    if name:
        out["name"] = name
    out["features"] = features
    return out


def _layer_crs(crs: CRSInfo | None, layers: LayerFile):
    from pyproj import CRS  # noqa: PLC0415

    source = None
    if crs is not None:
        source = crs.wkt or (f"EPSG:{crs.epsg}" if crs.epsg is not None else None)
    source = source or layers.crs
    if not source:
        raise CRSError("the structure has no coordinate system: give one (e.g. EPSG:32648) to export GeoJSON")
    try:
        return CRS.from_user_input(source)
    except Exception as exc:
        raise CRSError(f"cannot use the coordinate system {source[:60]!r}: {str(exc).splitlines()[0]}") from exc


def geojson_wgs84(layers: LayerFile, structure_id: str, crs: CRSInfo | None = None) -> dict:
    """The footprints in WGS 84 longitude/latitude (RFC 7946)."""
    from pyproj import Transformer  # noqa: PLC0415

    to_wgs84 = Transformer.from_crs(_layer_crs(crs, layers), "EPSG:4326", always_xy=True)

    def transform(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return feature_collection(layers, structure_id, transform=transform, decimals=WGS84_DECIMALS,
                              name=f"{structure_id} footprints (WGS 84)")


def geojson_crs(layers: LayerFile, structure_id: str, crs: CRSInfo | None = None) -> dict:
    """The footprints in the structure's own CRS, with a 2008-style ``crs`` member (not RFC 7946)."""
    source = _layer_crs(crs, layers)
    epsg = source.to_epsg()
    out = feature_collection(layers, structure_id, name=f"{structure_id} footprints ({source.name})")
    urn = f"urn:ogc:def:crs:EPSG::{epsg}" if epsg else None
    out = {
        "type": "FeatureCollection",
        "name": out["name"],
        "description": (
            f"Coordinates in {source.name}" + (f" ({urn})" if urn else "") + ", not WGS 84: this file uses the "
            "'crs' member of the 2008 GeoJSON specification, which RFC 7946 removed. The companion WGS 84 file "
            "is standard GeoJSON."
        ),
        "crs": {"type": "name", "properties": {"name": urn or source.to_wkt()}},
        "features": out["features"],
    }
    return out


def _write(path: Path, data: dict) -> Path:
    path = Path(path)
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))
    return path


def write_geojson_wgs84(layers: LayerFile, structure_id: str, path: Path, crs: CRSInfo | None = None) -> Path:
    return _write(path, geojson_wgs84(layers, structure_id, crs))


def write_geojson_crs(layers: LayerFile, structure_id: str, path: Path, crs: CRSInfo | None = None) -> Path:
    return _write(path, geojson_crs(layers, structure_id, crs))


def write_geojson(layers: LayerFile, structure_id: str, out_dir: Path, crs: CRSInfo | None = None,
                  stem: str | None = None) -> tuple[Path, Path]:
    """Both files: ``<stem>.wgs84.geojson`` (RFC 7946) and ``<stem>.crs.geojson`` (structure CRS)."""
    stem = stem or structure_id
    out_dir = Path(out_dir)
    return (write_geojson_wgs84(layers, structure_id, out_dir / f"{stem}.wgs84.geojson", crs),
            write_geojson_crs(layers, structure_id, out_dir / f"{stem}.crs.geojson", crs))

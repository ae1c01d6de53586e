"""Footprints of a structure and its elements as GeoJSON, for GIS.

Two files with the same features:

- in **WGS 84** longitude/latitude (:func:`write_geojson_wgs84`), as RFC 7946 requires;
  coordinates are rounded to 1e-8 degrees (about a millimetre) on a grid that keeps
  every polygon valid (:func:`shapely.set_precision`);
- in the **structure's CRS** (:func:`write_geojson_crs`, e.g. UTM metres), which RFC 7946
  does not allow: it carries the 2008 GeoJSON ``crs`` member naming the CRS by its OGC
  URN (``urn:ogc:def:crs:EPSG::32648``) so that GDAL/QGIS read it in place, and says so
  in a ``description`` member. Use it where the metres matter; use the WGS 84 file to
  exchange. The GeoPackage (:mod:`twin.export.gpkg`) holds the same features in the same CRS.

**Footprints** are the regions seen from above: an axis-aligned box is its rectangle; an
oriented box the convex hull of its eight corners projected on the ground (a rotated
rectangle when it only turns about the vertical); a polygon itself; a ``boxes`` region the
union of its boxes' rectangles; a union (a group of elements) the union of its members'
footprints (members that are groups are flattened). Each region keeps its height range
in the ``z_min``/``z_max`` properties. The **structure's footprint** is the convex hull of
all element footprints (a simple, robust outline; it includes the courtyard of a
U-shaped building).

**Valid geometry, one type.** Every geometry is a MultiPolygon (one part or more), valid
in the OGC Simple Features sense, which QGIS, PostGIS and shapely check: a polygon drawn
crossing itself (a wall traced with its ends overlapping) is repaired with
:func:`shapely.make_valid`, overlapping or nested parts (a planter's pot inside its
plant, a group's members) are merged into their union, and the result is checked with
``is_valid`` before it is written (:func:`valid_multipolygon`). Exterior rings run
counter-clockwise, holes clockwise (RFC 7946, right-hand rule); rings are closed.

**Properties** are the same on every feature, each of one type (null where it does not
apply), so that GDAL makes one column of each: ``kind`` (structure or element),
``structure``, ``id``, ``name``, ``class``, ``knowledge``, ``stable``, ``z_min``,
``z_max``; flat columns for filtering and styling: ``primary_phase`` (the phase that
built the fabric, the one the per-point labels carry), its ``primary_phase_type``,
``primary_phase_date`` (EDTF) and its bounds ``phase_start``/``phase_end`` (ISO dates,
GDAL reads them as dates), ``primary_material`` with its ``primary_material_label`` and
``primary_material_aat``; and lists as JSON arrays of strings (GDAL's StringList):
``knowledge_sources``, ``members``, ``phases``, ``phase_types``, ``phase_dates``,
``materials``, ``material_labels``, ``material_aat`` — the element's own and its groups'.
The structure's feature lists every element as ``members``, every phase and material of
the layers and every element's knowledge sources. It comes first, and GDAL types a list
column by its first value: an empty list there made ``knowledge_sources`` a JSON text
column in QGIS instead of a string list.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from twin.catalog.store import atomic_write_bytes
from twin.errors import CRSError
from twin.export.labelled import legend
from twin.io.crs import pyproj_crs
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


GEOMETRY_TYPE = "MultiPolygon"
# every feature's properties, in this order: name -> JSON type of its non-null values
PROPERTIES = {
    "kind": "string", "structure": "string", "id": "string", "name": "string", "class": "string",
    "knowledge": "string", "stable": "boolean", "z_min": "number", "z_max": "number",
    "primary_phase": "string", "primary_phase_type": "string", "primary_phase_date": "string",
    "phase_start": "date", "phase_end": "date",
    "primary_material": "string", "primary_material_label": "string", "primary_material_aat": "string",
    "knowledge_sources": "strings", "members": "strings", "phases": "strings", "phase_types": "strings",
    "phase_dates": "strings", "materials": "strings", "material_labels": "strings", "material_aat": "strings",
}


def valid_multipolygon(*geometries):
    """A valid shapely MultiPolygon covering what the ``geometries`` cover together (empty
    when they have no area).

    Each one is repaired on its own with :func:`shapely.make_valid` (a self-crossing ring
    becomes the polygons it encloses; repairing a MultiPolygon of nested parts as one would
    read the inner part as a hole), parts that are not areas (lines and points left by the
    repair) are dropped, overlapping or nested parts are merged into their union, and a
    result that is still invalid goes through ``buffer(0)``; exteriors counter-clockwise,
    holes clockwise.
    """
    import shapely  # noqa: PLC0415
    from shapely.geometry import MultiPolygon, Polygon  # noqa: PLC0415
    from shapely.geometry.polygon import orient  # noqa: PLC0415

    def areas(geometry) -> list:
        return [p for p in shapely.get_parts(_explode(geometry)) if isinstance(p, Polygon) and not p.is_empty]

    parts = []
    for geometry in geometries:
        if geometry is None or geometry.is_empty:
            continue
        for part in shapely.get_parts(geometry):  # a MultiPolygon's parts, each repaired on its own
            parts += areas(part if part.is_valid else shapely.make_valid(part))
    if not parts:
        return MultiPolygon()
    merged = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    if not merged.is_valid:
        merged = merged.buffer(0)
    result = MultiPolygon([orient(p, sign=1.0) for p in areas(merged) if p.area > 0])
    if not result.is_valid:  # never seen; say so rather than write an invalid geometry
        raise ValueError(f"a footprint cannot be made valid: {shapely.is_valid_reason(result)}")
    return result


def _explode(geometry):
    """Flatten GeometryCollections (make_valid's output) into their members."""
    import shapely  # noqa: PLC0415

    if geometry.geom_type == "GeometryCollection":
        return shapely.GeometryCollection([g for part in geometry.geoms for g in shapely.get_parts(_explode(part))])
    return geometry


def footprint_geometries(layers: LayerFile) -> dict[str, tuple[object, float, float]]:
    """Every element's footprint as a valid MultiPolygon (layer CRS units), with z_min, z_max."""
    from shapely.geometry import Polygon  # noqa: PLC0415

    return {element_id: (valid_multipolygon(*[Polygon(r) for r in rings]), z_min, z_max)
            for element_id, (rings, z_min, z_max) in footprints(layers).items()}


def structure_footprint(layers: LayerFile):
    """The convex hull of every element's footprint (a valid MultiPolygon), or None without elements."""
    prints = footprints(layers)
    if not prints:
        return None
    from shapely.geometry import Polygon  # noqa: PLC0415

    every = np.vstack([ring for rings, _, _ in prints.values() for ring in rings])
    return valid_multipolygon(Polygon(_hull(every)))


def feature_records(layers: LayerFile, structure_id: str) -> list[tuple[object, dict]]:
    """(geometry, properties) of the structure and then of each element, in layer CRS units:
    the rows that the GeoJSON and GeoPackage files hold. Properties follow :data:`PROPERTIES`."""
    table = legend(layers)
    phases = {p["id"]: p for p in table["phases"]}
    materials = {m["id"]: m for m in table["materials"]}
    prints = footprint_geometries(layers)
    records = []

    def row(**values) -> dict:
        out = dict.fromkeys(PROPERTIES)
        out.update(values)
        for key, kind in PROPERTIES.items():
            if kind == "strings" and out[key] is None:
                out[key] = []
        return out

    def phase_columns(phase_ids: list[str], primary: str | None) -> dict:
        main = phases.get(primary) if primary else None
        return {"primary_phase": primary, "primary_phase_type": main["type"] if main else None,
                "primary_phase_date": main["date"] if main else None,
                "phase_start": main["earliest"] if main else None, "phase_end": main["latest"] if main else None,
                "phases": list(phase_ids), "phase_types": [phases[p]["type"] for p in phase_ids],
                "phase_dates": [phases[p]["date"] for p in phase_ids]}

    def material_columns(material_ids: list[str], primary: str | None) -> dict:
        main = materials.get(primary) if primary else None
        return {"primary_material": primary, "primary_material_label": main["label"] if main else None,
                "primary_material_aat": main["aat"] if main else None, "materials": list(material_ids),
                "material_labels": [materials[m]["label"] for m in material_ids],
                "material_aat": [materials[m]["aat"] for m in material_ids]}

    hull = structure_footprint(layers)
    if hull is not None:
        records.append((hull, row(
            kind="structure", structure=structure_id, id=structure_id, name=layers.metadata.title,
            **{"class": "B1_Built_Work"}, z_min=min(z for _, z, _ in prints.values()),
            z_max=max(z for _, _, z in prints.values()), members=[e.id for e in layers.elements],
            knowledge_sources=list(dict.fromkeys(s for e in table["elements"] for s in e["knowledge_sources"])),
            **phase_columns([p["id"] for p in table["phases"]], None),
            **material_columns([m["id"] for m in table["materials"]], None),
        )))
    for e in table["elements"]:
        geometry, z_min, z_max = prints[e["id"]]
        records.append((geometry, row(
            kind="element", structure=structure_id, id=e["id"], name=e["name"], **{"class": e["class"]},
            knowledge=e["knowledge"], knowledge_sources=list(e["knowledge_sources"]), stable=e["stable"],
            members=list(e["members"]), z_min=z_min, z_max=z_max,
            **phase_columns(e["phases"], e["primary_phase"]),
            **material_columns(e["materials"], e["primary_material"]),
        )))
    return records


def _geojson_geometry(geometry) -> dict | None:
    """A MultiPolygon as a GeoJSON geometry with closed rings (null when it has no area)."""
    if geometry.is_empty:
        return None
    return {"type": GEOMETRY_TYPE, "coordinates": [
        [[list(xy) for xy in np.asarray(ring.coords)[:, :2].tolist()] for ring in (p.exterior, *p.interiors)]
        for p in geometry.geoms]}


def feature_collection(layers: LayerFile, structure_id: str, *, transform=None, decimals: int | None = None,
                       name: str | None = None) -> dict:
    """A FeatureCollection: the structure's footprint first, then one feature per element.

    ``transform`` maps an (n, 2) array of layer coordinates to output coordinates
    (identity by default); ``decimals`` rounds the output on a grid of ``10**-decimals``
    that keeps every polygon valid.
    """
    features = []
    for geometry, properties in feature_records(layers, structure_id):
        geometry = valid_multipolygon(reproject(geometry, transform, decimals))
        feature_id = structure_id if properties["kind"] == "structure" else f"{structure_id}/{properties['id']}"
        features.append({"type": "Feature", "id": feature_id, "geometry": _geojson_geometry(geometry),
                         "properties": properties})
    out = {"type": "FeatureCollection"}
    if name:
        out["name"] = name
    out["features"] = features
    return out


def reproject(geometry, transform=None, decimals: int | None = None):
    """``geometry`` with ``transform`` (an (n, 2) array of coordinates -> the output's) applied,
    then snapped to a grid of ``10**-decimals`` (shapely.set_precision keeps polygons valid there)
    and rounded to print exactly the grid; either step is skipped when None. Pass polygons
    through :func:`valid_multipolygon` afterwards."""
    import shapely  # noqa: PLC0415

    if geometry.is_empty:
        return geometry
    if transform is not None:
        geometry = shapely.transform(geometry, lambda xy: np.asarray(transform(xy), dtype=np.float64))
    if decimals is not None:
        geometry = shapely.set_precision(geometry, 10.0 ** -decimals)
        geometry = shapely.transform(geometry, lambda xy: np.round(xy, decimals))
    return geometry


def wgs84_transform(source):
    """A function (n, 2) array in ``source`` (a pyproj CRS or anything pyproj reads) -> (n, 2)
    WGS 84 longitude, latitude, for :func:`reproject`."""
    from pyproj import Transformer  # noqa: PLC0415

    to_wgs84 = Transformer.from_crs(source, "EPSG:4326", always_xy=True)

    def transform(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return transform


def layer_crs(crs: CRSInfo | None, layers: LayerFile):
    """The pyproj CRS of the footprints: the model's, else the layer file's; CRSError without one."""
    return _layer_crs(crs, layers)


def _layer_crs(crs: CRSInfo | None, layers: LayerFile):
    source = pyproj_crs(crs, layers.crs)
    if source is None:
        raise CRSError("the structure has no coordinate system: give one (e.g. EPSG:32648) to export GeoJSON")
    return source


def geojson_wgs84(layers: LayerFile, structure_id: str, crs: CRSInfo | None = None) -> dict:
    """The footprints in WGS 84 longitude/latitude (RFC 7946)."""
    return feature_collection(layers, structure_id, transform=wgs84_transform(_layer_crs(crs, layers)),
                              decimals=WGS84_DECIMALS, name=f"{structure_id} footprints (WGS 84)")


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


def write_json(path: Path, data: dict) -> Path:
    """``data`` as compact UTF-8 JSON (no NaN), written atomically."""
    path = Path(path)
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))
    return path


def write_geojson_wgs84(layers: LayerFile, structure_id: str, path: Path, crs: CRSInfo | None = None) -> Path:
    return write_json(path, geojson_wgs84(layers, structure_id, crs))


def write_geojson_crs(layers: LayerFile, structure_id: str, path: Path, crs: CRSInfo | None = None) -> Path:
    return write_json(path, geojson_crs(layers, structure_id, crs))


def write_geojson(layers: LayerFile, structure_id: str, out_dir: Path, crs: CRSInfo | None = None,
                  stem: str | None = None) -> tuple[Path, Path]:
    """Both files: ``<stem>.wgs84.geojson`` (RFC 7946) and ``<stem>.crs.geojson`` (structure CRS)."""
    stem = stem or structure_id
    out_dir = Path(out_dir)
    return (write_geojson_wgs84(layers, structure_id, out_dir / f"{stem}.wgs84.geojson", crs),
            write_geojson_crs(layers, structure_id, out_dir / f"{stem}.crs.geojson", crs))

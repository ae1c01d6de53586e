"""The inventory with its status as CityJSON 2.0 (https://www.cityjson.org/specs/2.0.1/, valid
against the v2.0.2 schemas), one city object per structure (twin.inventory.table), in the
table's projected CRS.

- A structure that holds others (a complex, a parent site) is a ``CityObjectGroup`` whose
  ``children`` are the structures directly inside it (each naming it in ``parents``; groups
  nest: the Capital Citadel holds the Imperial City, which holds the Forbidden City). Every
  other structure is a ``Building``.
- **Geometry**, best first: with a footprint and a processed model, an LoD1 ``Solid``: the
  footprint extruded from the bottom to the top of the latest model (its z range in its CRS;
  from 0 to its height when the model has no CRS), with GroundSurface, RoofSurface and
  WallSurface semantics; a footprint of several parts is one ``BuildingPart`` child per part
  (``<id>/part-<n>``; a group gets a ``MultiSolid``). With a footprint and no model, an LoD0
  ``MultiSurface`` at z = 0. With only a point, a Building has no geometry and its point is
  its address's ``location`` (LoD0 MultiPoint), as the specification provides; a group gets an
  LoD0 ``MultiPoint`` geometry. A Building with a footprint carries its point as the address
  location too.
- **LoD2 from the model's mesh**, beside the LoD1 solid, where the latest model has a mesh and
  a CRS: its coarsest level's triangles whose centroids lie within the footprint (the courtyard
  and terrain round it left out), as a ``MultiSurface`` in the table's CRS. A measured mesh is
  not closed (the scanners did not see the bottom of a wall), so it is a surface, not a solid.
  Each triangle's semantics follow its normal: up-facing ones are RoofSurface in the upper half
  of the model and OuterFloorSurface below it (a platform, steps), down-facing ones
  GroundSurface at the model's foot and OuterCeilingSurface above it (eaves' soffits), the
  rest WallSurface.
- **Attributes**: the table's flat properties (nulls left out): numbers as numbers, dates as
  ISO strings.
- **Vertices** are integers on a millimetre grid (``transform``: scale 0.001, translate the
  lower corner, whole metres); shared vertices are written once and every vertex is used.
- **Metadata**: ``referenceSystem`` (the OGC URL of the EPSG code), ``geographicalExtent``,
  ``referenceDate`` (the day of the status) and a title.

Exterior rings run counter-clockwise seen from outside the solid (a footprint's from above, a
bottom face's from below), inner rings the other way.
"""

from __future__ import annotations

import math
from pathlib import Path

from twin.export.geojson import write_json

SCALE = 0.001  # metres per integer step
SEMANTICS = [{"type": "GroundSurface"}, {"type": "RoofSurface"}, {"type": "WallSurface"}]
MESH_SEMANTICS = [{"type": t} for t in ("GroundSurface", "RoofSurface", "WallSurface", "OuterFloorSurface",
                                        "OuterCeilingSurface")]
FACING = 0.7  # |normal z| above which a triangle faces up or down rather than sideways
FOOT = 0.05  # share of the model's height, from its bottom, where a down-facing triangle is ground


class _Vertices:
    """Integer vertices on the grid, each written once."""

    def __init__(self, translate: tuple[float, float, float]):
        self.translate = translate
        self.index: dict[tuple[int, int, int], int] = {}

    def add(self, x: float, y: float, z: float) -> int:
        key = tuple(round((v - t) / SCALE) for v, t in zip((x, y, z), self.translate))
        return self.index.setdefault(key, len(self.index))

    def ring(self, coords, z: float) -> list[int]:
        """Indices of a shapely ring (closed) at height z: not closed, no index twice in a row."""
        out: list[int] = []
        for x, y, *_ in list(coords)[:-1]:
            i = self.add(x, y, z)
            if not out or out[-1] != i:
                out.append(i)
        if len(out) > 1 and out[0] == out[-1]:
            out.pop()
        return out

    def listed(self) -> list[list[int]]:
        return [list(key) for key in self.index]


def _parts(footprint) -> list:
    """The footprint's polygons, exteriors counter-clockwise and holes clockwise seen from above."""
    from shapely.geometry.polygon import orient  # noqa: PLC0415

    return [orient(p, sign=1.0) for p in getattr(footprint, "geoms", [footprint])]


def _surface(vertices: _Vertices, polygon, z: float, flip: bool = False) -> list[list[int]] | None:
    rings = [vertices.ring(polygon.exterior.coords, z), *(vertices.ring(r.coords, z) for r in polygon.interiors)]
    rings = [r[::-1] if flip else r for r in rings if len(r) >= 3]
    return rings if rings and len(rings[0]) >= 3 else None


def _solid(vertices: _Vertices, polygon, z0: float, z1: float) -> tuple[list, list[int]] | None:
    """(shell, semantic values) of a footprint extruded from z0 to z1."""
    bottom, top = _surface(vertices, polygon, z0, flip=True), _surface(vertices, polygon, z1)
    if bottom is None or top is None:
        return None
    shell, values = [bottom, top], [0, 1]
    for ring in (polygon.exterior, *polygon.interiors):
        low, high = vertices.ring(ring.coords, z0), vertices.ring(ring.coords, z1)
        if len(low) < 3 or len(low) != len(high):
            continue
        for i in range(len(low)):
            j = (i + 1) % len(low)
            shell.append([[low[i], low[j], high[j], high[i]]])  # outward: to the right of the ring's direction
            values.append(2)
    return [shell], values


def _z_range(row) -> tuple[float, float] | None:
    extent = row.extent
    if extent is None or not extent.height > 2 * SCALE:
        return None
    if extent.crs_epsg is None:
        return 0.0, extent.height
    return extent.z_min, extent.z_max


def _geometry(vertices: _Vertices, row, group: bool) -> tuple[list[dict], list[list[dict]]]:
    """(the object's geometries, one geometry list per BuildingPart to make)."""
    if row.footprint is None:
        if group and row.location is not None:
            return [{"type": "MultiPoint", "lod": "0",
                     "boundaries": [vertices.add(row.location.x, row.location.y, 0.0)]}], []
        return [], []
    parts = _parts(row.footprint)
    heights = _z_range(row)
    solids = [s for s in (_solid(vertices, p, *heights) for p in parts) if s] if heights else []
    if solids and len(solids) == len(parts):
        if len(solids) == 1:
            shell, values = solids[0]
            return [_solid_geometry("Solid", shell, [values])], []
        if group:
            return [_solid_geometry("MultiSolid", [s for s, _ in solids], [[v] for _, v in solids])], []
        return [], [[_solid_geometry("Solid", shell, [values])] for shell, values in solids]
    surfaces = [s for s in (_surface(vertices, p, 0.0) for p in parts) if s]
    return ([{"type": "MultiSurface", "lod": "0", "boundaries": surfaces}] if surfaces else []), []


def _mesh_geometry(vertices: _Vertices, row, epsg: int | None) -> dict | None:
    """The LoD2 MultiSurface of the latest model's coarsest mesh within the footprint (see
    the module docstring); None without a mesh, a CRS or a triangle inside the footprint."""
    extent = row.extent
    mesh_path = extent.coarsest_mesh() if extent is not None else None
    if mesh_path is None or extent.crs_epsg is None or row.footprint is None or epsg is None:
        return None
    import numpy as np  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    from twin.io.ply_write import read_mesh_ply  # noqa: PLC0415

    mesh = read_mesh_ply(mesh_path)
    xyz = mesh.vertices + mesh.origin
    if extent.crs_epsg != epsg:
        from pyproj import Transformer  # noqa: PLC0415

        to_table = Transformer.from_crs(extent.crs_epsg, epsg, always_xy=True)
        xyz = np.column_stack([*to_table.transform(xyz[:, 0], xyz[:, 1]), xyz[:, 2]])
    tri = xyz[mesh.faces]
    centroid = tri.mean(axis=1)
    inside = shapely.contains_xy(row.footprint, centroid[:, 0], centroid[:, 1])
    if not inside.any():
        return None
    tri, centroid = tri[inside], centroid[inside]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    nz = normal[:, 2] / np.maximum(np.linalg.norm(normal, axis=1), 1e-12)
    z0, z1 = float(xyz[:, 2].min()), float(xyz[:, 2].max())
    upper = centroid[:, 2] > (z0 + z1) / 2
    foot = centroid[:, 2] < z0 + FOOT * (z1 - z0)
    kind = np.select([(nz > FACING) & upper, nz > FACING, (nz < -FACING) & foot, nz < -FACING],
                     [1, 3, 0, 4], default=2)
    boundaries, values = [], []
    for corners, k in zip(tri.tolist(), kind.tolist(), strict=True):
        ring = [vertices.add(*c) for c in corners]
        if len(set(ring)) == 3:  # a sliver the millimetre grid collapses is left out
            boundaries.append([ring])
            values.append(k)
    if not boundaries:
        return None
    return {"type": "MultiSurface", "lod": "2", "boundaries": boundaries,
            "semantics": {"surfaces": MESH_SEMANTICS, "values": values}}


def _solid_geometry(kind: str, boundaries: list, values: list) -> dict:
    return {"type": kind, "lod": "1", "boundaries": boundaries,
            "semantics": {"surfaces": SEMANTICS, "values": values}}


def _translate(table) -> tuple[float, float, float]:
    """The grid's origin: the lower corner of every geometry, in whole metres."""
    lows = [row.geometry.bounds[:2] for row in table.rows if row.geometry is not None]
    zs = [0.0] + [z for row in table.rows for z in (_z_range(row) or ())]
    if not lows:
        return 0.0, 0.0, 0.0
    return (float(math.floor(min(x for x, _ in lows))), float(math.floor(min(y for _, y in lows))),
            float(math.floor(min(zs))))


def city_model(table, title: str | None = None) -> dict:
    """The CityJSON document."""
    vertices = _Vertices(_translate(table))
    present = {row.id for row in table.rows}
    objects: dict[str, dict] = {}
    for row in table.rows:
        children = [c for c in row.children if c in present]
        group = bool(children)
        obj: dict = {"type": "CityObjectGroup" if group else "Building",
                     "attributes": {k: v for k, v in row.properties.items() if v is not None}}
        geometry, parts = _geometry(vertices, row, group)
        measured = None if group else _mesh_geometry(vertices, row, table.epsg)
        if measured is not None:
            geometry = [*geometry, measured]
        if geometry:
            obj["geometry"] = geometry
        if not group and row.location is not None:
            z = (_z_range(row) or (0.0, 0.0))[0]
            obj["address"] = [{"location": {"type": "MultiPoint", "lod": "0",
                                            "boundaries": [vertices.add(row.location.x, row.location.y, z)]}}]
            if row.properties.get("address"):
                obj["address"][0]["addressLine"] = row.properties["address"]
        part_ids = [f"{row.id}/part-{i}" for i in range(1, len(parts) + 1)]  # "/": never in a structure id
        if children or part_ids:
            obj["children"] = children + part_ids
        if row.parent_id in present:
            obj["parents"] = [row.parent_id]
        objects[row.id] = obj
        for part_id, part_geometry in zip(part_ids, parts):
            objects[part_id] = {"type": "BuildingPart", "parents": [row.id], "geometry": part_geometry}
    listed = vertices.listed()
    scale, translate = [SCALE] * 3, list(vertices.translate)
    metadata = {"title": title or f"Inventory with its status as of {table.status.as_of}",
                "referenceDate": table.status.as_of}
    if table.epsg:
        metadata["referenceSystem"] = f"https://www.opengis.net/def/crs/EPSG/0/{table.epsg}"
    if listed:
        lo = [min(v[a] for v in listed) * SCALE + translate[a] for a in range(3)]
        hi = [max(v[a] for v in listed) * SCALE + translate[a] for a in range(3)]
        metadata["geographicalExtent"] = [round(v, 3) for v in (*lo, *hi)]
    return {"type": "CityJSON", "version": "2.0", "transform": {"scale": scale, "translate": translate},
            "metadata": metadata, "CityObjects": objects, "vertices": listed}


def write_cityjson(table, path: Path, title: str | None = None) -> Path:
    return write_json(path, city_model(table, title))

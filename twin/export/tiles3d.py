"""3D Tiles 1.1: a model's mesh levels of detail and its labelled cloud as one tileset on the globe.

What is written into ``folder`` (``<stem>-3dtiles/`` in an export)::

    tileset.json     the tileset: a root (the transform to ECEF) whose two branches are both drawn (ADD)
    mesh-<lod>.glb   one tile per mesh level, coarsest on top, each replaced by the next finer (REPLACE)
    cloud-root.glb   the cloud thinned on a voxel grid to at most ``root_points`` (REPLACE); a cloud
                     no larger is this one tile, whole
    cloud-<i>.glb    the cloud at full resolution, one cell of an octree each, at most ``max_tile_points``

Every content is a GLB from :mod:`twin.export.gltf`: the element of each face or point in
``_FEATURE_ID_0`` (EXT_mesh_features) and the layers' property table (EXT_structural_metadata:
element id and name, phases with their EDTF dates, materials with Getty AAT URIs), so a viewer
reads a picked feature's element and phase through its metadata API.

**Placement.** With a survey CRS the tileset frame is east, north, up (metres) at an
*anchor*, the centre of the model's bounding box: every vertex and point is carried from
the CRS to ECEF (EPSG:4978) by pyproj and then into that frame, exactly, in float64, and
``root.transform`` is the ENU-to-ECEF matrix (column-major, as Cesium's
``eastNorthUpToFixedFrame``). Going through ECEF point by point rather than fitting one
matrix keeps a projected CRS's grid convergence and scale factor (at Hue in UTM 48N 0.66°
and 3.7 cm per 100 m) out of the error. The contents keep :mod:`twin.export.gltf`'s nodes: the
mesh is the frame's z-up coordinates (float32 about a float64 origin, a millimetre kept),
its node turns them y-up as glTF wants, the root node's translation is the origin turned
y-up, and a 3D Tiles runtime turns y-up back to z-up (the spec's glTF up-axis rule), so
the two rotations cancel. Heights are
what the CRS says they are: a 2D CRS (plain UTM) has no vertical datum, so pyproj takes z as
ellipsoidal height; a compound CRS (e.g. EPSG:32648+5773) gets its geoid where pyproj has
the grid, and where it has not a warning names the ballpark transformation used instead. Without a CRS
the tileset frame *is* the model's own frame: no root transform, nothing on the globe, and
a warning says so.

**Geometric error.** A mesh level's error is how far its surface lies from the finest
level's (two-sided, 95th percentile of point-to-triangle distances, on at most
``DEVIATION_SAMPLE`` vertices each way), and at least half its own mean edge length: every
face carries one element, so a level draws the boundaries between elements only to about
its edge length, even where decimation kept the surface (a flat wall). The finest level is
a leaf (0), and a coarser level never claims less error than a finer one. The thinned
cloud's error is the median nearest-neighbour spacing of its points (the gaps it leaves);
the full-resolution cells are leaves. The root's is the diagonal of the whole box (the
error of drawing nothing).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import twin
from twin.catalog.store import atomic_write_bytes
from twin.errors import CRSError
from twin.export.gltf import glb_bytes, points_glb_bytes
from twin.io.crs import pyproj_crs
from twin.models.layers import LayerFile
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.models.scan import CRSInfo
from twin.ops.labelling import CompiledLayers, compile_layers

MAX_TILE_POINTS = 1_000_000  # points in one full-resolution cloud tile
MAX_TILE_FACES = 500_000  # faces in one tile of the finest mesh level (about 20 MB of GLB)
ROOT_POINTS = 250_000  # points in the thinned cloud at the top of its branch
DEVIATION_SAMPLE = 200_000  # vertices per direction when measuring a level's deviation
MIN_HALF = 0.001  # metres: no bounding box is flatter than this
_CHUNK = 1 << 20  # points per pyproj call (bounds the temporaries)
_MAX_DEPTH = 24  # octree levels: a cell of identical points stops splitting here


@dataclass
class Tileset:
    """What :func:`write_tileset` wrote: the files (tileset.json first), the warnings for the
    export report, and the tileset document itself."""

    paths: list[Path]
    warnings: list[str]
    doc: dict = field(repr=False)


# -- the frame ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """The tileset's coordinate frame: ENU at ``anchor`` (CRS coordinates) when there is a
    CRS, else the model's own coordinates. ``transform`` is the 4x4 ENU→ECEF matrix or None."""

    anchor: np.ndarray
    transform: np.ndarray | None
    _to_ecef: object | None = None  # a pyproj Transformer, CRS → EPSG:4978
    _ecef0: np.ndarray | None = None

    def local(self, world: np.ndarray) -> np.ndarray:
        """World (CRS) coordinates, float64 (n, 3), in the tileset frame."""
        world = np.asarray(world, dtype=np.float64).reshape(-1, 3)
        if self.transform is None:
            return world.copy()
        enu = self.transform[:3, :3]
        out = np.empty_like(world)
        for start in range(0, len(world), _CHUNK):  # a loop over chunks, not points
            part = world[start : start + _CHUNK]
            ecef = np.column_stack(self._to_ecef.transform(part[:, 0], part[:, 1], part[:, 2]))
            if not np.isfinite(ecef).all():
                raise CRSError("some coordinates cannot be carried from the survey CRS to ECEF (EPSG:4978); "
                               "check the survey's CRS with twin inspect")
            out[start : start + _CHUNK] = (ecef - self._ecef0) @ enu  # along its columns: east, north, up
        return out


def enu_to_ecef(lon_deg: float, lat_deg: float, ecef0: np.ndarray) -> np.ndarray:
    """The 4x4 matrix from east-north-up at a point (geodetic longitude, latitude) to ECEF."""
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    east = [-np.sin(lon), np.cos(lon), 0.0]
    north = [-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)]
    up = [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    matrix = np.eye(4)
    matrix[:3, :3] = np.column_stack([east, north, up])
    matrix[:3, 3] = ecef0
    return matrix


def placement_frame(crs: CRSInfo | None, anchor: np.ndarray) -> tuple[Frame, list[str]]:
    """The frame for a model whose box centre is ``anchor`` (CRS coordinates), and warnings."""
    anchor = np.asarray(anchor, dtype=np.float64).reshape(3)
    src = pyproj_crs(crs)
    if src is None:
        return Frame(anchor, None), [
            "the survey has no coordinate system: the 3D Tiles are in the model's own frame (no root transform), "
            "not placed on the globe; give the scans a CRS at ingest (--crs EPSG:NNNN) to place them"]
    from pyproj import Transformer  # noqa: PLC0415  (slow to import)

    with warnings.catch_warnings():  # pyproj's own warning about a missing grid: ours below says more
        warnings.simplefilter("ignore", UserWarning)
        to_ecef = Transformer.from_crs(src, "EPSG:4978", always_xy=True)
    problems = []
    if "ballpark" in to_ecef.description.lower():  # e.g. a compound CRS whose geoid grid is not installed
        problems.append(f"pyproj has no exact transformation from {src.name} to ECEF on this machine (a grid is "
                        f"missing): the 3D Tiles are placed with {to_ecef.description!r}, heights possibly off by "
                        "the geoid's height")
    ecef0 = np.array(to_ecef.transform(*anchor), dtype=np.float64)
    if not np.isfinite(ecef0).all():
        raise CRSError(f"the model's coordinates cannot be carried from {src.name} to ECEF (EPSG:4978)")
    lon, lat, _ = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True).transform(*ecef0)
    return Frame(anchor, enu_to_ecef(lon, lat, ecef0), to_ecef, ecef0), problems


# -- sizes and errors ---------------------------------------------------------------------------


def _box(lo: np.ndarray, hi: np.ndarray) -> list[float]:
    """A 3D Tiles ``box``: centre, then the three half-axes (axis-aligned in the tile frame)."""
    centre = (lo + hi) / 2
    half = np.maximum((hi - lo) / 2, MIN_HALF)
    return [float(v) for v in centre] + [float(half[0]), 0.0, 0.0, 0.0, float(half[1]), 0.0, 0.0, 0.0,
                                          float(half[2])]


def _bounds(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return xyz.min(axis=0), xyz.max(axis=0)


def _store_bounds(store) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each tile's box (world), from its record where kept, else from its points."""
    origin = np.asarray(store.layout.origin, dtype=np.float64)
    out = []
    for key in store.keys:
        record = store.records[key]
        if record.lo is not None:
            out.append((np.asarray(record.lo) + origin, np.asarray(record.hi) + origin))
        elif record.points:
            out.append(_bounds(np.asarray(store.arrays(key, mmap=True)["xyz"]) + origin))
    return out


def _union(*bounds: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.min([b[0] for b in bounds], axis=0), np.max([b[1] for b in bounds], axis=0)


def mean_edge_length(mesh: TriMesh) -> float:
    a, b, c = (mesh.vertices[mesh.faces[:, k]] for k in range(3))
    return float(np.mean(np.linalg.norm(np.concatenate([b - a, c - b, a - c]), axis=1)))


def surface_deviation(a: TriMesh, b: TriMesh, sample: int = DEVIATION_SAMPLE, seed: int = 0) -> float:
    """How far two meshes (same frame) lie apart: the 95th percentile of the distances from
    each one's vertices (at most ``sample``) to the other's triangles, the larger way round."""
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    rng = np.random.default_rng(seed)
    centre = a.vertices.mean(axis=0)  # float32 inside open3d: work near zero
    worst = 0.0
    for mesh, other in ((a, b), (b, a)):
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor((other.vertices - centre).astype(np.float32)),
                            o3d.core.Tensor(other.faces.astype(np.uint32)))
        probe = mesh.vertices if mesh.n_vertices <= sample else mesh.vertices[rng.choice(mesh.n_vertices, sample,
                                                                                          replace=False)]
        distance = scene.compute_distance(o3d.core.Tensor((probe - centre).astype(np.float32))).numpy()
        worst = max(worst, float(np.percentile(distance, 95)))
    return worst


def thin(xyz: np.ndarray, budget: int, spacing: float) -> np.ndarray:
    """Indices of at most ``budget`` points, one per voxel of a grid coarse enough for that.

    The first voxel size assumes points on surfaces (count falling with the voxel's area);
    it grows by a quarter until the count fits.
    """
    from twin.ops.voxel import group_by_voxel  # noqa: PLC0415

    voxel = max(spacing, 1e-6) * np.sqrt(len(xyz) / budget)
    while True:
        groups = group_by_voxel(xyz, voxel)
        if len(groups) <= budget:
            return np.sort(groups.order[groups.starts])
        voxel *= 1.25


def octree_cells(xyz: np.ndarray, max_points: int) -> list[np.ndarray]:
    """The points split into octree cells (each cell halved at the middle of its points' box)
    until none holds more than ``max_points``; the index arrays of the cells, in a fixed order."""
    done: list[np.ndarray] = []
    todo = [np.arange(len(xyz))]
    for _ in range(_MAX_DEPTH):  # a loop over cells, never over points
        nxt = []
        for index in todo:
            if len(index) <= max_points:
                done.append(index)
                continue
            p = xyz[index]
            mid = (p.min(axis=0) + p.max(axis=0)) / 2
            octant = (p[:, 0] > mid[0]) * 1 + (p[:, 1] > mid[1]) * 2 + (p[:, 2] > mid[2]) * 4
            order = np.argsort(octant, kind="stable")
            parts = np.split(index[order], np.cumsum(np.bincount(octant, minlength=8))[:-1])
            nxt.extend(part for part in parts if len(part))
        todo = nxt
        if not todo:
            break
    return done + todo  # past the depth limit a cell of (nearly) identical points stays whole


# -- the tileset --------------------------------------------------------------------------------


def write_tileset(folder: Path, layers: LayerFile, *, levels: Mapping[str, tuple[TriMesh, np.ndarray]] | None = None,
                  cloud: PointCloud | None = None, point_element: np.ndarray | None = None,
                  crs: CRSInfo | None = None, compiled: CompiledLayers | None = None, structure_id: str | None = None,
                  max_tile_points: int = MAX_TILE_POINTS, root_points: int = ROOT_POINTS,
                  max_tile_faces: int | None = None, cloud_store=None) -> Tileset:
    """Write the tileset of ``levels`` (name → (mesh, face element labels)) and ``cloud``
    (with ``point_element``, its points' element labels) into ``folder``.

    With ``cloud_store`` (a :class:`twin.tiles.TileStore` made by ``twin tiles``: every
    point of every station, registered, its outliers flagged) the cloud branch is the
    store's instead of ``cloud``'s: one content per store tile (split further past
    ``max_tile_points``), its unflagged points labelled there, read a tile at a time, and
    a thinned root drawn from every tile in proportion.

    Raises ValueError when there is neither a mesh nor a cloud, :class:`CRSError` when the
    CRS cannot carry the model to ECEF.
    """
    levels = {name: lv for name, lv in (levels or {}).items() if lv[0].n_faces}
    if cloud_store is not None:
        cloud, point_element = None, None
    has_cloud = cloud is not None and len(cloud) > 0
    if not levels and not has_cloud and cloud_store is None:
        raise ValueError("3D Tiles need a mesh or a cloud; the model has neither")
    if has_cloud and (point_element is None or len(point_element) != len(cloud)):
        raise ValueError("the cloud's points need one element label each")
    if not 0 < root_points <= max_tile_points:
        raise ValueError("root_points must be positive and at most max_tile_points")
    max_tile_faces = MAX_TILE_FACES if max_tile_faces is None else max_tile_faces
    if max_tile_faces < 1:
        raise ValueError("max_tile_faces must be positive")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    compiled = compiled if compiled is not None else compile_layers(layers)

    world_bounds = [_bounds(m.world_vertices) for m, _ in levels.values()]
    if has_cloud:
        world_bounds.append(_bounds(cloud.world_xyz))
    if cloud_store is not None:
        world_bounds.extend(_store_bounds(cloud_store))
    lo, hi = _union(*world_bounds)
    frame, notes = placement_frame(crs, (lo + hi) / 2)
    placed = frame.transform is not None
    content_extras = {
        "crs": None,
        "axes": ("POSITION + origin = east, north, up metres from the tileset's "
                 "anchor (root.transform of tileset.json carries them to ECEF)" if placed else
                 "POSITION + origin = the model's own coordinates (no CRS)"),
    }
    paths: list[Path] = []

    def write(name: str, data: bytes) -> dict:
        path = folder / name
        atomic_write_bytes(path, data)
        paths.append(path)
        return {"uri": name}

    branches = []
    if levels:
        branches.append(_mesh_branch(levels, frame, layers, compiled, structure_id, content_extras, write,
                                     max_tile_faces))
    if has_cloud:
        branches.append(_cloud_branch(cloud, np.asarray(point_element), frame, layers, compiled, structure_id,
                                      content_extras, write, max_tile_points, root_points))
    if cloud_store is not None:
        branches.append(_store_branch(cloud_store, frame, layers, compiled, structure_id, content_extras, write,
                                      max_tile_points, root_points))
    box_lo, box_hi = _union(*(b.pop("_bounds") for b in branches))
    diagonal = float(np.linalg.norm(box_hi - box_lo))
    root: dict = {"boundingVolume": {"box": _box(box_lo, box_hi)}, "geometricError": diagonal, "refine": "ADD",
                  "children": branches}
    if placed:
        root = {"transform": [float(v) for v in frame.transform.flatten(order="F")], **root}
    extras: dict = {
        "structure": structure_id,
        "frame": ("east, north, up (metres) at the anchor; root.transform: ENU to ECEF (EPSG:4978)" if placed else
                  "the model's own coordinates: the survey has no CRS, so the tileset is not placed on the globe"),
        "anchor": [float(v) for v in frame.anchor] if placed else None,  # CRS coordinates of the frame's zero
        "crs": None if crs is None else {"name": crs.name, "epsg": crs.epsg, "wkt": crs.wkt},
        "featureIds": "_FEATURE_ID_0 of every content = row of its property table = the element's index in the "
                      "layer file",
    }
    doc = {"asset": {"version": "1.1", "generator": f"twin {twin.__version__}"}, "geometricError": diagonal,
           "root": root, "extras": extras}
    text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_bytes(folder / "tileset.json", text.encode("utf-8"))
    return Tileset([folder / "tileset.json", *paths], notes, doc)


def _submesh(mesh: TriMesh, faces: np.ndarray) -> TriMesh:
    """The faces ``faces`` of ``mesh`` with only the vertices they use (attributes kept)."""
    used, inverse = np.unique(mesh.faces[faces], return_inverse=True)
    part = TriMesh(mesh.vertices[used], inverse.reshape(-1, 3), mesh.origin)
    for name, values in mesh.vertex_attrs.items():
        part.vertex_attrs[name] = np.asarray(values)[used]
    for name, values in mesh.face_attrs.items():
        part.face_attrs[name] = np.asarray(values)[faces]
    return part


def _mesh_branch(levels: Mapping[str, tuple[TriMesh, np.ndarray]], frame: Frame, layers: LayerFile,
                 compiled: CompiledLayers, structure_id: str | None, content_extras: dict,
                 write: Callable[[str, bytes], dict], max_tile_faces: int = MAX_TILE_FACES) -> dict:
    """The mesh levels as a REPLACE chain, coarsest on top. A finest level of more than
    ``max_tile_faces`` faces is split in space (an octree over the faces' centres): its
    parent is replaced by those tiles, each with its own box, so a viewer close to one
    part of a large site loads only the tiles in view. Every face is in exactly one tile,
    whole (its vertices repeated where it borders another): no cracks, no doubled faces."""
    meshes = {}
    for name, (mesh, _) in levels.items():
        local = TriMesh(frame.local(mesh.world_vertices), mesh.faces)
        local.vertex_attrs["normals"] = local.vertex_normals_from_faces()  # the frame turned: recompute
        if "rgb" in mesh.vertex_attrs:
            local.vertex_attrs["rgb"] = mesh.vertex_attrs["rgb"]
        meshes[name] = local
    order = sorted(meshes, key=lambda n: meshes[n].n_faces, reverse=True)  # finest first
    order_all = list(order)
    finest = meshes[order[0]]
    errors, deviations = [0.0], [0.0]
    for name in order[1:]:
        deviations.append(surface_deviation(meshes[name], finest))
        errors.append(max(deviations[-1], mean_edge_length(meshes[name]) / 2, errors[-1]))
    bounds = _union(*(_bounds(m.vertices) for m in meshes.values()))  # every tile of the chain: one box
    children: list[dict] = []
    if finest.n_faces > max_tile_faces:
        name, labels = order[0], np.asarray(levels[order[0]][1])
        centres = finest.vertices[finest.faces].mean(axis=1)
        for i, faces in enumerate(octree_cells(centres, max_tile_faces)):
            faces = np.sort(faces)
            part = _submesh(finest, faces)
            content = write(f"mesh-{name}-{i:04d}.glb",
                            glb_bytes(part, labels[faces], layers, compiled, structure_id=structure_id,
                                      level=f"{name} {i}", extras=content_extras))
            children.append({"boundingVolume": {"box": _box(*_bounds(part.vertices))}, "geometricError": 0.0,
                             "content": content, "extras": {"level": name, "part": i, "faces": part.n_faces}})
        order, errors, deviations = order[1:], errors[1:], deviations[1:]
    for name, error, deviation in zip(order, errors, deviations, strict=True):
        mesh = meshes[name]
        content = write(f"mesh-{name}.glb", glb_bytes(mesh, levels[name][1], layers, compiled,
                                                      structure_id=structure_id, level=name, extras=content_extras))
        tile = {"boundingVolume": {"box": _box(*bounds)}, "geometricError": error, "refine": "REPLACE",
                "content": content,
                "extras": {"level": name, "faces": mesh.n_faces, "meanEdgeLength": mean_edge_length(mesh),
                           "deviationFromFinest": deviation}}
        if children:
            tile["children"] = children
        children = [tile]
    if len(children) > 1:  # the finest level alone, in parts: a tile without content holds them
        children = [{"boundingVolume": {"box": _box(*bounds)},  # the error of drawing nothing
                     "geometricError": float(np.linalg.norm(bounds[1] - bounds[0])), "refine": "ADD",
                     "children": children, "extras": {"level": order_all[0], "faces": finest.n_faces}}]
    children[0]["_bounds"] = bounds
    return children[0]


def _cloud_branch(cloud: PointCloud, element: np.ndarray, frame: Frame, layers: LayerFile, compiled: CompiledLayers,
                  structure_id: str | None, content_extras: dict, write: Callable[[str, bytes], dict],
                  max_tile_points: int,
                  root_points: int) -> dict:
    """The cloud: one tile when small, else a thinned root replaced by full-resolution octree cells."""
    from twin.ops.spacing import point_spacing  # noqa: PLC0415

    xyz = frame.local(cloud.world_xyz)
    rgb = cloud.attrs.get("rgb")

    def content(name: str, index: np.ndarray | None, level: str) -> dict:
        pick = (lambda a: a) if index is None else (lambda a: a[index])  # noqa: E731
        return _points_content(write, name, pick(xyz), None if rgb is None else pick(rgb), pick(element), level,
                               layers, compiled, structure_id, content_extras)

    bounds = _bounds(xyz)
    if len(xyz) <= root_points:
        return {"boundingVolume": {"box": _box(*bounds)}, "geometricError": 0.0, "refine": "REPLACE",
                "content": content("cloud-root.glb", None, "cloud"), "extras": {"points": len(xyz)}, "_bounds": bounds}
    spacing = point_spacing(xyz)
    coarse = thin(xyz, root_points, spacing)
    coarse_spacing = point_spacing(xyz[coarse])
    children = []
    for i, index in enumerate(octree_cells(xyz, max_tile_points)):
        children.append({"boundingVolume": {"box": _box(*_bounds(xyz[index]))}, "geometricError": 0.0,
                         "content": content(f"cloud-{i:04d}.glb", index, f"cloud {i}"),
                         "extras": {"points": len(index)}})
    return {"boundingVolume": {"box": _box(*bounds)}, "geometricError": coarse_spacing, "refine": "REPLACE",
            "content": content("cloud-root.glb", coarse, "cloud (thinned)"),
            "extras": {"points": len(coarse), "spacing": coarse_spacing, "fullResolutionSpacing": spacing,
                       "fullResolutionPoints": len(xyz)},
            "children": children, "_bounds": bounds}


def _points_content(write: Callable[[str, bytes], dict], name: str, xyz: np.ndarray, rgb: np.ndarray | None,
                    labels: np.ndarray, level: str, layers: LayerFile, compiled: CompiledLayers,
                    structure_id: str | None, content_extras: dict) -> dict:
    """One point content: ``xyz`` (tileset frame) with their colours and element labels."""
    part = PointCloud(xyz, attrs={} if rgb is None else {"rgb": rgb})
    return write(name, points_glb_bytes(part, labels, layers, compiled, structure_id=structure_id, level=level,
                                        extras=content_extras))


def _store_branch(store, frame: Frame, layers: LayerFile, compiled: CompiledLayers, structure_id: str | None,
                  content_extras: dict, write: Callable[[str, bytes], dict], max_tile_points: int,
                  root_points: int) -> dict:
    """The cloud of a tile store: a thinned root over one content per store tile (its
    points without a flag, labelled as they are read), a tile at a time in memory."""
    from twin.ops.labelling import label_points  # noqa: PLC0415
    from twin.ops.spacing import point_spacing  # noqa: PLC0415

    origin = np.asarray(store.layout.origin, dtype=np.float64)
    counts = {key: store.records[key].points for key in store.keys}
    total = max(sum(counts.values()), 1)

    def content(name: str, xyz: np.ndarray, rgb: np.ndarray | None, labels: np.ndarray, level: str) -> dict:
        return _points_content(write, name, xyz, rgb, labels, level, layers, compiled, structure_id, content_extras)

    children, sample, kept, spacings = [], [], 0, []
    for key in store.keys:
        arrays = store.arrays(key)
        keep = arrays["flags"] == 0 if "flags" in arrays else np.ones(len(arrays["xyz"]), dtype=bool)
        if not keep.any():
            continue
        local = np.asarray(arrays["xyz"])[keep]
        labels = label_points(compiled, local, origin)
        xyz = frame.local(local + origin)
        rgb = np.asarray(arrays["rgb"])[keep] if "rgb" in arrays else None
        cells = octree_cells(xyz, max_tile_points) if len(xyz) > max_tile_points else [np.arange(len(xyz))]
        for j, index in enumerate(cells):
            suffix = f"{key[0]}_{key[1]}" + (f"-{j}" if len(cells) > 1 else "")
            children.append({"boundingVolume": {"box": _box(*_bounds(xyz[index]))}, "geometricError": 0.0,
                             "content": content(f"cloud-{suffix}.glb", xyz[index],
                                                None if rgb is None else rgb[index], labels[index], f"cloud {suffix}"),
                             "extras": {"points": len(index), "storeTile": list(key)}})
        spacing = point_spacing(xyz)
        spacings.append(spacing)
        budget = max(1, int(root_points * counts[key] / total))
        pick = thin(xyz, budget, spacing) if len(xyz) > budget else np.arange(len(xyz))
        sample.append((xyz[pick], None if rgb is None else rgb[pick], labels[pick]))
        kept += len(xyz)
    if not children:
        raise ValueError("the tile store has no point without a flag")
    xyz = np.concatenate([s[0] for s in sample])
    rgb = None if any(s[1] is None for s in sample) else np.concatenate([s[1] for s in sample])
    labels = np.concatenate([s[2] for s in sample])
    coarse_spacing = point_spacing(xyz)
    bounds = _union(*(_bounds(xyz), *(tuple(_corners(c["boundingVolume"]["box"])) for c in children)))
    return {"boundingVolume": {"box": _box(*bounds)}, "geometricError": coarse_spacing, "refine": "REPLACE",
            "content": content("cloud-root.glb", xyz, rgb, labels, "cloud (thinned)"),
            "extras": {"points": len(xyz), "spacing": coarse_spacing,
                       "fullResolutionSpacing": float(np.median(spacings)), "fullResolutionPoints": kept,
                       "source": "tile store (twin tiles): every station's points, outliers left out"},
            "children": children, "_bounds": bounds}


def _corners(box: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The axis-aligned lo and hi of a box written by :func:`_box`."""
    centre, half = np.asarray(box[:3]), np.abs(np.asarray(box[3:]).reshape(3, 3)).sum(axis=0)
    return centre - half, centre + half

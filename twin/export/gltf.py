"""Meshes as GLB (binary glTF 2.0) with their elements as features and the layers as metadata.

**Coordinates.** Vertices are written as float32 *local* coordinates in the axes of the
structure's CRS (x east, y north, z up); a point's georeferenced coordinates are
``origin + POSITION``, the float64 origin being ``asset.extras.origin`` (JSON numbers are
doubles, so it is exact). glTF is y-up: the node that holds the mesh turns z-up into y-up
(-90° about x), and the root node above it carries the origin turned y-up
(``translation = (x, z, -y)`` of the origin), so glTF's world coordinates are the CRS's
turned y-up. The large translation sits in the root, above the rotation, never below it:
a viewer that keeps transforms in float32 (Blender does) turns a rotation of -90° into a
matrix with 1.3e-7 where 0 belongs and 1.0000001 where 1 does, and a UTM northing of
1,821,000 m under it put the model 24 cm too low and 25 cm too far north. The CRS (EPSG
code, WKT, an OGC URN), the origin and this axis convention are recorded in
``asset.extras``; the extras of the node that turns the axes repeat the structure, level,
CRS and origin (Blender shows them as the custom properties of an empty). When a mesh's local coordinates
reach further than :data:`MAX_LOCAL` from its origin, the writer moves the origin (rounded
to 100 m) to the mesh so float32 keeps well under a millimetre.

**Features.** Labels are per face (:func:`twin.ops.labelling.label_faces`); a vertex
shared by faces of two elements is written once per element, so that every triangle
has one feature id and no id is ever interpolated across a boundary. The per-vertex id
is the element's index in the layer file, in ``_FEATURE_ID_0`` (EXT_mesh_features);
unlabelled faces get ``nullFeatureId`` (the number of elements).

**One node per element.** The faces of each element are a mesh of their own, under a node
named by the element's id whose extras give its name, class, phases and materials (the
primary ones and all of them, as flat text) and knowledge status; the unlabelled faces are
the node ``unlabelled``. An editor that ignores the extensions (Blender 3.4 drops
EXT_mesh_features and EXT_structural_metadata) still shows one object per element with
its phase and material as custom properties; CesiumJS reads the same features either way.

**Clean geometry.** Faces with two corners at one place (degenerate) and faces whose three
corners are those of an earlier face, in any order or winding (duplicates: Blender and
other editors report them, and they z-fight), are left out (:func:`redundant_faces`); the
count is recorded in ``asset.extras.facesLeftOut``.

**Colour.** A mesh vertex's ``rgb`` becomes ``COLOR_0``; :func:`vertex_colours_from_cloud`
gives a mesh the colour of the scans (each vertex that of its nearest cloud point). Scan
colours are sRGB bytes and glTF's ``COLOR_0`` is linear light, so they are written
linearised (:func:`srgb_to_linear`) as normalised 16-bit values, which turn back into the
same bytes: written as they were, Blender showed a scan's 84 grey as 155.

**Metadata.** EXT_structural_metadata holds one property table with a row per element
(unions included: they have rows but no geometry): id, name, CIDOC-CRM/CRMba class,
knowledge status and sources, stability, phases (ids, types, EDTF dates), materials
(ids, labels, Getty AAT URIs) and the primary phase and material that the per-point
exports carry. The binary layout follows the 3D Metadata Specification (strings as UTF-8
with UINT32 offsets, arrays of strings with array offsets into the string offsets,
booleans as a bitstream, enums as UINT16). Buffer views are 8-byte aligned.

**Points.** :func:`points_glb_bytes` writes a labelled cloud the same way: one POINTS
primitive, the element of each point in ``_FEATURE_ID_0``, the same property table (the
3D Tiles export uses both for its tile contents, see :mod:`twin.export.tiles3d`).

The Khronos glTF-Validator checks the core format (the two extensions are Cesium's and
it reports them as unsupported, an informational note); ``tools/validate_gltf.mjs`` runs
it.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

import twin
from twin.catalog.store import atomic_write_bytes
from twin.export.labelled import legend
from twin.models.layers import ELEMENT_CLASSES, KNOWLEDGE_STATUSES, LayerFile
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud, choose_origin
from twin.models.scan import CRSInfo
from twin.ops.labelling import CompiledLayers, compile_layers, label_faces

MAX_LOCAL = 2000.0  # metres: float32 spacing there is 0.12 mm
_Z_UP_TO_Y_UP = [-float(np.sqrt(0.5)), 0.0, 0.0, float(np.sqrt(0.5))]  # quaternion x, y, z, w: -90° about x

_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def write_glb(mesh: TriMesh, path: Path, layers: LayerFile, *, compiled: CompiledLayers | None = None,
              face_element: np.ndarray | None = None, crs: CRSInfo | None = None, structure_id: str | None = None,
              level: str | None = None) -> Path:
    """Write one mesh as a GLB with EXT_mesh_features and EXT_structural_metadata, atomically.

    ``face_element`` are the faces' element labels (int, -1 = none); by default the faces
    are labelled here with ``compiled`` (compiled from ``layers`` when not given).
    """
    path = Path(path)
    compiled = compiled if compiled is not None else compile_layers(layers)
    if not mesh.n_faces:
        raise ValueError(f"{path.name}: the mesh has no faces; there is nothing to write as glTF")
    if face_element is None:
        face_element = label_faces(compiled, mesh)
    face_element = np.asarray(face_element)
    if face_element.shape != (mesh.n_faces,):
        raise ValueError(f"{len(face_element)} face labels for {mesh.n_faces} faces")
    atomic_write_bytes(path, glb_bytes(mesh, face_element, layers, compiled, crs=crs, structure_id=structure_id,
                                       level=level))
    return path


def write_glb_levels(levels: Mapping[str, TriMesh], out_dir: Path, layers: LayerFile, *, stem: str,
                     compiled: CompiledLayers | None = None, face_elements: Mapping[str, np.ndarray] | None = None,
                     crs: CRSInfo | None = None, structure_id: str | None = None) -> dict[str, Path]:
    """One GLB per level of detail, ``<out_dir>/<stem>-<level>.glb``; returns level → path."""
    compiled = compiled if compiled is not None else compile_layers(layers)
    out: dict[str, Path] = {}
    for name, mesh in levels.items():
        if not _LEVEL.match(name):
            raise ValueError(f"level name {name!r} cannot be part of a file name")
        out[name] = write_glb(mesh, Path(out_dir) / f"{stem}-{name}.glb", layers, compiled=compiled,
                              face_element=None if face_elements is None else face_elements.get(name),
                              crs=crs, structure_id=structure_id, level=name)
    return out


# -- geometry -------------------------------------------------------------------------------


def redundant_faces(vertices: np.ndarray, faces: np.ndarray,
                    resolution: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the faces to leave out: ``(degenerate, duplicate)``.

    Corners are compared by position, not index, on a grid of ``resolution`` (1 µm): two
    vertices in one cell are one corner, as an editor that merges by distance sees them.
    Pass the coordinates as they will be written (float32 in a GLB, where vertices a few
    microns apart meet). A face is *degenerate* when two of its corners coincide, a
    *duplicate* when its three corners are those of an earlier face in any order or winding
    (the first one is kept).
    """
    faces = np.asarray(faces, dtype=np.int64)
    if not len(faces):
        empty = np.zeros(0, dtype=bool)
        return empty, empty
    cells = np.round(np.asarray(vertices, dtype=np.float64) / resolution).astype(np.int64)
    _, place = np.unique(cells, axis=0, return_inverse=True)
    corners = np.sort(place.reshape(-1)[faces], axis=1)
    degenerate = (corners[:, 0] == corners[:, 1]) | (corners[:, 1] == corners[:, 2])
    _, first = np.unique(corners, axis=0, return_index=True)
    duplicate = np.ones(len(faces), dtype=bool)
    duplicate[first] = False
    return degenerate, duplicate & ~degenerate


def vertex_colours_from_cloud(mesh: TriMesh, cloud: PointCloud) -> np.ndarray | None:
    """The ``rgb`` (uint8, one row per vertex) of each mesh vertex's nearest cloud point;
    None when the cloud has no colour or no points."""
    rgb = cloud.attrs.get("rgb")
    if rgb is None or not len(cloud) or not len(mesh.vertices):
        return None
    from scipy.spatial import cKDTree  # noqa: PLC0415

    _, nearest = cKDTree(cloud.xyz).query(mesh.vertices + (mesh.origin - cloud.origin), workers=-1)
    return np.asarray(rgb, dtype=np.uint8)[nearest]


def split_by_face_labels(faces: np.ndarray, face_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give every (vertex, label) pair its own vertex so each triangle has a single label.

    Returns ``(source_vertex, vertex_label, new_faces)``: the new vertices are copies of
    ``source_vertex``; vertices no face uses are dropped.
    """
    labels = np.asarray(face_labels, dtype=np.int64)
    span = int(labels.max()) + 2  # labels from -1
    key = faces.astype(np.int64).ravel() * span + np.repeat(labels + 1, 3)
    unique, inverse = np.unique(key, return_inverse=True)
    return unique // span, (unique % span - 1).astype(np.int64), inverse.reshape(-1, 3).astype(np.uint32)


def _float32_frame(vertices: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 local coordinates and the float64 origin they are relative to."""
    if len(vertices) and np.abs(vertices).max() > MAX_LOCAL:
        new_origin = choose_origin(vertices.min(axis=0) + origin)
        vertices = vertices + (origin - new_origin)
        origin = new_origin
    return vertices.astype(np.float32), origin


# -- binary buffer ----------------------------------------------------------------------------


class _Buffer:
    """The GLB binary chunk: buffer views appended 8-byte aligned, and accessors over them."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.length = 0
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, data: bytes, target: int | None = None) -> int:
        pad = -self.length % 8
        if pad:
            self.parts.append(b"\0" * pad)
            self.length += pad
        view = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.parts.append(data)
        self.length += len(data)
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, component: int, kind: str, target: int | None, minmax: bool = False,
                 normalized: bool = False) -> int:
        array = np.ascontiguousarray(array)
        item = array.itemsize * (array.shape[1] if array.ndim > 1 else 1)
        stride = None
        if target == _ARRAY_BUFFER and item % 4:
            # vertex attributes must start on 4-byte boundaries: pad each value to a 4-byte slot
            stride = -(-item // 4) * 4
            padded = np.zeros((len(array), stride), dtype=np.uint8)
            padded[:, :item] = array.view(np.uint8).reshape(len(array), item)
            view = self.view(padded.tobytes(), target)
            self.views[view]["byteStride"] = stride
        else:
            view = self.view(array.tobytes(), target)
        acc = {"bufferView": view, "componentType": component, "count": len(array), "type": kind}
        if normalized:
            acc["normalized"] = True
        if minmax:
            values = array.reshape(len(array), -1)
            acc["min"] = [v.item() for v in values.min(axis=0)]
            acc["max"] = [v.item() for v in values.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def data(self) -> bytes:
        return b"".join(self.parts)


# -- the property table (3D Metadata binary table format) ------------------------------------------


def _strings(buf: _Buffer, values: list[str]) -> dict:
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in encoded])]).astype("<u4")
    return {"values": buf.view(b"".join(encoded)), "stringOffsets": buf.view(offsets.tobytes()),
            "stringOffsetType": "UINT32"}


def _string_arrays(buf: _Buffer, rows: list[list[str]]) -> dict:
    prop = _strings(buf, [s for row in rows for s in row])
    # array offsets count strings (indices into stringOffsets), not bytes
    array_offsets = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype("<u4")
    prop.update(arrayOffsets=buf.view(array_offsets.tobytes()), arrayOffsetType="UINT32")
    return prop


def _booleans(buf: _Buffer, values: list[bool]) -> dict:
    return {"values": buf.view(np.packbits(np.array(values, dtype=bool), bitorder="little").tobytes())}


def _enums(buf: _Buffer, values: list[str], names: tuple[str, ...]) -> dict:
    return {"values": buf.view(np.array([names.index(v) for v in values], dtype="<u2").tobytes())}


def _metadata(buf: _Buffer, table: dict) -> dict:
    """The root EXT_structural_metadata object: schema and one property table of elements.

    A column with no bytes at all (no element has a description, no element is a group)
    is left out of the table: buffer views cannot be empty, and an omitted optional
    property simply has no value.
    """
    phases = {p["id"]: p for p in table["phases"]}
    materials = {m["id"]: m for m in table["materials"]}
    rows = table["elements"]

    def text(key: str) -> list[str]:
        return [row[key] or "" for row in rows]

    def per_phase(key: str) -> list[list[str]]:
        return [[phases[p][key] for p in row["phases"]] for row in rows]

    def per_material(key: str) -> list[list[str]]:
        return [[materials[m][key] for m in row["materials"]] for row in rows]

    string, strings = {"type": "STRING"}, {"type": "STRING", "array": True}
    # property id -> (definition, encoder, values)
    spec = {
        "id": ({**string, "required": True, "description": "the element's id in the layer file"},
               _strings, text("id")),
        "name": ({**string, "required": True}, _strings, text("name")),
        "crmClass": ({"type": "ENUM", "enumType": "crmClass", "required": True,
                      "description": "CIDOC-CRM / CRMba class"},
                     lambda b, v: _enums(b, v, ELEMENT_CLASSES), text("class")),
        "knowledge": ({"type": "ENUM", "enumType": "knowledge", "required": True,
                       "description": "how the element is known, after the London Charter"},
                      lambda b, v: _enums(b, v, KNOWLEDGE_STATUSES), text("knowledge")),
        "knowledgeSources": ({**strings, "description": "the sources the knowledge status rests on"},
                             _string_arrays, [row["knowledge_sources"] for row in rows]),
        "stable": ({"type": "BOOLEAN", "description": "expected not to move between surveys"},
                   _booleans, [row["stable"] for row in rows]),
        "description": ({**string, "noData": ""}, _strings, text("description")),
        "members": ({**strings, "description": "for a group (union): the ids of its member elements"},
                    _string_arrays, [row["members"] for row in rows]),
        "phases": ({**strings, "description": "ids of the phases that hold for the element (own, then its groups')"},
                   _string_arrays, [row["phases"] for row in rows]),
        "phaseTypes": ({**strings, "description": "the type of each phase: construction, restoration, ..."},
                       _string_arrays, per_phase("type")),
        "phaseDates": ({**strings, "description": "the EDTF date of each phase"}, _string_arrays, per_phase("date")),
        "materials": ({**strings, "description": "ids of its materials (own, then its groups')"},
                      _string_arrays, [row["materials"] for row in rows]),
        "materialLabels": ({**strings, "description": "the label of each material"},
                           _string_arrays, per_material("label")),
        "materialAat": ({**strings, "description": "the Getty AAT URI of each material"},
                        _string_arrays, per_material("aat")),
        "primaryPhase": ({**string, "noData": "", "description": "the phase that built the fabric (per-point labels)"},
                         _strings, text("primary_phase")),
        "primaryMaterial": ({**string, "noData": "", "description": "the first material (per-point labels)"},
                            _strings, text("primary_material")),
    }
    properties, columns = {}, {}
    for key, (definition, encode, values) in spec.items():
        flat = [x for v in values for x in (v if isinstance(v, list) else [v])]
        if definition["type"] == "STRING" and not any(flat):
            continue
        properties[key] = definition
        if rows:  # no elements (a model without layers): the class, and no table (its columns would be empty)
            columns[key] = encode(buf, values)
    enum = lambda names: {"values": [{"name": n, "value": i} for i, n in enumerate(names)]}  # noqa: E731
    return {
        "schema": {
            "id": "twin_layers",
            "name": "twin layers",
            "description": "Elements of a heritage structure with their phases and materials",
            "enums": {"crmClass": enum(ELEMENT_CLASSES), "knowledge": enum(KNOWLEDGE_STATUSES)},
            "classes": {"element": {"name": "Element", "properties": properties}},
        },
        **({"propertyTables": [{"name": "elements", "class": "element", "count": len(rows), "properties": columns}]}
           if rows else {}),
    }


# -- the document -------------------------------------------------------------------------------


def _crs_extras(crs: CRSInfo | None) -> dict | None:
    if crs is None:
        return None
    out = {"name": crs.name, "epsg": crs.epsg, "wkt": crs.wkt}
    if crs.epsg is not None:
        out["urn"] = f"urn:ogc:def:crs:EPSG::{crs.epsg}"
    return out


def _node_extras(structure_id: str | None, level: str | None, crs: CRSInfo | None, origin: list[float]) -> dict:
    """What a viewer keeps of the placement where it drops the asset's extras (Blender: custom
    properties of the mesh's object): flat values, none of them null."""
    out = {"structure": structure_id, "level": level,
           "crs": None if crs is None else (f"EPSG:{crs.epsg}" if crs.epsg is not None else crs.name),
           "origin": origin}
    return {k: v for k, v in out.items() if v is not None}


def glb_bytes(mesh: TriMesh, face_element: np.ndarray, layers: LayerFile, compiled: CompiledLayers | None = None,
              *, crs: CRSInfo | None = None, structure_id: str | None = None, level: str | None = None,
              extras: Mapping | None = None) -> bytes:
    """The GLB file for a mesh and its faces' element labels (int, -1 = none).

    ``extras`` replace or add entries of ``asset.extras`` (a 3D Tiles content says in which
    frame its coordinates are, instead of the CRS's).
    """
    table = legend(layers, compiled)
    n_elements = len(table["elements"])
    face_element = _checked_labels(face_element, n_elements, "face")
    every_local, origin = _float32_frame(mesh.vertices, mesh.origin)
    degenerate, duplicate = redundant_faces(every_local, mesh.faces)  # as written: float32 corners can meet
    keep = ~(degenerate | duplicate)
    if not keep.any():
        raise ValueError("every face of the mesh is degenerate; there is nothing to write as glTF")
    source, vertex_label, faces = split_by_face_labels(mesh.faces[keep], face_element[keep])
    local = every_local[source]
    normals = mesh.vertex_attrs.get("normals")
    unit = None
    if normals is not None:
        n = np.asarray(normals, dtype=np.float64)[source]
        length = np.linalg.norm(n, axis=1, keepdims=True)
        unit = np.divide(n, length, out=np.tile([0.0, 0.0, 1.0], (len(n), 1)), where=length > 0)  # glTF: unit length

    buf = _Buffer()
    face_label = vertex_label[faces[:, 0]]
    order = np.argsort(face_label, kind="stable")  # faces grouped by element once, not masked per element
    labels, starts = np.unique(face_label[order], return_index=True)
    parts = []
    for label, group in zip(labels, np.split(order, starts[1:]), strict=True):  # the unlabelled faces first
        used, corners = np.unique(faces[group], return_inverse=True)
        attributes = {"POSITION": buf.accessor(local[used], _FLOAT, "VEC3", _ARRAY_BUFFER, minmax=True)}
        if unit is not None:
            attributes["NORMAL"] = buf.accessor(unit[used].astype(np.float32), _FLOAT, "VEC3", _ARRAY_BUFFER)
        _colours(buf, attributes, mesh.vertex_attrs.get("rgb"), source[used])
        primitive: dict = {"attributes": attributes, "mode": 4, "material": 0}
        _feature_ids(buf, primitive, vertex_label[used], n_elements)
        primitive["indices"] = buf.accessor(corners.ravel().astype(np.uint32), _UINT, "SCALAR", _ELEMENT_ARRAY_BUFFER)
        parts.append((primitive, int(label)))
    material = {"name": "surface", "doubleSided": True,
                "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.8, 0.8, 1.0], "metallicFactor": 0.0,
                                         "roughnessFactor": 1.0}}
    left_out = {"degenerate": int(degenerate.sum()), "duplicate": int(duplicate.sum())}
    extras = {"facesLeftOut": left_out, **(extras or {})}
    return _document(buf, parts, material, origin, layers, table, crs=crs, structure_id=structure_id,
                     level=level, extras=extras)


def points_glb_bytes(cloud: PointCloud, point_element: np.ndarray, layers: LayerFile,
                     compiled: CompiledLayers | None = None, *, crs: CRSInfo | None = None,
                     structure_id: str | None = None, level: str | None = None, extras: Mapping | None = None) -> bytes:
    """The GLB file for a labelled point cloud: one POINTS primitive, the element of each
    point in ``_FEATURE_ID_0`` (EXT_mesh_features), the same property table as the meshes'.

    The cloud's ``rgb`` becomes COLOR_0. Coordinates as for meshes: float32 local, the
    float64 origin in the node's translation.
    """
    table = legend(layers, compiled)
    n_elements = len(table["elements"])
    point_element = _checked_labels(point_element, n_elements, "point")
    if len(point_element) != len(cloud):
        raise ValueError(f"{len(point_element)} point labels for {len(cloud)} points")
    if not len(cloud):
        raise ValueError("the cloud has no points; there is nothing to write as glTF")
    local, origin = _float32_frame(cloud.xyz, cloud.origin)
    buf = _Buffer()
    attributes = {"POSITION": buf.accessor(local, _FLOAT, "VEC3", _ARRAY_BUFFER, minmax=True)}
    _colours(buf, attributes, cloud.attrs.get("rgb"), None)
    primitive: dict = {"attributes": attributes, "mode": 0, "material": 0}
    _feature_ids(buf, primitive, point_element, n_elements)
    material = {"name": "points", "pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 1.0],
                                                           "metallicFactor": 0.0, "roughnessFactor": 1.0}}
    return _document(buf, [(primitive, None)], material, origin, layers, table, crs=crs, structure_id=structure_id,
                     level=level, extras=extras)


def _checked_labels(labels: np.ndarray, n_elements: int, what: str) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < -1 or labels.max() >= n_elements):
        raise ValueError(f"{what} labels must lie in -1..{n_elements - 1}")
    return labels


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB bytes (0-255) as linear light (0-1, float64), the IEC 61966-2-1 transfer function."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _colours(buf: _Buffer, attributes: dict, rgb: np.ndarray | None, source: np.ndarray | None) -> None:
    """``COLOR_0`` from sRGB bytes: linear light, normalised UNSIGNED_SHORT (8 bits would lose the darks)."""
    if rgb is not None:
        rgb = np.asarray(rgb, dtype=np.uint8)
        linear = np.round(srgb_to_linear(rgb if source is None else rgb[source]) * 65535.0).astype("<u2")
        attributes["COLOR_0"] = buf.accessor(linear, _USHORT, "VEC3", _ARRAY_BUFFER, normalized=True)


def _feature_ids(buf: _Buffer, primitive: dict, vertex_label: np.ndarray, n_elements: int) -> None:
    """``_FEATURE_ID_0`` per vertex and the primitive's EXT_mesh_features (nothing when no
    vertex has an element): the id is the element's row, ``nullFeatureId`` one past the last."""
    null_id = n_elements
    present = np.unique(vertex_label[vertex_label >= 0])
    if not len(present):
        return
    ids = np.where(vertex_label < 0, null_id, vertex_label)
    attributes = primitive["attributes"]
    if null_id <= 0xFF:
        attributes["_FEATURE_ID_0"] = buf.accessor(ids.astype(np.uint8), _UBYTE, "SCALAR", _ARRAY_BUFFER)
    elif null_id <= 0xFFFF:
        attributes["_FEATURE_ID_0"] = buf.accessor(ids.astype("<u2"), _USHORT, "SCALAR", _ARRAY_BUFFER)
    elif null_id < 2**24:  # exact in float32
        attributes["_FEATURE_ID_0"] = buf.accessor(ids.astype("<f4"), _FLOAT, "SCALAR", _ARRAY_BUFFER)
    else:
        raise ValueError(f"{n_elements} elements are more than glTF feature ids can hold here")
    feature = {"featureCount": int(len(present)), "attribute": 0, "propertyTable": 0, "label": "element"}
    if (vertex_label < 0).any():
        feature["nullFeatureId"] = null_id
    primitive["extensions"] = {"EXT_mesh_features": {"featureIds": [feature]}}


def _element_extras(row: dict) -> dict:
    """An element's node extras: flat text and numbers, none of them null (Blender keeps them
    as custom properties)."""
    out = {"element": row["id"], "name": row["name"], "class": row["class"], "knowledge": row["knowledge"],
           "phase": row["primary_phase"], "material": row["primary_material"],
           "phases": ", ".join(row["phases"]), "materials": ", ".join(row["materials"]), "value": row["value"]}
    return {k: v for k, v in out.items() if v not in (None, "")}


def _document(buf: _Buffer, parts: list[tuple[dict, int | None]], material: dict, origin: np.ndarray,
              layers: LayerFile, table: dict, *, crs: CRSInfo | None, structure_id: str | None, level: str | None,
              extras: Mapping | None) -> bytes:
    """The glTF document around ``parts`` ((primitive, element index or -1 for unlabelled,
    or None for a part that is not one element's)): the property table, the root node (its
    translation: the origin turned y-up), the node that turns z-up to y-up, and under it a
    node and mesh per part; the asset's extras; packed as GLB."""
    metadata = _metadata(buf, table)
    name = " ".join(x for x in (structure_id, level) if x) or "mesh"
    rows = table["elements"]
    named = [(name, None) if label is None else ("unlabelled", None) if label < 0
             else (rows[label]["id"], _element_extras(rows[label])) for _, label in parts]
    x, y, z = (float(v) for v in origin)
    asset_extras = {
        "origin": [x, y, z],
        "crs": _crs_extras(crs),
        "axes": "POSITION + origin = CRS coordinates (x east, y north, z up, metres); the node holding the mesh "
                "turns them y-up for glTF and the root node's translation is the origin turned y-up (x, z, -y)",
        "structure": structure_id,
        "level": level,
        "featureIds": "_FEATURE_ID_0 = index of the element in the layer file (row of property table 0)",
        **(extras or {}),
    }
    asset_extras["metadata"] = layers.metadata.model_dump(mode="json", exclude_none=True)  # Dublin Core
    asset = {"version": "2.0", "generator": f"twin {twin.__version__}", "extras": asset_extras}
    if layers.metadata.rights:
        asset["copyright"] = layers.metadata.rights
    doc = {
        "asset": asset,
        "extensionsUsed": ["EXT_mesh_features", "EXT_structural_metadata"],
        "extensions": {"EXT_structural_metadata": metadata},
        "scene": 0,
        "scenes": [{"name": name, "nodes": [0]}],
        "nodes": [
            {"name": f"{name} (origin, y-up)", "translation": [x, z, 0.0 - y], "children": [1]},
            {"name": f"{name} (CRS axes)", "rotation": _Z_UP_TO_Y_UP, "children": list(range(2, 2 + len(parts))),
             "extras": _node_extras(structure_id, level, crs, [x, y, z])},
            *({"name": part_name, "mesh": k, **({"extras": part_extras} if part_extras else {})}
              for k, (part_name, part_extras) in enumerate(named)),
        ],
        "meshes": [{"name": f"{name} {part_name}" if part_name != name else name, "primitives": [primitive]}
                   for (primitive, _), (part_name, _) in zip(parts, named, strict=True)],
        "materials": [material],
        "accessors": buf.accessors,
        "bufferViews": buf.views,
        "buffers": [{"byteLength": buf.length}],
    }
    return _glb(doc, buf.data())


def _glb(doc: dict, binary: bytes) -> bytes:
    """The GLB container: 12-byte header, a JSON chunk (space-padded), a BIN chunk (zero-padded)."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join([
        struct.pack("<4sII", b"glTF", 2, total),
        struct.pack("<I4s", len(text), b"JSON"), text,
        struct.pack("<I4s", len(binary), b"BIN\0"), binary,
    ])


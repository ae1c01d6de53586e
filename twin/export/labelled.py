"""Clouds and meshes with their labels as attributes (PLY, LAS/LAZ), and the legend that
says what each label value means.

Every exported point (or mesh vertex, or mesh face) carries three int32 attributes:

``element``
    the index of the element it lies in (:attr:`CompiledLayers.element_ids`), -1 = none;
``phase``
    the phase that built the fabric there (:meth:`CompiledLayers.phase_of`), -1 = none;
``material``
    the element's first material (:meth:`CompiledLayers.material_of`), -1 = none.

An element usually has several phases and materials; a single value per point can only
name one. The legend (:func:`legend`, written as JSON and CSV by :func:`write_legend`)
lists every element with all of its phases and materials (its own and its unions'), every
phase with its EDTF date and its earliest/latest day, and every material with its Getty
AAT URI, so that nothing the layers say is lost.

The files are written for the programs that open them, not only for twin:

**PLY** (binary): ``double`` x/y/z in the CRS itself (no origin to add: CloudCompare
offers its global shift on opening, Open3D and trimesh read the coordinates as they are),
normals and colours where the model has them, and the labels as ``int`` properties
named ``scalar_element``, ``scalar_phase`` and ``scalar_material`` (:data:`PLY_LABELS`):
CloudCompare loads only vertex properties named ``scalar_*``, as the scalar fields
``element``, ``phase`` and ``material``. Faces carry the same three. The header's
comments name the CRS and the legend.

**LAS/LAZ** 1.4 (point format 6, or 7 with colour): LAS offsets = the model's origin,
0.1 mm scale; the labels are extra bytes with a description and ``-1`` declared as
their no-data value (the options bit and the ``no_data`` field of the Extra Bytes
record); the CRS is an OGC WKT1 record (``WKT1_GDAL``, what LAS 1.4 readers expect, the
global encoding's WKT bit set); the generating software is ``twin <version>``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

import twin
from twin.catalog.store import atomic_target, atomic_write_bytes
from twin.io.las import write_points
from twin.io.las_meta import (  # shared with the COPC writer; LAS_DESCRIPTIONS and NO_DATA re-exported
    LABEL_ATTRIBUTES,
    LAS_DESCRIPTIONS,
    NO_DATA,
    extra_bytes_params,
    las_wkt,
    stamp_header,
)
from twin.models.layers import LayerFile, UnionRegion, effective_links, region_kind
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.models.scan import CRSInfo
from twin.ops.labelling import NO_LABEL, CompiledLayers, compile_layers, label_faces, label_points

PLY_LABELS = {name: f"scalar_{name}" for name in LABEL_ATTRIBUTES}  # CloudCompare keeps only scalar_* properties
LEGEND_CSV_COLUMNS = ("attribute", "value", "id", "name", "kind", "date", "earliest", "latest", "aat", "phases",
                      "materials")


def label_arrays(compiled: CompiledLayers, element: np.ndarray) -> dict[str, np.ndarray]:
    """``element``, ``phase`` and ``material`` (int32, -1 = none) from element labels."""
    element = np.asarray(element, dtype=np.int32)
    if element.size and (element.min() < NO_LABEL or element.max() >= len(compiled.element_ids)):
        raise ValueError(
            f"element labels must lie in -1..{len(compiled.element_ids) - 1} (the compiled layers have "
            f"{len(compiled.element_ids)} elements); were they made with other layers?"
        )
    return {
        "element": element,
        "phase": compiled.phase_of(element).astype(np.int32),
        "material": compiled.material_of(element).astype(np.int32),
    }


def _check_compiled(layers: LayerFile, compiled: CompiledLayers | None) -> CompiledLayers:
    compiled = compiled if compiled is not None else compile_layers(layers)
    if compiled.element_ids != tuple(e.id for e in layers.elements):
        raise ValueError("the compiled layers do not match the layer file (different elements)")
    return compiled


# -- clouds and meshes ------------------------------------------------------------------------


def _crs_name(crs: CRSInfo | None) -> str | None:
    if crs is None:
        return None
    if crs.epsg is not None:
        return f"EPSG:{crs.epsg}"
    return crs.name


def _suffix(path: Path) -> str:
    if path.name.lower().endswith(".copc.laz"):
        return ".copc.laz"
    suffix = path.suffix.lower()
    if suffix not in (".ply", ".las", ".laz"):
        raise ValueError(f"{path}: write labelled models as .ply, .las, .laz or .copc.laz")
    return suffix


def write_labelled_cloud(cloud: PointCloud, compiled: CompiledLayers, path: Path, *, crs: CRSInfo | None = None,
                         element: np.ndarray | None = None) -> Path:
    """Write a cloud with per-point ``element``, ``phase`` and ``material`` (.ply, .las,
    .laz, or .copc.laz: one COPC file, an octree that viewers and laspy's CopcReader query
    by bounds and level, written in bounded memory by :mod:`twin.io.copc`).

    ``element`` defaults to the cloud's own ``element`` attribute (from
    :func:`twin.ops.labelling.label_cloud`), else the points are labelled here.
    """
    path = Path(path)
    suffix = _suffix(path)
    if element is None:
        element = cloud.attrs.get("element")
    if element is None:
        element = label_points(compiled, cloud.xyz, cloud.origin)
    if len(element) != len(cloud):
        raise ValueError(f"{len(element)} element labels for {len(cloud)} points")
    labels = label_arrays(compiled, element)
    plain = PointCloud(cloud.xyz, cloud.origin, {k: v for k, v in cloud.attrs.items() if k not in LABEL_ATTRIBUTES})
    if suffix == ".ply":
        return write_ply(plain.world_xyz, path, attrs=plain.attrs, vertex_labels=labels, crs=crs)
    if suffix == ".copc.laz":
        from twin.io.copc import write_cloud_copc  # noqa: PLC0415

        write_cloud_copc(PointCloud(plain.xyz, plain.origin, plain.attrs | labels), path, crs_wkt=las_wkt(crs))
        return path
    return write_labelled_las(plain, path, labels, crs=crs)


def write_labelled_mesh(mesh: TriMesh, compiled: CompiledLayers, path: Path, *, crs: CRSInfo | None = None,
                        face_element: np.ndarray | None = None,
                        vertex_element: np.ndarray | None = None) -> Path:
    """Write a mesh with its labels (.ply: vertices and faces; .las/.laz: its vertices as points).

    Vertices are labelled by where they lie (``vertex_element``, default
    :func:`label_points` on the vertices), faces by :func:`label_faces` (the centroid rule,
    ``face_element``); a PLY carries both, a LAS/LAZ only the vertices'.
    """
    path = Path(path)
    suffix = _suffix(path)
    if vertex_element is None:
        vertex_element = mesh.vertex_attrs.get("element")
    if vertex_element is None:
        vertex_element = label_points(compiled, mesh.vertices, mesh.origin)
    if len(vertex_element) != len(mesh.vertices):
        raise ValueError(f"{len(vertex_element)} vertex labels for {len(mesh.vertices)} vertices")
    vertex_labels = label_arrays(compiled, vertex_element)
    attrs = {k: v for k, v in mesh.vertex_attrs.items() if k not in LABEL_ATTRIBUTES}
    if suffix != ".ply":
        return write_labelled_las(PointCloud(mesh.vertices, mesh.origin, attrs), path, vertex_labels, crs=crs)
    if face_element is None:
        face_element = label_faces(compiled, mesh)
    if len(face_element) != mesh.n_faces:
        raise ValueError(f"{len(face_element)} face labels for {mesh.n_faces} faces")
    return write_ply(mesh.vertices + mesh.origin, path, attrs=attrs, vertex_labels=vertex_labels, faces=mesh.faces,
                     face_labels=label_arrays(compiled, face_element), crs=crs)


# -- PLY ------------------------------------------------------------------------------------------

_PLY_TYPES = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
              "f4": "float", "f8": "double"}  # fmt: skip


def _normals(attrs: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The (n, 3) normals of a cloud or mesh: ``normals``, or ``normal_x/y/z`` as read from a LAS file."""
    if attrs.get("normals") is not None:
        return np.asarray(attrs["normals"], dtype=np.float32)
    if all(attrs.get(f"normal_{a}") is not None for a in "xyz"):
        return np.column_stack([attrs[f"normal_{a}"] for a in "xyz"]).astype(np.float32)
    return None


def write_ply(world_xyz: np.ndarray, path: Path, *, attrs: Mapping[str, np.ndarray] | None = None,
              vertex_labels: Mapping[str, np.ndarray], faces: np.ndarray | None = None,
              face_labels: Mapping[str, np.ndarray] | None = None, crs: CRSInfo | None = None) -> Path:
    """A binary PLY of points (or a mesh with ``faces``): double coordinates in the CRS, normals
    (``nx ny nz``), colours (``red green blue``) and intensity (``scalar_intensity``) where
    ``attrs`` has them, and the labels as ``scalar_<name>`` int properties, atomically."""
    attrs = attrs or {}
    world_xyz = np.asarray(world_xyz, dtype=np.float64)
    columns: list[tuple[str, np.ndarray]] = [(a, world_xyz[:, i]) for i, a in enumerate("xyz")]
    normals = _normals(attrs)
    if normals is not None:
        columns += [(a, normals[:, i]) for i, a in enumerate(("nx", "ny", "nz"))]
    if attrs.get("rgb") is not None:
        rgb = np.asarray(attrs["rgb"], dtype=np.uint8)
        columns += [(a, rgb[:, i]) for i, a in enumerate(("red", "green", "blue"))]
    if attrs.get("intensity") is not None:
        columns.append(("scalar_intensity", np.asarray(attrs["intensity"], dtype=np.float32)))
    columns += [(PLY_LABELS[k], np.asarray(v, dtype=np.int32)) for k, v in vertex_labels.items()]
    vertices = _table(columns, len(world_xyz), "vertex")
    header = ["ply", "format binary_little_endian 1.0", f"comment generated by twin {twin.__version__}"]
    if crs is not None and _crs_name(crs):
        header.append(f"comment twin_crs {_crs_name(crs)}")
    header.append("comment x y z: coordinates in the CRS (no origin to add)")
    header.append("comment scalar_element scalar_phase scalar_material: values in legend.json, -1 = none")
    header += [f"element vertex {len(vertices)}"]
    header += [f"property {_PLY_TYPES[vertices.dtype[n].str[1:]]} {n}" for n in vertices.dtype.names]
    face_table = None
    if faces is not None:
        faces = np.asarray(faces)
        fields = [("n", "u1"), ("vertex_indices", "<i4", (3,))]
        fields += [(PLY_LABELS[k], "<i4") for k in (face_labels or {})]
        face_table = np.empty(len(faces), dtype=fields)
        face_table["n"] = 3
        face_table["vertex_indices"] = faces
        for k, v in (face_labels or {}).items():
            if len(v) != len(faces):
                raise ValueError(f"face property {k!r}: need {len(faces)} values, got {len(v)}")
            face_table[PLY_LABELS[k]] = v
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
        header += [f"property int {PLY_LABELS[k]}" for k in (face_labels or {})]
    header.append("end_header")
    path = Path(path)
    with atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(vertices.tobytes())
        if face_table is not None:
            fh.write(face_table.tobytes())
    return path


def _table(columns: list[tuple[str, np.ndarray]], count: int, what: str) -> np.ndarray:
    dtype = []
    for name, values in columns:
        if values.shape != (count,) or values.dtype.str[1:] not in _PLY_TYPES:
            raise ValueError(f"{what} property {name!r}: need {count} numbers, got {values.dtype} {values.shape}")
        dtype.append((name, values.dtype.newbyteorder("<").str if values.dtype.itemsize > 1 else values.dtype.str))
    table = np.empty(count, dtype=dtype)
    for name, values in columns:
        table[name] = values
    return table


# -- LAS / LAZ ------------------------------------------------------------------------------------


def write_labelled_las(points: PointCloud, path: Path, labels: Mapping[str, np.ndarray], *,
                       crs: CRSInfo | None = None) -> Path:
    """LAS 1.4 (``.las``) or LAZ (``.laz``): the labels as described extra bytes with no-data
    ``-1``, normals as extra bytes, intensity, classification, point source and colour where
    the cloud has them, the CRS as WKT1, written in chunks, atomically."""
    import laspy  # noqa: PLC0415

    path = Path(path)
    attrs = points.attrs
    has_rgb = attrs.get("rgb") is not None
    header = laspy.LasHeader(point_format=7 if has_rgb else 6, version="1.4")
    header.offsets = points.origin
    header.scales = [0.0001] * 3
    extras: dict[str, np.ndarray] = {k: np.asarray(v, dtype=np.int32) for k, v in labels.items()}
    normals = _normals(attrs)
    if normals is not None:
        extras.update({f"normal_{a}": normals[:, i] for i, a in enumerate("xyz")})
    for name, values in extras.items():
        header.add_extra_dim(extra_bytes_params(name, values.dtype))
    stamp_header(header, las_wkt(crs))  # twin <version>, EXTRACTION, the CRS as WKT1
    return write_points(points, path, header, extras)


# -- the legend -------------------------------------------------------------------------------


def legend(layers: LayerFile, compiled: CompiledLayers | None = None) -> dict:
    """What every label value means: JSON-ready, one entry per element, phase and material.

    ``value`` is the integer stored in the ``element``/``phase``/``material`` attribute
    (its position in the layer file), ``id`` the layer file's id. An element lists all
    the phases and materials that hold for it (its own, then its unions'), and the one
    each point carries (``primary_phase``: the latest construction or reconstruction,
    else the earliest phase; ``primary_material``: the first listed).
    """
    compiled = _check_compiled(layers, compiled)
    elements = []
    for i, el in enumerate(layers.elements):
        phases, materials = effective_links(layers, el.id)
        pp, pm = int(compiled.primary_phase[i]), int(compiled.primary_material[i])
        elements.append({
            "value": i,
            "id": el.id,
            "name": el.name,
            "class": el.class_,
            "region": region_kind(el.region),
            "members": list(el.region.union) if isinstance(el.region, UnionRegion) else [],
            "knowledge": el.knowledge.status,
            "knowledge_sources": list(el.knowledge.sources),
            "stable": el.stable,
            "description": el.description,
            "phases": phases,
            "materials": materials,
            "primary_phase": compiled.phase_ids[pp] if pp >= 0 else None,
            "primary_material": compiled.material_ids[pm] if pm >= 0 else None,
        })
    phases = []
    for i, ph in enumerate(layers.phases):
        span = ph.span()
        phases.append({
            "value": i, "id": ph.id, "name": ph.name, "type": ph.type, "date": ph.date,
            "earliest": span.earliest, "latest": span.latest, "periodo": ph.periodo,
            "description": ph.description, "sources": list(ph.sources),
        })
    materials = [
        {"value": i, "id": m.id, "label": m.label, "aat": m.aat, "properties": dict(m.properties)}
        for i, m in enumerate(layers.materials)
    ]
    return {
        "none": NO_LABEL,
        "attributes": {
            "element": "index into elements: the element the point lies in",
            "phase": "index into phases: the phase that built the fabric there (the element's primary_phase)",
            "material": "index into materials: the element's first material (primary_material)",
        },
        "elements": elements,
        "phases": phases,
        "materials": materials,
    }


def legend_csv(table: Mapping) -> str:
    """The legend as one CSV table: a row per element, phase and material."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LEGEND_CSV_COLUMNS)
    writer.writerow(["(all)", table["none"], "", "no element, phase or material", "", "", "", "", "", "", ""])
    for e in table["elements"]:
        writer.writerow(["element", e["value"], e["id"], e["name"], e["class"], "", "", "", "",
                         " ".join(e["phases"]), " ".join(e["materials"])])
    for p in table["phases"]:
        writer.writerow(["phase", p["value"], p["id"], p["name"] or "", p["type"], p["date"], p["earliest"] or "",
                         p["latest"] or "", "", "", ""])
    for m in table["materials"]:
        writer.writerow(["material", m["value"], m["id"], m["label"], "", "", "", "", m["aat"], "", ""])
    return out.getvalue()


def write_legend(layers: LayerFile, compiled: CompiledLayers | None, json_path: Path,
                 csv_path: Path | None = None) -> tuple[Path, Path]:
    """Write the legend as JSON and CSV (default: the JSON path with ``.csv``), atomically."""
    json_path = Path(json_path)
    csv_path = Path(csv_path) if csv_path is not None else json_path.with_suffix(".csv")
    table = legend(layers, compiled)
    atomic_write_bytes(json_path, (json.dumps(table, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    atomic_write_bytes(csv_path, legend_csv(table).encode("utf-8"))
    return json_path, csv_path

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

The writers reuse :func:`twin.io.las.write_las` (LAS offsets = the model's origin, 0.1 mm
scale, the labels as LAS 1.4 extra bytes) and :mod:`twin.io.ply_write` (float32 local
coordinates with the origin in a ``comment twin_origin`` line, the labels as extra
``int`` properties).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from twin.catalog.store import atomic_write_bytes
from twin.models.layers import LayerFile, UnionRegion, effective_links, region_kind
from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.io.crs import crs_wkt
from twin.models.scan import CRSInfo
from twin.ops.labelling import NO_LABEL, CompiledLayers, compile_layers, label_faces, label_points

LABEL_ATTRIBUTES = ("element", "phase", "material")
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
        from twin.io.ply_write import write_cloud_ply  # noqa: PLC0415

        return write_cloud_ply(plain, path, _crs_name(crs), vertex_props=labels)
    if suffix == ".copc.laz":
        from twin.io.copc import write_cloud_copc  # noqa: PLC0415

        write_cloud_copc(PointCloud(plain.xyz, plain.origin, plain.attrs | labels), path, crs_wkt=crs_wkt(crs))
        return path
    from twin.io.las import write_las  # noqa: PLC0415

    return write_las(plain, path, crs_wkt=crs_wkt(crs), extra_dims=labels)


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
        from twin.io.las import write_las  # noqa: PLC0415

        points = PointCloud(mesh.vertices, mesh.origin, attrs)
        return write_las(points, path, crs_wkt=crs_wkt(crs), extra_dims=vertex_labels)
    if face_element is None:
        face_element = label_faces(compiled, mesh)
    if len(face_element) != mesh.n_faces:
        raise ValueError(f"{len(face_element)} face labels for {mesh.n_faces} faces")
    from twin.io.ply_write import write_mesh_ply  # noqa: PLC0415

    plain = TriMesh(mesh.vertices, mesh.faces, mesh.origin, attrs)
    return write_mesh_ply(plain, path, _crs_name(crs), vertex_props=vertex_labels,
                          face_props=label_arrays(compiled, face_element))


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

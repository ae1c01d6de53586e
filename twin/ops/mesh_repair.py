"""Mesh repair: what meshing and decimation leave behind that exporters and viewers
choke on — degenerate and duplicate faces, duplicate vertices, non-manifold edges,
unreferenced vertices, and small disconnected islands (floating noise)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError
from twin.ops.meshing import Mesh


@dataclass(frozen=True)
class RepairReport:
    """How many of each defect were removed."""

    duplicate_vertices: int
    degenerate_faces: int
    duplicate_faces: int
    non_manifold_faces: int
    islands: int
    island_faces: int
    unreferenced_vertices: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _degenerate(mesh: Mesh, min_area: float) -> np.ndarray:
    f = mesh.faces
    repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
    return repeated | (mesh.face_areas() <= min_area)


def _duplicate_faces(faces: np.ndarray) -> np.ndarray:
    """Faces that repeat an earlier face's vertex set (in any order or orientation)."""
    if len(faces) == 0:
        return np.zeros(0, dtype=bool)
    key = np.sort(faces, axis=1)
    _, first = np.unique(key, axis=0, return_index=True)
    dup = np.ones(len(faces), dtype=bool)
    dup[first] = False
    return dup


def _merge_duplicate_vertices(mesh: Mesh) -> tuple[Mesh, int]:
    unique, first, inverse = np.unique(mesh.vertices, axis=0, return_index=True, return_inverse=True)
    merged = len(mesh.vertices) - len(unique)
    if merged == 0:
        return mesh, 0
    return Mesh(
        unique,
        inverse.reshape(-1)[mesh.faces],
        mesh.origin.copy(),
        None if mesh.vertex_normals is None else mesh.vertex_normals[first],
        None if mesh.vertex_rgb is None else mesh.vertex_rgb[first],
    ), merged


def _islands(mesh: Mesh) -> np.ndarray:
    """Connected component (via shared vertices) of each face."""
    from scipy.sparse import coo_matrix  # noqa: PLC0415
    from scipy.sparse.csgraph import connected_components  # noqa: PLC0415

    f = mesh.faces
    n = len(mesh.vertices)
    rows = np.concatenate([f[:, 0], f[:, 1]])
    cols = np.concatenate([f[:, 1], f[:, 2]])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[f[:, 0]]


def repair_mesh(mesh: Mesh, *, min_island_faces: int = 0, min_island_area: float = 0.0,
                min_face_area: float = 0.0, remove_non_manifold: bool = True) -> tuple[Mesh, RepairReport]:
    """A clean copy of ``mesh`` and what was removed.

    Islands (face sets connected by shared vertices) with fewer than
    ``min_island_faces`` faces or less than ``min_island_area`` m² are dropped; faces
    of area ``<= min_face_area`` count as degenerate.
    """
    if min_island_faces < 0 or min_island_area < 0 or min_face_area < 0:
        raise UsageError("mesh repair thresholds must not be negative")
    mesh, dup_vertices = _merge_duplicate_vertices(mesh)
    degenerate = _degenerate(mesh, min_face_area)
    mesh = mesh.keep_faces(~degenerate) if degenerate.any() else mesh
    duplicate = _duplicate_faces(mesh.faces)
    mesh = mesh.keep_faces(~duplicate) if duplicate.any() else mesh

    non_manifold = 0
    if remove_non_manifold and mesh.n_faces:
        o3d_mesh = mesh.to_o3d()
        before = len(o3d_mesh.triangles)
        o3d_mesh.remove_non_manifold_edges()
        non_manifold = before - len(o3d_mesh.triangles)
        if non_manifold:
            mesh = Mesh.from_o3d(o3d_mesh, mesh.origin.copy())
            if mesh.vertex_normals is None and o3d_mesh.has_vertex_normals():
                mesh.vertex_normals = np.asarray(o3d_mesh.vertex_normals, dtype=np.float32)

    islands = island_faces = 0
    if (min_island_faces > 0 or min_island_area > 0) and mesh.n_faces:
        labels = _islands(mesh)
        counts = np.bincount(labels)
        areas = np.bincount(labels, weights=mesh.face_areas())
        small = (counts < min_island_faces) | (areas < min_island_area)
        small[counts == 0] = False
        drop = small[labels]
        islands, island_faces = int(small.sum()), int(drop.sum())
        if island_faces:
            mesh = mesh.keep_faces(~drop)

    before_vertices = mesh.n_vertices
    mesh = mesh.keep_faces(np.ones(mesh.n_faces, dtype=bool))  # drops unreferenced vertices
    report = RepairReport(
        duplicate_vertices=int(dup_vertices),
        degenerate_faces=int(degenerate.sum()),
        duplicate_faces=int(duplicate.sum()),
        non_manifold_faces=int(non_manifold),
        islands=islands,
        island_faces=island_faces,
        unreferenced_vertices=int(before_vertices - mesh.n_vertices),
    )
    return mesh, report

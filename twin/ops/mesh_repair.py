"""Mesh repair: what meshing and decimation leave behind that exporters and viewers
choke on — degenerate and duplicate faces, duplicate vertices, non-manifold edges,
unreferenced vertices, and small disconnected islands (floating noise)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError
from twin.models.mesh import TriMesh


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


def _degenerate(mesh: TriMesh, min_area: float) -> np.ndarray:
    f = mesh.faces
    repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
    return repeated | (mesh.face_areas() <= min_area)


def _row_keys(rows: np.ndarray) -> np.ndarray:
    """One int64 per row of non-negative ints, equal exactly when the rows are equal (when
    the values fit in 21 bits each), else a hash that the caller confirms."""
    rows = rows.astype(np.int64, copy=False)
    if rows.shape[1] == 3 and (len(rows) == 0 or rows.max() < 1 << 21):
        return (rows[:, 0] << 42) | (rows[:, 1] << 21) | rows[:, 2]
    return _hash_rows(rows.view(np.uint64) if rows.dtype == np.int64 else rows.astype(np.uint64))


def _hash_rows(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of 64-bit words (FNV-like multiply and xor)."""
    h = np.full(len(words), 0xCBF29CE484222325, dtype=np.uint64)
    for column in words.T:
        h = (h ^ column) * np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
    return h.view(np.int64)


def _first_of_equal(keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row equal to it (itself when unique)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = np.zeros(len(keys), dtype=bool)
    same[1:] = sorted_keys[1:] == sorted_keys[:-1]
    first = np.arange(len(keys))
    if not same.any():
        return first
    candidates = np.unique(keys[order[same]])  # keys shared by several rows: check them exactly
    members = np.flatnonzero(np.isin(keys, candidates))
    _, first_of, inverse = np.unique(rows[members], axis=0, return_index=True, return_inverse=True)
    first[members] = members[first_of][inverse.reshape(-1)]
    return first


def _duplicate_faces(faces: np.ndarray) -> np.ndarray:
    """Faces that repeat an earlier face's vertex set (in any order or orientation)."""
    if len(faces) == 0:
        return np.zeros(0, dtype=bool)
    corners = np.sort(faces, axis=1)
    return _first_of_equal(_row_keys(corners), corners) != np.arange(len(faces))


def _merge_duplicate_vertices(mesh: TriMesh) -> tuple[TriMesh, int]:
    v = np.ascontiguousarray(mesh.vertices)
    first = _first_of_equal(_hash_rows((v + 0.0).view(np.uint64)), v)  # + 0.0: -0.0 and 0.0 alike
    keep = first == np.arange(len(v))
    merged = int(len(v) - keep.sum())
    if merged == 0:
        return mesh, 0
    new_index = np.cumsum(keep) - 1
    return mesh.keep_vertices(keep, new_index[first][mesh.faces]), merged


def _non_manifold_faces(mesh: TriMesh) -> np.ndarray:
    """Faces to drop so that no edge has more than two faces: at each such edge the
    smallest faces go until two are left (open3d's rule), all edges at once, repeated
    until none is left."""
    faces = mesh.faces
    drop = np.zeros(len(faces), dtype=bool)
    if len(faces) == 0:
        return drop
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    keys = edges[:, 0] * np.int64(len(mesh.vertices)) + edges[:, 1]
    ordered = np.sort(keys)
    crowded = np.unique(ordered[2:][ordered[2:] == ordered[:-2]])  # edges with three faces or more
    if len(crowded) == 0:
        return drop
    at = np.flatnonzero(np.isin(keys, crowded, assume_unique=False))
    keys, owner = keys[at], at % len(faces)
    area = mesh.face_areas(owner)
    order = np.lexsort((-area, keys))  # by edge, largest face first
    keys, owner = keys[order], owner[order]
    while True:
        alive = ~drop[owner]
        k, o = keys[alive], owner[alive]
        start = np.ones(len(k), dtype=bool)
        start[1:] = k[1:] != k[:-1]
        group_start = np.maximum.accumulate(np.where(start, np.arange(len(k)), 0))
        rank = np.arange(len(k)) - group_start  # 0 and 1: the two largest faces of the edge
        extra = o[rank >= 2]
        if len(extra) == 0:
            return drop
        drop[extra] = True


def _islands(mesh: TriMesh) -> np.ndarray:
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


def repair_mesh(mesh: TriMesh, *, min_island_faces: int = 0, min_island_area: float = 0.0,
                min_face_area: float = 0.0, remove_non_manifold: bool = True) -> tuple[TriMesh, RepairReport]:
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
        bad = _non_manifold_faces(mesh)
        non_manifold = int(bad.sum())
        if non_manifold:
            mesh = mesh.keep_faces(~bad)

    islands = island_faces = 0
    if (min_island_faces > 0 or min_island_area > 0) and mesh.n_faces:
        labels = _islands(mesh)
        counts = np.bincount(labels)
        small = counts < min_island_faces
        if min_island_area > 0:
            small |= np.bincount(labels, weights=mesh.face_areas()) < min_island_area
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

"""Quadric-error decimation into named levels of detail.

Levels are named targets in faces, e.g. ``{"full": None, "1M": 1_000_000, "200k":
200_000, "50k": 50_000}``; ``None`` keeps the mesh as it is. A level whose target is
not below the current face count is skipped (the level would just duplicate a finer
one). Each level is decimated from the next finer one, which is much faster than
starting every level from the full mesh and loses nothing visible.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from twin.errors import UsageError
from twin.ops.meshing import Mesh

DEFAULT_LEVELS: dict[str, int | None] = {"full": None, "1M": 1_000_000, "200k": 200_000, "50k": 50_000}


def decimate(mesh: Mesh, target_faces: int) -> Mesh:
    """Quadric decimation (open3d) to at most about ``target_faces`` faces."""
    if int(target_faces) != target_faces or target_faces < 4:
        raise UsageError(f"a decimation target must be at least 4 faces, got {target_faces}")
    if mesh.n_faces <= target_faces:
        return mesh
    o3d_mesh = mesh.to_o3d().simplify_quadric_decimation(int(target_faces))
    out = Mesh.from_o3d(o3d_mesh, mesh.origin.copy())
    if mesh.vertex_normals is not None:
        o3d_mesh.compute_vertex_normals()
        out.vertex_normals = np.asarray(o3d_mesh.vertex_normals, dtype=np.float32)
    return out


def levels_of_detail(mesh: Mesh, levels: Mapping[str, int | None] = DEFAULT_LEVELS) -> dict[str, Mesh]:
    """The mesh at each named level, finest first; levels that would not reduce are skipped."""
    if not levels:
        raise UsageError("no levels of detail given")
    for name, target in levels.items():
        if target is not None and (int(target) != target or target < 4):
            raise UsageError(f"level {name!r}: target must be None or at least 4 faces, got {target}")
    ordered = sorted(levels.items(), key=lambda item: -np.inf if item[1] is None else -item[1])
    out: dict[str, Mesh] = {}
    current = mesh
    for name, target in ordered:
        if target is None:
            out[name] = mesh
            continue
        if current.n_faces <= target:
            continue
        current = decimate(current, target)
        out[name] = current
    return out

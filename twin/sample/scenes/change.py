"""A second epoch of a generated scene with known deformations, for change detection.

A column leans (a rigid turn about its base) and a wall bows out (twin.sample.deform's
Lean and Bulge, as on the sample pavilion) on any generated building; the scene's own
stations scan the deformed building again (the same setups, new noise), so every point of
either epoch has a true displacement to check M3C2 against. The wall is subdivided first:
a generated wall is a few large triangles, which a bulge would only tilt.
"""

from __future__ import annotations

import numpy as np

from twin.errors import UsageError
from twin.sample.deform import Bulge, Deformation, Lean, apply_deformations
from twin.sample.geometry import LabelledMesh
from twin.sample.scanner import MeshScene
from twin.sample.scenes.survey import GeneratedScene, scan_station

LEAN_DEG = 1.0
BULGE_PEAK = 0.030  # m, as on the pavilion's north wall
BULGE_RADIUS = 1.2  # m, at most (a third of the face's smaller side on a small face)
MAX_EDGE = 0.15  # m: the bulging wall's triangles, after subdivision


def subdivided(mesh: LabelledMesh, element: int, max_edge: float) -> LabelledMesh:
    """``mesh`` with the triangles of ``element`` split into four (at shared edge midpoints,
    so the surface stays closed) until none has an edge longer than ``max_edge``."""
    vertices, triangles = mesh.vertices.copy(), mesh.triangles.copy()
    labels = mesh.element_index.copy()
    material = None if mesh.material is None else mesh.material.copy()
    while True:
        mine = np.flatnonzero(labels == element)
        v = vertices[triangles[mine]]
        longest = np.linalg.norm(v - np.roll(v, 1, axis=1), axis=2).max(axis=1) if len(mine) else np.zeros(0)
        if not len(mine) or longest.max() <= max_edge:
            break
        tri = triangles[mine]
        edges = np.sort(np.stack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]], axis=1).reshape(-1, 2), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        mid = len(vertices) + inverse.reshape(-1, 3)  # midpoints of edges 01, 12, 20
        vertices = np.concatenate([vertices, vertices[unique].mean(axis=1)])
        a, b, c = tri.T
        ab, bc, ca = mid.T
        four = np.concatenate([np.c_[a, ab, ca], np.c_[ab, b, bc], np.c_[ca, bc, c], np.c_[ab, bc, ca]])
        keep = labels != element
        triangles = np.concatenate([triangles[keep], four.astype(triangles.dtype)])
        labels = np.concatenate([labels[keep], np.full(len(four), element, dtype=labels.dtype)])
        if material is not None:
            material = np.concatenate([material[keep], np.tile(material[mine], 4)])
    return LabelledMesh(vertices, triangles, labels, list(mesh.elements), [], material)


def _first(mesh: LabelledMesh, kinds: tuple[str, ...]) -> int | None:
    for kind in kinds:
        for i, e in enumerate(mesh.elements):
            if e.kind == kind and np.any(mesh.element_index == i):
                return i
    return None


def _seen_face(mesh: LabelledMesh, element: int, viewpoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The largest flat face of an element that the stations face (centre, outward
    normal, the smaller of its two extents in its plane)."""
    tri = np.flatnonzero(mesh.element_index == element)
    v = mesh.vertices[mesh.triangles[tri]]
    normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    area = np.linalg.norm(normal, axis=1) / 2
    normal /= np.maximum(2 * area[:, None], 1e-300)
    steep = np.abs(normal[:, 2]) < 0.2
    direction = np.round(np.arctan2(normal[:, 1], normal[:, 0]) / np.radians(5.0)).astype(int)
    best = None
    for d in np.unique(direction[steep]):
        on = steep & (direction == d)
        n = (normal[on] * area[on, None]).sum(axis=0)
        n /= np.linalg.norm(n)
        centre = (v[on].mean(axis=1) * area[on, None]).sum(axis=0) / area[on].sum()
        facing = int(np.sum((viewpoints - centre) @ n > 0))
        pts = v[on].reshape(-1, 3)
        across = np.cross([0.0, 0.0, 1.0], n)
        size = min(np.ptp(pts @ across), np.ptp(pts[:, 2]))
        key = (facing, area[on].sum())
        if best is None or key > best[0]:
            best = (key, centre, n, float(size))
    if best is None:
        raise UsageError("the scene's wall has no vertical face")
    return best[1], best[2], best[3]


def scene_deformations(scene: GeneratedScene) -> tuple[LabelledMesh, list[Deformation]]:
    """The scene's mesh (its bulging wall subdivided) and what changes: the first column
    (else an annex, a frame, a door) leans ``LEAN_DEG`` away from the stations, the first
    wall bulges ``BULGE_PEAK`` outward at the middle of the face most stations see."""
    mesh = scene.truth_mesh
    viewpoints = np.array([st.true_pose[:3, 3] for st in scene.stations])
    out: list[Deformation] = []
    leaning = _first(mesh, ("column", "annex", "frame", "door"))
    wall = _first(mesh, ("wall", "platform"))
    if wall is not None and wall != leaning:
        mesh = subdivided(mesh, wall, MAX_EDGE)
        centre, normal, size = _seen_face(mesh, wall, viewpoints)
        out.append(Bulge(mesh.elements[wall].id, tuple(centre), tuple(normal), min(BULGE_RADIUS, size / 3),
                         BULGE_PEAK))
    if leaning is not None:
        pts = mesh.vertices[np.unique(mesh.triangles[mesh.element_index == leaning])]
        base = np.array([*(pts[:, :2].min(axis=0) + pts[:, :2].max(axis=0)) / 2, pts[:, 2].min()])
        away = base[:2] - viewpoints[:, :2].mean(axis=0)
        azimuth = float(np.degrees(np.arctan2(away[0], away[1])) % 360.0)
        out.append(Lean(mesh.elements[leaning].id, LEAN_DEG, azimuth, tuple(base), float(np.ptp(pts[:, 2]))))
    if not out:
        raise UsageError(f"the {scene.kind} scene has no column or wall to deform")
    return mesh, out


def second_epoch(scene: GeneratedScene, seed: int) -> tuple[LabelledMesh, list[Deformation], list[np.ndarray]]:
    """The scene's reference mesh, its deformations, and each station's points (in its
    own frame) scanned again from the same setup with noise of ``seed`` on the deformed
    building. The scene's own stations stay the first epoch (on the subdivided mesh they
    would differ only by the wall's tessellation, which is exact: a flat face split flat)."""
    mesh, deformations = scene_deformations(scene)
    moved = MeshScene(apply_deformations(mesh, deformations))
    stations = [scan_station(moved, st.plan, seed)["xyz"] for st in scene.stations]
    return mesh, deformations, stations


SHIFT_REACH = 0.10  # m: the surfaces looked for along each normal, either way
SAME_SURFACE_COS = 0.5  # ... facing within 60 degrees of it


def _along(scene: MeshScene, points: np.ndarray, normals: np.ndarray, reach: float) -> np.ndarray:
    """Signed distance along each normal from the point to the nearest surface that faces
    the normal's way (either side, within ``reach``; NaN where none)."""
    best = np.full(len(points), np.nan)
    for sign in (1.0, -1.0):
        t, prim = scene.cast(points, sign * normals)
        facing = np.abs(np.einsum("ij,ij->i", scene.normals[np.maximum(prim, 0)], normals)) > SAME_SURFACE_COS
        ok = (prim >= 0) & (t <= reach) & facing
        nearer = ok & ~(np.abs(best) <= t)
        best[nearer] = sign * t[nearer]
    return best


def surface_shift(reference: MeshScene, moved: MeshScene, points: np.ndarray, normals: np.ndarray,
                  reach: float = SHIFT_REACH) -> np.ndarray:
    """The true change M3C2 measures at each core point: how far the surface moved along
    the point's normal (from the reference mesh to the deformed one, signed like the
    normal; NaN where either surface is not found within ``reach``). Not the material
    displacement projected on the normal: where a leaning post's corner slides past the
    line, the surface the line meets moves twice as far as the point did."""
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    valid = np.isfinite(normals).all(axis=1)
    out = np.full(len(points), np.nan)
    if valid.any():
        p, n = points[valid], normals[valid] / np.linalg.norm(normals[valid], axis=1, keepdims=True)
        out[valid] = _along(moved, p, n, reach) - _along(reference, p, n, reach)
    return out

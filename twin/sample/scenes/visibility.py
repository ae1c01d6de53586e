"""What each station sees of the true surface, and so how much two stations overlap.

The surface is sampled uniformly by area; a sample counts as seen by a station when it
lies in the station's scan window and range, faces it at an incidence the scanner does
not drop, and is the first surface its ray meets. Overlap is measured on these samples,
so it is a share of surface, blind to point density and noise.
"""

from __future__ import annotations

import numpy as np

from twin.sample.geometry import LabelledMesh
from twin.sample.scanner import MeshScene, ScannerModel, StationSetup

SAMPLES = 60_000


def surface_samples(mesh: LabelledMesh, count: int = SAMPLES, seed: int = 0, elements: list[int] | None = None):
    """(points, triangle ids) spread uniformly by area over the mesh (or some elements)."""
    v = mesh.vertices[mesh.triangles]
    area = np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1) / 2
    if elements is not None:
        area = np.where(np.isin(mesh.element_index, elements), area, 0.0)
    rng = np.random.default_rng(seed)
    tri = rng.choice(len(area), count, p=area / area.sum())
    r1, r2 = rng.random(count), rng.random(count)
    flip = r1 + r2 > 1
    r1, r2 = np.where(flip, 1 - r1, r1), np.where(flip, 1 - r2, r2)
    p = v[tri, 0] + r1[:, None] * (v[tri, 1] - v[tri, 0]) + r2[:, None] * (v[tri, 2] - v[tri, 0])
    return p, tri


def seen(scene: MeshScene, setup: StationSetup, model: ScannerModel, points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Which sample points the station sees (bool per point)."""
    d_site = points - setup.position
    dist = np.linalg.norm(d_site, axis=1)
    d_site = d_site / dist[:, None]
    d_loc = d_site @ setup.rotation
    az = np.degrees(np.arctan2(d_loc[:, 1], d_loc[:, 0]))
    el = np.degrees(np.arcsin(np.clip(d_loc[:, 2], -1.0, 1.0)))
    (a0, a1), (e0, e1) = setup.azimuth_window, setup.elevation_window
    in_az = ((az - a0) % 360.0 <= a1 - a0) | (a1 - a0 >= 360.0)
    cos_i = np.abs(np.einsum("ij,ij->i", scene.normals[tri], d_site))
    ok = in_az & (el >= e0) & (el <= e1) & (dist >= model.min_range) & (dist <= model.max_range)
    ok &= cos_i > model.drop_cos_all
    idx = np.flatnonzero(ok)
    t, _ = scene.cast(setup.position, d_site[idx])
    ok[idx] = t >= dist[idx] - 1e-3 * np.maximum(1.0, dist[idx])
    return ok


def overlap_of(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the smaller of two seen-sets that the other sees too."""
    small = min(int(a.sum()), int(b.sum()))
    return float((a & b).sum()) / small if small else 0.0

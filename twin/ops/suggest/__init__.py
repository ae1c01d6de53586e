"""Suggested elements: a layer file drafted from a processed cloud.

``suggest_elements(cloud)`` thins the cloud to at most ``max_points`` (voxels sized from
the data), estimates normals, finds plane pieces (:mod:`.planes`), columns among what the
planes leave (:mod:`.columns`), and sorts them into floor, platforms, flights of steps
(:mod:`.stairs`), walls, columns, roof planes and roofs (:mod:`.elements`): a wall seen
from both sides is its two faces, with the openings through it (:mod:`.walls`), and a roof records where its planes meet in ridges,
hips and valleys (:mod:`.roofs`). :mod:`.draft` turns the candidates into a layer file for
an archivist to review (``twin layers suggest``).

Every length is derived from the thinned cloud's voxel ``v``, the larger of half the
cloud's median point spacing and the voxel that keeps ``max_points`` (600,000) points: the
plane band is ``2 v``, the raster of connected pieces ``3 v`` (wider where a plane's points
are sparser), the regions' margin ``4 v`` (0.9 cm voxels on the sample pavilion: 1.8 cm,
2.7 cm and 3.6 cm). Sizes of buildings, not of the scan (the shadow gap below, a wall's
greatest thickness, the narrowest passage, the smallest opening), are metres, each
justified where it is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import UsageError
from twin.ops.suggest.columns import ColumnSettings, find_columns
from twin.ops.suggest.elements import Candidate, ElementSettings, classify
from twin.ops.suggest.planes import PlaneSettings, find_planes, merge_coplanar
from twin.models.pointcloud import PointCloud

MAX_POINTS = 600_000
MIN_VOXEL = 0.005  # m: finer than this adds noise, not shape
MIN_POINTS = 1_000  # a cloud with fewer holds no primitive worth suggesting
SHADOW_GAP = 1.2  # m: coplanar pieces closer than this are one (a column's shadow on a wall)


@dataclass
class Suggestion:
    candidates: list[Candidate]
    thinned: PointCloud  # the cloud the candidates' point indices refer to
    voxel: float
    input_points: int
    seconds: dict


def suggest_elements(cloud: PointCloud, *, max_points: int = MAX_POINTS, voxel: float | None = None,
                     scanner_z: float | None = None, seed: int = 0) -> Suggestion:
    """Candidate elements of a cloud (world coordinates = ``cloud.xyz + cloud.origin``).

    ``scanner_z`` is the scanners' mean height in the cloud's local frame, when known."""
    import time  # noqa: PLC0415

    from twin.ops.normals import estimate_normal_vectors  # noqa: PLC0415
    from twin.ops.voxel import voxel_downsample, voxel_for_budget  # noqa: PLC0415

    if len(cloud) < MIN_POINTS:
        raise UsageError(f"the cloud has {len(cloud)} points; suggesting elements needs at least {MIN_POINTS}")
    seconds = {}
    t = time.perf_counter()
    xyz = cloud.xyz
    stride = max(1, len(xyz) // 2_000_000)  # the voxel is chosen on a sample of a big cloud
    if voxel is None:
        from twin.ops.spacing import point_spacing  # noqa: PLC0415

        # the budget's voxel first; then no finer than half the spacing, measured on the thinned copy
        voxel = voxel_for_budget(xyz[::stride], max_points, MIN_VOXEL)
        thinned = voxel_downsample(PointCloud(xyz, cloud.origin), voxel)
        if len(thinned) > 1.1 * max_points:  # the sample saw fewer voxels than the whole cloud fills
            voxel *= (len(thinned) / max_points) ** 0.5
            thinned = voxel_downsample(PointCloud(xyz, cloud.origin), voxel)
        half_spacing = point_spacing(thinned.xyz) / 2
        if half_spacing > voxel * 1.05:
            voxel = half_spacing
            thinned = voxel_downsample(PointCloud(xyz, cloud.origin), voxel)
    else:
        thinned = voxel_downsample(PointCloud(xyz, cloud.origin), voxel)
    v = float(voxel)
    seconds["thin"] = time.perf_counter() - t
    t = time.perf_counter()
    normals = estimate_normal_vectors(thinned.xyz, radius=10 * v, max_nn=20).astype(np.float64)
    seconds["normals"] = time.perf_counter() - t
    t = time.perf_counter()
    distance, cell = 2 * v, 3 * v
    pieces = find_planes(thinned.xyz, normals, PlaneSettings(distance=distance, cell=cell, seed=seed,
                                                             min_points=max(30, int(0.02 / v**2))))
    pieces = merge_coplanar(thinned.xyz, pieces, distance, SHADOW_GAP)
    seconds["planes"] = time.perf_counter() - t
    t = time.perf_counter()
    free = np.ones(len(thinned), dtype=bool)
    for p in pieces:
        free[p.index] = False
    columns = find_columns(thinned.xyz, normals, np.flatnonzero(free), ColumnSettings(distance=distance, cell=cell))
    seconds["columns"] = time.perf_counter() - t
    t = time.perf_counter()
    candidates = classify(thinned.xyz, thinned.origin, pieces, columns,
                          ElementSettings(distance=distance, margin=4 * v, cell=cell), scanner_z=scanner_z)
    seconds["classify"] = time.perf_counter() - t
    if not candidates:
        raise UsageError(f"no plane or column found in {len(cloud)} points (thinned to {len(thinned)} at "
                         f"{v * 100:.1f} cm voxels): nothing to suggest")
    return Suggestion(candidates, thinned, v, len(cloud), seconds)


__all__ = ["Candidate", "Suggestion", "suggest_elements"]

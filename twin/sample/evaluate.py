"""Measure a processed model against the sample's ground truth: registration errors per
station, mesh accuracy on the surfaces the scanners saw, and faces bridging openings.

Used by the accuracy tests on the committed sample and by bench/ on larger versions.

"Surfaces the scanners saw": a point sampled uniformly on the true surface counts as
seen when the cleaned cloud has at least ``min_points`` points within ``radius`` of it,
i.e. the surface was scanned densely enough to support a mesh at the pipeline's 1 cm
resolution (8 points in 5 cm is a spacing of about 3 cm). Surfaces glimpsed by a few
stray returns (the top of the roof from the ground, the far side of a column) are not
held to millimetre tolerances, because nothing there could be reconstructed to them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel

from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.sample.truth import GroundTruth, load_truth_mesh


class StationError(BaseModel):
    station: str
    rotation_deg: float
    translation_mm: float  # how far the error moves the scanner's own position


class MeshAccuracy(BaseModel):
    seen_share: float
    samples: int
    mean_mm: float
    median_mm: float
    p95_mm: float
    bridging_faces: int  # faces inside the door opening or between columns


def registration_errors(truth: GroundTruth, survey_id: str, transforms: dict[str, list[list[float]]]) -> list[StationError]:
    """Compare estimated file→model transforms with the true file→UTM poses.

    The translation error is measured at the scanner's position (where a rotation error
    moves nothing), so rotation and translation are reported separately.
    """
    errors = []
    for station in truth.survey(survey_id).stations:
        estimated = np.asarray(transforms[station.name], dtype=np.float64)
        true = np.asarray(station.pose, dtype=np.float64)
        delta = estimated @ np.linalg.inv(true)  # UTM → UTM, identity when perfect
        angle = np.degrees(np.arccos(np.clip((np.trace(delta[:3, :3]) - 1) / 2, -1, 1)))
        centre = np.asarray(station.position_utm)
        shift = np.linalg.norm(delta[:3, :3] @ centre + delta[:3, 3] - centre)
        errors.append(StationError(station=station.name, rotation_deg=float(angle), translation_mm=float(1000 * shift)))
    return errors


def gap_boxes(truth: GroundTruth, margin: float = 0.05) -> list[tuple[np.ndarray, np.ndarray]]:
    """Boxes (UTM) of the empty space in the door opening and between neighbouring columns."""
    boxes = []
    columns = [e for e in truth.elements if e.kind == "column"]
    # the side rows have columns only at the ends: the "gap" between them is the hall
    walls = [r for e in truth.elements if e.kind == "wall" for r in e.regions_utm]
    rows: dict[tuple[float, float], list] = {}
    for c in columns:
        r = c.regions_utm[0]
        rows.setdefault((round(r.min[1], 1), round(r.max[1], 1)), []).append(r)
    for regions in rows.values():
        regions.sort(key=lambda r: r.min[0])
        for a, b in zip(regions, regions[1:]):
            lo = np.array([a.max[0] + margin, max(a.min[1], b.min[1]), max(a.min[2], b.min[2]) + 0.3])
            hi = np.array([b.min[0] - margin, min(a.max[1], b.max[1]), min(a.max[2], b.max[2]) - 0.5])
            if np.all(hi > lo) and not _overlaps_walls(lo, hi, walls):
                boxes.append((lo, hi))
    for door in (e for e in truth.elements if e.kind == "door"):
        regions = door.regions_utm
        centre_x = (min(r.min[0] for r in regions) + max(r.max[0] for r in regions)) / 2
        top = max(r.max[2] for r in regions)
        uprights = [r for r in regions if r.max[2] < top - 0.05]  # jambs and leaves, not the lintel
        lintel = min((r.min[2] for r in regions if r.max[2] >= top - 0.05), default=top)
        left = [r.max[0] for r in uprights if (r.min[0] + r.max[0]) / 2 < centre_x]
        right = [r.min[0] for r in uprights if (r.min[0] + r.max[0]) / 2 >= centre_x]
        if left and right:
            lo = np.array([max(left) + margin, min(r.min[1] for r in regions) - 0.1, min(r.min[2] for r in regions) + 0.1])
            hi = np.array([min(right) - margin, max(r.max[1] for r in regions) + 0.1, lintel - 0.1])
            if np.all(hi > lo):
                boxes.append((lo, hi))
    return boxes


def _overlaps_walls(lo: np.ndarray, hi: np.ndarray, walls) -> bool:
    return any(np.all(lo < w.max) and np.all(w.min < hi) for w in walls)


def bridging_faces(mesh: TriMesh, truth: GroundTruth) -> int:
    centroids = mesh.vertices[mesh.faces].mean(axis=1) + mesh.origin
    inside = np.zeros(len(centroids), dtype=bool)
    for lo, hi in gap_boxes(truth):
        inside |= np.all((centroids >= lo) & (centroids <= hi), axis=1)
    return int(inside.sum())


def mesh_accuracy(mesh: TriMesh, cloud: PointCloud, truth: GroundTruth, survey_id: str, samples: int = 400_000,
                  min_points: int = 8, radius: float = 0.05, seed: int = 0) -> MeshAccuracy:
    """Distances from the true surface (where seen) to the mesh."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    true_mesh = load_truth_mesh(truth, survey_id)
    points = _sample_surface(true_mesh.vertices + true_mesh.origin - cloud.origin, true_mesh.triangles, samples, seed)
    counts = cKDTree(cloud.xyz).query_ball_point(points, r=radius, workers=-1, return_length=True)
    seen = counts >= min_points
    scene = o3d.t.geometry.RaycastingScene()
    shift = mesh.origin - cloud.origin
    scene.add_triangles(o3d.core.Tensor((mesh.vertices + shift).astype(np.float32)),
                        o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    d = scene.compute_distance(o3d.core.Tensor(points[seen].astype(np.float32))).numpy().astype(np.float64)
    return MeshAccuracy(
        seen_share=float(seen.mean()), samples=int(seen.sum()), mean_mm=float(1000 * d.mean()),
        median_mm=float(1000 * np.median(d)), p95_mm=float(1000 * np.percentile(d, 95)),
        bridging_faces=bridging_faces(mesh, truth),
    )


def _sample_surface(vertices: np.ndarray, triangles: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Points uniformly distributed over a triangle mesh's area."""
    rng = np.random.default_rng(seed)
    tri = vertices[triangles]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    pick = rng.choice(len(tri), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[pick]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def label_shares(model_folder: Path, truth: GroundTruth, survey_id: str, *, min_points: int = 200,
                 max_distance: float = 0.01) -> dict[str, tuple[float, int]]:
    """For each element with at least ``min_points`` model points on its true surface
    (within ``max_distance``), the share of those points whose label in the model's
    ``cloud.laz`` (decoded with its ``legend.json``) is that element, and their count."""
    import json  # noqa: PLC0415

    import laspy  # noqa: PLC0415

    from twin.sample.truth import label_points_by_truth  # noqa: PLC0415

    las = laspy.read(Path(model_folder) / "cloud.laz")
    legend = json.loads((Path(model_folder) / "legend.json").read_text())
    ids = np.array([e["id"] for e in legend["elements"]] + [""], dtype=object)
    labels = np.asarray(las["element"])
    got = ids[np.where(labels >= 0, labels, len(ids) - 1)]
    expected = label_points_by_truth(np.column_stack([las.x, las.y, las.z]), truth, survey_id,
                                     max_distance=max_distance)
    out = {}
    for element in sorted(set(expected) - {""}):
        on = expected == element
        if on.sum() >= min_points:
            out[element] = (float((got[on] == element).mean()), int(on.sum()))
    return out

"""Measure a processed model against the sample's ground truth: registration errors per
station, mesh accuracy as surface-reconstruction benchmarks measure it, faces bridging
openings, and labels per point (``label_shares``) and per mesh face (``face_label_scores``:
the share of a level's faces labelled, and the share of those on the true surface that
carry the element of the true surface nearest their centroid).

Used by the accuracy tests on the committed sample and by bench/ on larger versions.

Mesh accuracy (``mesh_scores``) follows Tanks and Temples (Knapitsch et al. 2017:
precision, recall and their harmonic mean, the F-score, at a distance threshold) and DTU
(Aanaes et al. 2016: accuracy and completeness):

- **precision** (DTU's accuracy) is measured from the whole mesh: points sampled
  uniformly over the area of every face, at a stated density, and their distance to the
  true surface. Surface the mesher invented where no scan looked counts against it.
- **completeness** (recall) is measured from the true surface *the scans sampled*: points
  sampled uniformly over the true mesh, kept where the cleaned cloud has at least
  ``min_points`` points within ``radius`` (3 in 5 cm by default), and their distance to
  the mesh. Surface no scanner saw (the underside of the eaves, the far side of a
  column seen by no station) cannot be reconstructed and is not asked for.

Both report the mean, median and 95th percentile and the share within 5 mm and 1 cm; the
F-score at each threshold is 2PR / (P + R). Distances to a mesh are open3d's
``RaycastingScene.compute_distance`` (exact point-to-triangle distances).

``mesh_accuracy`` is the older, narrower figure: distances from the *densely* seen true
surface (8 points within 5 cm) to the mesh only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel

from twin.models.mesh import TriMesh
from twin.models.pointcloud import PointCloud
from twin.sample.truth import GroundTruth, TruthMesh, load_truth_mesh


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


THRESHOLDS_MM = (5.0, 10.0)


class Distances(BaseModel):
    """Distances from samples of one surface to another."""

    samples: int
    per_m2: float  # sampling density on the surface measured from
    area_m2: float  # the area those samples cover
    mean_mm: float
    median_mm: float
    p95_mm: float
    within_5mm: float  # share of the samples (= of the area)
    within_10mm: float

    @classmethod
    def of(cls, d: np.ndarray, per_m2: float, area: float) -> Distances:
        d = np.asarray(d, dtype=np.float64)
        if len(d) == 0:
            return cls(samples=0, per_m2=per_m2, area_m2=area, mean_mm=float("nan"), median_mm=float("nan"),
                       p95_mm=float("nan"), within_5mm=0.0, within_10mm=0.0)
        return cls(samples=len(d), per_m2=per_m2, area_m2=area, mean_mm=float(1000 * d.mean()),
                   median_mm=float(1000 * np.median(d)), p95_mm=float(1000 * np.percentile(d, 95)),
                   within_5mm=float((d <= 0.005).mean()), within_10mm=float((d <= 0.010).mean()))

    def within(self, threshold_mm: float) -> float:
        return {5.0: self.within_5mm, 10.0: self.within_10mm}[float(threshold_mm)]


class MeshScores(BaseModel):
    """Precision of the whole mesh, completeness of the scanned true surface, F-scores.

    ``sampled_share``: the share of the true surface's area the scans sampled (at least
    ``min_points`` cloud points within ``radius``), over which completeness is taken."""

    precision: Distances  # mesh samples -> true surface
    completeness: Distances  # scanned true-surface samples -> mesh
    sampled_share: float
    min_points: int
    radius_m: float
    f_score_5mm: float
    f_score_10mm: float
    bridging_faces: int

    def summary(self) -> str:
        p, c = self.precision, self.completeness
        return (f"precision {p.within_5mm:.1%} of the mesh area within 5 mm of the truth ({p.within_10mm:.1%} "
                f"within 1 cm; mean {p.mean_mm:.1f} mm, p95 {p.p95_mm:.1f} mm; {p.per_m2:g} samples/m² over "
                f"{p.area_m2:.1f} m²); completeness {c.within_5mm:.1%} of the scanned true surface within 5 mm of "
                f"the mesh, {c.within_10mm:.1%} within 1 cm (mean {c.mean_mm:.1f} mm, p95 {c.p95_mm:.1f} mm; "
                f"{c.per_m2:g} samples/m² over {c.area_m2:.1f} m², {self.sampled_share:.1%} of the true surface, "
                f">= {self.min_points} points within {100 * self.radius_m:g} cm); F-score {self.f_score_5mm:.1%} "
                f"at 5 mm, {self.f_score_10mm:.1%} at 1 cm")


def f_score(precision: float, recall: float) -> float:
    """The harmonic mean of precision and recall (0 when both are 0)."""
    return 0.0 if precision + recall <= 0 else 2 * precision * recall / (precision + recall)


def distance_to_mesh(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Unsigned distance from each point to the nearest triangle (open3d's RaycastingScene).

    Give vertices and points in one frame near the data (float32 is used inside)."""
    from twin._deps import open3d  # noqa: PLC0415

    o3d = open3d()
    if len(faces) == 0:
        return np.full(len(points), np.inf)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.asarray(faces, dtype=np.uint32)))
    return scene.compute_distance(o3d.core.Tensor(np.asarray(points, dtype=np.float32))).numpy().astype(np.float64)


def mesh_scores(mesh: TriMesh, cloud: PointCloud, truth: GroundTruth, survey_id: str, *, per_m2: float = 1000.0,
                min_points: int = 3, radius: float = 0.05, seed: int = 0) -> MeshScores:
    """Precision of the whole ``mesh`` against the survey's true surface and completeness
    of the true surface the ``cloud`` sampled, both sampled at ``per_m2`` points per
    square metre (see the module's docstring)."""
    true_mesh = load_truth_mesh(truth, survey_id)
    # everything in the truth's local frame: small coordinates, float32-safe
    scores = surface_scores(mesh.vertices + (mesh.origin - true_mesh.origin), mesh.faces, true_mesh.vertices,
                            true_mesh.triangles, cloud.xyz + (cloud.origin - true_mesh.origin), per_m2=per_m2,
                            min_points=min_points, radius=radius, seed=seed)
    return scores.model_copy(update={"bridging_faces": bridging_faces(mesh, truth)})


def surface_scores(vertices: np.ndarray, faces: np.ndarray, true_vertices: np.ndarray, true_triangles: np.ndarray,
                   cloud_xyz: np.ndarray, *, per_m2: float = 1000.0, min_points: int = 3, radius: float = 0.05,
                   seed: int = 0) -> MeshScores:
    """``mesh_scores`` on arrays in one frame: a reconstructed mesh, the true mesh and the
    cloud the reconstruction came from (``bridging_faces`` left at 0)."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    if per_m2 <= 0 or min_points < 1 or radius <= 0:
        raise ValueError("sampling density, min_points and radius must be positive")
    mesh_area = float(_areas(vertices, faces).sum()) if len(faces) else 0.0
    if mesh_area > 0:
        from_mesh = _sample_surface(vertices, faces, max(1, round(per_m2 * mesh_area)), seed)
        precision = distance_to_mesh(true_vertices, true_triangles, from_mesh)
    else:
        precision = np.zeros(0)
    true_area = float(_areas(true_vertices, true_triangles).sum())
    from_truth = _sample_surface(true_vertices, true_triangles, max(1, round(per_m2 * true_area)), seed + 1)
    counts = cKDTree(cloud_xyz).query_ball_point(from_truth, r=radius, workers=-1, return_length=True)
    sampled = counts >= min_points
    completeness = distance_to_mesh(vertices, faces, from_truth[sampled])

    p = Distances.of(precision, per_m2, mesh_area)
    c = Distances.of(completeness, per_m2, true_area * float(sampled.mean()))
    return MeshScores(
        precision=p, completeness=c, sampled_share=float(sampled.mean()), min_points=min_points, radius_m=radius,
        f_score_5mm=f_score(p.within_5mm, c.within_5mm), f_score_10mm=f_score(p.within_10mm, c.within_10mm),
        bridging_faces=0,
    )


def _areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    tri = vertices[triangles]
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


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
    area = _areas(vertices, triangles)
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


def mesh_area_on_true_elements(mesh: TriMesh, truth: GroundTruth, survey_id: str, *,
                               max_distance: float = 0.05) -> dict[str, float]:
    """The area (m²) of ``mesh``'s faces that lie on each element's true surface: each face
    goes to the element of the true surface nearest its centroid, if that lies within
    ``max_distance``. The reference for areas per element, phase and material: what the
    mesh holds of each, whichever way the product labels its faces."""
    distance, element = true_elements_of_faces(mesh, load_truth_mesh(truth, survey_id))
    on = distance <= max_distance
    areas = _areas(mesh.vertices, mesh.faces)
    ids = truth.element_ids()
    per = np.bincount(element[on], weights=areas[on], minlength=len(ids))
    return {e: float(a) for e, a in zip(ids, per, strict=True)}


def true_elements_of_faces(mesh: TriMesh, true_mesh: TruthMesh) -> tuple[np.ndarray, np.ndarray]:
    """Per face of ``mesh``: the distance from its centroid to the nearest true triangle and
    that triangle's element (an index into ``truth.element_ids()``)."""
    return true_mesh.closest(mesh.vertices[mesh.faces].mean(axis=1) + mesh.origin)


class FaceLabelScores(BaseModel):
    """How the faces of one mesh level are labelled, against the truth.

    A face's true element is the element of the true surface nearest its centroid; faces
    whose centroid lies farther than ``max_distance_m`` from every true surface (surface
    the mesher invented) have none and are left out of ``correct``."""

    faces: int
    labelled: float  # share of all faces that carry an element (the rest are unassigned, -1)
    on_truth: int  # faces within max_distance_m of the true surface
    labelled_on_truth: int
    correct: float  # share of the labelled faces on the truth whose element is their true element
    # of the labelled faces not correct, the share that themselves reach the true surface of
    # the element they carry (within the largest distance from their centroid to a corner)
    wrong_touching: float
    # "true -> carried" ("-": unassigned) for the faces on the true surface not correct, most first
    confusions: dict[str, int]
    max_distance_m: float

    @property
    def correct_or_reaching(self) -> float:
        """The share of the labelled faces on the true surface that carry their true element
        or reach the true surface of the element they carry (a face across a junction)."""
        return self.correct + (1.0 - self.correct) * self.wrong_touching

    def summary(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in list(self.confusions.items())[:4])
        return (f"{self.faces} faces, {self.labelled:.2%} labelled; {self.correct:.2%} of the {self.labelled_on_truth} "
                f"labelled faces on the true surface carry its element ({self.wrong_touching:.0%} of the others "
                f"reach the element they carry: faces across a junction); not correct: {top or 'none'}")


def face_label_scores(mesh: TriMesh, face_element: np.ndarray, element_ids: list[str], truth: GroundTruth,
                      survey_id: str, *, max_distance: float = 0.05, true_mesh: TruthMesh | None = None
                      ) -> FaceLabelScores:
    """Score a mesh level's face labels (``face_element``: indices into ``element_ids``, the
    model legend's element ids, -1 = unassigned) against the survey's true surface: the
    share labelled, and the share of labelled faces on the true surface whose element is
    the one of the true surface nearest their centroid (see :class:`FaceLabelScores`)."""
    face_element = np.asarray(face_element, dtype=np.int64)
    if len(face_element) != mesh.n_faces:
        raise ValueError(f"{len(face_element)} face labels for {mesh.n_faces} faces")
    true_mesh = true_mesh or load_truth_mesh(truth, survey_id)
    truth_ids = truth.element_ids()
    # model legend index -> truth element index; -1 unassigned, -2 an element the truth lacks
    to_truth = np.array([truth_ids.index(e) if e in truth_ids else -2 for e in element_ids] + [-1], dtype=np.int64)
    got = to_truth[face_element]
    distance, expected = true_elements_of_faces(mesh, true_mesh)
    on = distance <= max_distance
    labelled = face_element >= 0
    judged = on & labelled
    right = judged & (got == expected)
    wrong = np.flatnonzero(judged & ~right)
    touching = np.zeros(len(wrong), dtype=bool)
    known = got[wrong] >= 0
    if known.any():  # does the face itself reach the true surface of the element it carries?
        corners = mesh.vertices[mesh.faces[wrong[known]]]
        centre = corners.mean(axis=1)
        reach = np.linalg.norm(corners - centre[:, None], axis=2).max(axis=1)
        local = centre + (mesh.origin - true_mesh.origin)
        d = np.full(len(local), np.inf)
        for e in np.unique(got[wrong[known]]):
            pick = got[wrong[known]] == e
            triangles = true_mesh.triangles[true_mesh.element_index == e]
            d[pick] = distance_to_mesh(true_mesh.vertices, triangles, local[pick])
        touching[known] = d <= reach
    names = np.array([*truth_ids, "-", "?"], dtype=object)  # unassigned; an element the truth lacks
    bad = on & ~right
    carried = np.select([got[bad] == -1, got[bad] == -2], [len(truth_ids), len(truth_ids) + 1], got[bad])
    pairs, counts = np.unique(np.stack([expected[bad], carried]), axis=1, return_counts=True)
    confusions = {f"{names[a]} -> {names[b]}": int(n)
                  for (a, b), n in sorted(zip(pairs.T.tolist(), counts.tolist(), strict=True), key=lambda x: -x[1])}
    return FaceLabelScores(
        faces=mesh.n_faces, labelled=float(labelled.mean()) if mesh.n_faces else 0.0, on_truth=int(on.sum()),
        labelled_on_truth=int(judged.sum()), correct=float(right.sum() / judged.sum()) if judged.any() else 0.0,
        wrong_touching=float(touching.mean()) if len(wrong) else 0.0, confusions=confusions,
        max_distance_m=max_distance,
    )

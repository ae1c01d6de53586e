"""A generated survey: the scene, the stations' points in their own frames, the truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from twin.errors import UsageError
from twin.sample.generate import sun_direction
from twin.sample.geometry import LabelledMesh
from twin.sample.scanner import MeshScene, scan
from twin.sample.scenes.buildings import BUILDERS
from twin.sample.scenes.stations import StationPlan, plan_buildings, plan_object
from twin.sample.scenes.statue import statue
from twin.sample.scenes.visibility import overlap_of, seen, surface_samples

SCENE_KINDS = ("gate", "hall", "tower", "courtyard", "statue")
OBJECT_KINDS = ("statue",)
DEFAULT_STATIONS = {"statue": (5, 8)}  # inclusive; buildings (3, 6)
MAX_STATIONS = 40
LAYOUT_TRIALS = 12


@dataclass
class GeneratedStation:
    name: str
    xyz: np.ndarray  # (n, 3) float64, the station's own instrument frame, scan order
    intensity: np.ndarray  # (n,) uint16
    true_pose: np.ndarray  # 4x4: station frame -> site frame
    scanner: np.ndarray  # the optical centre in the station's frame: zeros
    tilt_deg: float
    doubled: bool
    rgb: np.ndarray  # (n, 3) uint8
    outlier: np.ndarray  # (n,) bool: moved along the ray or a mixed pixel (not in the files)
    spacing: float  # median nearest-neighbour distance of its points (m), doubling left out
    plan: StationPlan


@dataclass
class GeneratedScene:
    kind: str
    seed: int
    stations: list[GeneratedStation]
    truth_mesh: LabelledMesh
    is_object: bool
    nominal_spacing: float  # median nearest-neighbour distance within each station (m), pooled
    neighbours: list[tuple[int, int]]  # station pairs that overlap by design
    weak: list[tuple[int, int]]  # ... of which these little (upper floor, through a gate)
    params: dict = field(default_factory=dict)
    _seen: np.ndarray | None = field(default=None, repr=False)

    def site_points(self, index: int) -> np.ndarray:
        """Station ``index``'s points moved by its true pose into the site frame."""
        st = self.stations[index]
        return st.xyz @ st.true_pose[:3, :3].T + st.true_pose[:3, 3]


def truth_relative(scene: GeneratedScene, reference_index: int) -> list[np.ndarray]:
    """Each station's true transform into the reference station's frame: inv(T_ref) @ T_i."""
    inv = np.linalg.inv(scene.stations[reference_index].true_pose)
    return [inv @ st.true_pose for st in scene.stations]


def _kind_index(kind: str) -> int:
    if kind not in SCENE_KINDS:
        raise UsageError(f"unknown scene {kind!r}: choose one of {', '.join(SCENE_KINDS)}")
    return SCENE_KINDS.index(kind) + 1


def scan_station(scene: MeshScene, plan: StationPlan, seed: int, sun: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
    """One station's returns (its own frame): xyz, intensity, rgb, and the outlier flags."""
    sun = sun_direction(135.0, 45.0) if sun is None else sun
    chunks = list(scan(scene, plan.setup, seed=seed, sun=sun, model=plan.model))
    return {k: np.concatenate([getattr(c, k) for c in chunks]) for k in ("xyz", "intensity", "rgb", "outlier")}


def _spacing(xyz: np.ndarray) -> np.ndarray:
    if len(xyz) < 2:
        return np.zeros(0)
    return cKDTree(xyz).query(xyz, k=2)[0][:, 1]


def generate_scene(
    kind: str,
    seed: int,
    *,
    points_per_station: int = 30_000,
    stations: int | None = None,
    doubling: bool | None = None,
) -> GeneratedScene:
    """Build a scene of ``kind`` and scan it from seeded stations.

    The same (kind, seed, arguments) give identical arrays. ``stations`` defaults to a
    seeded 3-6 (buildings) or 5-8 (statue); 2-40 may be asked. ``doubling``: None lets
    the seed decide whether some stations store every point twice; True or False forces it.
    """
    key = _kind_index(kind)
    if stations is not None and not 2 <= stations <= MAX_STATIONS:
        raise UsageError(f"stations must be 2..{MAX_STATIONS}, got {stations}")
    if points_per_station < 100:
        raise UsageError(f"points per station must be at least 100, got {points_per_station}")
    rng = np.random.default_rng([seed, key, 1])
    lo, hi = DEFAULT_STATIONS.get(kind, (3, 6))
    n = stations if stations is not None else int(rng.integers(lo, hi + 1))
    is_object = kind in OBJECT_KINDS
    build = statue if is_object else BUILDERS[kind]
    plan = plan_object if is_object else plan_buildings

    def layout(attempt: int, steps: bool):
        site = build(np.random.default_rng([seed, key, 2]), np.random.default_rng([seed, key, 4, attempt]), n)
        mesh_scene = MeshScene(site.mesh)
        plan_rng = np.random.default_rng([seed, key, 3, attempt])
        plans, score = plan(
            site, mesh_scene, plan_rng, points_per_station, key0=1000 * key, doubling=doubling, steps=steps
        )
        return site, mesh_scene, plans, score

    # trial layouts round the same structure: the first whose neighbours all share enough
    # surface (score >= 1), else the best
    best = (-1.0, 0)
    for attempt in range(0 if is_object else LAYOUT_TRIALS if n <= 8 else 3):  # (objects: one layout)
        score = layout(attempt, steps=False)[3]
        best = max(best, (score, attempt))
        if score >= 1.0:
            break
    site, mesh_scene, plans, _ = layout(best[1], steps=True)
    sun = sun_direction(rng.uniform(0.0, 360.0), rng.uniform(20.0, 70.0))
    out, gaps = [], []
    for p in plans:
        pts = scan_station(mesh_scene, p, seed, sun)
        nn = _spacing(pts["xyz"])
        gaps.append(nn)
        if p.doubled:  # the export wrote the whole scan twice
            pts = {k: np.concatenate([v, v]) for k, v in pts.items()}
        out.append(GeneratedStation(
            name=p.setup.name, xyz=pts["xyz"], intensity=pts["intensity"], true_pose=p.setup.pose(),
            scanner=np.zeros(3), tilt_deg=p.tilt_deg, doubled=p.doubled, rgb=pts["rgb"], outlier=pts["outlier"],
            spacing=float(np.median(nn)) if len(nn) else float("nan"), plan=p,
        ))  # fmt: skip
    params = {"stations": n, "points_per_station": points_per_station, **site.params}
    return GeneratedScene(
        kind,
        seed,
        out,
        site.mesh,
        is_object,
        float(np.median(np.concatenate(gaps))),
        site.neighbours,
        site.weak,
        params,
    )


def overlap(scene: GeneratedScene, i: int, j: int) -> float:
    """Share of the true surface seen by the one of two stations that sees less which
    the other sees too (see twin.sample.scenes.visibility)."""
    if scene._seen is None:
        samples, tri = surface_samples(scene.truth_mesh)
        ms = MeshScene(scene.truth_mesh)
        scene._seen = np.array([seen(ms, st.plan.setup, st.plan.model, samples, tri) for st in scene.stations])
    return overlap_of(scene._seen[i], scene._seen[j])


__all__ = [
    "SCENE_KINDS",
    "GeneratedScene",
    "GeneratedStation",
    "generate_scene",
    "overlap",
    "truth_relative",
]

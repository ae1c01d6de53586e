"""How each station of a generated survey is set up: pose, scan window, angular step,
range noise, density and whether its export doubles every point.

Buildings: instruments levelled to within 3° (any heading), 1.3-1.8 m above the spot,
framing the structure (some with a narrowed window, so neighbours overlap less).
Objects: a hand-held close-range scanner in any orientation, sweeping a patch of the
object at a target spacing of 0.3-0.6 mm (the whole object where the point budget allows).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from twin.sample.generate import rotation_z, tilt_rotation
from twin.sample.scanner import MeshScene, ScannerModel, StationSetup, directions, step_for_points, window_for
from twin.sample.scenes.shapes import rotation
from twin.sample.scenes.site import Site
from twin.sample.scenes.visibility import overlap_of, seen, surface_samples

BUILDING_MODEL = ScannerModel(max_range=120.0)
OBJECT_MODEL = ScannerModel(
    min_range=0.1,
    max_range=2.0,
    range_sigma=0.00014,
    range_sigma_per_m=0.00002,
    mixed_edge=0.004,
    outlier_fraction=0.001,
)
OBJECT_SPACING = 0.00045  # m, geometric middle of 0.3-0.6 mm
MIN_OVERLAP = 0.33  # share of surface neighbours should have in common (windows narrowed no further)
MIN_WEAK_OVERLAP = 0.15  # ... where the design links them weakly (upper floor, through a gate)


@dataclass(frozen=True)
class StationPlan:
    setup: StationSetup
    model: ScannerModel
    points: int  # asked of step_for_points (or of the patch)
    density: float  # factor on points_per_station
    noise: float  # factor on the model's range sigma
    window_share: float  # share of the framing window's azimuth span kept (1: all of it)
    doubled: bool

    @property
    def tilt_deg(self) -> float:
        return float(np.degrees(np.arccos(np.clip(self.setup.rotation[2, 2], -1.0, 1.0))))

    @property
    def heading_deg(self) -> float:
        """Grid azimuth (clockwise from +y) of the instrument's x axis."""
        x = self.setup.rotation[:, 0]
        return float(np.degrees(np.arctan2(x[0], x[1])) % 360.0)


def factors(rng: np.random.Generator, n: int, log10_spread: tuple[float, float]) -> np.ndarray:
    """n factors about 1 whose largest/smallest ratio is 10**spread, the spread drawn in the range."""
    s = rng.uniform(*log10_spread)
    u = rng.uniform(-s / 2, s / 2, n)
    if n >= 2:
        lo, hi = rng.choice(n, 2, replace=False)
        u[lo], u[hi] = -s / 2, s / 2
    return 10.0**u


def doubled_stations(rng: np.random.Generator, n: int, doubling: bool | None) -> np.ndarray:
    asked = rng.random() < 0.35 if doubling is None else doubling
    out = np.zeros(n, dtype=bool)
    if asked:
        out[rng.choice(n, int(rng.integers(1, max(1, n // 3) + 1)), replace=False)] = True
    return out


def plan_buildings(
    site: Site,
    scene: MeshScene,
    rng: np.random.Generator,
    points: int,
    *,
    key0: int,
    doubling: bool | None,
    model: ScannerModel = BUILDING_MODEL,
    steps: bool = True,
) -> tuple[list[StationPlan], float]:
    """The stations' plans and the least overlap between neighbours (weak links left out).
    ``steps=False`` skips the step pilots (a trial layout)."""
    n = len(site.spots)
    mesh = site.mesh
    samples, tri = surface_samples(mesh)
    solid = np.array([e.kind != "ground" for e in mesh.elements])[mesh.element_index[tri]]
    targets = samples[solid][:: max(1, int(solid.sum()) // 6000)]
    if site.ground is not None:  # not the foundations: the operator frames what stands above the ground
        targets = targets[targets[:, 2] >= site.ground(targets[:, 0], targets[:, 1]) - 0.05]
    density, noise = factors(rng, n, (0.3, 1.0)), 2.0 ** rng.uniform(-1, 1, n)
    doubled = doubled_stations(rng, n, doubling)
    poses, full, narrow = [], [], []
    for spot in site.spots:
        rot = tilt_rotation(rng.uniform(0.0, 3.0), rng.uniform(0.0, 360.0)) @ rotation_z(rng.uniform(0.0, 360.0))
        pos = spot.xyz + [0.0, 0.0, rng.uniform(1.3, 1.8)]
        aw, ew = (
            ((0.0, 360.0), (-60.0, 90.0))
            if spot.full_dome
            else window_for(pos, rot, targets, margin_deg=2.0, below_deg=0.0)
        )
        share, cut = 1.0, aw
        if rng.random() < 0.35 and aw[1] - aw[0] < 360.0:  # the operator framed only part of the structure
            share = rng.uniform(0.6, 0.85)
            span = aw[1] - aw[0]
            a0 = aw[0] + (0.5 + rng.uniform(-0.25, 0.25)) * (1 - share) * span  # about the middle
            cut = (round(a0, 6), round(a0 + share * span, 6))
        poses.append((pos, rot, ew))
        full.append(aw)
        narrow.append((cut, share))
    # a narrowed window that leaves a neighbour too little shared surface is widened again
    setup = lambda k, aw: StationSetup(f"S{k + 1}", poses[k][0], poses[k][1], aw, poses[k][2], 1.0, 0)  # noqa: E731
    seen_by = [seen(scene, setup(k, narrow[k][0]), model, samples, tri) for k in range(n)]
    for i, j in site.neighbours:
        if overlap_of(seen_by[i], seen_by[j]) < (MIN_WEAK_OVERLAP if (i, j) in site.weak else MIN_OVERLAP):
            for k in (i, j):
                if narrow[k][1] < 1.0:
                    narrow[k] = (full[k], 1.0)
                    seen_by[k] = seen(scene, setup(k, full[k]), model, samples, tri)
    # score >= 1: every neighbour shares MIN_OVERLAP of surface (a weak link MIN_WEAK_OVERLAP)
    score = min([overlap_of(seen_by[i], seen_by[j]) / (MIN_WEAK_OVERLAP if (i, j) in site.weak else MIN_OVERLAP)
                 for i, j in site.neighbours] or [1.0])  # fmt: skip
    out = []
    for k in range(n):
        (pos, rot, ew), (aw, share) = poses[k], narrow[k]
        m = replace(
            model, range_sigma=model.range_sigma * noise[k], range_sigma_per_m=model.range_sigma_per_m * noise[k]
        )
        want = max(100, int(round(points * density[k])))
        step = round(step_for_points(scene, pos, rot, aw, ew, want, m, pilot_step=0.5), 8) if steps else 1.0
        st = StationSetup(f"S{k + 1}", pos, rot, aw, ew, step, key0 + k + 1)
        out.append(StationPlan(st, m, want, float(density[k]), float(noise[k]), share, bool(doubled[k])))
    return out, score


def _aligning(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector a to unit vector b."""
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-12:
        return (
            np.eye(3)
            if c > 0
            else rotation(np.cross(a, [1.0, 0, 0]) if abs(a[0]) < 0.9 else np.cross(a, [0, 1.0, 0]), np.pi)
        )
    return rotation(axis, np.arctan2(s, c))


def _patch(scene: MeshScene, pos, rot, full, aim_local, *, points: int, spacing: float, model: ScannerModel):
    """The window about ``aim_local`` (az, el) and the step that give about ``points``
    returns at ``spacing``; None where the whole object fits the budget."""
    (a0, a1), (e0, e1) = full
    pilot = max((a1 - a0), (e1 - e0)) / 160.0
    aa, ee = np.meshgrid(np.arange(a0, a1 + 1e-9, pilot), np.arange(e0, e1 + 1e-9, pilot), indexing="ij")
    d = directions(aa.ravel(), ee.ravel()) @ rot.T
    t, prim = scene.cast(pos, d)
    ok = (prim >= 0) & (t >= model.min_range) & (t <= model.max_range)
    cos_i = np.abs(np.einsum("ij,ij->i", scene.normals[prim[ok]], d[ok]))
    w = np.clip((cos_i - model.drop_cos_all) / (model.drop_cos_none - model.drop_cos_all), 0.0, 1.0)
    az0, el0 = aim_local
    c = np.cos(np.radians(el0))
    m = np.maximum(np.abs(ee.ravel()[ok] - el0), np.abs((aa.ravel()[ok] - az0 + 180) % 360 - 180) * c)
    order = np.argsort(m)
    r = float(np.median(t[ok][order[: max(10, len(order) // 10)]]))
    step = float(np.degrees(spacing / r))
    returns = np.cumsum(w[order]) * (pilot / step) ** 2
    if returns[-1] <= points:
        return None
    h = float(m[order][np.searchsorted(returns, points)])
    ha = min(180.0, h / c)
    aw = (round(float(az0 - ha), 6), round(float(az0 + ha), 6))
    return (aw, (round(max(-90.0, el0 - h), 6), round(min(90.0, el0 + h), 6))), round(step, 8)


def plan_object(
    site: Site,
    scene: MeshScene,
    rng: np.random.Generator,
    points: int,
    *,
    key0: int,
    doubling: bool | None,
    model: ScannerModel = OBJECT_MODEL,
    steps: bool = True,
) -> tuple[list[StationPlan], float]:
    n = len(site.spots)
    v = site.mesh.vertices
    lo, hi = v.min(axis=0), v.max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    density, noise = factors(rng, n, (0.3, 0.6)), 2.0 ** rng.uniform(-0.5, 0.5, n)
    doubled = doubled_stations(rng, n, doubling)
    out = []
    for k, spot in enumerate(site.spots):
        pos = spot.xyz
        aim = centre + rng.uniform(-0.15, 0.15, 3) * half
        az0, el0 = rng.uniform(0.0, 360.0), rng.uniform(-35.0, 35.0)
        a_site = (aim - pos) / np.linalg.norm(aim - pos)
        rot = rotation(a_site, rng.uniform(0, 2 * np.pi)) @ _aligning(directions(np.array(az0), np.array(el0)), a_site)
        m = replace(
            model, range_sigma=model.range_sigma * noise[k], range_sigma_per_m=model.range_sigma_per_m * noise[k]
        )
        want = max(100, int(round(points * density[k])))
        full = window_for(pos, rot, v, margin_deg=2.0, below_deg=0.0)
        patch = _patch(
            scene, pos, rot, full, (az0, el0), points=want, spacing=OBJECT_SPACING / np.sqrt(density[k]), model=m
        )
        if patch is None:
            (aw, ew), step = full, round(step_for_points(scene, pos, rot, *full, want, m, pilot_step=0.2), 8)
        else:
            (aw, ew), step = patch
        setup = StationSetup(f"S{k + 1}", pos, rot, aw, ew, step, key0 + k + 1)
        out.append(StationPlan(setup, m, want, float(density[k]), float(noise[k]), 1.0, bool(doubled[k])))
    return out, 1.0

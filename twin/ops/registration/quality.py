"""How good a registration is, in the figures surveyors judge it by.

Per link (two stations that overlap, once every pose is final):

- **overlap** both ways: the share of each station's points (check scale) with a point
  of the other within the check distance;
- **cloud-to-cloud error**: distances from each point of the source in the overlap to
  the target's local surface (point-to-plane at the finest scale, so that the point
  spacing does not count as error), as RMS and mean of their magnitudes, and the share
  of them within the tolerance (6 mm on a building, three point spacings on an object);
- **strength per axis**: how well the overlap's surfaces fix a translation along X, Y
  and Z of the reference frame, from the point-to-plane normal equations with the
  rotation marginalised out (the Schur complement of the translation block): 1 when
  every surface faces that axis, 0 when none does (a single wall leaves two axes free).

Per survey: the **bundle error** (RMS over links of how far the link's own ICP
alignment and the optimised poses place the source's overlap points apart) and a
**loop-closure error** for every link outside the spanning tree (its alignment against
the chain of links that also joins its two stations). A loop is flagged when it misses
by more than twice the tolerance or twice the point spacing, whichever is larger: six
real scans of a statue stored in millimetres (read as metres, so a 120 m "building" at
0.24 m spacing) close their loops within 0.09-0.21 units, under one spacing, which the
6 mm tolerance alone called open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from twin.ops.registration.settings import RegistrationSettings
from twin.ops.registration.station import PlacedUnion, Station, arrays, even_stride

WEAK_OVERLAP = 0.30  # a link with less overlap (either way) is flagged
WEAK_STRENGTH = 0.15  # an axis fixed less than this is flagged
WEAK_WITHIN = 0.50  # a link with fewer of its overlap points within tolerance is flagged
NEAR_TIE = 0.90  # a runner-up scoring this share of the chosen alignment is flagged
MEASURE_MAX_POINTS = 1_000_000
AXES = "XYZ"


@dataclass(frozen=True)
class Fit:
    fitness: float  # share with a partner at the check scale: insensitive to point density
    inlier_rmse: float  # point-to-plane, at the finest scale
    correspondences: int  # at the finest scale


def plane_residuals(moved: np.ndarray, union: PlacedUnion, cut: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For points already moved into the union's frame: which have a union point within
    ``cut``, their signed point-to-plane distances to it, and its index in the union."""
    _, idx = union.query(moved, k=1, distance_upper_bound=cut)
    paired = idx < union.n
    hit = idx[paired]
    return paired, np.einsum("ij,ij->i", moved[paired] - union.points[hit], union.normals[hit]), hit


def measure(src: Station, transform: np.ndarray, others: Sequence[Station], poses: Sequence[np.ndarray],
            settings: RegistrationSettings) -> Fit:
    """Fitness of ``src`` (moved by ``transform``) against ``others`` (moved by ``poses``).
    A station of more than ``MEASURE_MAX_POINTS`` fine points is measured on an even
    stride through them, and the correspondence count scaled up to all."""
    r, t = transform[:3, :3], transform[:3, 3]
    coarse_src = arrays(src, settings.check_voxel)[0]
    dist, _ = PlacedUnion(others, poses, settings.check_voxel).query(
        coarse_src @ r.T + t, k=1, distance_upper_bound=settings.check_distance)
    fitness = float(np.isfinite(dist).mean()) if len(dist) else 0.0
    fine_src = arrays(src, settings.fine_voxel)[0]
    moved = even_stride(fine_src, MEASURE_MAX_POINTS) @ r.T + t
    paired, residual, _ = plane_residuals(moved, PlacedUnion(others, poses, settings.fine_voxel), settings.finest_distance)
    if not paired.any():
        return Fit(fitness, float("inf"), 0)
    pairs = int(round(paired.sum() * len(fine_src) / len(moved)))
    return Fit(fitness, float(np.sqrt(np.mean(residual**2))), pairs)


def misfit(stations: list[Station], poses: list[np.ndarray], settings: RegistrationSettings) -> float:
    """A truncated least-squares cost of the whole survey (lower is better): over every
    station's fine points, the mean of min(r, c)² where r is the point-to-plane distance
    to the nearest point of the other stations and c the finest stage's distance (a
    point with none within c costs c²).

    An RMSE over the inliers only was tried first and chose wrong: a set of poses that
    slides a station along a façade can push its poorer pairs beyond the distance and
    lower the inliers' RMSE while fitting the data worse. On generated surveys at 30k
    points a station the RMSE preferred the pose graph's 9 mm over the joint stages' 4.7
    mm (a hall) and ranked the truth behind both; the truncated cost ranks them as the
    errors do."""
    cut = settings.finest_distance
    total = 0.0
    for i, st in enumerate(stations):
        others = [j for j in range(len(stations)) if j != i]
        points = arrays(st, settings.fine_voxel)[0]
        moved = even_stride(points, MEASURE_MAX_POINTS) @ poses[i][:3, :3].T + poses[i][:3, 3]
        union = PlacedUnion([stations[j] for j in others], [poses[j] for j in others], settings.fine_voxel)
        paired, distance, _ = plane_residuals(moved, union, cut)
        residual = np.full(len(moved), cut)
        residual[paired] = np.abs(distance)
        total += float(np.mean(np.minimum(residual, cut) ** 2)) if len(moved) else cut**2
    return total / len(stations)


@dataclass(frozen=True)
class LinkQuality:
    source: str
    target: str
    overlap_source: float  # share of the source's points that the target also saw
    overlap_target: float  # ... and the other way round
    rms_mm: float
    mean_mm: float
    within: float  # share of the overlap's distances within the tolerance
    tolerance_mm: float
    strength: dict[str, float]  # X, Y, Z of the reference frame
    points: int  # distances measured
    in_tree: bool  # on the spanning tree (else it closes a loop)
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunnerUp:
    """The best alternative alignment of a station's link that differs from the chosen one."""

    partner: str
    rotation_deg: float  # how far it is from the chosen one
    shift_m: float  # at the station's centre
    support: float  # its overlap minus the conflict penalty
    chosen_support: float


@dataclass(frozen=True)
class StationQuality:
    name: str
    fitness: float
    rmse_mm: float
    links: list[str]
    runner_up: RunnerUp | None = None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoopError:
    link: str  # the loop-closing link "a - b"
    stations: list[str]  # the loop, in order
    rotation_deg: float
    shift_mm: float  # RMS displacement of the link's source points


@dataclass(frozen=True)
class SurveyQuality:
    bundle_rms_mm: float
    loops: list[LoopError]
    links: list[LinkQuality]
    stations: list[StationQuality]
    lengths: dict
    flags: list[str] = field(default_factory=list)

    @property
    def max_loop_mm(self) -> float:
        return max((lp.shift_mm for lp in self.loops), default=0.0)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["max_loop_mm"] = self.max_loop_mm
        return out


def link_quality(src: Station, dst: Station, pose_src: np.ndarray, pose_dst: np.ndarray,
                 settings: RegistrationSettings, in_tree: bool) -> LinkQuality:
    """The figures of one link (see the module docstring); poses map centred stations
    to the centred reference frame."""
    from twin.ops.registration.fine import overlap_share  # noqa: PLC0415

    rel = np.linalg.inv(pose_dst) @ pose_src
    over_src = overlap_share(src, dst, rel, settings)
    over_dst = overlap_share(dst, src, np.linalg.inv(rel), settings)
    pts = arrays(src, settings.fine_voxel)[0]
    moved = even_stride(pts, MEASURE_MAX_POINTS) @ pose_src[:3, :3].T + pose_src[:3, 3]
    union = PlacedUnion([dst], [pose_dst], settings.fine_voxel)
    paired, d, hit = plane_residuals(moved, union, settings.finest_distance)
    tol = float(settings.tolerance)
    strength = {a: 0.0 for a in AXES}
    if paired.any():
        normals = union.normals[hit]
        p = moved[paired]
        rms, mean, within = float(np.sqrt(np.mean(d**2))), float(np.mean(np.abs(d))), float(np.mean(np.abs(d) <= tol))
        strength = _strength(p, normals)
    else:
        rms = mean = float("inf")
        within = 0.0
    flags = []
    if min(over_src, over_dst) < WEAK_OVERLAP:
        flags.append(f"low overlap ({min(over_src, over_dst):.0%}): the link rests on little common surface; "
                     "a station between the two would strengthen it")
    if within < WEAK_WITHIN:
        flags.append(f"only {within:.0%} of the overlap lies within {tol * 1000:.1f} mm: check for movement "
                     "between the scans (vegetation, people, vehicles) or a poor alignment")
    weak_axes = [a for a in AXES if strength[a] < WEAK_STRENGTH]
    if weak_axes and paired.any():
        flags.append(f"weak along {', '.join(weak_axes)}: few surfaces in the overlap face that way, so the link "
                     "barely fixes it; scan surfaces across it (a return wall, the floor) from both stations")
    return LinkQuality(src.name, dst.name, over_src, over_dst, rms * 1000, mean * 1000, within, tol * 1000,
                       strength, int(paired.sum()), in_tree, flags)


def _strength(points: np.ndarray, normals: np.ndarray) -> dict[str, float]:
    """Per axis, sqrt of the translation information left once rotation is free, per point."""
    c = points - points.mean(axis=0)
    jac = np.hstack([np.cross(c, normals), normals])  # d(residual)/d(rotation, translation)
    h = jac.T @ jac / len(jac)
    h_rr, h_rt, h_tt = h[:3, :3], h[:3, 3:], h[3:, 3:]
    schur = h_tt - h_rt.T @ np.linalg.pinv(h_rr) @ h_rt
    return {a: float(np.sqrt(max(schur[k, k], 0.0))) for k, a in enumerate(AXES)}


def _displacement(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance between ``points`` moved by ``a`` and by ``b``."""
    d = (points @ a[:3, :3].T + a[:3, 3]) - (points @ b[:3, :3].T + b[:3, 3])
    return float(np.sqrt(np.mean(np.sum(d * d, axis=1)))) if len(d) else 0.0


def _path(tree: set[tuple[int, int]], start: int, goal: int) -> list[int]:
    """The stations on the tree's path from ``start`` to ``goal``."""
    neighbours: dict[int, list[int]] = {}
    for a, b in tree:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    previous = {start: start}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in neighbours.get(node, []):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    path = [goal]
    while path[-1] != start:
        path.append(previous[path[-1]])
    return path[::-1]


def survey_quality(stations: list[Station], poses: list[np.ndarray], links, reference: int,
                   settings: RegistrationSettings, fits: list[Fit], searches=()) -> SurveyQuality:
    """Every figure of the module docstring, with flags that name the problem and the fix."""
    from twin.ops.registration.graph import link_tree  # noqa: PLC0415
    from twin.ops.registration.results import rotation_angle_deg  # noqa: PLC0415

    names = [s.name for s in stations]
    tree_poses, tree = link_tree(len(stations), reference, links)
    link_rows, bundle, loops = [], [], []
    for k in links:
        key = (min(k.source, k.target), max(k.source, k.target))
        link_rows.append(link_quality(stations[k.source], stations[k.target], poses[k.source], poses[k.target],
                                      settings, key in tree))
        pts = arrays(stations[k.source], settings.check_voxel)[0]
        optimised = np.linalg.inv(poses[k.target]) @ poses[k.source]
        bundle.append(_displacement(pts, k.transform, optimised) ** 2)
        if key not in tree and tree_poses[k.source] is not None and tree_poses[k.target] is not None:
            chain = np.linalg.inv(tree_poses[k.target]) @ tree_poses[k.source]
            loops.append(LoopError(f"{names[k.source]} - {names[k.target]}",
                                   [names[i] for i in _path(tree, k.target, k.source)],
                                   rotation_angle_deg(np.linalg.inv(chain) @ k.transform),
                                   _displacement(pts, k.transform, chain) * 1000))
    bundle_rms = float(np.sqrt(np.mean(bundle))) * 1000 if bundle else 0.0
    station_rows = []
    for i, st in enumerate(stations):
        mine = [f"{r.source} - {r.target}" for r in link_rows if st.name in (r.source, r.target)]
        flags = []
        if not mine and len(stations) > 1:
            flags.append("no link after optimisation: placed through the others only; rescan with overlap to a "
                         "neighbour, or give it a pose in its file")
        runner = _runner_up(i, st, searches, names)
        if runner is not None and runner.chosen_support > 0 and runner.support >= NEAR_TIE * runner.chosen_support:
            flags.append(f"near tie with an alternative {runner.rotation_deg:.1f} deg / {runner.shift_m:.2f} m away "
                         f"(support {runner.support:.2f} against {runner.chosen_support:.2f}): the building's "
                         "symmetry or repetition; check the station in the report's plan")
        station_rows.append(StationQuality(st.name, fits[i].fitness, fits[i].inlier_rmse * 1000, mine, runner, flags))
    survey_flags = []
    tolerance = settings.tolerance * 1000
    closes_within = 2 * max(tolerance, float(np.median([st.spacing for st in stations])) * 1000)
    for lp in loops:
        if lp.shift_mm > closes_within:
            survey_flags.append(f"loop {' -> '.join(lp.stations)} does not close: {lp.shift_mm:.1f} mm "
                                f"({lp.rotation_deg:.3f} deg) by link {lp.link}; the graph spreads it over the "
                                "loop: check the link's stations for movement between scans or a weak overlap, "
                                "and rescan a station between them if it stays")
    return SurveyQuality(bundle_rms, loops, link_rows, station_rows, settings.lengths(), survey_flags)


def _runner_up(i: int, station: Station, searches, names: list[str]) -> RunnerUp | None:
    """The strongest alternative among the coarse searches of the links that placed station i."""
    from twin.ops.registration.results import rotation_angle_deg  # noqa: PLC0415

    best = None
    for s in searches:
        if i not in (s.source, s.target) or not s.accepted or s.runner_up is None:
            continue
        delta = np.linalg.inv(s.best.transform) @ s.runner_up.transform
        shift = float(np.linalg.norm(delta[:3, :3] @ np.zeros(3) + delta[:3, 3]))
        partner = names[s.target if s.source == i else s.source]
        row = RunnerUp(partner, rotation_angle_deg(delta), shift, s.runner_up.score, s.best.score)
        if best is None or row.support / max(row.chosen_support, 1e-9) > best.support / max(best.chosen_support, 1e-9):
            best = row
    return best

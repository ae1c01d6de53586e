"""Coarse alignment without initial poses: candidate alignments per pair of stations,
the most credible one chosen by evidence, and the stations placed one by one by those
candidates that agree best with every station already placed.

Two searches give candidates:

- **Levelled (4 DoF).** Terrestrial scanners are levelled (their vertical is found
  from the walls they see, see ``station.up_direction``), so two stations differ by
  a yaw and a translation: for every yaw on a grid, the plan-view footprints of the
  stations' steep surfaces are correlated by FFT, less the footprint that lands where
  the other scanner saw through (a façade slid along itself, a symmetric twin), and the
  best distinct peaks (a few per yaw) are sharpened on a finer grid. The same search
  without the free-space term adds a few peaks: a station on an upper floor sees over
  walls below it. Feature matching is not used here: on buildings made of repeated
  elements (columns, bays) FPFH matches are mostly between twins.
- **Free (6 DoF).** For frames that are not levelled (hand-held or object scans, a
  statue seen from above and below): FPFH features and RANSAC, repeated after removing
  the matches each answer explains, so that a symmetric object's twins all come up.

Every candidate is judged where the search put it: overlap, less a heavy penalty for
*visibility conflicts* (points of one station in space that the other scanner saw
through, twin.ops.registration.visibility). The best few distinct ones are settled by
a short ICP and judged again; the runner-up is kept so that a near tie is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.ops.registration.consensus import ransac_on_matches
from twin.ops.registration.fine import OVERLAP_MAX_POINTS, overlap_share, pair_overlap, settle
from twin.ops.registration.settings import RegistrationSettings, shares
from twin.ops.registration.visibility import range_image, seen_through
from twin.ops.registration.station import (
    Station,
    features,
    level,
    levelling,
    up_direction,
)


@dataclass(frozen=True)
class Candidate:
    transform: np.ndarray  # centred source -> centred target
    overlap: float  # share of the source's points with a partner (check scale)
    conflict: float  # share of points seen through by the other scanner (0 when unknown)
    score: float  # overlap - weight x conflict


@dataclass(frozen=True)
class PairSearch:
    """The outcome of the coarse search for one pair: its best candidate, the best one
    that differs from it (a symmetric or repeated alternative), how many were tried,
    whether the link was accepted and, if not, why."""

    source: int
    target: int
    best: Candidate | None
    runner_up: Candidate | None
    candidates: list[Candidate]  # every settled candidate, best first
    tried: int  # hypotheses judged
    search: str  # "levelled" or "6-dof" or "levelled+6-dof"
    accepted: bool
    reason: str  # why it was refused ("" when accepted)


# ------------------------------------------------------------------ levelled search


def _plan_images(points: np.ndarray, lo: np.ndarray, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Occupancy of levelled steep points in plan (one image, heights ignored: stations on
    different floors or a slope share no ground height to cut bands from)."""
    ij = np.floor((points[:, :2] - lo) / cell).astype(np.int64)
    ok = (ij[:, 0] >= 0) & (ij[:, 1] >= 0) & (ij[:, 0] < shape[0]) & (ij[:, 1] < shape[1])
    image = np.zeros((1, *shape), dtype=np.float32)
    image[0, ij[ok, 0], ij[ok, 1]] = 1.0
    return image


def _subcell(values: np.ndarray) -> float:
    """Offset of a peak from three samples around it (parabola), in [-0.5, 0.5]."""
    left, mid, right = values
    denom = left - 2.0 * mid + right
    if denom >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))


FREE_WEIGHT = 1.0  # plan score = shared footprint - this x footprint that lands in seen-through space


def plan_free_space(steep: np.ndarray, scanner_xy: np.ndarray | None, cell: float) -> np.ndarray:
    """Centres (k, 2) of the plan cells a levelled scanner saw through: nearer to it, in
    their azimuth, than its nearest steep return there (over three neighbouring azimuth
    bins, less two cells). A wall of another station that lands there at some alignment
    is evidence against it: a building slid along its own façade, or turned onto a
    symmetric twin, leaves walls standing where the scanner saw open ground."""
    if scanner_xy is None or len(steep) < 20:
        return np.zeros((0, 2))
    d = steep[:, :2] - scanner_xy
    h = np.hypot(d[:, 0], d[:, 1])
    bins = max(16, int(np.ceil(2 * np.pi * max(float(np.median(h)), cell) / cell)))
    step = 2 * np.pi / bins
    which = ((np.arctan2(d[:, 1], d[:, 0]) + np.pi) / step).astype(np.int64) % bins
    nearest = np.full(bins, np.inf)
    np.minimum.at(nearest, which, h)
    nearest = np.minimum(nearest, np.minimum(np.roll(nearest, 1), np.roll(nearest, -1)))
    reach = float(h.max())
    axis = np.arange(-reach, reach + cell, cell)
    gx, gy = np.meshgrid(axis, axis, indexing="ij")
    r = np.hypot(gx, gy).ravel()
    az = ((np.arctan2(gy, gx).ravel() + np.pi) / step).astype(np.int64) % bins
    free = r < nearest[az] - 2.0 * cell
    return np.column_stack([gx.ravel()[free], gy.ravel()[free]]) + scanner_xy


def _rotate_xy(p: np.ndarray, yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.column_stack([c * p[:, 0] - s * p[:, 1], s * p[:, 0] + c * p[:, 1]])


class _PlanMatcher:
    """Correlates the plan-view footprints of two levelled stations for any yaw: cells
    both occupy count for a placement, cells one occupies where the other saw through
    count against it."""

    def __init__(self, p: np.ndarray, q: np.ndarray, p_free: np.ndarray, q_free: np.ndarray, cell: float):
        import scipy.fft  # noqa: PLC0415  (several times numpy's FFT here, on both cores)

        self.p, self.p_free, self.cell = p, p_free, cell
        radius = max(np.abs(p[:, :2]).max(), np.abs(q[:, :2]).max())
        half = int(np.ceil(radius / cell)) + 2
        self.size = 1 << int(np.ceil(np.log2(4 * half)))  # room for any shift without wrap-around
        self.lo = np.array([-half * cell, -half * cell])
        self.target = scipy.fft.rfft2(self._image(q[:, :2]), workers=-1)
        self.target_free = scipy.fft.rfft2(self._image(q_free), workers=-1) if len(q_free) else None

    def _image(self, xy: np.ndarray) -> np.ndarray:
        return _plan_images(xy, self.lo, (self.size, self.size), self.cell)

    def scores(self, yaw: float, free_weight: float) -> np.ndarray:
        """The plan score of every shift of the source turned by ``yaw`` (cells, wrapped)."""
        import scipy.fft  # noqa: PLC0415

        source = np.conj(scipy.fft.rfft2(self._image(_rotate_xy(self.p, yaw)), workers=-1))
        spectrum = self.target * source
        if self.target_free is not None and free_weight:
            spectrum -= free_weight * self.target_free * source
        if len(self.p_free) and free_weight:
            source_free = np.conj(scipy.fft.rfft2(self._image(_rotate_xy(self.p_free, yaw)), workers=-1))
            spectrum -= free_weight * self.target * source_free
        # Occupancy images are 0/1, so the score counts cells: rounding it takes the
        # FFT's rounding noise out of which of two equal peaks wins.
        return np.rint(scipy.fft.irfft2(spectrum.sum(axis=0), s=(self.size, self.size), workers=-1))

    def peaks(self, yaw: float, free_weight: float, count: int,
              near: np.ndarray | None = None) -> list[tuple[float, np.ndarray]]:
        """The ``count`` best (score, shift) placements at ``yaw``, sub-cell precise and at
        least PEAK_SEPARATION cells apart (a façade slid along itself by a bay is a peak of
        its own); with ``near``, only the best within three cells of that shift."""
        corr = self.scores(yaw, free_weight)
        n = self.size
        wrap = lambda k: k if k < n // 2 else k - n  # noqa: E731
        if near is not None:
            c = np.round(near / self.cell).astype(int)
            rows, cols = np.arange(c[0] - 3, c[0] + 4) % n, np.arange(c[1] - 3, c[1] + 4) % n
            window = corr[np.ix_(rows, cols)]
            a, b = np.unravel_index(int(np.argmax(window)), window.shape)
            found = [(rows[a], cols[b])]
        else:
            work = corr.copy()
            found = []
            r = PEAK_SEPARATION
            for _ in range(count):
                di, dj = np.unravel_index(int(np.argmax(work)), work.shape)
                found.append((di, dj))
                work[np.ix_(np.arange(di - r, di + r + 1) % n, np.arange(dj - r, dj + r + 1) % n)] = -np.inf
        out = []
        for di, dj in found:
            fi = _subcell(corr[[(di - 1) % n, di, (di + 1) % n], dj])
            fj = _subcell(corr[di, [(dj - 1) % n, dj, (dj + 1) % n]])
            out.append((float(corr[di, dj]), np.array([wrap(di) + fi, wrap(dj) + fj]) * self.cell))
        return out


def _vertical_structure(station: Station, lev: np.ndarray, settings: RegistrationSettings):
    """Levelled points on steep surfaces (walls, columns, piers) and on level ones (ground,
    floors, roofs).

    Horizontal surfaces make large uniform blobs in plan that match anywhere; the
    footprint of vertical surfaces is what tells one position of a building from
    another. The level surfaces then give the vertical shift. Also every point's height.
    """
    pcd = level(station, settings.coarse_voxel)
    pts = np.asarray(pcd.points) @ lev[:3, :3].T
    normals = np.asarray(pcd.normals) @ lev[:3, :3].T
    return pts[np.abs(normals[:, 2]) < 0.3], pts[np.abs(normals[:, 2]) > 0.9], pts[:, 2]


CELL_KEY_ROW = np.int64(1 << 32)  # one plan cell's key: row x this + column (both offset to stay positive)


def _cell_keys(xy: np.ndarray, cell: float) -> np.ndarray:
    """One integer per point naming its plan cell (a shift by (di, dj) cells adds
    di x CELL_KEY_ROW + dj)."""
    ij = np.floor(xy[:, :2] / cell).astype(np.int64) + (1 << 30)
    return ij[:, 0] * CELL_KEY_ROW + ij[:, 1]


def _vertical_shift(src_flat: np.ndarray, dst_flat: np.ndarray, yaw: float, shift: np.ndarray,
                    settings: RegistrationSettings) -> list[float]:
    """The heights that lay the source's level surfaces on the target's, once placed in
    plan: their heights, where both stations sampled the same plan cells, histogrammed at
    a third of a unit and cross-correlated (the ground, floors and roof planes line up).
    Up to three peaks, best first, each at least half the best: a flight of steps
    correlates with itself one riser up or down almost as well."""
    if len(src_flat) < 20 or len(dst_flat) < 20:
        return []
    cell = settings.plan_cell
    xy = _rotate_xy(src_flat, yaw) + shift
    k_src, k_dst = _cell_keys(xy, cell), _cell_keys(dst_flat[:, :2], cell)
    common = np.intersect1d(k_src, k_dst)
    if len(common) < 5:
        return []
    z_src = src_flat[np.isin(k_src, common), 2]
    z_dst = dst_flat[np.isin(k_dst, common), 2]
    step = settings.unit / 3.0
    lo = min(z_src.min(), z_dst.min())
    bins = int(np.ceil((max(z_src.max(), z_dst.max()) - lo) / step)) + 2
    h_src = np.bincount(((z_src - lo) / step).astype(np.int64), minlength=bins).astype(float)
    h_dst = np.bincount(((z_dst - lo) / step).astype(np.int64), minlength=bins).astype(float)
    corr = np.correlate(h_dst, h_src, mode="full")
    inner = corr[1:-1]
    local = np.flatnonzero((inner >= corr[:-2]) & (inner > corr[2:]) & (inner >= 0.5 * corr.max())) + 1
    out = []
    for k in local[np.argsort(-corr[local], kind="stable")][:3]:
        out.append((k - (bins - 1) + _subcell(corr[k - 1 : k + 2])) * step)
    return out


def _refine_plan(p: np.ndarray, q: np.ndarray, yaw: float, shift: np.ndarray,
                 settings: RegistrationSettings) -> tuple[float, np.ndarray]:
    """Sharpen a plan-view alignment by brute force on a fine grid around it.

    Footprint cells (``plan_fine_cell``) of the rotated source are counted against the
    target's for every yaw within ±1° (eighth-degree steps) and every shift within
    ±6 cells; the best count wins, with a sub-cell parabola on the shift.
    """
    cell = settings.plan_fine_cell
    big = CELL_KEY_ROW
    target = np.unique(_cell_keys(q[:, :2], cell))
    reach = 6
    offsets = np.arange(-reach, reach + 1)
    best = (-1, yaw, shift, None)
    for y in yaw + np.radians(np.arange(-1.0, 1.0001, 0.125)):
        src = np.unique(_cell_keys(_rotate_xy(p, y) + shift, cell))
        counts = np.zeros((len(offsets), len(offsets)))
        for a, di in enumerate(offsets):
            for b, dj in enumerate(offsets):
                moved = src + di * big + dj
                pos = np.searchsorted(target, moved)
                pos[pos == len(target)] = 0
                counts[a, b] = np.count_nonzero(target[pos] == moved)
        a, b = np.unravel_index(int(np.argmax(counts)), counts.shape)
        if counts[a, b] > best[0]:
            best = (counts[a, b], y, shift, (counts, a, b))
    _, y, shift, (counts, a, b) = best
    fa = _subcell(counts[[a - 1, a, a + 1], b]) if 0 < a < len(offsets) - 1 else 0.0
    fb = _subcell(counts[a, [b - 1, b, b + 1]]) if 0 < b < len(offsets) - 1 else 0.0
    return float(y), shift + np.array([offsets[a] + fa, offsets[b] + fb]) * cell


PEAKS_PER_YAW = 3
COMB_YAWS = 2  # the best yaws of a plan search whose ...
COMB_PEAKS = 6  # ... best shifts are all offered (repeated bays)
PEAK_SEPARATION = 4  # cells (plan cells of 3 units)


def _plan_peaks(matcher: _PlanMatcher, free_weight: float, count: int, chosen: list[tuple[float, np.ndarray]],
                settings: RegistrationSettings) -> list[tuple[float, np.ndarray]]:
    """``chosen`` and up to ``count`` more distinct (yaw, shift) peaks of the plan score over
    the yaw grid (a few per yaw), each refined on quarter steps of yaw and a parabola."""
    step = np.radians(settings.yaw_step_deg)
    grid = [(score, yaw, shift) for yaw in np.arange(0.0, 2 * np.pi, step)
            for score, shift in matcher.peaks(yaw, free_weight, PEAKS_PER_YAW)]
    grid.sort(key=lambda g: -g[0])
    chosen = list(chosen)
    added = 0
    for _, yaw, shift in grid:
        if added == count:
            break
        if any(abs(np.angle(np.exp(1j * (yaw - y)))) < 2.5 * step and np.linalg.norm(shift - sh) < 5.0 * settings.unit
               for y, sh in chosen):
            continue
        fine_step = step / 4.0
        fine_yaws = yaw + fine_step * np.arange(-4, 5)
        fine = [matcher.peaks(y, free_weight, 1, near=shift)[0] for y in fine_yaws]
        scores = np.array([c for c, _ in fine])
        b = int(np.clip(np.argmax(scores), 1, len(fine_yaws) - 2))
        best_yaw = fine_yaws[b] + fine_step * _subcell(scores[b - 1 : b + 2])
        chosen.append((best_yaw, matcher.peaks(best_yaw, free_weight, 1, near=fine[b][1])[0][1]))
        added += 1
    # A colonnade or a row of bays: at the right yaw the score is a comb of peaks one bay
    # apart, and a partial view of the façade shares more footprint slid a bay or two
    # along it than at the truth (a generated hall: 93 cells two bays off against 55 at
    # the truth, which lay fourth at its yaw). The 3-D judgement tells them apart (0.56
    # against 0.20 there), so the best yaws offer their whole comb to it.
    for yaw, _ in chosen[len(chosen) - added:][:COMB_YAWS]:
        for _, shift in matcher.peaks(yaw, free_weight, COMB_PEAKS):
            if all(np.linalg.norm(shift - sh) >= 5.0 * settings.unit for y, sh in chosen
                   if abs(np.angle(np.exp(1j * (yaw - y)))) < 2.5 * step):
                chosen.append((yaw, shift))
    return chosen


def yaw_hypotheses(src: Station, dst: Station, settings: RegistrationSettings) -> list[np.ndarray]:
    """Alignments with 4 degrees of freedom (yaw about the vertical + translation).

    For every yaw on a grid, the source's plan-view footprint of steep surfaces (in
    plan) is correlated with the target's by FFT, which gives the best horizontal shift
    at once; the level surfaces seen by both give the vertical one. The
    best distinct peaks are refined on a finer yaw grid to within a fraction of a unit,
    close enough for fine ICP not to snap onto a repeated element (a stair tread, a tile
    row), and come back as 4x4 transforms (centred source → centred target).
    """
    l_src = levelling(up_direction(src, settings))
    l_dst = levelling(up_direction(dst, settings))
    p, p_flat, p_all = _vertical_structure(src, l_src, settings)
    q, q_flat, q_all = _vertical_structure(dst, l_dst, settings)
    if len(p) < 20 or len(q) < 20:
        return []
    scanners = [None if st.scanner is None else (lev[:3, :3] @ st.scanner)[:2] for st, lev in ((src, l_src), (dst, l_dst))]
    p_free = plan_free_space(p, scanners[0], settings.plan_cell)
    q_free = plan_free_space(q, scanners[1], settings.plan_cell)
    matcher = _PlanMatcher(p, q, p_free, q_free, settings.plan_cell)
    # Peaks of the free-space-aware score, then of plain shared footprint: a station on an
    # upper floor sees over walls below it, which that score would count against the truth.
    chosen = _plan_peaks(matcher, FREE_WEIGHT, settings.hypotheses, [], settings)
    chosen = _plan_peaks(matcher, 0.0, settings.hypotheses // 2, chosen, settings)
    out = []
    for yaw, shift in chosen:
        yaw, shift = _refine_plan(p, q, yaw, shift, settings)
        h = np.eye(4)
        h[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]]
        # Heights: where the level surfaces both saw line up, and where the lowest ground
        # of each does (right when both stand on one ground; the others when they stand
        # on different floors).
        heights: list[float] = []
        for dz in [*_vertical_shift(p_flat, q_flat, yaw, shift, settings),
                   float(np.quantile(q_all, 0.02) - np.quantile(p_all, 0.02))]:
            if all(abs(dz - z) >= 0.5 * settings.unit for z in heights):
                heights.append(dz)
        for dz in heights:
            h[:3, 3] = [shift[0], shift[1], dz]
            out.append(np.linalg.inv(l_dst) @ h @ l_src)
    return out


# ------------------------------------------------------------------ 6-DoF search


def _feature_matches(src: Station, dst: Station, settings: RegistrationSettings, flipped: bool) -> np.ndarray:
    """Mutual nearest neighbours in FPFH space between the structure points, (m, 2), the
    source's normals reversed when ``flipped``.
    (scipy's tree: twin.ops.neighbours' pykdtree is for three dimensions.)"""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    _, f_src = features(src, settings, flipped)
    _, f_dst = features(dst, settings)
    a = np.asarray(f_src.data).T
    b = np.asarray(f_dst.data).T
    if len(a) == 0 or len(b) == 0:
        return np.zeros((0, 2), dtype=np.int32)
    _, ab = cKDTree(b).query(a, k=1, workers=-1)
    _, ba = cKDTree(a).query(b, k=1, workers=-1)
    mutual = np.flatnonzero(ba[ab] == np.arange(len(a)))
    return np.column_stack([mutual, ab[mutual]]).astype(np.int32)


def ransac_hypotheses(src: Station, dst: Station, settings: RegistrationSettings, seed: int) -> list[np.ndarray]:
    """Several distinct RANSAC alignments: after each, the feature matches it explains are
    removed and RANSAC runs again, so that the symmetric twins of a building (a pavilion
    turned 90° or 180° fits itself) all come up as candidates instead of hiding the truth.

    Where a station has no scanner position, its normals may face away from the other's
    (twin.ops.registration.station.features): the search runs again with the source's
    normals reversed."""
    known_signs = src.scanner is not None and dst.scanner is not None
    hypotheses = []
    for flipped in (False,) if known_signs else (False, True):
        hypotheses += _ransac_runs(src, dst, settings, seed, flipped)
    return hypotheses


def _ransac_runs(src: Station, dst: Station, settings: RegistrationSettings, seed: int,
                 flipped: bool) -> list[np.ndarray]:
    distance = 1.5 * settings.coarse_voxel
    src_pcd, _ = features(src, settings, flipped)
    dst_pcd, _ = features(dst, settings)
    src_pts = np.asarray(src_pcd.points)
    dst_pts = np.asarray(dst_pcd.points)
    matches = _feature_matches(src, dst, settings, flipped)
    hypotheses = []
    for attempt in range(settings.hypotheses):
        if len(matches) < 6:
            break
        t = ransac_on_matches(src_pts[matches[:, 0]], dst_pts[matches[:, 1]], distance,
                              settings.ransac_max_iterations, settings.ransac_confidence, seed + 7919 * attempt)
        if t is None:
            break
        moved = src_pts[matches[:, 0]] @ t[:3, :3].T + t[:3, 3]
        # Drop every match this alignment roughly explains (not just its inliers), so the
        # next round cannot return a near copy of it.
        explained = np.linalg.norm(moved - dst_pts[matches[:, 1]], axis=1) < 10.0 * settings.unit + 5.0 * distance
        if explained.sum() < 3:
            break
        hypotheses.append(t)
        matches = matches[~explained]
    return hypotheses


# ------------------------------------------------------------------ evidence

CONFLICT_MARGIN_UNITS = 2.0
CONFLICT_MARGIN_PER_M = 0.01


def visibility_conflict(src: Station, dst: Station, transform: np.ndarray, settings: RegistrationSettings) -> float | None:
    """Share of the target's points that, moved into the source's frame, lie in space the
    source's scanner saw through (twin.ops.registration.visibility), by a margin of two
    units and one per cent of the range. None without a scanner position."""
    if src.scanner is None:
        return None
    if src.returns is None:
        src.returns = range_image(src.points, src.scanner)
    inv = np.linalg.inv(transform)
    dst_pts = np.asarray(level(dst, settings.coarse_voxel).points) @ inv[:3, :3].T + inv[:3, 3] - src.scanner
    front, known = seen_through(src.returns, dst_pts, CONFLICT_MARGIN_UNITS * settings.unit, CONFLICT_MARGIN_PER_M)
    return front / known if known else 0.0


def pair_conflict(src: Station, dst: Station, transform: np.ndarray, settings: RegistrationSettings) -> float:
    a = visibility_conflict(src, dst, transform, settings)
    b = visibility_conflict(dst, src, np.linalg.inv(transform), settings)
    return max(a or 0.0, b or 0.0)


def distinct(a: np.ndarray, b: np.ndarray, settings: RegistrationSettings) -> bool:
    """Two alignments that differ by more than 2 degrees or 4 units."""
    from twin.ops.registration.results import rotation_angle_deg  # noqa: PLC0415

    d = np.linalg.inv(a) @ b
    return rotation_angle_deg(d) > 2.0 or np.linalg.norm(d[:3, 3]) > 4.0 * settings.unit


SETTLED_PER_PAIR = 3  # candidates per pair settled by ICP, the best-judged distinct ones


def judge(src: Station, dst: Station, transform: np.ndarray, settings: RegistrationSettings,
          conflict_of=None, overlap: float | None = None) -> Candidate:
    """A candidate judged where it stands: its overlap (measured here unless given), and
    the visibility conflict ``conflict_of(src, dst, transform, settings)`` (default
    :func:`pair_conflict`)."""
    overlap = pair_overlap(src, dst, transform, settings) if overlap is None else overlap
    conflict = (conflict_of or pair_conflict)(src, dst, transform, settings)
    return Candidate(transform, overlap, conflict, overlap - settings.conflict_weight * conflict)


def _distinct_best(candidates: list[Candidate], settings: RegistrationSettings) -> list[Candidate]:
    """The candidates best first, each kept only when it differs from every better one.

    Those that overlap too little to become a link (under half the share a link needs,
    before ICP has settled them) come after all the others, whatever their score: a
    placement that overlaps nothing has nothing to conflict with, and its score (about 0)
    would beat a true one that overlaps well with some conflict (real outdoor scans show
    5-11 % at the truth: foliage, traffic)."""
    kept: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: (c.overlap < 0.5 * settings.min_edge_fitness, -c.score)):
        if all(distinct(k.transform, c.transform, settings) for k in kept):
            kept.append(c)
    return kept


def search_pair(src: Station, dst: Station, i: int, j: int, settings: RegistrationSettings, seed: int,
                conflict_of=None) -> PairSearch:
    """The coarse search for one pair and its verdict (see the module docstring);
    ``conflict_of``: how a candidate's visibility conflict is measured (see :func:`judge`)."""
    up_direction(src, settings), up_direction(dst, settings)
    levelled = bool(src.levelled and dst.levelled)
    hypotheses = yaw_hypotheses(src, dst, settings) if src.upright and dst.upright else []
    kind = "levelled" if levelled else "6-dof"
    six_dof = settings.six_dof_hypotheses
    if six_dof or (six_dof is None and not levelled) or not hypotheses:
        hypotheses += ransac_hypotheses(src, dst, settings, seed)
        kind = "levelled+6-dof" if levelled else "6-dof"
    # Every hypothesis is judged where the search put it (within about a unit); only the
    # best few distinct ones are settled by ICP and judged again.
    rough = _distinct_best([judge(src, dst, h, settings, conflict_of) for h in hypotheses], settings)
    scored = _distinct_best([judge(src, dst, settle(src, dst, c.transform, settings), settings, conflict_of)
                             for c in rough[:SETTLED_PER_PAIR]], settings)
    # The best acceptable candidate, else the best one (for the reason): a candidate that
    # overlaps nothing has nothing to conflict with, and must not outscore one that
    # overlaps well with some conflict (real outdoor scans show 5-11 % at the truth).
    acceptable = [c for c in scored if c.overlap >= settings.min_edge_fitness and c.conflict <= settings.max_conflict]
    best = acceptable[0] if acceptable else scored[0] if scored else None
    runner = next((c for c in scored if c is not best and distinct(best.transform, c.transform, settings)), None)
    if best is None:
        reason = "no candidate alignment: too few structure points or feature matches"
    elif best.overlap < settings.min_edge_fitness:
        shown, limit = shares(best.overlap, settings.min_edge_fitness)
        reason = f"overlap {shown} is under the {limit} a link needs"
    elif best.conflict > settings.max_conflict:
        shown, limit = shares(best.conflict, settings.max_conflict)
        reason = (f"overlap {best.overlap:.0%}, but {shown} of the points lie where the other scanner "
                  f"saw through (at most {limit}, register.max_conflict): a mirrored, rotated or "
                  "shifted twin, or vegetation and moving objects between the scans")
    else:
        reason = ""
    return PairSearch(i, j, best, runner, scored, len(hypotheses), kind, reason == "", reason)


def candidate_pairs(n: int, settings: RegistrationSettings) -> list[tuple[int, int]]:
    if n <= settings.max_candidate_pairs_all:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    # Many stations: neighbours in acquisition order, and two steps apart, as candidates.
    return [(i, j) for i in range(n) for j in (i + 1, i + 2) if j < n]


def spanning_poses(n: int, reference: int, edges: dict[tuple[int, int], tuple[np.ndarray, float]]):
    """Poses (centred station → centred reference) along a maximum spanning tree on the
    edges' scores, grown from the reference (Prim's algorithm); None for unreachable
    stations. Also the tree's edges."""
    poses: list[np.ndarray | None] = [None] * n
    poses[reference] = np.eye(4)
    tree: set[tuple[int, int]] = set()
    while True:
        best = None
        for (i, j), (t_ij, fit) in edges.items():  # t_ij maps i into j
            if poses[j] is not None and poses[i] is None and (best is None or fit > best[0]):
                best = (fit, i, j, poses[j] @ t_ij)
            if poses[i] is not None and poses[j] is None and (best is None or fit > best[0]):
                best = (fit, j, i, poses[i] @ np.linalg.inv(t_ij))
        if best is None:
            return poses, tree
        _, new, known, pose = best
        poses[new] = pose
        tree.add((min(new, known), max(new, known)))


JOINT_CANDIDATES = 4  # per link, the best few candidates are tried against every placed station


def _joint_score(k: int, pose: np.ndarray, placed: dict[int, np.ndarray], stations: list[Station],
                 settings: RegistrationSettings) -> tuple[float, float, float]:
    """(score, overlap, conflict) of station k at ``pose`` against every station placed so
    far: its overlap with their union, less the conflict weight times the worst visibility
    conflict with any of them that it overlaps."""
    from twin.ops.registration.station import PlacedUnion, arrays, even_stride  # noqa: PLC0415

    idx = list(placed)
    pts = arrays(stations[k], settings.check_voxel)[0]
    pts = even_stride(pts, OVERLAP_MAX_POINTS)
    if len(pts) == 0:
        return -np.inf, 0.0, 0.0
    moved = pts @ pose[:3, :3].T + pose[:3, 3]
    dist, _ = PlacedUnion([stations[i] for i in idx], [placed[i] for i in idx], settings.check_voxel).query(
        moved, k=1, distance_upper_bound=settings.check_distance)
    overlap = float(np.isfinite(dist).mean())
    conflict = max(overlapping_conflict(stations[k], stations[i], np.linalg.inv(placed[i]) @ pose, settings)
                   for i in idx)
    return overlap - settings.conflict_weight * conflict, overlap, conflict


def overlapping_conflict(src: Station, dst: Station, transform: np.ndarray, settings: RegistrationSettings) -> float:
    """The pair's visibility conflict where ``src`` overlaps ``dst`` by half the share a
    link needs or more, else 0 (a placement that overlaps nothing has nothing to conflict
    with)."""
    if overlap_share(src, dst, transform, settings) < 0.5 * settings.min_edge_fitness:
        return 0.0
    return pair_conflict(src, dst, transform, settings)


def coarse_poses(stations: list[Station], reference: int,
                 settings: RegistrationSettings) -> tuple[list[np.ndarray | None], list[PairSearch]]:
    """Initial poses, and every pair's search record. A station no accepted link
    reaches gets None (the caller explains why).

    Stations are placed one at a time from the reference. At each step every accepted
    link from a placed station to an unplaced one offers its best few candidates, and
    each candidate is judged against *all* the stations placed so far (overlap with
    their union, visibility conflicts with each): a symmetric twin that fits one
    neighbour as well as the truth rarely fits two. The best-judged candidate places its
    station; ties between links are broken by that joint score, not by one pair's.
    """
    searches = []
    for i, j in candidate_pairs(len(stations), settings):
        searches.append(search_pair(stations[i], stations[j], i, j, settings, settings.seed + 31 * i + j))
    poses: list[np.ndarray | None] = [None] * len(stations)
    placed = {reference: np.eye(4)}
    poses[reference] = np.eye(4)
    while True:
        best = None
        for s in searches:
            if not s.accepted:
                continue
            for new, known in ((s.source, s.target), (s.target, s.source)):
                if new in placed or known not in placed:
                    continue
                for cand in linkable(s.candidates, settings):
                    rel = cand.transform if new == s.source else np.linalg.inv(cand.transform)
                    pose = placed[known] @ rel
                    score = _joint_score(new, pose, placed, stations, settings)[0]
                    if best is None or score > best[0]:
                        best = (score, new, pose)
        if best is None:
            break
        _, new, pose = best
        placed[new] = pose
        poses[new] = pose
    return reconsider(poses, searches, reference, stations, settings), searches


def linkable(candidates: list[Candidate], settings: RegistrationSettings) -> list[Candidate]:
    """The best few of a link's candidates that could stand as links themselves."""
    return [c for c in candidates[:JOINT_CANDIDATES]
            if c.overlap >= settings.min_edge_fitness and c.conflict <= settings.max_conflict]


def _alternatives(k: int, poses: list[np.ndarray | None], searches: list[PairSearch],
                  settings: RegistrationSettings) -> list[np.ndarray]:
    """Poses of station k offered by its accepted links' best candidates, from where the
    other station of each link stands now."""
    out = []
    for s in searches:
        if not s.accepted or k not in (s.source, s.target):
            continue
        other = s.target if k == s.source else s.source
        if poses[other] is None:
            continue
        for cand in linkable(s.candidates, settings):
            rel = cand.transform if k == s.source else np.linalg.inv(cand.transform)
            out.append(poses[other] @ rel)
    return out


def reconsider(poses: list[np.ndarray | None], searches: list[PairSearch], reference: int, stations: list[Station],
               settings: RegistrationSettings, rounds: int = 3) -> list[np.ndarray | None]:
    """Each placed station judged again against *every* other one, now that all are
    placed, and moved to the best pose its links offer when that judges better.

    The greedy placement judges a station only against those placed before it; a
    symmetric twin that fitted them can conflict with a station placed later.
    """
    poses = list(poses)
    for _ in range(rounds):
        changed = False
        for k in range(len(stations)):
            if k == reference or poses[k] is None:
                continue
            others = {i: poses[i] for i in range(len(stations)) if i != k and poses[i] is not None}
            current = _joint_score(k, poses[k], others, stations, settings)[0]
            for pose in _alternatives(k, poses, searches, settings):
                score = _joint_score(k, pose, others, stations, settings)[0]
                if score > current + 0.02 and distinct(poses[k], pose, settings):
                    poses[k], current, changed = pose, score, True
        if not changed:
            break
    return poses

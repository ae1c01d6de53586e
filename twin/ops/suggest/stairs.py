"""Flights of steps: treads one above another at an even rise, each one going further
along one direction.

A scan sees a flight mostly by its risers and the faces of its sides: from a scanner's
height the treads lie at a grazing angle. On the sample pavilion's survey (four stations
of about 140,000 points each) 340 of the flights' 5,958 thinned points have a normal
within 25 degrees of the vertical; a tread 2.4 m wide holds too few points to be a plane
piece. What every part of a flight shows is its top: the highest point in a small plan
cell over a riser, a side face or a tread is that step's tread height. So flights are
found on the height map (the highest point per cell) of the points no large element
holds: its cells grouped in plan, their heights into levels, and a group is a flight
where at least two consecutive rises are even (the floor below the lowest step counts as
a level), the levels touch one another in plan, and they climb along one direction at a
going that a flight has. Where a larger level (a platform, a landing) lies one rise above
the highest step, the top step is level with it: the flight takes one more going of it,
as a staircase is built and drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# m: building codes ask at least 4 in (102 mm, IBC 1011.5.2) of a riser; lower ones are terrain
# (the real Lone Star geyser scan: five "flights" of sinter terraces at 0.08, 83-98 mm rises; at
# 0.10 two or three remain, 106-114 mm: terraces that regular are left to the reviewer)
MIN_RISE, MAX_RISE = 0.10, 0.30
MIN_GOING, MAX_GOING = 0.15, 0.80  # m: the horizontal depth of one step, monumental flights included
EVEN = 0.3  # every rise within this share of their median
MIN_CELLS = 6  # height-map cells of one level
MIN_POINTS = 12  # a landing's points
MIN_RISES = 2  # a single step up is a kerb or a threshold, not a flight
MIN_WIDTH = 0.5  # m
MAX_DEPTH_SHARE = 0.75  # a level's cells: their interquartile depth along the flight, of one going at most
MIN_TERRACED = 0.5  # share of the height map over a flight on its levels
MAX_CLIMB_WITHIN = 0.3  # the slope of the height within a level, of the flight's pitch at most


@dataclass
class Flight:
    index: np.ndarray  # points of the thinned cloud inside its prism
    polygon: np.ndarray  # (4, 2) local plan rectangle, margin included
    z_min: float
    z_max: float
    levels: list[float]  # heights of the steps seen, bottom to top (local)
    steps: int  # risers from the foot to the top, the one up to a landing included
    rise: float
    going: float
    width: float
    up: np.ndarray  # unit plan direction up the flight
    to_landing: bool
    terraced: float  # share of the height map's cells over the flight that lie on its levels
    cells: int  # height-map cells on its levels: of two readings of one flight, the one that explains more


@dataclass
class _Map:
    """The height map: the highest point of each occupied cell (plan index ij, centre xy)."""

    ij: np.ndarray
    xy: np.ndarray
    z: np.ndarray
    cell: float


def _height_map(xyz: np.ndarray, cell: float) -> _Map:
    lo = xyz[:, :2].min(axis=0)
    ij = np.floor((xyz[:, :2] - lo) / cell).astype(np.int64)
    key = ij[:, 0] * (int(ij[:, 1].max()) + 1) + ij[:, 1]
    order = np.lexsort((-xyz[:, 2], key))  # by cell, highest first
    first = order[np.r_[True, np.diff(key[order]) != 0]]
    return _Map(ij[first], lo + (ij[first] + 0.5) * cell, xyz[first, 2], cell)


def _components(ij: np.ndarray) -> list[np.ndarray]:
    """Groups of cells that touch (8-connected, one empty cell bridged)."""
    from scipy import ndimage  # noqa: PLC0415

    ij = ij - ij.min(axis=0) + 1
    grid = np.zeros(tuple(ij.max(axis=0) + 2), dtype=bool)
    grid[ij[:, 0], ij[:, 1]] = True
    grid = ndimage.binary_closing(grid, structure=np.ones((3, 3), dtype=bool))
    labels, count = ndimage.label(grid, structure=np.ones((3, 3), dtype=bool))
    of_cell = labels[ij[:, 0], ij[:, 1]]
    order = np.argsort(of_cell, kind="stable")
    bounds = np.searchsorted(of_cell[order], np.arange(1, count + 2))
    return [order[bounds[k] : bounds[k + 1]] for k in range(count)]


def _level_tolerance(band: float) -> float:
    """How far a cell's height may lie from its level: the plane band, but never more than
    a third of the smallest rise (a coarse voxel, 4.6 cm on a 10M-point building, would
    blur 0.2 m steps together; voxels average a tread's points to its height)."""
    return min(max(band, 0.015), MIN_RISE / 3)


def _levels(z: np.ndarray, band: float) -> list[np.ndarray]:
    """Cells (indices into ``z``) at each well-populated height: peaks of the heights'
    histogram at least half the smallest rise apart, each with the cells within
    :func:`_level_tolerance` of it. Cells between levels (a side face's points below its top edge) are left."""
    bin_ = 0.01
    lo = float(z.min())
    counts = np.bincount(np.floor((z - lo) / bin_).astype(np.int64))
    smooth = np.convolve(counts, np.ones(3), mode="same")
    peaks = []
    for k in np.argsort(-smooth, kind="stable"):
        if smooth[k] < MIN_CELLS:
            break
        if all(abs(k - q) * bin_ >= 0.5 * MIN_RISE for q in peaks):
            peaks.append(int(k))
    out = []
    for k in sorted(peaks):
        centre = lo + (k + 0.5) * bin_
        near = np.flatnonzero(np.abs(z - centre) <= _level_tolerance(band))
        if len(near) >= MIN_CELLS:
            out.append(near)
    return out


def _near(hmap: _Map, to: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """The ``cells`` within one step's greatest going of any cell of ``to``."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    d, _ = cKDTree(hmap.xy[to]).query(hmap.xy[cells], k=1, distance_upper_bound=MAX_GOING + hmap.cell)
    return cells[np.isfinite(d)]


def find_flights(xyz: np.ndarray, pool: np.ndarray, floor_z: float, top_z: float,
                 margin: float, band: float) -> list[Flight]:
    """Flights among the points ``pool`` (indices no large element holds) between a floor at
    ``floor_z`` and ``top_z`` (local); ``margin``: how far the prisms reach beyond their
    points; ``band``: the half-width of a plane's points about it."""
    low = pool[(xyz[pool, 2] >= floor_z + 0.5 * MIN_RISE) & (xyz[pool, 2] <= top_z)]
    if len(low) < MIN_RISES * MIN_CELLS:
        return []
    hmap = _height_map(xyz[low], max(1.5 * band, MIN_GOING / 3))
    flights = []
    for group in _components(hmap.ij):
        if len(group) < MIN_RISES * MIN_CELLS:
            continue
        levels = [group[g] for g in _levels(hmap.z[group], band)]
        best = None
        for chain in _chains(hmap, levels):
            found = _flight(xyz, hmap, group, chain, floor_z, margin, band)
            if found is not None and (best is None or found.cells > best.cells):
                best = found
        if best is not None:
            flights.append(best)
    return flights


def _chains(hmap: _Map, levels: list[np.ndarray]):
    """Candidate flights as runs of levels: from every two levels one step apart (their rise
    ``r``), up and down through the levels found near each ``r`` further, each keeping only
    its cells within a going of the last; and every part of each run."""
    zs = np.array([float(np.median(hmap.z[c])) for c in levels])

    def next_level(cells: np.ndarray, target: float, tol: float) -> np.ndarray | None:
        best = None
        for k in np.flatnonzero(np.abs(zs - target) <= tol):
            near = _near(hmap, cells, levels[k])
            if len(near) >= MIN_CELLS and (best is None or len(near) > len(best)):
                best = near
        return best

    for i in range(len(levels)):
        for j in range(i + 1, len(levels)):
            r = zs[j] - zs[i]
            if not MIN_RISE <= r <= MAX_RISE:
                continue
            low = _near(hmap, levels[j], levels[i])
            high = _near(hmap, low, levels[j]) if len(low) >= MIN_CELLS else low[:0]
            if len(high) < MIN_CELLS:
                continue
            tol = max(0.02, EVEN * r / 2)
            chain = [low, high]
            while (above := next_level(chain[-1], float(np.median(hmap.z[chain[-1]])) + r, tol)) is not None:
                chain.append(above)
            while (below := next_level(chain[0], float(np.median(hmap.z[chain[0]])) - r, tol)) is not None:
                chain.insert(0, below)
            # and every part of it: a platform's edge one rise above the top step, or a
            # kerb one rise below the foot, continues a run without being a step of it
            for a in range(len(chain) - 1):
                for b in range(a + 2, len(chain) + 1):
                    yield chain[a:b]


def _across_range(hmap: _Map, chain: list[np.ndarray], across: np.ndarray) -> tuple[float, float] | None:
    """Where across the flight at least half its levels have cells (every step spans the
    flight's width, by its riser, its tread or the faces of its sides; a platform's edge or
    a planter beside the flight shows at one height or two): the longest such run of bins
    0.1 m wide, or a cell where cells are wider."""
    bin_ = max(0.1, hmap.cell)
    side = [hmap.xy[c] @ across for c in chain]
    lo = min(float(s.min()) for s in side)
    n = int(np.ceil((max(float(s.max()) for s in side) - lo) / bin_)) + 1
    held = np.zeros(n, dtype=np.int64)
    for s in side:
        held[np.unique(np.floor((s - lo) / bin_).astype(np.int64))] += 1
    ok = np.r_[False, held * 2 >= len(chain), False]
    edges = np.flatnonzero(np.diff(ok.astype(np.int8)))
    if len(edges) == 0:
        return None
    starts, ends = edges[::2], edges[1::2]
    k = int(np.argmax(ends - starts))
    return lo + starts[k] * bin_, lo + ends[k] * bin_


def _open_level(xyz, up, across, along_range, side_range, z: float, band: float) -> bool:
    """Whether a level at height ``z`` lies over the plan rectangle (along the flight,
    across it): points within two bands of ``z``, and fewer above it (up to a metre) than on
    it: open ground or floor, not the face of a wall or a further step."""
    p_along, p_side = xyz[:, :2] @ up, xyz[:, :2] @ across
    window = ((p_along >= along_range[0]) & (p_along <= along_range[1]) & (p_side >= side_range[0])
              & (p_side <= side_range[1]))
    z_w = xyz[window, 2]
    on = int(np.count_nonzero(np.abs(z_w - z) <= 2 * band))
    above = int(np.count_nonzero((z_w > z + 3 * band) & (z_w <= z + 1.0)))
    return on >= MIN_POINTS and above < on


def _flight(xyz, hmap: _Map, group: np.ndarray, chain: list[np.ndarray], floor_z: float, margin: float,
            band: float) -> Flight | None:
    zs = [float(np.median(hmap.z[c])) for c in chain]
    from_floor = MIN_RISE <= zs[0] - floor_z <= MAX_RISE
    heights = np.array(([floor_z] if from_floor else []) + zs)
    rises = np.diff(heights)
    rise = float(np.median(rises))
    if len(rises) < MIN_RISES or not (MIN_RISE <= rise <= MAX_RISE and np.all(np.abs(rises - rise) <= EVEN * rise)):
        return None
    # the climb from the two lowest levels first (a platform's edge at the top one can pull
    # a fit over all of them sideways), then twice: only the cells where the flight stands
    # across, and the climb again from those
    up = _climb(hmap, chain[:2], zs[:2])
    for _ in range(2):
        if up is None:
            return None
        across = np.array([-up[1], up[0]])
        span = _across_range(hmap, chain, across)
        if span is None or span[1] - span[0] < MIN_WIDTH:
            return None
        chain = [c[((hmap.xy[c] @ across) >= span[0]) & ((hmap.xy[c] @ across) <= span[1])] for c in chain]
        if min(len(c) for c in chain) < MIN_CELLS // 2:
            return None
        up = _climb(hmap, chain, zs)
    if up is None:
        return None
    across = np.array([-up[1], up[0]])
    cells = np.concatenate(chain)
    centres = np.array([np.median(hmap.xy[c] @ up) for c in chain])
    goings = np.diff(centres)
    step = float(np.median(goings))  # from level to level: the checks' measure, robust to an unseen top
    if not (MIN_GOING <= step <= MAX_GOING and np.all(goings > 0.3 * step)):
        return None
    side = hmap.xy[cells] @ across
    a_lo = float(np.quantile(hmap.xy[chain[0]] @ up, 0.02))  # the foot's riser
    a_hi = float(np.quantile(hmap.xy[chain[-1]] @ up, 0.98))  # the back of the highest step seen
    s_lo, s_hi = float(np.quantile(side, 0.01)), float(np.quantile(side, 0.99))
    width = s_hi - s_lo
    going = (a_hi - a_lo) / len(zs)  # from the foot's riser to the back of the highest step seen
    if width < MIN_WIDTH:
        return None
    # steps, not a mound or a shrub: each level a band across the flight about one going
    # deep (a dome's levels are rings), and most of the height map over the flight on its
    # levels (a slope's heights run on between them)
    depth = float(np.median([np.subtract(*np.quantile(hmap.xy[c] @ up, [0.75, 0.25])) for c in chain]))
    a_cells, s_cells = hmap.xy[group] @ up, hmap.xy[group] @ across
    over = group[(a_cells >= a_lo) & (a_cells <= a_hi) & (s_cells >= s_lo) & (s_cells <= s_hi)]
    terraced = float(np.isin(over, cells).mean()) if len(over) else 0.0
    if depth > MAX_DEPTH_SHARE * step or terraced < MIN_TERRACED:
        return None
    # flat steps, not a ramp cut into bands: within its levels the height does not climb
    # with the flight (a ramp's bands climb as steeply as the whole)
    offsets = [(hmap.xy[c] @ up - np.median(hmap.xy[c] @ up), hmap.z[c] - z) for c, z in zip(chain, zs, strict=True)]
    da, dz = np.concatenate([o[0] for o in offsets]), np.concatenate([o[1] for o in offsets])
    within = float(da @ dz / max(float(da @ da), 1e-12))
    if abs(within) > MAX_CLIMB_WITHIN * rise / step:
        return None
    # its foot on the floor or on open ground one rise below the lowest step, before it
    if not from_floor and not _open_level(xyz, up, across, (a_lo - going, a_lo), (s_lo, s_hi), zs[0] - rise, band):
        return None
    # its top step level with a landing: open ground one rise above the highest step seen,
    # within one going beyond it
    top = zs[-1]
    to_landing = _open_level(xyz, up, across, (a_hi, a_hi + going), (s_lo, s_hi), top + rise, band)
    if to_landing:
        a_hi += going
        top += rise
    a_lo, a_hi, s_lo, s_hi = a_lo - margin, a_hi + margin, s_lo - margin, s_hi + margin
    z_min = (floor_z if from_floor else zs[0] - rise) - 2 * band
    z_max = top + 2 * band
    corners = np.array([[a_lo, s_lo], [a_hi, s_lo], [a_hi, s_hi], [a_lo, s_hi]])
    polygon = corners[:, :1] * up + corners[:, 1:] * across
    p_along, p_side = xyz[:, :2] @ up, xyz[:, :2] @ across
    inside = ((p_along >= a_lo) & (p_along <= a_hi) & (p_side >= s_lo) & (p_side <= s_hi)
              & (xyz[:, 2] >= z_min) & (xyz[:, 2] <= z_max))
    steps = len(zs) + (1 if to_landing else 0)  # a riser below each step seen, and one up to the landing
    return Flight(np.flatnonzero(inside), polygon, float(z_min), float(z_max), zs, steps, rise, going,
                  float(width), up, to_landing, terraced, len(cells))


def _climb(hmap: _Map, chain: list[np.ndarray], zs: list[float]) -> np.ndarray | None:
    """The plan direction up the flight: the gradient of the plane through every level's
    cells at the level's height."""
    cells = np.concatenate(chain)
    level_z = np.concatenate([np.full(len(c), z) for c, z in zip(chain, zs, strict=True)])
    design = np.column_stack([hmap.xy[cells], np.ones(len(cells))])
    gradient = np.linalg.lstsq(design, level_z, rcond=None)[0][:2]
    slope = float(np.linalg.norm(gradient))
    return gradient / slope if slope > 0 else None

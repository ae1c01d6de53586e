"""Where a terrestrial scanner stood, recovered from the order of its points.

Registration orients normals toward the scanner so that the two faces of a thin part (a
column seen from the south-west by one station and from the south-east by the next)
never pair up. A station in its scanner's own frame has the scanner at (0, 0, 0); a
georeferenced station exported to LAS has lost that position. But a terrestrial scanner
records in vertical profiles, one azimuth at a time, and exports usually keep that
order: a run of consecutive points then lies, in plan, on a ray from the scanner. Many
such rays meet at the scanner's plan position (least squares, with outlier rejection);
its height is the one from which the elevation angles along each profile advance in the
most even steps.

When the file is not in scan order the rays do not meet, and the estimate is refused
(None) rather than guessed.

A station still in its scanner's own frame has the scanner at the frame's zero even when
its points do not surround it (a façade framed from across the street, an object
scanned from outside): seen from there its returns lie on the scanner's angular grid,
evenly spaced in azimuth and elevation whatever the range and the slope of the surfaces
they met, which they are seen from nowhere else (:func:`faces_frame_zero`).
"""

from __future__ import annotations

import numpy as np

RUN = 48  # consecutive points per profile piece


def _profile_lines(xyz: np.ndarray, run: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plan lines (unit normal n, offset c with n·x = c) of runs of consecutive points
    that are long and straight in plan, and the runs' point indices."""
    n_runs = len(xyz) // run
    pieces = xyz[: n_runs * run].reshape(n_runs, run, 3)
    xy = pieces[:, :, :2]
    centre = xy.mean(axis=1)
    d = xy - centre[:, None, :]
    cov = np.einsum("rki,rkj->rij", d, d) / run
    evals, evecs = np.linalg.eigh(cov)  # ascending
    straight = (evals[:, 1] > 0.05**2) & (evals[:, 0] < 1e-4 * evals[:, 1])
    normal = evecs[straight, :, 0]  # across the run
    offset = np.einsum("ri,ri->r", normal, centre[straight])
    return normal, offset, np.flatnonzero(straight)


def _intersection(normal: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares meeting point of plan lines, iteratively dropping those that miss it."""
    keep = np.ones(len(normal), dtype=bool)
    point = np.zeros(2)
    for limit in (np.inf, 2.0, 0.5, 0.2, 0.1):
        a, b = normal[keep], offset[keep]
        if len(a) < 10:
            break
        point = np.linalg.lstsq(a, b, rcond=None)[0]
        residual = np.abs(normal @ point - offset)
        keep = residual < limit
    return point, keep


def estimate_scanner_position(xyz: np.ndarray, *, run: int = RUN, min_rays: int = 50) -> np.ndarray | None:
    """The scanner position of one station's points in acquisition order, or None.

    Needs at least ``min_rays`` straight profile pieces that meet within 10 cm and span
    at least 30° of azimuth around the estimate.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if len(xyz) < run * min_rays:
        return None
    centre = xyz.mean(axis=0)
    local = xyz - centre
    normal, offset, runs = _profile_lines(local, run)
    if len(normal) < min_rays:
        return None
    point, keep = _intersection(normal, offset)
    if keep.sum() < max(min_rays, 0.5 * len(normal)):
        return None
    # The rays must come from different directions, or their meeting point is ill-defined.
    along = np.column_stack([-normal[keep, 1], normal[keep, 0]])
    angles = np.arctan2(along[:, 1], along[:, 0]) % np.pi
    if np.ptp(angles) < np.radians(30.0):
        return None
    height = _height(local[: len(local) // run * run].reshape(-1, run, 3)[runs[keep]], point)
    return np.array([point[0], point[1], height]) + centre


def _height(pieces: np.ndarray, plan: np.ndarray) -> float:
    """The scanner height (local) that makes elevation steps along each profile most even."""
    r = np.linalg.norm(pieces[:, :, :2] - plan, axis=2)
    z = pieces[:, :, 2]
    lo, hi = float(np.quantile(z, 0.01)) - 1.0, float(np.quantile(z, 0.99)) + 1.0

    def spread(h: float) -> float:
        el = np.arctan2(z - h, r)
        step = np.diff(el, axis=1)
        return float(np.median(np.std(step, axis=1) / (np.abs(np.mean(step, axis=1)) + 1e-9)))

    grid = np.linspace(lo, hi, 41)
    best = grid[int(np.argmin([spread(h) for h in grid]))]
    width = (hi - lo) / 40
    fine = np.linspace(best - width, best + width, 41)
    return float(fine[int(np.argmin([spread(h) for h in fine]))])


def scanner_position(xyz: np.ndarray, origin: np.ndarray) -> np.ndarray | None:
    """Where one station's scanner stood, in its local frame (``xyz`` about ``origin``).

    A terrestrial scanner writes each station in its own frame with the instrument at
    the frame's zero, so points that surround that zero, sampled evenly in angle from it
    (:func:`sampled_in_angle`), put the scanner there, exactly; so do points on the
    angular grid of a scanner there (:func:`faces_frame_zero`).
    A georeferenced station has lost it: then its scan order tells (within a few
    centimetres, see :func:`estimate_scanner_position`), unless the points were
    reordered, and the answer is None.
    """
    zero = -np.asarray(origin, dtype=np.float64)
    sample = xyz if len(xyz) < 2_000_000 else xyz[:: len(xyz) // 1_000_000]
    lo, hi = sample.min(axis=0), sample.max(axis=0)
    if np.all(lo[:2] < zero[:2]) and np.all(zero[:2] < hi[:2]) and sampled_in_angle(sample, zero):
        return zero
    if faces_frame_zero(xyz, zero):  # all of them: a strided sample is on no angular grid
        return zero
    return estimate_scanner_position(xyz)


EVEN_IN_ANGLE = 0.75  # sampled from the zero: spacing over range spreads less than this times the spacing
SPREAD_QUERIES = 20_000


def sampled_in_angle(points: np.ndarray, zero: np.ndarray) -> bool:
    """Whether the points are spaced evenly in angle as seen from ``zero`` rather than
    evenly in space: a scanner's returns thin out with range, so their spacing over their
    range varies less than their spacing does (interquartile spread of the logarithms,
    real outdoor LiDAR 0.26 against 0.95). Points that surround a frame's zero in plan
    are a scanner's returns from there only if so: an object scanned from outside, in a
    frame whose zero lies inside it (six real scans of a statue, pre-aligned on a common
    zero), is sampled evenly on its surface instead (0.23-0.76 against 0.04-0.07)."""
    rel = np.asarray(points, dtype=np.float64) - zero
    queries = rel[:: max(1, len(rel) // SPREAD_QUERIES)]
    nearest = _nearest_distinct(rel, queries)
    r = np.linalg.norm(queries, axis=1)
    ok = np.isfinite(nearest) & (r > 0)
    if ok.sum() < 100:
        return False
    spread = lambda v: float(np.subtract(*np.percentile(v, [75, 25])))  # noqa: E731
    return spread(np.log(nearest[ok] / r[ok])) < EVEN_IN_ANGLE * spread(np.log(nearest[ok]))


# Measured on the generated buildings' and statue's stations (cleaned or not): from the
# frame's zero 99-100 % of the returns have their nearest (azimuth, elevation) neighbour
# within 25 % of the median step; from a point as far behind an object, beside it or
# inside it, or from a building station's zero moved by a metre, far fewer.
ZERO_MAX_RANGE_EXTENTS = 20.0  # median range from the zero, in extents of the points
EVEN_SPACING_BAND = 1.25  # "even": the angular step within this factor of the median
MIN_EVEN_SHARE = 0.97  # ... for this share of the returns
ZERO_POINTS = 2_000_000  # returns whose directions are searched (whole azimuth sectors beyond)
ZERO_QUERIES = 20_000
ZERO_SECTORS = 720  # sectors the returns' azimuth range is cut into, to keep some whole


def faces_frame_zero(points: np.ndarray, zero: np.ndarray) -> bool:
    """Whether ``zero`` (in the coordinates of ``points``) is where the scanner of these
    returns stood: within scanning range of them, and their directions from it on one
    angular grid (nearest neighbours in azimuth and elevation one even step apart).

    Without its scanner a station's normals are oriented by propagation, which flips them
    patch by patch on a thin or intricate object, and the visibility conflicts that tell
    a symmetric building's twin from the truth cannot be measured; the scan order's
    estimate (:func:`estimate_scanner_position`) is off by decimetres in height.
    """
    if len(points) < 100:
        return False
    from twin.ops.registration.settings import robust_extent  # noqa: PLC0415

    rel = np.asarray(points, dtype=np.float64) - zero
    r = np.linalg.norm(rel, axis=1)
    extent = robust_extent(rel)
    if not np.all(r > 0) or not extent > 0 or np.median(r) > ZERO_MAX_RANGE_EXTENTS * extent:
        return False
    az = np.arctan2(rel[:, 1], rel[:, 0])
    el = np.arcsin(np.clip(rel[:, 2] / r, -1.0, 1.0))
    # Put the azimuth seam in the widest gap between returns (behind a framed scan).
    ordered = np.sort(az[:: max(1, len(az) // ZERO_POINTS)])
    gaps = np.diff(np.concatenate([ordered, ordered[:1] + 2 * np.pi]))
    seam = ordered[(int(np.argmax(gaps)) + 1) % len(ordered)]
    az = (az - seam) % (2 * np.pi)
    keep, inner = _whole_sectors(az, ZERO_POINTS)
    return _even_share(np.column_stack([az[keep], el[keep]]), inner[keep]) >= MIN_EVEN_SHARE


def _whole_sectors(az: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Which returns to search (about ``limit``), and which of those to query.

    Thinning a scan by a stride (every third return) leaves no angular grid: its gaps
    then depend on how the stride falls on each profile, and a dense station's zero would
    never be recognised (a generated statue at 2M points a station lost its scanners so,
    and with them the orientation of its normals). So the azimuth range is cut into
    ZERO_SECTORS sectors and whole sectors are kept, evenly spread; the queries are the
    returns in the middle half of a kept sector, whose neighbours all lie within it."""
    if len(az) <= limit:
        return np.ones(len(az), dtype=bool), np.ones(len(az), dtype=bool)
    lo, hi = float(az.min()), float(az.max())
    position = (az - lo) / max(hi - lo, 1e-12) * ZERO_SECTORS
    sector = np.minimum(position.astype(np.int64), ZERO_SECTORS - 1)
    occupied = np.flatnonzero(np.bincount(sector, minlength=ZERO_SECTORS))
    every = max(1, int(np.ceil(len(az) / limit)))
    chosen = np.zeros(ZERO_SECTORS, dtype=bool)
    chosen[occupied[::every]] = True
    within = position - sector
    return chosen[sector], (within > 0.25) & (within < 0.75)


def _nearest_distinct(points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Distance from each query to its nearest point other than itself or a copy of it (a
    doubled station stores every return twice); inf where none of three neighbours is."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    dist, _ = cKDTree(points).query(queries, k=4, workers=-1)
    return np.where(dist[:, 1:] > 1e-12, dist[:, 1:], np.inf).min(axis=1)


def _even_share(angles: np.ndarray, queryable: np.ndarray | None = None) -> float:
    """Share of the (azimuth, elevation) pairs whose nearest distinct neighbour lies within
    ``EVEN_SPACING_BAND`` of the median step (0 when too few to tell); only the pairs
    ``queryable`` are asked (default: all)."""
    candidates = angles if queryable is None else angles[queryable]
    queries = candidates[:: max(1, len(candidates) // ZERO_QUERIES)]
    nearest = _nearest_distinct(angles, queries)
    nearest = nearest[np.isfinite(nearest)]
    if len(nearest) < 100:
        return 0.0
    median = float(np.median(nearest))
    return float(np.mean((nearest > median / EVEN_SPACING_BAND) & (nearest < median * EVEN_SPACING_BAND)))

"""Columns: vertical cylinders found slice by slice, then fitted as one leaning axis.

The points no plane took whose normals are near horizontal are cut into horizontal slices
(``slice_m``, 0.5 m). In each slice they are grouped on a plan raster; a compact group
(``max_diameter``) gets a least-squares circle (algebraic start, then Gauss-Newton on the
geometric distance) and is kept when the circle fits well, the points cover enough of its
arc and their normals point away from its centre (the corner of two walls does not). Circles of consecutive slices whose centres and radii agree are chained; a chain
of at least ``min_slices`` is a column. The column's axis is the straight line through the
slice centres (least squares, weighted by points), its radius the median distance of its
points from that axis, its ends the lowest and highest points of the shell round the axis
that continue the chain. Lean is the axis's angle from the vertical and the grid azimuth
(clockwise from north) the top moves toward; the diameter is given per slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from twin.ops.suggest.planes import connected_pieces


@dataclass(frozen=True)
class ColumnSettings:
    distance: float  # m, the plane band: the shell round an axis is 1.5 of it either side
    cell: float  # m, plan raster for the groups of a slice
    slice_m: float = 0.5
    max_diameter: float = 1.6  # m
    min_radius: float = 0.04  # m
    min_slices: int = 3
    min_arc_deg: float = 100.0
    max_rms_share: float = 0.08  # of the radius
    min_points: int = 20  # per slice
    min_radial: float = 0.85  # mean |cos| between a point's normal and the direction from the axis


@dataclass
class Column:
    bottom: np.ndarray  # (3,) axis point at the lowest point of the column (thinned cloud frame)
    top: np.ndarray  # (3,) axis point at the highest
    radius: float
    rms: float  # m, radial residual of its points
    index: np.ndarray  # points of the thinned cloud on its shell
    slices: list[dict] = field(default_factory=list)  # z_from, z_to, diameter, centre, points
    arc_deg: float = 360.0

    @property
    def height(self) -> float:
        return float(self.top[2] - self.bottom[2])

    @property
    def lean_deg(self) -> float:
        d = self.top - self.bottom
        return float(math.degrees(math.atan2(math.hypot(d[0], d[1]), d[2])))

    @property
    def lean_azimuth_deg(self) -> float:
        """Grid azimuth (clockwise from north, +y) the top moves toward."""
        d = self.top - self.bottom
        return float(math.degrees(math.atan2(d[0], d[1])) % 360.0)

    def axis_at(self, z: np.ndarray) -> np.ndarray:
        t = (np.asarray(z) - self.bottom[2]) / max(self.height, 1e-9)
        return self.bottom[:2] + np.multiply.outer(t, self.top[:2] - self.bottom[:2])


def fit_circle(xy: np.ndarray, iterations: int = 8) -> tuple[np.ndarray, float, float]:
    """Least-squares circle: centre, radius and RMS of the radial residuals (Kasa start,
    then Gauss-Newton on the geometric distances)."""
    c0 = xy.mean(axis=0)
    p = xy - c0
    a = np.column_stack([2 * p, np.ones(len(p))])
    b = (p**2).sum(axis=1)
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    centre = sol[:2]
    radius = math.sqrt(max(sol[2] + centre @ centre, 1e-12))
    for _ in range(iterations):
        d = p - centre
        r = np.linalg.norm(d, axis=1)
        r = np.where(r < 1e-12, 1e-12, r)
        res = r - radius
        jac = np.column_stack([-d / r[:, None], -np.ones(len(p))])
        step, *_ = np.linalg.lstsq(jac, -res, rcond=None)
        centre = centre + step[:2]
        radius = radius + step[2]
        if np.abs(step).max() < 1e-7:
            break
    res = np.linalg.norm(p - centre, axis=1) - radius
    return centre + c0, float(abs(radius)), float(np.sqrt(np.mean(res**2)))


def arc_coverage_deg(xy: np.ndarray, centre: np.ndarray) -> float:
    """How much of the circle the points cover: 360 less the largest empty gap of angles."""
    ang = np.sort(np.arctan2(xy[:, 1] - centre[1], xy[:, 0] - centre[0]))
    if len(ang) < 2:
        return 0.0
    gaps = np.diff(np.concatenate([ang, [ang[0] + 2 * math.pi]]))
    return float(360.0 - math.degrees(gaps.max()))


def find_columns(xyz: np.ndarray, normals: np.ndarray, candidates: np.ndarray, settings: ColumnSettings) -> list[Column]:
    """Columns among the candidate points (indices into ``xyz``)."""
    cand = candidates[np.abs(normals[candidates, 2]) < 0.5]
    if len(cand) < settings.min_points * settings.min_slices:
        return []
    z = xyz[cand, 2]
    z0 = float(z.min())
    slice_of = np.floor((z - z0) / settings.slice_m).astype(np.int64)
    circles = []  # (slice, centre, radius, points)
    for k in np.unique(slice_of):
        members = cand[slice_of == k]
        if len(members) < settings.min_points:
            continue
        xy = xyz[members, :2]
        for part in connected_pieces(xy, settings.cell, bridge=2, thin=0):
            if len(part) < settings.min_points:
                continue
            pxy = xy[part]
            extent = pxy.max(axis=0) - pxy.min(axis=0)
            if extent.max() > settings.max_diameter:
                continue
            centre, radius, rms = fit_circle(pxy)
            if not settings.min_radius <= radius <= settings.max_diameter / 2:
                continue
            if rms > max(settings.max_rms_share * radius, settings.distance / 4):
                continue
            if arc_coverage_deg(pxy, centre) < settings.min_arc_deg:
                continue
            if _radial_agreement(pxy, normals[members[part], :2], centre) < settings.min_radial:
                continue  # the corner of two walls, not a round surface
            circles.append((int(k), centre, radius, len(part)))
    chains = _chain(circles, settings)
    out = []
    for chain in chains:
        column = _fit_column(xyz, cand, chain, z0, settings)
        if column is not None:
            out.append(column)
    return out


def _radial_agreement(xy: np.ndarray, nxy: np.ndarray, centre: np.ndarray) -> float:
    radial = xy - centre
    radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-12)
    n = nxy / np.maximum(np.linalg.norm(nxy, axis=1, keepdims=True), 1e-12)
    return float(np.mean(np.abs(np.einsum("ij,ij->i", radial, n))))


def _chain(circles, settings: ColumnSettings) -> list[list[tuple]]:
    """Circles of consecutive slices (one gap allowed) with agreeing centres and radii."""
    circles = sorted(circles, key=lambda c: c[0])
    chains: list[list[tuple]] = []
    for c in circles:
        best, best_d = None, None
        for chain in chains:
            last = chain[-1]
            if not 1 <= c[0] - last[0] <= 2:
                continue
            d = float(np.linalg.norm(c[1] - last[1]))
            if d <= max(0.3 * last[2], 2 * settings.cell) and abs(c[2] - last[2]) <= max(0.25 * last[2], settings.cell):
                if best_d is None or d < best_d:
                    best, best_d = chain, d
        if best is None:
            chains.append([c])
        else:
            best.append(c)
    return [ch for ch in chains if len(ch) >= settings.min_slices]


def _fit_column(xyz, cand, chain, z0: float, settings: ColumnSettings) -> Column | None:
    s = settings.slice_m
    zs = np.array([z0 + (c[0] + 0.5) * s for c in chain])
    cs = np.array([c[1] for c in chain])
    w = np.array([c[3] for c in chain], dtype=np.float64)
    radius = float(np.median([c[2] for c in chain]))
    # the shell: candidate points near the chain's axis, from the chain's reach outward
    line = axis_line(zs, cs, w)
    band = 1.5 * settings.distance
    d = np.linalg.norm(xyz[cand, :2] - axis_point(line, xyz[cand, 2]), axis=1)
    shell = cand[np.abs(d - radius) <= band]
    if len(shell) < settings.min_points * settings.min_slices:
        return None
    shell = shell[np.argsort(xyz[shell, 2], kind="stable")]
    zz = xyz[shell, 2]
    split = np.flatnonzero(np.diff(zz) > s / 2)  # runs of the shell separated by empty heights
    starts = np.concatenate([[0], split + 1])
    ends = np.concatenate([split + 1, [len(zz)]])
    mid = float(np.median(zs))
    run = next((k for k in range(len(starts)) if zz[starts[k]] <= mid <= zz[ends[k] - 1]), None)
    if run is None:
        return None
    shell = shell[starts[run] : ends[run]]
    zb, zt = float(xyz[shell[0], 2]), float(xyz[shell[-1], 2])
    if zt - zb < settings.min_slices * s * 0.8:
        return None
    # refit: a circle per slice over the whole run, then the axis and the radius from all shell points
    slices = []
    edges = np.arange(zb, zt + s, s)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = shell[(xyz[shell, 2] >= lo) & (xyz[shell, 2] < hi)]
        if len(m) < settings.min_points:
            continue
        c, r, rms = fit_circle(xyz[m, :2])
        if arc_coverage_deg(xyz[m, :2], c) < settings.min_arc_deg or abs(r - radius) > max(0.25 * radius, band):
            continue
        slices.append({"z_from": float(lo), "z_to": float(min(hi, zt)), "centre": c, "radius": r, "rms": rms,
                       "points": int(len(m))})
    if len(slices) < 2:
        return None
    line = axis_line(np.array([(q["z_from"] + q["z_to"]) / 2 for q in slices]),
                      np.array([q["centre"] for q in slices]), np.array([q["points"] for q in slices], dtype=float))
    dist = np.linalg.norm(xyz[shell, :2] - axis_point(line, xyz[shell, 2]), axis=1)
    radius = float(np.median(dist))
    keep = np.abs(dist - radius) <= band
    shell, dist = shell[keep], dist[keep]
    radius = float(np.mean(dist))
    rms = float(np.sqrt(np.mean((dist - radius) ** 2)))
    bottom = np.array([*axis_point(line, np.array([zb]))[0], zb])
    top = np.array([*axis_point(line, np.array([zt]))[0], zt])
    centre_mid = axis_point(line, np.array([(zb + zt) / 2]))[0]
    arc = arc_coverage_deg(xyz[shell, :2] - axis_point(line, xyz[shell, 2]) + centre_mid, centre_mid)
    return Column(bottom, top, radius, rms, shell, slices, arc)


def axis_line(zs: np.ndarray, cs: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x = a + b z, y = c + d z by weighted least squares: rows (a, b), (c, d)."""
    if len(zs) < 2 or np.ptp(zs) < 1e-9:
        return np.array([[cs[:, 0].mean(), 0.0], [cs[:, 1].mean(), 0.0]])
    a = np.column_stack([np.ones(len(zs)), zs]) * np.sqrt(w)[:, None]
    out = []
    for k in range(2):
        sol, *_ = np.linalg.lstsq(a, cs[:, k] * np.sqrt(w), rcond=None)
        out.append(sol)
    return np.array(out)


def axis_point(line: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.column_stack([line[0, 0] + line[0, 1] * z, line[1, 0] + line[1, 1] * z])

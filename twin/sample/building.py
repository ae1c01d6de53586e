"""A synthetic building sampled as a point cloud with its truth: for checking suggested
elements (``twin layers suggest``) on a layout other than the pavilion's.

A paved floor; a rectangular platform with a flight of steps up one side; a hall of four
walls on it (a door in the south wall); a ring of round columns round the hall, one of them
leaning; a hipped roof of four inclined planes over the columns. Every surface is sampled uniformly at ``density`` points
per square metre with Gaussian noise ``noise`` along its normal: no occlusion, so every
element is seen whole. Each point carries its element id; the columns' axes and radii are
the truth a suggestion is measured against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Layout:
    origin: tuple[float, float, float] = (775200.0, 1822600.0, 5.0)  # UTM of the site frame's zero
    floor_half: tuple[float, float] = (16.0, 13.0)
    platform_half: tuple[float, float] = (9.0, 6.5)
    platform_height: float = 0.8
    hall_half: tuple[float, float] = (5.0, 3.0)
    wall_height: float = 3.5
    door: tuple[float, float, float] = (1.0, 2.4, 2.4)  # centre x, width, height
    column_lines_x: tuple[float, ...] = (-7.0, -4.2, -1.4, 1.4, 4.2, 7.0)
    column_rows_y: tuple[float, ...] = (-5.0, -1.7, 1.7, 5.0)
    column_radius: float = 0.15
    lean: tuple[int, float, float] = (2, 1.0, 150.0)  # column index, degrees, azimuth the top moves toward
    roof_pitch_deg: float = 25.0
    roof_overhang: float = 1.0
    # a flight up the platform's side: which side, its centre along that side, width, steps, tread
    stairs: tuple[str, float, float, int, float] = ("south", 1.0, 2.4, 4, 0.30)
    density: float = 250.0  # points per m²
    noise: float = 0.002  # m

    def column_positions(self) -> list[tuple[float, float]]:
        """The perimeter of the grid, row by row (south to north), west to east."""
        last_r, last_c = len(self.column_rows_y) - 1, len(self.column_lines_x) - 1
        return [(x, y) for r, y in enumerate(self.column_rows_y) for c, x in enumerate(self.column_lines_x)
                if r in (0, last_r) or c in (0, last_c)]


HELD_OUT = Layout(
    floor_half=(14.0, 12.0), platform_half=(7.5, 7.0), platform_height=1.1, hall_half=(3.5, 4.0),
    wall_height=4.2, door=(-0.8, 1.6, 2.8), column_lines_x=(-6.0, -2.0, 2.0, 6.0),
    column_rows_y=(-6.0, -3.0, 0.0, 3.0, 6.0), column_radius=0.22, lean=(5, 1.5, 45.0), roof_pitch_deg=32.0,
    stairs=("east", -2.0, 1.8, 6, 0.28),
)


@dataclass
class ColumnTruth:
    id: str
    bottom: np.ndarray  # world
    top: np.ndarray
    radius: float
    lean_deg: float
    lean_azimuth_deg: float


@dataclass
class Building:
    xyz: np.ndarray  # world coordinates
    labels: np.ndarray  # element id of each point: floor, platform, wall-<side>, column-NN, roof-<side>
    columns: list[ColumnTruth] = field(default_factory=list)
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))


def _plane(rng, p0, u, v, density: float, keep=None) -> np.ndarray:
    p0, u, v = (np.asarray(a, dtype=np.float64) for a in (p0, u, v))
    area = np.linalg.norm(np.cross(u, v))
    n = rng.poisson(area * density)
    st = rng.random((n, 2))
    pts = p0 + st[:, :1] * u + st[:, 1:] * v
    if keep is not None:
        pts = pts[keep(pts)]
    return pts


def _noisy(rng, pts: np.ndarray, normal, noise: float) -> np.ndarray:
    normal = np.asarray(normal, dtype=np.float64)
    if normal.ndim == 1:
        normal = np.broadcast_to(normal / np.linalg.norm(normal), pts.shape)
    return pts + rng.normal(0.0, noise, (len(pts), 1)) * normal


def build(layout: Layout = Layout(), seed: int = 0) -> Building:
    rng = np.random.default_rng(seed)
    L = layout
    parts: list[tuple[np.ndarray, str]] = []
    fx, fy = L.floor_half
    px, py = L.platform_half
    hx, hy = L.hall_half
    ph, wh, dens, sig = L.platform_height, L.wall_height, L.density, L.noise

    flight, footprint, behind, flight_name = _stairs(rng, L)
    floor = _plane(rng, (-fx, -fy, 0), (2 * fx, 0, 0), (0, 2 * fy, 0), dens,
                   keep=lambda p: ((np.abs(p[:, 0]) > px) | (np.abs(p[:, 1]) > py)) & ~footprint(p))
    parts.append((_noisy(rng, floor, (0, 0, 1), sig), "floor"))
    # platform: top (outside the hall) and four sides, hidden where the flight stands against one
    top = _plane(rng, (-px, -py, ph), (2 * px, 0, 0), (0, 2 * py, 0), dens,
                 keep=lambda p: (np.abs(p[:, 0]) > hx) | (np.abs(p[:, 1]) > hy))
    open_ = lambda p: ~behind(p)  # noqa: E731
    sides = [
        _noisy(rng, _plane(rng, (-px, -py, 0), (2 * px, 0, 0), (0, 0, ph), dens, open_), (0, 1, 0), sig),
        _noisy(rng, _plane(rng, (-px, py, 0), (2 * px, 0, 0), (0, 0, ph), dens, open_), (0, 1, 0), sig),
        _noisy(rng, _plane(rng, (-px, -py, 0), (0, 2 * py, 0), (0, 0, ph), dens, open_), (1, 0, 0), sig),
        _noisy(rng, _plane(rng, (px, -py, 0), (0, 2 * py, 0), (0, 0, ph), dens, open_), (1, 0, 0), sig),
    ]
    parts.append((np.vstack([_noisy(rng, top, (0, 0, 1), sig), *sides]), "platform"))
    parts.append((flight, flight_name))
    # hall walls (outer faces), a door in the south wall
    dx, dw, dh = L.door

    def no_door(p):
        return ~((np.abs(p[:, 0] - dx) < dw / 2) & (p[:, 2] < ph + dh))

    walls = {
        "wall-south": (_plane(rng, (-hx, -hy, ph), (2 * hx, 0, 0), (0, 0, wh), dens, keep=no_door), (0, 1, 0)),
        "wall-north": (_plane(rng, (-hx, hy, ph), (2 * hx, 0, 0), (0, 0, wh), dens), (0, 1, 0)),
        "wall-west": (_plane(rng, (-hx, -hy, ph), (0, 2 * hy, 0), (0, 0, wh), dens), (1, 0, 0)),
        "wall-east": (_plane(rng, (hx, -hy, ph), (0, 2 * hy, 0), (0, 0, wh), dens), (1, 0, 0)),
    }
    for name, (pts, normal) in walls.items():
        parts.append((_noisy(rng, pts, normal, sig), name))
    # columns: platform top to the eaves
    columns = []
    origin = np.asarray(L.origin, dtype=np.float64)
    r = L.column_radius
    for k, (x, y) in enumerate(L.column_positions(), start=1):
        lean_deg, lean_az = (L.lean[1], L.lean[2]) if k == L.lean[0] else (0.0, 0.0)
        tilt = math.tan(math.radians(lean_deg))
        direction = np.array([math.sin(math.radians(lean_az)), math.cos(math.radians(lean_az))])
        n = rng.poisson(2 * math.pi * r * wh * dens)
        theta = rng.random(n) * 2 * math.pi
        h = rng.random(n) * wh
        radial = np.column_stack([np.cos(theta), np.sin(theta), np.zeros(n)])
        centre = np.column_stack([x + direction[0] * tilt * h, y + direction[1] * tilt * h, ph + h])
        pts = centre + radial * (r + rng.normal(0.0, sig, (n, 1)))
        cid = f"column-{k:02d}"
        parts.append((pts, cid))
        bottom = np.array([x, y, ph])
        topc = np.array([x + direction[0] * tilt * wh, y + direction[1] * tilt * wh, ph + wh])
        columns.append(ColumnTruth(cid, bottom + origin, topc + origin, r, lean_deg, lean_az))
    # hipped roof over the columns: four inclined planes from the eaves up to a ridge
    ex = max(abs(v) for v in L.column_lines_x) + L.roof_overhang
    ey = max(abs(v) for v in L.column_rows_y) + L.roof_overhang
    eave = ph + wh
    slope = math.tan(math.radians(L.roof_pitch_deg))
    rise = ey * slope  # the ridge along x, at y = 0
    ridge_x = ex - ey
    for name, pts_fn in (
        ("roof-south", lambda: _plane(rng, (-ex, -ey, eave), (2 * ex, 0, 0), (0, ey, rise), dens)),
        ("roof-north", lambda: _plane(rng, (-ex, ey, eave), (2 * ex, 0, 0), (0, -ey, rise), dens)),
        ("roof-west", lambda: _plane(rng, (-ex, -ey, eave), (ey, 0, rise), (0, 2 * ey, 0), dens)),
        ("roof-east", lambda: _plane(rng, (ex, -ey, eave), (-ey, 0, rise), (0, 2 * ey, 0), dens)),
    ):
        pts = pts_fn()
        # each slope keeps the part of the hip roof it holds: above its hips
        h = pts[:, 2] - eave
        inside = {"roof-south": ey - (-pts[:, 1]), "roof-north": ey - pts[:, 1],
                  "roof-west": ex - (-pts[:, 0]), "roof-east": ex - pts[:, 0]}[name]
        other = {"roof-south": ex - np.abs(pts[:, 0]), "roof-north": ex - np.abs(pts[:, 0]),
                 "roof-west": ey - np.abs(pts[:, 1]), "roof-east": ey - np.abs(pts[:, 1])}[name]
        pts = pts[(inside <= other + 1e-9) & (h >= 0)]
        normal = {"roof-south": (0, -slope, 1), "roof-north": (0, slope, 1), "roof-west": (-slope, 0, 1),
                  "roof-east": (slope, 0, 1)}[name]
        parts.append((_noisy(rng, pts, normal, sig), name))
    del ridge_x
    xyz = np.vstack([p for p, _ in parts]) + origin
    labels = np.concatenate([np.full(len(p), name, dtype=object) for p, name in parts])
    return Building(xyz, labels, columns, origin)


def _stairs(rng, L: Layout):
    """The flight of steps against one side of the platform: its points (treads, risers and
    its two sides, each with noise along its normal), tests for the floor under it and the
    platform face behind it (both hidden), and its element id. Step 0 is the top one, level
    with the platform; each step below it one rise lower and one tread further out."""
    side, centre, width, count, tread = L.stairs
    px, py = L.platform_half
    rise = L.platform_height / count
    out, along, face = {"south": ((0, -1), (1, 0), py), "north": ((0, 1), (1, 0), py),
                        "west": ((-1, 0), (0, 1), px), "east": ((1, 0), (0, 1), px)}[side]
    out, along = np.array([*out, 0.0]), np.array([*along, 0.0])
    run = count * tread
    base = face * out + centre * along - width / 2 * along  # where the flight's edge meets the platform
    pts = []
    for i in range(count):
        top = (count - i) * rise
        near = base + i * tread * out  # the tread's edge toward the platform
        pts.append(_noisy(rng, _plane(rng, near + [0, 0, top], width * along, tread * out, L.density), (0, 0, 1), L.noise))
        riser = near + (tread * out) + [0, 0, top - rise]
        pts.append(_noisy(rng, _plane(rng, riser, width * along, [0, 0, rise], L.density), out, L.noise))
        for edge in (near, near + width * along):
            pts.append(_noisy(rng, _plane(rng, edge, tread * out, [0, 0, top], L.density), along, L.noise))

    def _uv(p):
        rel = p[:, :2] - base[:2]
        return rel @ out[:2], rel @ along[:2]

    def footprint(p):
        u, v = _uv(p)
        return (u >= 0) & (u <= run) & (v >= 0) & (v <= width)

    def behind(p):
        u, v = _uv(p)
        return (np.abs(u) < 1e-6) & (v >= 0) & (v <= width)

    return np.vstack(pts), footprint, behind, f"stairs-{side}"


def truth_class(labels: np.ndarray) -> np.ndarray:
    """floor, platform, wall, column or roof for each element id."""
    out = np.array([str(x).split("-")[0] if x else "" for x in labels], dtype=object)
    return out

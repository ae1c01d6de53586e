"""Buildings whose coverage is known, for the coverage and station tests.

- :func:`prism_points`: a footprint extruded from ``z0`` to ``z1``, its walls and flat roof
  sampled uniformly (no occlusion), with rectangular patches left out: each patch is a hole
  whose place and area are known exactly.
- :func:`occluded_site`: a box building on open ground with a free-standing screen wall in
  front of its south face, scanned by twin's scanner simulator from four stations, one off
  each face: the screen's shadow is an occlusion hole, found where rays cast against the
  scene's mesh say no station sees the wall (:func:`unseen_by`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.sample.geometry import ElementInfo, MeshBuilder, merge_parts, quad
from twin.sample.scanner import MeshScene, ScannerModel, StationSetup, scan, window_for


def rotated_rectangle(centre, size, angle_deg: float) -> np.ndarray:
    """(4, 2) corners, counter-clockwise, of a rectangle turned ``angle_deg`` counter-clockwise."""
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    half = np.asarray(size, dtype=np.float64) / 2
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    return corners @ rot.T + np.asarray(centre, dtype=np.float64)


@dataclass
class WallPatch:
    """A rectangle on face ``face`` (edge from corner ``face`` to the next): ``u`` along the
    face from its first corner, ``z`` heights."""

    face: int
    u: tuple[float, float]
    z: tuple[float, float]

    @property
    def area(self) -> float:
        return (self.u[1] - self.u[0]) * (self.z[1] - self.z[0])

    def centre(self, corners: np.ndarray) -> np.ndarray:
        a, b = corners[self.face], corners[(self.face + 1) % len(corners)]
        t = (b - a) / np.linalg.norm(b - a)
        return np.array([*(a + t * sum(self.u) / 2), sum(self.z) / 2])


@dataclass
class RoofPatch:
    """A rectangle of the roof in the footprint's own axes: ``u`` along its first edge and
    ``v`` along its last edge reversed (from corner 0)."""

    u: tuple[float, float]
    v: tuple[float, float]

    @property
    def area(self) -> float:
        return (self.u[1] - self.u[0]) * (self.v[1] - self.v[0])


def prism_points(corners: np.ndarray, z0: float, z1: float, *, density: float = 400.0, seed: int = 0,
                 wall_patches: list[WallPatch] = (), roof_patches: list[RoofPatch] = (),
                 noise: float = 0.002, roof: bool = True) -> np.ndarray:
    """Points on the walls and (``roof``) the flat roof of a convex footprint (corners
    counter-clockwise; clockwise for a courtyard, whose walls face into it)."""
    rng = np.random.default_rng(seed)
    out = []
    n = len(corners)
    for k in range(n):
        a, b = corners[k], corners[(k + 1) % n]
        length = float(np.linalg.norm(b - a))
        t = (b - a) / length
        normal = np.array([t[1], -t[0]])
        m = rng.poisson(length * (z1 - z0) * density)
        u, z = rng.random(m) * length, z0 + rng.random(m) * (z1 - z0)
        keep = np.ones(m, dtype=bool)
        for p in wall_patches:
            if p.face == k:
                keep &= ~((u >= p.u[0]) & (u < p.u[1]) & (z >= p.z[0]) & (z < p.z[1]))
        xy = a + t * u[keep, None] + normal * rng.normal(0, noise, (int(keep.sum()), 1))
        out.append(np.column_stack([xy, z[keep]]))
    if not roof:
        return np.concatenate(out)
    e_u = corners[1] - corners[0]
    e_v = corners[-1] - corners[0]
    lu, lv = float(np.linalg.norm(e_u)), float(np.linalg.norm(e_v))
    m = rng.poisson(lu * lv * density)
    u, v = rng.random(m) * lu, rng.random(m) * lv
    keep = np.ones(m, dtype=bool)
    for p in roof_patches:
        keep &= ~((u >= p.u[0]) & (u < p.u[1]) & (v >= p.v[0]) & (v < p.v[1]))
    xy = corners[0] + np.outer(u[keep], e_u / lu) + np.outer(v[keep], e_v / lv)
    out.append(np.column_stack([xy, z1 + rng.normal(0, noise, int(keep.sum()))]))
    return np.concatenate(out)


def prism_mesh(corners: np.ndarray, z0: float, z1: float) -> tuple[np.ndarray, np.ndarray]:
    """The walls and flat top of a convex footprint (counter-clockwise), faces outward."""
    parts = []
    n = len(corners)
    for k in range(n):
        (ax, ay), (bx, by) = corners[k], corners[(k + 1) % n]
        parts.append(quad((ax, ay, z0), (bx, by, z0), (bx, by, z1), (ax, ay, z1)))
    top = np.column_stack([corners, np.full(n, z1)])
    parts.append((top, np.array([[0, i, i + 1] for i in range(1, n - 1)])))
    return merge_parts(parts)


@dataclass
class Site:
    scene: MeshScene
    footprint: np.ndarray  # (4, 2) corners of the building, counter-clockwise
    screen: np.ndarray  # (4, 2) corners of the screen wall
    height: float
    stations: list[StationSetup]
    points: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))
    station_of: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def positions(self) -> np.ndarray:
        return np.array([s.position for s in self.stations])


MODEL = ScannerModel(outlier_fraction=0.0, mixed_probability=0.0)


def occluded_site(*, angle_deg: float = 20.0, size=(12.0, 8.0), height: float = 6.0, screen_gap: float = 3.0,
                  screen_size=(4.0, 2.5), standoff: float = 10.0, step_deg: float = 0.12, seed: int = 3) -> Site:
    footprint = rotated_rectangle((0.0, 0.0), size, angle_deg)
    a = np.radians(angle_deg)
    along, out = np.array([np.cos(a), np.sin(a)]), np.array([np.sin(a), -np.cos(a)])  # the south face's way
    centre = (footprint[0] + footprint[1]) / 2 + out * (screen_gap + 0.15)
    screen = rotated_rectangle(centre, (screen_size[0], 0.3), angle_deg)
    b = MeshBuilder()
    b.element(ElementInfo("ground", "courtyard", "ground", "paving", 9))
    b.add(*quad((-60, -60, 0), (60, -60, 0), (60, 60, 0), (-60, 60, 0)))
    b.element(ElementInfo("building", "wall", "building", "plaster", 1))
    b.add(*prism_mesh(footprint, -0.2, height))
    b.element(ElementInfo("screen", "wall", "screen wall", "stone", 2))
    b.add(*prism_mesh(screen, -0.2, screen_size[1]))
    scene = MeshScene(b.build())
    stations = []  # one off the middle of each face: the south face is seen from its own station only
    for k in range(4):
        a, b = footprint[k], footprint[(k + 1) % 4]
        t = (b - a) / np.linalg.norm(b - a)
        where = (a + b) / 2 + np.array([t[1], -t[0]]) * standoff + t * 0.7
        stations.append(station(scene, np.array([*where, 1.6]), footprint, height, step_deg, key=k))
    site = Site(scene, footprint, screen, height, stations)
    site.points, site.station_of = scan_all(site, stations, seed)
    return site


def station(scene: MeshScene, position: np.ndarray, footprint: np.ndarray, height: float, step_deg: float,
            key: int) -> StationSetup:
    """A levelled station at ``position`` framing the building."""
    targets = np.concatenate([np.column_stack([footprint, np.full(len(footprint), z)]) for z in (0.0, height)])
    azimuths, elevations = window_for(position, np.eye(3), targets)
    return StationSetup(f"S{key + 1}", position, np.eye(3), azimuths, elevations, step_deg, key)


def scan_all(site: Site, stations: list[StationSetup], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every station's points in the site frame, and the index of the station of each."""
    points, owner = [], []
    for i, setup in enumerate(stations):
        for chunk in scan(site.scene, setup, seed=seed, sun=np.array([0.3, 0.3, 0.9]), model=MODEL):
            points.append(chunk.xyz @ setup.rotation.T + setup.position)
            owner.append(np.full(len(chunk.xyz), i))
    return np.concatenate(points), np.concatenate(owner)


def wall_samples(corners: np.ndarray, face: int, height: float, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres of a grid of ``cell`` on one face of the building, and the face's outward normal."""
    a, b = corners[face], corners[(face + 1) % len(corners)]
    length = float(np.linalg.norm(b - a))
    t = (b - a) / length
    u = (np.arange(int(length / cell)) + 0.5) * cell
    z = (np.arange(int(height / cell)) + 0.5) * cell
    uu, zz = np.meshgrid(u, z)
    xy = a + t * uu.ravel()[:, None]
    return np.column_stack([xy, zz.ravel()]), np.array([t[1], -t[0], 0.0])


def unseen_by(scene: MeshScene, positions: np.ndarray, points: np.ndarray, normal: np.ndarray,
              min_cos: float = 0.2) -> np.ndarray:
    """Which points on a wall no position sees: the ray from it meets something else first,
    or meets the wall at a grazing angle (the scanner keeps no return there)."""
    seen = np.zeros(len(points), dtype=bool)
    for p in positions:
        way = points - p
        dist = np.linalg.norm(way, axis=1)
        way /= dist[:, None]
        t, _ = scene.cast(p, way)
        seen |= (t >= dist - 0.01) & (-(way @ normal) >= min_cos)
    return ~seen

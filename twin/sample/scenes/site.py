"""What a scene builder hands to the station planner: the mesh and where stations may stand."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.sample.geometry import ElementInfo, LabelledMesh, MeshBuilder
from twin.sample.scenes.shapes import Ground, Mesh


@dataclass
class Spot:
    """A station's place: ground point (x, y, floor z) and how it frames the scene."""

    xyz: np.ndarray
    full_dome: bool = False  # sweep 360° x (-60°..90°): inside a courtyard, on an upper floor


@dataclass
class Site:
    mesh: LabelledMesh
    spots: list[Spot]  # in neighbour order: consecutive spots overlap by design
    neighbours: list[tuple[int, int]]
    params: dict = field(default_factory=dict)
    ground: Ground | None = None
    weak: list[tuple[int, int]] = field(default_factory=list)  # neighbours meant to overlap little


class SceneBuilder(MeshBuilder):
    """twin.sample.geometry's builder with one call per element."""

    def part(self, eid: str, kind: str, material: str, *meshes: Mesh, label: str | None = None) -> None:
        if not any(e.id == eid for e in self.elements):
            self.element(ElementInfo(eid, kind, label or eid.replace("-", " "), material, 5))
        else:
            self._current = next(i for i, e in enumerate(self.elements) if e.id == eid)
        for v, t in meshes:
            self.add(v, t, material=material)


def ring_spots(
    rng: np.random.Generator,
    ground: Ground,
    centre: tuple[float, float],
    half: tuple[float, float],
    n: int,
    distance: tuple[float, float],
    first: int | None = None,
    even: bool = False,
    turn: float = 0.0,
    lean: tuple[float, float] = (0.5, 1.0),
) -> list[Spot]:
    """n places at a distance round a rectangular footprint (half sizes ``half``),
    counter-clockwise.

    Up to four stand off the corners along the footprint's diagonals, where each sees two
    faces and shares one with the next (from corner ``first``, 0 SW .. 3 NW); more fill
    the gaps between them by length (long sides first)."""
    if n == 0:
        return []
    d = rng.uniform(*distance)
    hx, hy = half
    corners = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])  # SW SE NE NW
    phi = np.radians(180.0 + 90.0 * np.arange(4))[:, None] + np.linspace(0, np.pi / 2, 33)[None, :]
    curve = (corners[:, None, :] + d * np.stack([np.cos(phi), np.sin(phi)], -1)).reshape(-1, 2)
    closed = np.vstack([curve, curve[:1]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    # off each corner along the footprint's diagonal, or leaning toward the ends of its long sides
    f = int(round(32 * rng.uniform(*lean) * np.arctan2(hy, hx) / (np.pi / 2)))
    mids = arc[np.array([f, 33 + 32 - f, 66 + f, 99 + 32 - f])]
    first = int(rng.integers(4)) if first is None else first
    marks = np.roll(mids, -first)
    marks = np.where(marks < marks[0], marks + arc[-1], marks)
    if even:  # evenly round a compact footprint from anywhere, fewer than five a fifth of the way apart
        s = marks[0] + rng.random() * arc[-1] / n + np.arange(n) * arc[-1] / max(n, 5)
    elif n <= 4:
        s = marks[:n]
    else:
        ends = np.append(marks, marks[0] + arc[-1])
        gaps = np.diff(ends)
        want = gaps / gaps.sum() * (n - 4)
        extra = np.floor(want).astype(int)
        extra[np.argsort(extra - want)[: n - 4 - extra.sum()]] += 1
        s = np.concatenate([np.linspace(ends[k], ends[k + 1], extra[k] + 2)[:-1] for k in range(4)])
    s = s + rng.uniform(-0.08, 0.08, n) * arc[-1] / max(n, 4)
    xy = np.stack([np.interp(s % arc[-1], arc, closed[:, 0]), np.interp(s % arc[-1], arc, closed[:, 1])], 1)
    c, s_ = np.cos(turn), np.sin(turn)
    xy = xy @ np.array([[c, s_], [-s_, c]]) + np.asarray(centre) + rng.uniform(-0.1, 0.1, (n, 2)) * d
    return [Spot(np.array([p, q, float(ground(p, q))])) for p, q in xy]


def ring_chain(n: int) -> list[tuple[int, int]]:
    """Neighbours round a ring: closed from five stations on (with three or four, the
    last and the first may stand off a colonnade or opposite corners, seeing the one
    face they share only at grazing angles)."""
    return chain(n, closed=n >= 5)


def chain(n: int, closed: bool) -> list[tuple[int, int]]:
    pairs = [(k, k + 1) for k in range(n - 1)]
    if closed and n > 2:
        pairs.append((n - 1, 0))
    return pairs

"""Planes in a thinned cloud: normal-seeded RANSAC, least-squares refit, connected pieces.

Each hypothesis is one point and its normal (a plane needs no more when normals are known);
a point supports it when it lies within ``distance`` of the plane *and* its own normal is
within ``angle_deg`` of the plane's, so a row of columns tangent to a plane gives it only
thin strips. The best of a batch of hypotheses is refitted by PCA on its supporters, then
split into connected pieces on a raster in the plane's own coordinates (two walls in one
plane, a wall and the platform edge below it); pieces smaller than ``min_size`` on either
side, or with fewer than ``min_points``, are not planes (the strips a column leaves on a
plane tangent to it), and their points stay for the column search.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BATCH = 128  # hypotheses per round
PROBE = 16_000  # points a hypothesis is scored on
MAX_FAILURES = 25  # rounds in a row whose best plane gave no piece: stop
MAX_RMS_SHARE = 0.4  # of the band: points spread evenly across it have 0.58


@dataclass(frozen=True)
class PlaneSettings:
    distance: float  # m, inlier band half-width
    cell: float  # m, raster cell for connected pieces
    min_size: float = 0.25  # m, both sides of a piece's bounding rectangle at least this
    min_points: int = 200
    angle_deg: float = 15.0
    max_planes: int = 400
    seed: int = 0


@dataclass
class PlanePiece:
    """A connected piece of one plane: ``normal`` (unit, sign arbitrary), ``offset`` with
    ``normal @ p + offset = 0``, the indices of its points in the thinned cloud, and its
    extent in the plane's own frame (``axes``: two in-plane unit vectors)."""

    normal: np.ndarray
    offset: float
    index: np.ndarray
    axes: np.ndarray  # (2, 3)
    rms: float  # m, of the points' distances to the plane
    extra: dict = field(default_factory=dict)

    def distances(self, xyz: np.ndarray) -> np.ndarray:
        return xyz @ self.normal + self.offset

    @property
    def tilt_deg(self) -> float:
        """Angle between the plane and the horizontal (0 floor, 90 wall)."""
        return float(np.degrees(np.arccos(min(1.0, abs(float(self.normal[2]))))))


def plane_frame(normal: np.ndarray) -> np.ndarray:
    """Two in-plane unit vectors: for a vertical or inclined plane the first is horizontal
    and the second runs up the slope; for a horizontal one, x and y."""
    n = normal / np.linalg.norm(normal)
    if abs(n[2]) > 0.999:
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    u = np.cross([0.0, 0.0, 1.0], n)
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    if v[2] < 0:
        v = -v
    return np.stack([u, v])


def fit_plane(xyz: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane (normal, offset) through points: the smallest PCA axis."""
    c = xyz.mean(axis=0)
    _, _, vt = np.linalg.svd(xyz - c, full_matrices=False)
    n = vt[2]
    return n, float(-n @ c)


def connected_pieces(uv: np.ndarray, cell: float, bridge: int = 2, thin: int = 2) -> list[np.ndarray]:
    """Indices of each 8-connected group of points on a raster of ``cell`` in 2-D; gaps of up
    to ``2 * bridge`` cells (sparse scan lines far from the scanner) do not split a group, and
    parts narrower than ``2 * thin + 1`` cells are not part of any group (the strip a column
    leaves on a plane tangent to it): their points are left out."""
    from scipy import ndimage  # noqa: PLC0415

    ij = np.floor((uv - uv.min(axis=0)) / cell).astype(np.int64)
    shape = tuple(ij.max(axis=0) + 1)
    if shape[0] * shape[1] > 50_000_000:  # a plane spread over a huge area: coarsen
        return connected_pieces(uv, cell * 2)
    grid = np.zeros(shape, dtype=bool)
    grid[ij[:, 0], ij[:, 1]] = True
    square = np.ones((3, 3), dtype=bool)
    if bridge:
        grid = ndimage.binary_closing(np.pad(grid, bridge), structure=square, iterations=bridge)[bridge:-bridge, bridge:-bridge]
    if thin:
        grid = ndimage.binary_opening(grid, structure=square, iterations=thin)
    labels, count = ndimage.label(grid, structure=np.ones((3, 3), dtype=bool))
    point_label = labels[ij[:, 0], ij[:, 1]]  # 0: a thin part, in no group
    order = np.argsort(point_label, kind="stable")
    bounds = np.searchsorted(point_label[order], np.arange(1, count + 2))
    return [order[bounds[k] : bounds[k + 1]] for k in range(count)]


def find_planes(xyz: np.ndarray, normals: np.ndarray, settings: PlaneSettings) -> list[PlanePiece]:
    """Every plane piece of the cloud, largest planes first."""
    rng = np.random.default_rng(settings.seed)
    n_points = len(xyz)
    free = np.ones(n_points, dtype=bool)  # not yet in an accepted piece
    seedable = np.ones(n_points, dtype=bool)  # may still propose a hypothesis
    cos_tol = float(np.cos(np.radians(settings.angle_deg)))
    pieces: list[PlanePiece] = []
    failures = 0
    normals = np.asarray(normals, dtype=np.float64)
    cols = [np.ascontiguousarray(xyz[:, k]) for k in range(3)]  # element-wise products: no BLAS threads
    ncols = [np.ascontiguousarray(normals[:, k]) for k in range(3)]
    while len(pieces) < settings.max_planes and failures < MAX_FAILURES:
        seeds = np.flatnonzero(seedable)
        pool = np.flatnonzero(free)
        if len(seeds) < settings.min_points or len(pool) < settings.min_points:
            break
        hyp = rng.choice(seeds, size=min(BATCH, len(seeds)), replace=False)
        probe = pool if len(pool) <= PROBE else rng.choice(pool, size=PROBE, replace=False)
        hn = normals[hyp].astype(np.float32)  # (B, 3)
        ho = -np.einsum("ij,ij->i", hn, xyz[hyp].astype(np.float32))
        score = _support(xyz[probe].astype(np.float32), normals[probe].astype(np.float32), hn, ho,
                         settings.distance, cos_tol)
        best = int(np.argmax(score))
        expected = score[best] * len(pool) / len(probe)
        seedable[hyp[score * len(pool) / len(probe) < settings.min_points]] = False
        if expected < settings.min_points:
            failures += 1
            continue
        normal, offset = hn[best].astype(np.float64), float(ho[best])
        members = pool
        for _ in range(2):  # refit on the supporters, then collect again
            d = np.abs(_dot(cols, normal) + offset)
            members = np.flatnonzero((d <= settings.distance) & (np.abs(_dot(ncols, normal)) >= cos_tol) & free)
            if len(members) < 3:
                break
            normal, offset = fit_plane(xyz[members])
        accepted = _pieces(xyz, members, normal, offset, settings)
        seedable[hyp[best]] = False
        if not accepted:
            seedable[members] = False
            failures += 1
            continue
        failures = 0
        for piece in accepted:
            free[piece.index] = False
            seedable[piece.index] = False
            pieces.append(piece)
    return pieces


def raster_cell(uv: np.ndarray, cell: float) -> float:
    """A raster cell for points in a plane: ``cell``, or twice their spacing where they are
    sparser (a floor seen at a grazing angle), up to ten times ``cell``."""
    return min(max(cell, 2.0 * _spacing(uv)), 10 * cell)


def _spacing(uv: np.ndarray, sample: int = 5000) -> float:
    """Median distance from a point to its nearest neighbour, in 2-D."""
    from scipy.spatial import cKDTree  # noqa: PLC0415

    probe = uv[:: max(1, len(uv) // sample)]
    dist, _ = cKDTree(uv).query(probe, k=2)
    return float(np.median(dist[:, 1]))


def _dot(cols: list[np.ndarray], v: np.ndarray) -> np.ndarray:
    return cols[0] * v[0] + cols[1] * v[1] + cols[2] * v[2]


def _support(xyz: np.ndarray, normals: np.ndarray, hn: np.ndarray, ho: np.ndarray, distance: float,
             cos_tol: float) -> np.ndarray:
    """How many points support each hypothesis (plane normal ``hn[k]``, offset ``ho[k]``)."""
    d = np.abs(xyz[:, 0:1] * hn[:, 0] + xyz[:, 1:2] * hn[:, 1] + xyz[:, 2:3] * hn[:, 2] + ho)
    a = np.abs(normals[:, 0:1] * hn[:, 0] + normals[:, 1:2] * hn[:, 1] + normals[:, 2:3] * hn[:, 2])
    return np.count_nonzero((d <= distance) & (a >= cos_tol), axis=0)


def _pieces(xyz, members, normal, offset, settings: PlaneSettings) -> list[PlanePiece]:
    if len(members) < settings.min_points:
        return []
    axes = plane_frame(normal)
    uv = xyz[members] @ axes.T
    out = []
    cell = raster_cell(uv, settings.cell)
    for part in connected_pieces(uv, cell):
        if len(part) < settings.min_points:
            continue
        extent = uv[part].max(axis=0) - uv[part].min(axis=0)
        if extent.min() < settings.min_size:
            continue
        index = members[part]
        n, o = fit_plane(xyz[index])
        if n @ normal < 0:
            n, o = -n, -o
        d = xyz[index] @ n + o
        rms = float(np.sqrt(np.mean(d**2)))
        if rms > MAX_RMS_SHARE * settings.distance:  # a curved surface cut by the band, not a plane
            continue
        out.append(PlanePiece(n, o, index, plane_frame(n), rms))
    return out


def clusters(count: int, linked) -> list[list[int]]:
    """Groups of ``range(count)`` joined by every pair ``i < j`` with ``linked(i, j)`` (union-find)."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(count):
        for j in range(i + 1, count):
            if root(i) != root(j) and linked(i, j):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def merge_coplanar(xyz: np.ndarray, pieces: list[PlanePiece], distance: float, gap: float,
                   horizontal_gap: float = np.inf) -> list[PlanePiece]:
    """Pieces of one plane that face each other across less than ``gap`` (the shadow of a
    column on a wall) become one; horizontal pieces of one level across ``horizontal_gap``
    (the paving all round a building, which hides the paving behind it from each station)."""
    cos_tol = float(np.cos(np.radians(3.0)))
    centres = [xyz[p.index].mean(axis=0) for p in pieces]

    def linked(i: int, j: int) -> bool:
        a, b = pieces[i], pieces[j]
        if abs(float(a.normal @ b.normal)) < cos_tol or abs(float(a.distances(centres[j][None])[0])) > distance:
            return False
        ua, ub = xyz[a.index] @ a.axes.T, xyz[b.index] @ a.axes.T
        apart = np.maximum(0.0, np.maximum(ua.min(axis=0) - ub.max(axis=0), ub.min(axis=0) - ua.max(axis=0)))
        return bool(np.all(apart <= (horizontal_gap if abs(float(a.normal[2])) > cos_tol else gap)))

    out = []
    for members in clusters(len(pieces), linked):
        if len(members) == 1:
            out.append(pieces[members[0]])
            continue
        index = np.concatenate([pieces[k].index for k in members])
        n, o = fit_plane(xyz[index])
        if n @ pieces[members[0]].normal < 0:
            n, o = -n, -o
        d = xyz[index] @ n + o
        out.append(PlanePiece(n, o, index, plane_frame(n), float(np.sqrt(np.mean(d**2)))))
    return out

"""Walls from vertical plane pieces: the two faces of one wall paired into one wall, and
the openings through a wall seen on both sides (:func:`openings`) or on one
(:func:`one_face_openings`).

A wall scanned from both sides gives two parallel vertical planes a wall's thickness apart
whose extents overlap along it. So do the two sides of a corridor, which face each other
across open space; normals carry no side (their sign is arbitrary) and the cloud no
scanner positions, so the side a face is open to is read from the ground at its foot: a
wall stands on the ground, and the ground runs on from its foot on the side it was seen
from, never under its body. Two faces are one wall when

- their planes are parallel within ``PARALLEL_DEG``, between ``2 distance`` (closer, they
  are one plane) and ``max_thickness`` apart, their extents overlap along the wall and up
  it by at least half the shorter one's, and no third face parallel to them lies between
  them (a wall's body holds no surface);
- no ground lies between them at the foot of either (between corridor walls it does; faces
  closer than three margins leave no room to tell ground from their own points); and
- they are closer than ``MIN_PASSAGE``, which no one walks through (two faces that close,
  both seen, are one wall's: the sides of a slot that narrow are not seen at all), or the
  ground runs on beyond at least one of them, on its side away from the other: that face
  is open away from the other, so what lies behind it up to the other face is its own
  body. Without that evidence two faces further apart are left apart (a corridor whose
  floor was not seen must not become a wall).

The ground is looked for in a strip along each face's foot, from ``margin`` off the face
to ``margin`` short of the other face's plane (as deep beyond it), in square cells of that
depth along the wall; a cell counts where the face reaches down to its foot there (not
over a door, whose head is no foot) and holds points at the foot's level that are not
isolated (a stray return inside a wall's body is). A side is open where at least
``OPEN_SHARE`` of the cells hold ground.
"""

from __future__ import annotations

import numpy as np

from twin.ops.suggest.planes import PlanePiece

MIN_PASSAGE = 0.6  # m: the narrowest gap between two walls that anyone walks through
PARALLEL_DEG = 5.0  # a battered wall's two faces lean toward each other by a few degrees
OPEN_SHARE = 0.25  # of a face's foot cells holding ground: that side of it is open
OPENING_EVIDENCE = 0.1  # of the points a face holds over as much area: an opening's body points
RECTANGULAR = 0.75  # share of its bounding box an opening seen from one side fills
RIM_SEEN = 0.8  # share of the cells round it (its foot left out) where the face is seen
SHADOW_SHARE = 0.5  # share of it behind which something stands in front: a shadow, not an opening
FOOT_REACH = 0.25  # of a face's height: a cell whose lowest point is higher is over an opening


def wall_groups(xyz: np.ndarray, faces: list[PlanePiece], margin: float, distance: float,
                max_thickness: float) -> list[list[PlanePiece]]:
    """The faces grouped into walls: each face alone, or with the faces on the wall's other
    side (an outer face seen whole and its inner face seen in two pieces make one wall).

    Pairs are joined thinnest first, and only while a group's faces stay on two levels (a
    wall has two sides: a face joined to faces on both of its sides would join two walls);
    no pair is joined across a third face parallel to them that lies between them."""
    count = len(faces)
    level = np.full((count, count), np.nan)  # face k's signed distance from face i's plane, where beside it
    for i in range(count):
        for k in range(count):
            if k != i and _beside(xyz, faces[i], faces[k]):
                level[i, k] = float(np.median(xyz[faces[k].index] @ faces[i].normal) + faces[i].offset)
    links = []
    for i in range(count):
        for j in range(i + 1, count):
            gap = level[i, j]
            if not 2 * distance < abs(gap) <= max_thickness:  # (False where not beside: nan)
                continue
            inside = np.sign(level[i]) == np.sign(gap)
            between = inside & (np.abs(level[i]) > 2 * distance) & (np.abs(level[i]) < abs(gap) - 2 * distance)
            if not between.any() and _ground_says_one_wall(xyz, faces[i], faces[j], gap, margin):
                links.append((abs(gap), i, j))
    group = list(range(count))
    for _, i, j in sorted(links):
        a, b = group[i], group[j]
        merged = [k for k in range(count) if group[k] in (a, b)]
        if a != b and _levels(xyz, [faces[k] for k in merged], distance) <= 2:
            for k in merged:
                group[k] = a
    return [[faces[k] for k in range(count) if group[k] == g] for g in dict.fromkeys(group)]


def _beside(xyz: np.ndarray, a: PlanePiece, b: PlanePiece) -> bool:
    """Parallel vertical faces whose extents overlap along the wall and up it by at least half
    the shorter one's."""
    if abs(float(a.normal @ b.normal)) < np.cos(np.radians(PARALLEL_DEG)):
        return False
    pa, pb = xyz[a.index], xyz[b.index]
    return _overlap(pa @ a.axes[0], pb @ a.axes[0]) >= 0.5 and _overlap(pa[:, 2], pb[:, 2]) >= 0.5


def _levels(xyz: np.ndarray, faces: list[PlanePiece], distance: float) -> int:
    """How many distinct levels (more than ``2 distance`` apart) parallel faces lie on."""
    ref = faces[0]
    levels = np.sort([float(np.median(xyz[f.index] @ ref.normal) + ref.offset) for f in faces])
    return 1 + int(np.count_nonzero(np.diff(levels) > 2 * distance))


def _ground_says_one_wall(xyz: np.ndarray, a: PlanePiece, b: PlanePiece, gap: float, margin: float) -> bool:
    """Whether the ground at the feet of two faces ``gap`` apart (b's signed distance from
    a's plane) says they are one wall's (see the module's rules)."""
    side = 1.0 if gap > 0 else -1.0  # b's side of a, along a's normal
    gap = abs(gap)
    depth = (margin, gap - margin)
    if depth[1] - depth[0] <= margin:  # too thin to tell ground between them from their own points
        return True
    toward_a = -side * (1.0 if float(a.normal @ b.normal) > 0 else -1.0)  # a's side of b, along b's normal
    between = max(ground_share(xyz, a, side, depth, b), ground_share(xyz, b, toward_a, depth, a))
    if between >= OPEN_SHARE:
        return False
    if gap < MIN_PASSAGE:
        return True
    beyond = max(ground_share(xyz, a, -side, depth), ground_share(xyz, b, -toward_a, depth))
    return beyond >= OPEN_SHARE


def ground_share(xyz: np.ndarray, face: PlanePiece, side: float, depth: tuple[float, float],
                 other: PlanePiece | None = None) -> float:
    """Share of a vertical face's foot, in cells as long as the strip is deep, with points at
    the foot's level in the strip ``depth`` off the face on ``side`` (+1: along its normal);
    only where ``other`` runs beside it, when given; 0 where it has no foot."""
    pts = xyz[face.index]
    u = face.axes[0]
    n = face.normal * side
    cell = depth[1] - depth[0]
    s = pts @ u
    lo, hi = float(s.min()), float(s.max())
    if other is not None:
        t = xyz[other.index] @ u
        lo, hi = max(lo, float(t.min())), min(hi, float(t.max()))
    if hi - lo < cell:
        return 0.0
    count = int((hi - lo) // cell)
    keep = (s >= lo) & (s < lo + count * cell)
    k = ((s[keep] - lo) // cell).astype(np.int64)
    foot = np.full(count, np.inf)
    np.minimum.at(foot, k, pts[keep, 2])
    height = float(np.ptp(pts[:, 2]))
    reaches = foot <= foot.min() + FOOT_REACH * height
    if not reaches.any():
        return 0.0
    off = xyz @ n + face.offset * side
    along = xyz @ u
    band = 2 * depth[0]  # the ground's level: within two margins of the foot
    near = np.flatnonzero((off >= depth[0]) & (off <= depth[1]) & (along >= lo) & (along < lo + count * cell))
    kk = ((along[near] - lo) // cell).astype(np.int64)
    at_foot = np.abs(xyz[near, 2] - foot[kk]) <= band
    ground = near[at_foot]
    if len(ground) < 2:
        return 0.0
    from scipy.spatial import cKDTree  # noqa: PLC0415

    # stray returns (mixed pixels) inside a wall's body are isolated; the ground is a surface
    apart, _ = cKDTree(xyz[ground]).query(xyz[ground], k=2)
    held = np.zeros(count, dtype=bool)
    held[kk[at_foot][apart[:, 1] <= band]] = True
    return float(np.count_nonzero(held & reaches) / np.count_nonzero(reaches))


def _overlap(x: np.ndarray, y: np.ndarray) -> float:
    """Length common to two ranges over the shorter range's length."""
    common = min(x.max(), y.max()) - max(x.min(), y.min())
    return float(max(0.0, common) / max(min(np.ptp(x), np.ptp(y)), 1e-9))


def openings(face: np.ndarray, body: np.ndarray, cell: float,
             min_size: float) -> list[tuple[float, float, float, float]]:
    """The openings through a wall, as rectangles (s0, s1, z0, z1) along it (s) and up it (z).

    ``face``: its faces' points, (s, z); ``body``: the points inside its body, between its two
    faces, (s, z). An opening is a part of
    the wall's extent where no face was seen (rastered at ``cell``, gaps of two cells closed
    first: sparse scan lines) and the body was: a reveal, a sill, a threshold, a door leaf or
    what lies just behind it. A part unseen for want of a view (a column's shadow, the foot
    of a wall hidden behind a lower building) has nothing in the body behind it. Its rectangle spans
    the body points where they span ``min_size`` (an opening beside a shadow is unseen with
    it), else the unseen part; it holds at least ``OPENING_EVIDENCE`` of the body points a
    face would hold there, is at least ``min_size`` wide and high, and stops short of the
    wall's ends and top (a door reaches its foot)."""
    from scipy import ndimage  # noqa: PLC0415

    seen, lo, hi = _seen_raster(face, cell)
    square = np.ones((3, 3), dtype=bool)
    density = len(face) / (np.count_nonzero(seen) * cell**2)  # points per m² of face
    body = body[np.all((body >= lo) & (body <= hi), axis=1)]
    bij = np.floor((body - lo) / cell).astype(np.int64)
    labels, _ = ndimage.label(~seen)
    near = ndimage.grey_dilation(labels, footprint=square)  # reveals lie on an opening's rim
    out = []
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        inside = body[near[bij[:, 0], bij[:, 1]] == k]
        rect = [lo[0] + box[0].start * cell, lo[0] + box[0].stop * cell, lo[1] + box[1].start * cell,
                lo[1] + box[1].stop * cell]
        for axis in (0, 1):
            if len(inside) and np.ptp(inside[:, axis]) >= min_size:
                rect[2 * axis] = max(rect[2 * axis], float(inside[:, axis].min()))
                rect[2 * axis + 1] = min(rect[2 * axis + 1], float(inside[:, axis].max()))
        s0, s1, z0, z1 = rect
        if s1 - s0 < min_size or z1 - z0 < min_size or s0 <= lo[0] + cell or s1 >= hi[0] - cell or z1 >= hi[1] - cell:
            continue
        held = np.count_nonzero(np.all((inside >= (s0, z0)) & (inside <= (s1, z1)), axis=1))
        if held >= OPENING_EVIDENCE * density * (s1 - s0) * (z1 - z0):
            out.append((s0, s1, z0, z1))
    return out


def _seen_raster(face: np.ndarray, cell: float):
    """The face's points (s, z) rastered at ``cell``, gaps of two cells closed (sparse scan
    lines): (seen, lo, hi)."""
    from scipy import ndimage  # noqa: PLC0415

    lo, hi = face.min(axis=0), face.max(axis=0)
    shape = tuple(np.floor((hi - lo) / cell).astype(np.int64) + 1)
    ij = np.floor((face - lo) / cell).astype(np.int64)
    seen = np.zeros(shape, dtype=bool)
    seen[ij[:, 0], ij[:, 1]] = True
    square = np.ones((3, 3), dtype=bool)
    return ndimage.binary_closing(np.pad(seen, 2), structure=square, iterations=2)[2:-2, 2:-2], lo, hi


def one_face_openings(face: np.ndarray, front: np.ndarray, cell: float,
                      min_size: float) -> list[tuple[float, float, float, float]]:
    """Openings in a wall seen from one side only, as rectangles (s0, s1, z0, z1): nothing
    lies in its body to show them (:func:`openings`), so they are read from their shape.
    An opening is a part of the face where no point was seen that fills at least
    ``RECTANGULAR`` of its bounding box, at least ``min_size`` wide and high, with the face
    seen round it (on ``RIM_SEEN`` of the cells round it; a door's foot is open), short of
    the wall's ends and top; and not a shadow: ``front`` (s, z), the points standing in
    front of the face, cover less than ``SHADOW_SHARE`` of it (a column's shadow on a wall
    lies behind the column). Less sure than an opening read through the wall's body: the
    draft says which evidence each one has."""
    from scipy import ndimage  # noqa: PLC0415

    seen, lo, hi = _seen_raster(face, cell)
    shadowed = np.zeros_like(seen)
    front = front[np.all((front >= lo) & (front <= hi), axis=1)]
    fij = np.floor((front - lo) / cell).astype(np.int64)
    shadowed[fij[:, 0], fij[:, 1]] = True
    shadowed = ndimage.binary_dilation(shadowed, iterations=2)
    # unseen strips narrower than half an opening (along the wall's foot, where the plane
    # pieces stop short of the floor) would join an opening to the wall's edges
    reach = max(1, int(min_size / (4 * cell)))
    unseen = ndimage.binary_opening(~seen, structure=np.ones((3, 3), dtype=bool), iterations=reach)
    labels, _ = ndimage.label(unseen)
    out = []
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        hole = labels[box] == k
        s0, s1 = lo[0] + box[0].start * cell, lo[0] + box[0].stop * cell
        z0, z1 = lo[1] + box[1].start * cell, lo[1] + box[1].stop * cell
        if s1 - s0 < min_size or z1 - z0 < min_size or box[0].start == 0 or box[0].stop >= seen.shape[0] \
                or box[1].stop >= seen.shape[1]:
            continue
        if hole.mean() < RECTANGULAR:
            continue
        rim = np.zeros_like(seen)
        rows = slice(max(box[0].start - 1, 0), box[0].stop + 1)
        cols = slice(box[1].start if box[1].start == 0 else box[1].start - 1, box[1].stop + 1)
        rim[rows, cols] = True
        rim[box] = False
        if not rim.any() or seen[rim].mean() < RIM_SEEN:
            continue
        if shadowed[box][hole].mean() >= SHADOW_SHARE:
            continue
        out.append((float(s0), float(s1), float(z0), float(z1)))
    return out

"""Where additional scanner stations would see the holes, and the fewest that see most.

1. **Candidates**: ground points round the footprint at a few standoffs: fractions of the
   building's height (STANDOFF_HEIGHTS), and for each hole the distance from which its top
   is seen at MAX_ELEVATION_DEG; outside the footprint and every other known footprint,
   on the ground the survey saw there (else the building's), with nothing standing where
   the tripod would and nothing overhead (twin.ops.coverage.visibility's grid), and where
   the survey's own scanners are known, in a space one of them saw into.
2. **Visibility**: each hole is sampled (at most SAMPLES_PER_HOLE of its cells, spread
   evenly over it, each worth its share of the hole's area); a candidate sees a sample
   when the sample's surface faces it (incidence below MAX_INCIDENCE_DEG) and the ray
   between them is not blocked.
3. **Cover**: greedy set cover: the candidate that sees the most hole area not yet seen
   (between equals, the one that would sample it densest: facing it, and near, though no
   nearer than the building's height counts), then the next, until the stations see
   COVER_SHARE of what the candidates together can see, or what one more would add is
   below MIN_GAIN_SHARE of the hole area (or half the smallest hole), or MAX_STATIONS are
   proposed.
"""

from __future__ import annotations

import numpy as np

from twin.models.coverage import HoleSeen, SuggestedStation
from twin.ops.coverage.footprint import Face, distance_to_outline, faces_of, inside, oriented_rings
from twin.ops.coverage.holes import HoleCells
from twin.ops.coverage.visibility import Occupancy, occupancy, unblocked
from twin.ops.scale import round_length

SCANNER_HEIGHT = 1.6  # m, a tripod's optical centre above the ground
STANDOFF_HEIGHTS = (0.5, 1.0, 1.5, 2.0)  # candidate distances from the footprint, in building heights
MAX_ELEVATION_DEG = 60.0
MAX_INCIDENCE_DEG = 75.0
MIN_STANDOFF = 1.0  # m: room for the tripod and the scanner's minimum range
GROUND_REACH = 1.5  # m round a candidate where the ground under it is looked for
TRIPOD_RADIUS = 0.5  # m round a candidate kept clear of anything the survey saw
SAMPLES_PER_HOLE = 96
CANDIDATES_PER_RING = 96
VOXELS_PER_HEIGHT = 40
MAX_VOXELS = 40_000_000
MAX_STATIONS = 6
MIN_GAIN_SHARE = 0.02
COVER_SHARE = 0.9  # enough: this share of the hole area any candidate sees
REACHED_SHARE = 0.1  # a hole no candidate sees this much of is out of reach from the ground


def suggest_stations(result, xyz: np.ndarray, *, others: list[list[np.ndarray]] = (), origin=(0.0, 0.0, 0.0),
                     scanners: np.ndarray | None = None, scanner_height: float = SCANNER_HEIGHT,
                     max_stations: int = MAX_STATIONS) -> tuple[list[SuggestedStation], list[int]]:
    """Stations for the holes of ``result`` (twin.ops.coverage.CoverageResult), the points
    ``xyz`` (local frame) as occluders, ``others`` the other footprints nearby (polygons as
    lists of rings, local frame); ``scanners`` (k, 3, local), where the survey's own scanners
    stood: a candidate none of them sees is in no open space they saw (inside a building the
    inventory does not hold, behind a wall) and is left out.
    Returns the stations (survey CRS) and the ids of the holes no candidate reaches; sets
    each hole's ``seen_by_suggested``."""
    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    if not result.holes:
        return [], []
    height = max(result.top - result.ground, 1.0)
    standoffs = _standoffs(result.holes, height, scanner_height, result.ground)
    occ = _grid(result, xyz, height, float(standoffs.max()))
    xy, standoff = _candidates(result.faces, standoffs, others, occ.voxel)
    ground = _ground_at(occ, xy, result.ground, height, scanner_height)
    keep = _clear(occ, xy, ground)
    eyes = np.column_stack([xy, ground + scanner_height])[keep]
    if scanners is not None and len(scanners):
        keep[keep] = np.any([unblocked(occ, np.broadcast_to(s, eyes.shape), eyes)
                             for s in np.asarray(scanners, dtype=np.float64)], axis=0)
        eyes = np.column_stack([xy, ground + scanner_height])[keep]
    points, normals, weights, owner = _targets(result.holes, result.figures.settings.tolerance_m)
    sees, density = _visibility(occ, eyes, points, normals, height)
    return _cover(result.holes, sees, density, weights, owner, eyes, ground[keep], standoff[keep], origin,
                  max_stations)


def _grid(result, xyz: np.ndarray, height: float, reach: float) -> Occupancy:
    """The occupancy grid over the footprint and ``reach`` round it, from below its ground to
    above its top, in voxels of twice the cell or a fortieth of the height (coarser where the
    grid would hold more than MAX_VOXELS)."""
    voxel = round_length(max(2 * result.figures.settings.cell_m, height / VOXELS_PER_HEIGHT))
    lo_xy = np.min([r.min(axis=0) for r in result.rings], axis=0) - reach - 2 * voxel
    hi_xy = np.max([r.max(axis=0) for r in result.rings], axis=0) + reach + 2 * voxel
    lo = np.array([*lo_xy, result.ground - 2 * voxel])
    hi = np.array([*hi_xy, result.top + 2 * voxel])
    while np.prod(np.ceil((hi - lo) / voxel)) > MAX_VOXELS:
        voxel = round_length(voxel * 1.5)
    return occupancy(xyz, lo, hi, voxel, result.rings, result.faces, result.ground, float(result.walls.top.min()))


def _targets(holes: list[HoleCells], offset: float):
    """Samples of every hole: cells spread evenly over it (they come in raster order), moved
    ``offset`` off the surface; their normals, the area each stands for, the hole of each."""
    points, normals, weights, owner = [], [], [], []
    for k, h in enumerate(holes):
        pick = np.unique(np.linspace(0, len(h.points) - 1, min(len(h.points), SAMPLES_PER_HOLE)).round().astype(int))
        points.append(h.points[pick] + h.normals[pick] * offset)
        normals.append(h.normals[pick])
        weights.append(np.full(len(pick), h.hole.area_m2 / len(pick)))
        owner.append(np.full(len(pick), k))
    return tuple(np.concatenate(a) for a in (points, normals, weights, owner))


def _standoffs(holes: list[HoleCells], height: float, scanner_height: float, ground: float) -> np.ndarray:
    out = [f * height for f in STANDOFF_HEIGHTS]
    for h in holes:
        rise = float(h.points[:, 2].max()) - ground - scanner_height
        out.append(rise / np.tan(np.radians(MAX_ELEVATION_DEG)))
    out = np.maximum(np.array(out), MIN_STANDOFF)
    return np.unique(np.round(out, 1))


def _candidates(faces: list[Face], standoffs: np.ndarray, others: list[list[np.ndarray]],
                voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """(m, 2) ground points at each standoff round the outline, and their standoffs."""
    other_rings = [oriented_rings([polygon], tolerance=0.0) for polygon in others]
    other_faces = faces_of([r for rings in other_rings for r in rings])
    pts, dist = [], []
    for d in standoffs:
        perimeter = sum(f.length for f in faces) + 2 * np.pi * d
        step = max(perimeter / CANDIDATES_PER_RING, voxel)
        ring = []
        for f in faces:
            n = max(1, int(np.ceil(f.length / step)))
            u = (np.arange(n) + 0.5) * f.length / n
            ring.append(f.a + f.tangent * u[:, None] + f.normal * d)
            # round a corner: the normal turning from this face's to the next one's
            nxt = next((g for g in faces if g.ring == f.ring and np.allclose(g.a, f.b)), None)
            if nxt is not None:
                a0 = np.arctan2(f.normal[1], f.normal[0])
                turn = (np.arctan2(nxt.normal[1], nxt.normal[0]) - a0 + np.pi) % (2 * np.pi) - np.pi
                if turn > 0:  # a convex corner: the outline and its normals turn left
                    m = max(1, int(np.ceil(abs(turn) * d / step)))
                    ang = a0 + turn * (np.arange(1, m + 1) - 0.5) / m
                    ring.append(f.b + d * np.column_stack([np.cos(ang), np.sin(ang)]))
        ring = np.concatenate(ring)
        ok = distance_to_outline(ring, faces) >= d - step / 2
        for rings in other_rings:
            ok &= ~inside(ring, rings)
        if other_faces:
            ok &= distance_to_outline(ring, other_faces) > TRIPOD_RADIUS
        pts.append(ring[ok])
        dist.append(np.full(int(ok.sum()), d))
    return np.concatenate(pts), np.concatenate(dist)


def _ground_at(occ: Occupancy, xy: np.ndarray, ground: float, height: float, scanner_height: float) -> np.ndarray:
    """The ground the survey saw round each point: the median of the lowest occupied voxels
    of the columns within GROUND_REACH, those lying no more than a building height below the
    structure's ground and less than half the instrument's height above it (higher, it is a
    roof or a ceiling over a floor the survey did not see); the structure's ground where none is."""
    found = np.array([np.where(ok, occ.ground[i, j], np.nan) for i, j, ok in occ.columns_round(xy, GROUND_REACH)])
    found[~((found > ground - height) & (found < ground + scanner_height / 2))] = np.nan
    seen = np.isfinite(found).any(axis=0)
    out = np.full(len(xy), ground)
    out[seen] = np.nanmedian(found[:, seen], axis=0)
    return out


def _clear(occ: Occupancy, xy: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """Nothing the survey saw within TRIPOD_RADIUS (or a voxel) of where the tripod would
    stand, from just above the ground up: no obstacle there, and open sky (a roof or a
    ceiling overhead is another building, or a veranda, where a station sees little)."""
    ok = np.ones(len(xy), dtype=bool)
    k0 = np.clip(np.floor((ground + 0.3 - occ.lo[2]) / occ.voxel).astype(np.int64), 0, occ.grid.shape[2])
    above = np.arange(occ.grid.shape[2])[None, :] >= k0[:, None]
    for i, j, inside_grid in occ.columns_round(xy, TRIPOD_RADIUS):
        ok &= ~(inside_grid & (occ.grid[i, j] & above).any(axis=1))
    return ok


def _visibility(occ: Occupancy, eyes: np.ndarray, points: np.ndarray, normals: np.ndarray,
                height: float) -> tuple[np.ndarray, np.ndarray]:
    """(candidates, samples) bool: seen; and how densely a scanner there would sample each:
    the cosine of the incidence over the squared range, a range under the building's height
    counted as that height (nearer sees no better, and a station must see enough of the
    building round the hole to be registered with the others)."""
    to_eye = eyes[:, None, :] - points[None, :, :]
    dist = np.linalg.norm(to_eye, axis=2)
    cos = np.einsum("ijk,jk->ij", to_eye, normals) / np.maximum(dist, 1e-12)
    facing = cos >= np.cos(np.radians(MAX_INCIDENCE_DEG))
    ci, si = np.nonzero(facing)
    sees = np.zeros(facing.shape, dtype=bool)
    sees[ci, si] = unblocked(occ, eyes[ci], points[si])
    return sees, np.clip(cos, 0.0, 1.0) / np.maximum(dist, height) ** 2


def _cover(holes, sees, density, weights, owner, eyes, ground, standoff, origin, max_stations):
    """Greedy set cover of the samples ``sees`` (candidates x samples) by candidates; the
    stations chosen, and the ids of the holes out of reach of every candidate."""
    per_hole = np.array([h.hole.area_m2 for h in holes])
    reach = np.bincount(owner, weights=weights * sees.any(axis=0), minlength=len(holes)) / per_hole
    sees = sees & (reach[owner] >= REACHED_SHARE)[None, :]  # a hole out of reach draws no station
    total = float(weights.sum())
    reachable = float(weights[sees.any(axis=0)].sum())
    min_gain = max(MIN_GAIN_SHARE * total, 0.5 * float(per_hole.min()))
    seen = np.zeros(sees.shape[1], dtype=bool)
    dense = np.where(sees, density, 0.0).sum(axis=1) / np.maximum(sees.sum(axis=1), 1)
    dense /= max(float(dense.max()), 1e-12) if len(dense) else 1.0
    stations = []
    while len(stations) < max_stations and len(eyes) and weights[seen].sum() < COVER_SHARE * reachable:
        gain = sees[:, ~seen] @ weights[~seen]
        best = int(np.argmax(gain + 1e-3 * min_gain * dense))  # ties: the view that samples them densest
        if gain[best] < min_gain:
            break
        new = sees[best] & ~seen
        seen |= sees[best]
        by_hole = np.bincount(owner[sees[best]], weights=weights[sees[best]], minlength=len(holes))
        stations.append(SuggestedStation(
            id=len(stations) + 1, x=round(float(eyes[best, 0] + origin[0]), 3),
            y=round(float(eyes[best, 1] + origin[1]), 3), ground_z=round(float(ground[best] + origin[2]), 3),
            scanner_z=round(float(eyes[best, 2] + origin[2]), 3), standoff_m=round(float(standoff[best]), 2),
            sees=[HoleSeen(hole=holes[k].hole.id, share=round(float(by_hole[k] / per_hole[k]), 3),
                           area_m2=round(float(by_hole[k]), 3)) for k in np.flatnonzero(by_hole)],
            new_area_m2=round(float(weights[new].sum()), 3)))
    got = np.bincount(owner, weights=weights * seen, minlength=len(holes)) / per_hole
    for k, h in enumerate(holes):
        h.hole.seen_by_suggested = round(float(got[k]), 3)
    return stations, [h.hole.id for k, h in enumerate(holes) if reach[k] < REACHED_SHARE]

"""From plane pieces and columns to candidate elements: floor, platforms, walls, columns,
roof planes and roofs, each with a region of the layer file schema and its figures.

Rules (heights relative to the scanners, which look at a floor from above and at a ceiling
from below; without their positions, 1.6 m above the floor):

- the **floor** is the largest horizontal piece at the lowest level;
- a horizontal piece below the scanners with at least ``min_platform_area`` is a
  **platform**; the vertical pieces that run from the floor up to its top are its sides;
- a horizontal piece above the scanners is a ceiling, an **inclined** piece a roof plane;
  vertical pieces that start at or above the lowest roof piece near them (fascias, friezes,
  drums) belong to the roof; the roof pieces that touch each other form one **roof**, which
  records where its inclined planes meet in ridges, hips and valleys
  (:mod:`twin.ops.suggest.roofs`);
- the other vertical pieces at least ``min_wall_height`` high are wall faces; the two faces
  of one wall scanned from both sides are one **wall** (:mod:`twin.ops.suggest.walls`);
- **columns** come from :mod:`twin.ops.suggest.columns`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from twin.ops.suggest.columns import Column
from twin.ops.suggest.planes import PlanePiece, clusters, raster_cell
from twin.ops.suggest.roofs import roof_edges
from twin.ops.suggest.stairs import MAX_GOING, MAX_RISE, MIN_RISE, Flight, find_flights
from twin.ops.suggest.walls import one_face_openings, openings, wall_groups

HORIZONTAL_DEG = 10.0
VERTICAL_DEG = 80.0
SCANNER_HEIGHT = 1.6  # m above the floor, when the scanners' positions are unknown
COLUMN_SIDES = 24
DIRECTIONS = ("north", "east", "south", "west")

CLASSES = {
    "floor": "E25_Human-Made_Feature",
    "platform": "B3_Filled_Morphological_Building_Section",
    "wall": "B5_Stratigraphic_Building_Unit",
    "column": "B5_Stratigraphic_Building_Unit",
    "roof-plane": "B2_Morphological_Building_Section",
    "roof": "B2_Morphological_Building_Section",
    "stairs": "B2_Morphological_Building_Section",
    "door": "E22_Human-Made_Object",
    "window": "E22_Human-Made_Object",
}


@dataclass(frozen=True)
class ElementSettings:
    distance: float  # m, the plane band
    margin: float  # m, regions reach this far beyond their points
    cell: float  # m, the planes' raster (wider where a wall's points are sparser)
    min_wall_height: float = 1.0
    min_wall_length: float = 0.5
    min_platform_area: float = 1.0  # m²
    max_platform_height: float = 2.0  # m above the floor
    roof_gap: float = 0.5  # m between roof pieces of one roof
    max_wall_thickness: float = 1.5  # m: two faces further apart are two walls (or a building's sides)
    min_opening: float = 0.3  # m wide and high: smaller unseen parts of a wall are patches, not openings


@dataclass
class Candidate:
    kind: str  # floor, platform, stairs, wall, door, window, column, roof-plane, roof
    id: str
    name: str
    region: dict  # world coordinates (the structure's), as in a layer file
    index: np.ndarray  # points of the thinned cloud it was found on
    rms_mm: float  # of its fit; nan where nothing is fitted (an opening)
    confidence: float
    figures: dict = field(default_factory=dict)
    host: Candidate | None = None  # a door's or window's wall

    @property
    def element_class(self) -> str:
        return CLASSES[self.kind]


def classify(xyz: np.ndarray, origin: np.ndarray, pieces: list[PlanePiece], columns: list[Column],
             settings: ElementSettings, scanner_z: float | None = None) -> list[Candidate]:
    """Candidate elements from the pieces and columns of a thinned cloud (local ``xyz`` about
    ``origin``); regions and figures in world coordinates."""
    horizontal = [p for p in pieces if p.tilt_deg <= HORIZONTAL_DEG]
    vertical = [p for p in pieces if p.tilt_deg >= VERTICAL_DEG]
    inclined = [p for p in pieces if HORIZONTAL_DEG < p.tilt_deg < VERTICAL_DEG]
    out: list[Candidate] = []
    if not horizontal:
        floor_z = float(xyz[:, 2].min())
        floor = None
    else:
        levels = [float(np.median(xyz[p.index, 2])) for p in horizontal]
        lowest = min(levels)
        low = [i for i, z in enumerate(levels) if z <= lowest + 0.3]
        floor = horizontal[max(low, key=lambda i: len(horizontal[i].index))]
        floor_z = float(np.median(xyz[floor.index, 2]))
    eye = scanner_z if scanner_z is not None else floor_z + SCANNER_HEIGHT
    m, d = settings.margin, settings.distance

    if floor is not None:
        out.append(_flat("floor", floor, [], xyz, origin, settings, floor_z))
    flights = find_flights(xyz, _stair_pool(xyz, pieces, columns, floor, settings), floor_z,
                           floor_z + settings.max_platform_height + MAX_RISE, m, d)
    out.extend(_stairs(f, origin) for f in flights)
    # pieces of a flight (its treads, its risers, the faces of its sides) are not platforms
    within = np.zeros(len(xyz), dtype=bool)
    for f in flights:
        within[f.index] = True
    horizontal = [p for p in horizontal if p is floor or np.mean(within[p.index]) < 0.5]
    vertical = [p for p in vertical if np.mean(within[p.index]) < 0.5]
    ceilings = [p for p in horizontal if p is not floor and _z(xyz, p) >= eye]
    roof_parts = [p for p in inclined if _z(xyz, p) >= eye] + ceilings
    tops = [p for p in horizontal if p is not floor and _z(xyz, p) < eye
            and 0.1 < _z(xyz, p) - floor_z <= settings.max_platform_height]
    used_sides: set[int] = set()
    for top_pieces, sides in _platforms(xyz, floor_z, tops, vertical, settings):
        used_sides |= {id(v) for v in sides}
        out.append(_platform(top_pieces, sides, xyz, origin, settings, floor_z))
    rest = [v for v in vertical if id(v) not in used_sides]
    # roof: vertical pieces standing on (or above) the roof pieces near them
    for v in rest:
        lo = float(xyz[v.index, 2].min())
        if lo < eye:
            continue
        box = _bounds(xyz, v)
        near = [r for r in roof_parts if _gap(box, _bounds(xyz, r)) <= settings.roof_gap]
        if near and lo >= min(float(xyz[r.index, 2].min()) for r in near) - 2 * d:
            roof_parts.append(v)
    _deepen_floor(out)
    roof_ids = {id(r) for r in roof_parts}
    walls = [v for v in rest if id(v) not in roof_ids and _wall_sized(xyz, v, settings)]

    columns = [c for c in columns if not _at_a_corner(xyz, c, walls, settings)]
    centre = _building_centre(xyz, walls, columns)
    for faces in wall_groups(xyz, walls, m, d, settings.max_wall_thickness):
        wall = _wall(faces, xyz, origin, centre, settings)
        out.append(wall)
        out.extend(_opening(wall, o, xyz, origin, m) for o in wall.figures["openings"])
    for c in columns:
        out.append(_column(c, xyz, origin, settings))
    slopes = {id(p): _roof_plane(p, xyz, origin, settings) for p in inclined if id(p) in roof_ids}
    out.extend(slopes.values())
    taken = np.zeros(len(xyz), dtype=bool)
    for c in out:
        taken[c.index] = True
    for p in pieces:
        taken[p.index] = True
    edges = []
    for group in _groups(xyz, roof_parts, settings.roof_gap):
        roof = _roof(group, xyz, origin, settings, np.flatnonzero(~taken))
        out.append(roof)
        planes = [p for p in group if id(p) in slopes]
        edges += [(roof, slopes[id(planes[i])], slopes[id(planes[j])], e)
                  for i, j, e in roof_edges(xyz, planes, settings.roof_gap, m)]
    named = _name(out)
    for roof, a, b, e in edges:  # the planes' ids are given by their names
        roof.figures.setdefault("edges", []).append({
            "kind": e["kind"], "between": [a.id, b.id], "start": _r(e["start"] + origin), "end": _r(e["end"] + origin),
            "length_m": e["length_m"], "slope_deg": e["slope_deg"],
            "height_m": round(float(max(e["start"][2], e["end"][2]) + origin[2]), 3)})
    return named


# -- helpers on pieces -------------------------------------------------------------------


def _z(xyz, p: PlanePiece) -> float:
    return float(np.median(xyz[p.index, 2]))


def _area(xyz, p: PlanePiece) -> float:
    from scipy.spatial import ConvexHull  # noqa: PLC0415

    uv = xyz[p.index] @ p.axes.T
    try:
        return float(ConvexHull(uv).volume)
    except Exception:  # noqa: BLE001 - degenerate (collinear) points
        return 0.0


def _hull(xy: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull  # noqa: PLC0415

    return xy[ConvexHull(xy).vertices]


def _near_outline(xy: np.ndarray, hull: np.ndarray, reach: float) -> bool:
    """Whether most of the points lie within ``reach`` of the hull's outline."""
    import shapely  # noqa: PLC0415

    ring = shapely.LinearRing(hull)
    sample = xy[:: max(1, len(xy) // 200)]
    dist = shapely.distance(ring, shapely.points(sample))
    return bool(np.median(dist) <= reach)


def _bounds(xyz, p) -> tuple[np.ndarray, np.ndarray]:
    pts = xyz[p.index]
    return pts.min(axis=0), pts.max(axis=0)


def _gap(a, b) -> float:
    return float(np.max(np.maximum(0.0, np.maximum(a[0] - b[1], b[0] - a[1]))))


def _platforms(xyz, floor_z: float, tops: list[PlanePiece], vertical: list[PlanePiece],
               settings: ElementSettings) -> list[tuple[list[PlanePiece], list[PlanePiece]]]:
    """Platforms: the low vertical pieces that rise from the floor to one common top (their
    sides: from ground stations a platform's top is seen at a grazing angle, if at all),
    with the horizontal piece at that top when there is one."""
    d = settings.distance
    sides = []
    for v in vertical:
        lo, hi = float(xyz[v.index, 2].min()), float(xyz[v.index, 2].max())
        if lo <= floor_z + 3 * d + 0.05 and 0.1 < hi - floor_z <= settings.max_platform_height \
                and _wall_sized(xyz, v, replace(settings, min_wall_height=0.1)):
            sides.append((v, hi))
    # sides of one level that touch, directly or through the top piece between them, are one platform
    items = [(v, hi, _bounds(xyz, v)) for v, hi in sides] + [(t, _z(xyz, t), _bounds(xyz, t)) for t in tops]
    def linked(i: int, j: int) -> bool:
        return abs(items[i][1] - items[j][1]) <= 3 * d + 0.03 and _gap(items[i][2], items[j][2]) <= 1.5

    groups = []
    n_sides = len(sides)
    for members in clusters(len(items), linked):
        group_sides = [items[i][0] for i in members if i < n_sides]
        group_tops = [items[i][0] for i in members if i >= n_sides]
        groups.append((group_sides, group_tops))
    out = []
    for group_sides, group_tops in groups:
        length = sum(float(np.ptp(xyz[v.index] @ v.axes[0])) for v in group_sides)
        area = sum(_area(xyz, t) for t in group_tops)
        if length < 2.0 and area < settings.min_platform_area:
            continue
        out.append((group_tops, group_sides))
    return out


def _deepen_floor(cands: list[Candidate]) -> None:
    """Make the floor's slab larger in volume than every platform standing on it: where two
    regions overlap the smaller one wins, and the platform's sides reach down to the floor."""
    from twin.models.layers import polygon_area  # noqa: PLC0415

    floors = [c for c in cands if c.kind == "floor"]
    platforms = [c for c in cands if c.kind == "platform"]
    if not floors or not platforms:
        return
    region = floors[0].region
    area = polygon_area([tuple(q) for q in region["polygon"]])
    biggest = max(polygon_area([tuple(q) for q in c.region["polygon"]]) * (c.region["z_max"] - c.region["z_min"])
                  for c in platforms)
    depth = 1.1 * biggest / max(area, 1e-9)
    region["z_min"] = round(min(region["z_min"], region["z_max"] - depth), 4)


def _wall_sized(xyz, v: PlanePiece, settings: ElementSettings) -> bool:
    uv = xyz[v.index] @ v.axes.T
    ext = uv.max(axis=0) - uv.min(axis=0)
    return bool(ext[0] >= settings.min_wall_length and ext[1] >= settings.min_wall_height)


def _at_a_corner(xyz, c: Column, walls: list[PlanePiece], settings: ElementSettings) -> bool:
    """Whether a column stands where two wall faces meet at an angle: the edge the plane
    pieces leave between them, whose points' normals (estimated across both faces) turn
    like a cylinder's. Measured on the generated buildings: the hall's outer corner came
    out as a column 6 cm in radius with a fit residual of 10-13 % of it (true columns: 1-2 %)."""
    mid = (c.bottom + c.top) / 2
    reach = c.radius + 2 * settings.distance
    slack = reach + 3 * settings.cell  # the pieces stop short of the edge by the strip they leave
    meeting = []
    for v in walls:
        if abs(float(v.distances(mid[None])[0])) > reach:
            continue
        along = xyz[v.index] @ v.axes[0]
        t = float(mid @ v.axes[0])
        if along.min() - slack <= t <= along.max() + slack:
            meeting.append(v.normal[:2] / max(np.linalg.norm(v.normal[:2]), 1e-12))
    return any(abs(float(a @ b)) < math.cos(math.radians(30.0)) for i, a in enumerate(meeting) for b in meeting[i + 1:])


def _building_centre(xyz, walls, columns) -> np.ndarray:
    pts = [xyz[v.index, :2].mean(axis=0) for v in walls] + [c.bottom[:2] for c in columns]
    return np.mean(pts, axis=0) if pts else xyz[:, :2].mean(axis=0)


def _groups(xyz, parts: list[PlanePiece], gap: float) -> list[list[PlanePiece]]:
    bounds = [_bounds(xyz, p) for p in parts]
    groups = [[parts[i] for i in members]
              for members in clusters(len(parts), lambda i, j: _gap(bounds[i], bounds[j]) <= gap)]
    return sorted(groups, key=lambda g: -sum(len(p.index) for p in g))


def _azimuth(v: np.ndarray) -> float:
    """Grid azimuth of a horizontal direction, degrees clockwise from north (+y)."""
    return float(math.degrees(math.atan2(v[0], v[1])) % 360.0)


def _direction(azimuth: float) -> str:
    return DIRECTIONS[int(((azimuth + 45.0) % 360.0) // 90.0)]


def _r(values, digits: int = 4) -> list[float]:
    return [float(round(float(x), digits)) + 0.0 for x in values]


def _confidence(rms: float, settings: ElementSettings, points: int, enough: int) -> float:
    fit = max(0.0, 1.0 - rms / (0.5 * settings.distance))
    return round(float(fit * min(1.0, points / enough)), 2)


def _stair_pool(xyz, pieces: list[PlanePiece], columns: list[Column], floor: PlanePiece | None,
                settings: ElementSettings) -> np.ndarray:
    """The points a flight of steps may hold: those of no large element (the floor, a
    horizontal piece deeper than a step both ways, a wall-sized vertical piece or one
    higher than a step whose top is level (a platform's side, a low wall), an inclined
    piece, a column). A flight's side faces climb with it and its risers are one step high."""
    held = np.zeros(len(xyz), dtype=bool)
    for p in pieces:
        if p is floor or HORIZONTAL_DEG < p.tilt_deg < VERTICAL_DEG:
            held[p.index] = True
        elif p.tilt_deg <= HORIZONTAL_DEG:
            uv = xyz[p.index] @ p.axes.T
            held[p.index] = float(np.ptp(uv, axis=0).min()) > MAX_GOING
        else:
            held[p.index] = _wall_sized(xyz, p, settings) or _level_topped(xyz, p, settings.distance)
    for c in columns:
        held[c.index] = True
    return np.flatnonzero(~held)


def _level_topped(xyz, p: PlanePiece, band: float) -> bool:
    """A vertical piece higher than a step whose top edge keeps one height along its length
    (the highest point of each 0.2 m along it within half a rise of the others)."""
    pts = xyz[p.index]
    if float(np.ptp(pts[:, 2])) <= MAX_RISE + 2 * band:
        return False
    along = pts @ p.axes[0]
    bins = np.floor((along - along.min()) / 0.2).astype(np.int64)
    tops = np.full(bins.max() + 1, -np.inf)
    np.maximum.at(tops, bins, pts[:, 2])
    tops = tops[np.isfinite(tops)]
    return bool(len(tops) >= 3 and np.ptp(tops) < 0.5 * MIN_RISE)


# -- candidates --------------------------------------------------------------------------


def _stairs(f: Flight, origin) -> Candidate:
    region = {"polygon": [_r(q) for q in f.polygon + origin[:2]], "z_min": _r([f.z_min + origin[2]])[0],
              "z_max": _r([f.z_max + origin[2]])[0]}
    up_azimuth = _azimuth(f.up)
    facing = (up_azimuth + 180.0) % 360.0
    # how evenly the steps seen keep the flight's rise: the residual of a straight line
    heights = np.array(f.levels)
    k = np.arange(len(heights))
    rms = float(np.sqrt(np.mean((heights - np.polyval(np.polyfit(k, heights, 1), k)) ** 2)))
    figures = {"steps": f.steps, "levels_seen": len(f.levels), "rise_m": round(f.rise, 3),
               "going_m": round(f.going, 3), "width_m": round(f.width, 3),
               "pitch_deg": round(math.degrees(math.atan2(f.rise, f.going)), 1),
               "up_azimuth_deg": round(up_azimuth, 1), "facing_azimuth_deg": round(facing, 1),
               "direction": _direction(facing), "foot_m": round(f.z_min + float(origin[2]), 3),
               "top_m": round(max(f.levels) + (f.rise if f.to_landing else 0.0) + float(origin[2]), 3),
               "to_landing": f.to_landing}
    confidence = round(min(1.0, len(f.levels) / 3) * max(0.0, 1.0 - rms / (0.25 * f.rise)), 2)
    return Candidate("stairs", "", "", region, f.index, rms * 1000, confidence, figures)




def _flat(kind, p: PlanePiece, sides, xyz, origin, settings: ElementSettings, floor_z: float) -> Candidate:
    import shapely  # noqa: PLC0415

    index = np.concatenate([p.index] + [s.index for s in sides])
    outline = shapely.MultiPoint(xyz[index, :2] + origin[:2]).convex_hull.buffer(settings.margin, join_style="mitre")
    outline = outline.simplify(settings.margin / 2)
    ring = np.asarray(outline.exterior.coords)[:-1]
    top = xyz[p.index, 2]
    z_lo = (floor_z if kind == "platform" else float(top.min())) - 2 * settings.distance
    z_hi = float(top.max()) + 2 * settings.distance
    region = {"polygon": [_r(q) for q in ring], "z_min": _r([z_lo + origin[2]])[0],
              "z_max": _r([z_hi + origin[2]])[0]}
    area = float(shapely.MultiPoint(xyz[p.index, :2]).convex_hull.area)
    figures = {"level_m": round(float(np.median(top)) + float(origin[2]), 4), "area_m2": round(area, 2),
               "height_above_floor_m": round(float(np.median(top)) - floor_z, 3), "sides": len(sides),
               "tilt_deg": round(p.tilt_deg, 2)}
    return Candidate(kind, "", "", region, index, p.rms * 1000, _confidence(p.rms, settings, len(p.index), 2000),
                     figures)


def _platform(tops: list[PlanePiece], sides: list[PlanePiece], xyz, origin, settings: ElementSettings,
              floor_z: float) -> Candidate:
    import shapely  # noqa: PLC0415

    parts = tops + sides
    index = np.concatenate([p.index for p in parts])
    outline = shapely.MultiPoint(xyz[index, :2] + origin[:2]).convex_hull.buffer(settings.margin, join_style="mitre")
    ring = np.asarray(outline.simplify(settings.margin / 2).exterior.coords)[:-1]
    level = float(np.median(np.concatenate([xyz[t.index, 2] for t in tops]))) if tops else \
        float(np.median([xyz[v.index, 2].max() for v in sides]))
    z_lo, z_hi = floor_z - 2 * settings.distance, level + 2 * settings.distance
    region = {"polygon": [_r(q) for q in ring], "z_min": _r([z_lo + origin[2]])[0], "z_max": _r([z_hi + origin[2]])[0]}
    rms = float(np.sqrt(np.mean([p.rms**2 for p in parts])))
    figures = {"level_m": round(level + float(origin[2]), 4), "height_above_floor_m": round(level - floor_z, 3),
               "area_m2": round(float(shapely.MultiPoint(xyz[index, :2]).convex_hull.area), 2),
               "sides": len(sides), "top_seen": bool(tops)}
    return Candidate("platform", "", "", region, index, rms * 1000, _confidence(rms, settings, len(index), 2000), figures)


def _wall(faces: list[PlanePiece], xyz, origin, centre, settings: ElementSettings) -> Candidate:
    """A wall: one face, or the faces on both its sides (its box then spans its thickness).
    Facing: away from the building's centre; deviations: each face from its own plane,
    positive away from the wall's body."""
    index = np.concatenate([f.index for f in faces])
    pts = xyz[index]
    n = max(faces, key=lambda f: len(f.index)).normal.copy()
    if (pts[:, :2].mean(axis=0) - centre) @ n[:2] < 0:
        n = -n
    u = np.array([-n[1], n[0], 0.0])
    u /= np.linalg.norm(u)
    nh = np.array([n[0], n[1], 0.0]) / max(np.linalg.norm(n[:2]), 1e-12)
    axes = np.column_stack([u, nh, [0.0, 0.0, 1.0]])  # columns: box axes
    local = pts @ axes
    lo, hi = local.min(axis=0), local.max(axis=0)
    m = settings.margin
    centre_local = (lo + hi) / 2
    extent = hi - lo + 2 * m
    extent[1] = max(extent[1], 2 * m)
    region = {"oriented_box": {"center": _r(axes @ centre_local + origin), "extent": _r(extent),
                               "yaw_deg": round(math.degrees(math.atan2(u[1], u[0])), 3)}}
    # the faces furthest out along nh are the outer face, the others (a thickness in) the inner
    level = np.array([float(np.median(xyz[f.index] @ nh)) for f in faces])
    is_outer = level >= (level.max() + level.min()) / 2
    outer = [f for f, o in zip(faces, is_outer, strict=True) if o]
    inner = [f for f, o in zip(faces, is_outer, strict=True) if not o]
    dev, outer_map = _face_deviations(xyz, outer, nh, axes, lo)
    mid = np.mean([f.normal * np.sign(f.normal @ nh) for f in faces], axis=0)  # the mid-plane's normal
    lean = float(np.degrees(np.arcsin(min(1.0, abs(mid[2]) / np.linalg.norm(mid)))))
    azimuth = _azimuth(nh)
    figures = {"length_m": round(float(hi[0] - lo[0]), 3), "height_m": round(float(hi[2] - lo[2]), 3),
               "base_m": round(float(lo[2] + origin[2]), 3), "facing_azimuth_deg": round(azimuth, 1),
               "tilt_from_vertical_deg": round(lean, 3), "deviation_map": outer_map, "faces": 2 if inner else 1}
    if inner:
        inner_dev, figures["inner_deviation_map"] = _face_deviations(xyz, inner, -nh, axes, lo)
        dev = np.concatenate([dev, inner_dev])
        levels = (float(np.median(level[~is_outer])), float(np.median(level[is_outer])))
        figures["thickness_m"] = round(levels[1] - levels[0], 3)
        figures["openings"] = _openings(xyz, local, axes, levels, origin, settings)
    else:
        figures["openings"] = _one_face_openings(xyz, local, axes, float(np.median(level)), origin, settings)
    figures["deviation_rms_mm"] = round(float(np.sqrt(np.mean(dev**2))) * 1000, 1)
    figures["deviation_max_mm"] = round(float(np.abs(dev).max()) * 1000, 1)
    rms = float(np.sqrt(sum(f.rms**2 * len(f.index) for f in faces) / len(index)))
    cand = Candidate("wall", "", "", region, index, rms * 1000, _confidence(rms, settings, len(index), 2000), figures)
    cand.figures["direction"] = _direction(azimuth)
    return cand


def _openings(xyz, local, axes, levels: tuple[float, float], origin, settings: ElementSettings) -> list[dict]:
    """The openings through a wall seen on both sides (``local``: its faces' points in its box
    frame; ``levels``: its inner and outer faces along the box's y): between its faces lies
    its body, where reveals, sills and door leaves show an opening that its faces do not."""
    m = settings.margin
    across = xyz @ axes[:, 1]
    body = xyz[(across > levels[0] + m) & (across < levels[1] - m)] @ axes
    face = local[:, [0, 2]]
    cell = raster_cell(face, settings.cell)
    found = openings(face, body[:, [0, 2]], cell, settings.min_opening)
    return _opening_figures(found, local, axes, levels, origin, settings, "body, both faces seen")


def _opening_figures(found, local, axes, levels: tuple[float, float], origin, settings: ElementSettings,
                     evidence: str) -> list[dict]:
    lo = local.min(axis=0)
    out = []
    for s0, s1, z0, z1 in found:
        centre = axes @ np.array([(s0 + s1) / 2, sum(levels) / 2, (z0 + z1) / 2]) + origin
        sill = float(z0 - lo[2])
        out.append({"kind": "door" if sill < settings.min_opening else "window",
                    "from_left_m": round(float(s0 - lo[0]), 3), "width_m": round(float(s1 - s0), 3),
                    "sill_m": round(sill, 3), "height_m": round(float(z1 - z0), 3), "centre": _r(centre),
                    "evidence": evidence})
    return out


def _opening(wall: Candidate, o: dict, xyz, origin, margin: float) -> Candidate:
    """A door or window of a wall as an element of its own: the opening's rectangle, a
    margin in from the reveals, sill and head (which are the wall's), through the wall's
    whole depth (its box), so that what stands in it (a closed door's leaves, a window's
    frame) is its own and the wall is split round it: where two regions overlap the smaller
    wins."""
    from twin.models.layers import OrientedBox  # noqa: PLC0415

    box = wall.region["oriented_box"]
    axes = np.array(OrientedBox.model_validate(box).matrix())  # columns: the wall box's axes
    centre = np.array(o["centre"], dtype=np.float64)
    extent = np.array([max(o["width_m"] - 2 * margin, margin), box["extent"][1], max(o["height_m"] - 2 * margin, margin)])
    region = {"oriented_box": {"center": _r(centre), "extent": _r(extent), "yaw_deg": box["yaw_deg"]}}
    local = (xyz + origin - centre) @ axes
    index = np.flatnonzero(np.all(np.abs(local) <= extent / 2, axis=1))
    figures = {k: o[k] for k in ("width_m", "height_m", "sill_m", "from_left_m", "evidence")}
    sure = 0.9 if o["evidence"].startswith("body") else 0.6  # read through the wall, or from its outline only
    return Candidate(o["kind"], "", "", region, index, math.nan, sure, figures, host=wall)  # nothing fitted


FRONT_REACH = 3.0  # m in front of a face seen from one side: what stands there may shadow it


def _one_face_openings(xyz, local, axes, level: float, origin, settings: ElementSettings) -> list[dict]:
    """The openings of a wall seen from one side (``level``: its face along the box's y,
    which points out of the building, the way it was seen): read from their shape, with the
    points standing up to FRONT_REACH in front of it as the shadows' casters."""
    m = settings.margin
    across = xyz @ axes[:, 1]
    front = xyz[(across > level + m) & (across < level + FRONT_REACH)] @ axes
    face = local[:, [0, 2]]
    cell = raster_cell(face, settings.cell)
    found = one_face_openings(face, front[:, [0, 2]], cell, settings.min_opening)
    return _opening_figures(found, local, axes, (level, level), origin, settings, "shape, one face seen")


def _face_deviations(xyz, faces: list[PlanePiece], outward: np.ndarray, axes: np.ndarray,
                     lo: np.ndarray) -> tuple[np.ndarray, dict]:
    """The points' deviations from their own face's plane (positive along ``outward``) and
    their map in the wall's box frame (``axes``, from its corner ``lo``)."""
    dev = np.concatenate([(xyz[f.index] @ f.normal + f.offset) * np.sign(f.normal @ outward) for f in faces])
    local = np.concatenate([xyz[f.index] for f in faces]) @ axes
    return dev, _deviation_map(local[:, 0] - lo[0], local[:, 2] - lo[2], dev)


def _deviation_map(s: np.ndarray, z: np.ndarray, dev: np.ndarray, cell: float = 0.5) -> dict:
    """Mean out-of-plane deviation (mm, outward positive) on a grid of ``cell`` along the wall
    (columns) and up it (rows); null where the wall was not seen."""
    i = np.floor(z / cell).astype(int)
    j = np.floor(s / cell).astype(int)
    shape = (i.max() + 1, j.max() + 1)
    total = np.zeros(shape)
    count = np.zeros(shape)
    np.add.at(total, (i, j), dev)
    np.add.at(count, (i, j), 1)
    mean = np.divide(total, count, out=np.full(shape, np.nan), where=count > 0) * 1000
    rows = [[None if not np.isfinite(x) else round(float(x), 1) for x in row] for row in mean]
    return {"cell_m": cell, "rows_from_bottom": rows}


def _column(c: Column, xyz, origin, settings: ElementSettings) -> Candidate:
    from scipy.spatial import ConvexHull  # noqa: PLC0415

    reach = (c.radius + settings.margin) / math.cos(math.pi / COLUMN_SIDES)
    ang = 2 * math.pi * (np.arange(COLUMN_SIDES) + 0.5) / COLUMN_SIDES
    ring = np.column_stack([np.cos(ang), np.sin(ang)]) * reach
    pts = np.vstack([ring + c.bottom[:2], ring + c.top[:2]])
    hull = pts[ConvexHull(pts).vertices] + origin[:2]
    half = settings.distance / 2
    region = {"polygon": [_r(q) for q in hull], "z_min": _r([c.bottom[2] - half + origin[2]])[0],
              "z_max": _r([c.top[2] + half + origin[2]])[0]}
    figures = {
        "axis_bottom": _r(c.bottom + origin), "axis_top": _r(c.top + origin),
        "radius_m": round(c.radius, 4), "diameter_m": round(2 * c.radius, 4), "height_m": round(c.height, 3),
        "lean_deg": round(c.lean_deg, 3), "lean_azimuth_deg": round(c.lean_azimuth_deg, 1),
        "lean_offset_mm": round(float(np.linalg.norm(c.top[:2] - c.bottom[:2])) * 1000, 1),
        "arc_seen_deg": round(c.arc_deg),
        "diameter_by_slice": [{"z_from": round(s["z_from"] + float(origin[2]), 3),
                               "z_to": round(s["z_to"] + float(origin[2]), 3),
                               "diameter_m": round(2 * s["radius"], 4), "points": s["points"]} for s in c.slices],
    }
    fit = max(0.0, 1.0 - c.rms / (0.1 * c.radius))
    conf = round(float(fit * min(1.0, c.arc_deg / 270.0) * min(1.0, len(c.slices) / 4)), 2)
    return Candidate("column", "", "", region, c.index, c.rms * 1000, conf, figures)


def _roof_plane(p: PlanePiece, xyz, origin, settings: ElementSettings) -> Candidate:
    n = p.normal if p.normal[2] > 0 else -p.normal
    u = np.cross([0.0, 0.0, 1.0], n)
    u /= np.linalg.norm(u)
    w = np.cross(n, u)
    axes = np.column_stack([u, w, n])
    local = xyz[p.index] @ axes
    lo, hi = local.min(axis=0), local.max(axis=0)
    m = settings.margin
    extent = hi - lo + 2 * m
    extent[2] = max(extent[2], 2 * m)
    region = {"oriented_box": {"center": _r(axes @ ((lo + hi) / 2) + origin), "extent": _r(extent),
                               "rotation": [_r(row, 9) for row in axes]}}
    azimuth = _azimuth(n[:2])
    figures = {"pitch_deg": round(p.tilt_deg, 2), "facing_azimuth_deg": round(azimuth, 1),
               "eave_m": round(float(xyz[p.index, 2].min() + origin[2]), 3),
               "top_m": round(float(xyz[p.index, 2].max() + origin[2]), 3), "direction": _direction(azimuth)}
    return Candidate("roof-plane", "", "", region, p.index, p.rms * 1000,
                     _confidence(p.rms, settings, len(p.index), 1000), figures)


def _roof(group: list[PlanePiece], xyz, origin, settings: ElementSettings, loose: np.ndarray) -> Candidate:
    """A roof: its plane pieces and the loose points at their level round them (fascias,
    eaves, ridges: parts too small or too curved to be planes of their own)."""
    import shapely  # noqa: PLC0415

    index = np.concatenate([p.index for p in group])
    lo, hi = xyz[index].min(axis=0), xyz[index].max(axis=0)
    reach = settings.roof_gap
    near = loose[np.all((xyz[loose] >= lo - [reach, reach, 0.0]) & (xyz[loose] <= hi + reach), axis=1)]
    index = np.concatenate([index, near])
    pts = xyz[index]
    outline = shapely.MultiPoint(pts[:, :2] + origin[:2]).convex_hull.buffer(settings.margin, join_style="mitre")
    ring = np.asarray(outline.simplify(settings.margin / 2).exterior.coords)[:-1]
    z_lo, z_hi = float(pts[:, 2].min()) - settings.margin, float(pts[:, 2].max()) + settings.margin
    region = {"polygon": [_r(q) for q in ring], "z_min": _r([z_lo + origin[2]])[0], "z_max": _r([z_hi + origin[2]])[0]}
    rms = float(np.sqrt(np.mean([p.rms**2 for p in group])))
    figures = {"pieces": len(group), "inclined": sum(1 for p in group if HORIZONTAL_DEG < p.tilt_deg < VERTICAL_DEG),
               "base_m": round(z_lo + settings.margin + float(origin[2]), 3),
               "top_m": round(z_hi - settings.margin + float(origin[2]), 3)}
    return Candidate("roof", "", "", region, index, rms * 1000, _confidence(rms, settings, len(index), 5000), figures)


# -- names -------------------------------------------------------------------------------


def _name(cands: list[Candidate]) -> list[Candidate]:
    """Ids and names: floor-1, platform-1, wall-north, column-01, roof-south, roof-1; a second
    wall facing north is wall-north-2."""
    taken: dict[str, int] = {}

    def unique(base: str) -> str:
        taken[base] = taken.get(base, 0) + 1
        return base if taken[base] == 1 else f"{base}-{taken[base]}"

    order = {"floor": 0, "platform": 1, "stairs": 2, "wall": 3, "door": 4, "window": 5, "column": 6, "roof-plane": 7,
             "roof": 8}
    cands.sort(key=lambda c: (order[c.kind], -len(c.index)))
    numbered = {"floor": 0, "platform": 0, "roof": 0}
    columns = [c for c in cands if c.kind == "column"]
    # columns in rows: south to north, then west to east
    for k, c in enumerate(sorted(columns, key=lambda c: (round(c.figures["axis_bottom"][1], 1),
                                                         c.figures["axis_bottom"][0])), start=1):
        c.id = f"column-{k:02d}"
        f = c.figures
        c.name = f"Column {k:02d} (suggested: Ø {f['diameter_m'] * 100:.1f} cm, {f['height_m']:.2f} m high)"
    for c in cands:
        if c.kind in numbered:
            numbered[c.kind] += 1
            c.id = f"{c.kind}-{numbered[c.kind]}"
            level = c.figures.get("level_m", c.figures.get("base_m"))
            c.name = {"floor": "Floor / ground", "platform": "Platform", "roof": "Roof"}[c.kind] + \
                f" {numbered[c.kind]} (suggested, at {level:.2f} m)"
        elif c.kind == "wall":
            c.id = unique(f"wall-{c.figures['direction']}")
            c.name = f"Wall facing {c.figures['direction']} (suggested, {c.figures['length_m']:.2f} m long)"
        elif c.kind in ("door", "window"):
            f = c.figures
            f["wall"] = c.host.id
            c.id = unique(f"{c.kind}-{c.host.figures['direction']}")
            c.name = (f"{c.kind.capitalize()} in {c.host.id} (suggested, {f['width_m']:.2f} × {f['height_m']:.2f} m"
                      + (f", sill {f['sill_m']:.2f} m)" if c.kind == "window" else ")"))
        elif c.kind == "stairs":
            f = c.figures
            c.id = unique(f"stairs-{f['direction']}")
            c.name = f"Stairs facing {f['direction']} (suggested, {f['steps']} steps of {f['rise_m'] * 100:.0f} cm)"
        elif c.kind == "roof-plane":
            c.id = unique(f"roof-{c.figures['direction']}")
            c.name = f"Roof plane facing {c.figures['direction']} (suggested, pitch {c.figures['pitch_deg']:.1f}°)"
    return cands

"""The synthetic pavilion as one labelled triangle mesh.

Everything here is in the *site frame*: metres, x toward grid east, y toward grid north,
z up, the origin on the courtyard surface at the centre of the colonnade. The site frame
is the local frame of the truth meshes; ``SiteSpec.origin_utm`` places it in UTM 48N
(EPSG:32648). The building's axes follow the UTM grid, so element regions are
axis-aligned boxes in both frames.

The pavilion, in the spirit of Thai Hoa Palace (Hue), about 18 x 12 m under its eaves
and 9 m to the ridge: a stone platform 0.9 m high with a deep front terrace (south) and a
wider east terrace, a flight of steps on the south side (off-centre, before the door)
and a narrower one at the east end; sixteen lacquered timber columns (0.3 m) on the
perimeter of a grid (rows A..D from south to north, lines 1..6 from west to east; the
central bay widest) carrying exposed beams under the veranda ceiling; a walled hall,
off-centre in the colonnade, with one door (south) and two windows (north, west); a
two-tier hipped roof whose slopes all differ in pitch, the upper tier north-west of the
middle; a low annex against the west end; and in the paved courtyard a stone stele
(south-west), a bronze urn (north) and ten clipped shrubs in glazed pots, each of its
own shape.

Real halls are symmetric; this one is deliberately not. Its big masses (platform, hall,
roofs) are off-centre against each other and every side has its own details, so no half
or quarter turn maps the pavilion, or one corner of it, onto itself, and scans can be
registered without an initial guess.

Every triangle carries the index of the element it belongs to. Solids are built from
their visible faces only (no faces buried in other solids where avoidable), outward
normals, counter-clockwise winding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# --------------------------------------------------------------------------- specification


@dataclass(frozen=True)
class Material:
    name: str
    rgb: tuple[int, int, int]  # base colour, 8 bit
    reflectance: float  # at the scanner's wavelength, 0..1
    pattern: str = "none"  # none | paving | ashlar | tiles | planks


MATERIALS: dict[str, Material] = {
    "paving": Material("brick paving", (158, 128, 104), 0.32, "paving"),
    "stone": Material("bluestone (Thanh Hoa stone)", (118, 122, 120), 0.42, "ashlar"),
    "timber": Material("lacquered ironwood, red", (150, 34, 28), 0.28, "none"),
    "plaster": Material("lime plaster, ochre wash", (222, 188, 108), 0.62, "none"),
    "door": Material("lacquered timber, dark red with gilding", (112, 42, 30), 0.25, "planks"),
    "tile": Material("glazed yin-yang roof tiles, yellow", (204, 158, 44), 0.38, "tiles"),
    "stele": Material("dark limestone", (84, 84, 82), 0.30, "none"),
    "bronze": Material("cast bronze, dark patina", (92, 74, 52), 0.22, "none"),
    "ceramic": Material("glazed ceramic, blue and white", (150, 165, 185), 0.45, "none"),
    "foliage": Material("clipped shrub (Ficus)", (62, 98, 48), 0.40, "none"),
    "bark": Material("bark", (88, 70, 56), 0.30, "none"),
}


@dataclass(frozen=True)
class SiteSpec:
    """Dimensions of the pavilion (metres, site frame) and where it stands."""

    # UTM 48N coordinates of the site-frame origin: courtyard level at the platform centre,
    # inside the Hue citadel (about 16.469 N, 107.577 E).
    origin_utm: tuple[float, float, float] = (775200.0, 1822600.0, 5.0)
    epsg: int = 32648

    courtyard_half: tuple[float, float] = (26.0, 20.0)
    # fall of the paving toward ground_fall_azimuth_deg (0: level, as the sample has it)
    ground_fall: float = 0.0
    ground_fall_azimuth_deg: float = 150.0
    foundation_depth: float = 0.6  # solids reach this far below z = 0, hidden in the ground
    # platform: a deep terrace in front (south) and a wider one at the east end, so that
    # no half or quarter turn maps the platform and the hall onto themselves together
    platform_x: tuple[float, float] = (-8.2, 9.6)
    platform_y: tuple[float, float] = (-7.6, 4.9)
    platform_height: float = 0.9

    steps_centre_x: float = 2.8  # south flight
    steps_width: float = 2.4
    steps_count: int = 5
    step_tread: float = 0.32
    side_steps_centre_y: float = 1.6  # east flight
    side_steps_width: float = 1.5
    side_step_tread: float = 0.28

    # bays: the central one widest, as in Hue halls; ends and sides differ
    column_lines_x: tuple[float, ...] = (-7.0, -4.4, -1.6, 1.6, 4.4, 7.0)  # lines 1..6
    column_rows_y: tuple[float, ...] = (-4.2, -1.3, 1.3, 4.2)  # rows A..D
    column_radius: float = 0.15
    column_segments: int = 48

    # the hall (outer faces of its walls) stands off-centre in the colonnade: verandas of
    # 1.9 m (south), 1.3 m (north), 2.0 m (west) and 2.8 m (east)
    hall_x: tuple[float, float] = (-5.0, 4.2)
    hall_y: tuple[float, float] = (-2.3, 2.9)
    wall_thickness: float = 0.3
    wall_cell: float = 0.15  # tessellation of the north wall's faces (the bulge deforms its vertices)

    door_centre_x: float = 2.8  # in the south wall, off-centre
    door_width: float = 1.4
    door_height: float = 2.6
    door_trim: float = 0.12
    door_trim_depth: float = 0.04
    # windows (x or y range of the opening, sill and head above the platform top)
    window_north_x: tuple[float, float] = (2.2, 3.4)
    window_west_y: tuple[float, float] = (0.4, 1.3)
    window_sill: float = 1.0
    window_head: float = 2.4

    # lower roof: veranda ceiling (the columns' tops), an architrave frieze, the eaves'
    # underside parallel to the slopes, fascia, four slopes, a flat top under the upper tier
    # the roofs follow the hall off-centre, so every slope of the lower roof has its own
    # pitch (south 20.6°, north 29.4°, west 21.7°, east 17.1°); the upper roof sits
    # north-west of the middle
    roof_lower_eave_x: tuple[float, float] = (-9.0, 9.0)
    roof_lower_eave_y: tuple[float, float] = (-5.8, 5.8)
    roof_lower_soffit_z: float = 4.6  # the veranda ceiling
    roof_lower_eave_z: float = 4.85  # top of the fascia
    roof_lower_fascia: float = 0.2
    roof_lower_frieze_at: float = 0.35  # where the eaves' underside meets the frieze, along the hips
    roof_lower_top_x: tuple[float, float] = (-5.6, 4.6)
    roof_lower_top_y: tuple[float, float] = (-2.2, 3.4)
    roof_lower_top_z: float = 6.2
    # upper roof: a drum (clerestory) on the lower roof, soffit, fascia, hipped roof
    roof_upper_drum_x: tuple[float, float] = (-5.2, 4.2)
    roof_upper_drum_y: tuple[float, float] = (-1.9, 3.1)
    roof_upper_soffit_z: float = 6.6
    roof_upper_eave_z: float = 6.8
    roof_upper_eave_x: tuple[float, float] = (-6.6, 5.6)
    roof_upper_eave_y: tuple[float, float] = (-2.9, 4.1)
    roof_upper_ridge_x: tuple[float, float] = (-3.2, 2.2)  # the ridge runs along the middle of the eaves
    roof_upper_ridge_z: float = 9.0

    # a low annex against the west end of the platform, mono-pitch roof falling west
    annex_x: tuple[float, float] = (-11.8, -8.2)
    annex_y: tuple[float, float] = (-0.9, 2.5)
    annex_wall_top: float = 2.7
    annex_roof_high: float = 3.3  # top of the roof at the platform
    annex_roof_low: float = 2.9  # ... at the outer edge of its overhang
    annex_overhang: float = 0.3
    stele_centre: tuple[float, float] = (-4.0, -12.2)
    urn_centre: tuple[float, float] = (3.5, 9.6)
    # clipped shrubs in glazed pots round the platform, each of its own shape: irregular
    # forms every scan shares with its neighbours (x, y, crown radius)
    planters: tuple[tuple[float, float, float], ...] = (
        (-6.0, -8.7, 0.45),
        (-1.2, -8.8, 0.55),
        (6.6, -8.6, 0.4),
        (10.8, -4.0, 0.5),
        (10.9, 4.0, 0.45),
        (8.0, 6.1, 0.55),
        (0.6, 6.0, 0.4),
        (-5.6, 6.2, 0.5),
        (-9.4, 4.0, 0.55),
        (-9.3, -3.6, 0.4),
    )
    planter_seed: int = 1833  # shapes of the shrubs (fixed: the pavilion is the same for every --seed)

    def ground_z(self, x, y):
        """Height of the courtyard surface at (x, y); 0 at the origin."""
        a = np.radians(self.ground_fall_azimuth_deg)
        return -self.ground_fall * (np.asarray(x) * np.sin(a) + np.asarray(y) * np.cos(a))

    def ground_range(self, x0: float, x1: float, y0: float, y1: float) -> tuple[float, float]:
        """Lowest and highest courtyard level under a rectangle."""
        z = self.ground_z(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
        return float(z.min()), float(z.max())

    @property
    def column_top_z(self) -> float:
        """Columns run into the lower roof's soffit by 0.1 m, so leaning opens no gap."""
        return self.roof_lower_soffit_z + 0.1

    @property
    def column_height(self) -> float:
        """Visible height of a column: platform top to soffit."""
        return self.roof_lower_soffit_z - self.platform_height

    def column_names(self) -> list[tuple[str, float, float]]:
        """(element id, x, y) of every column: the perimeter of the grid."""
        rows = "ABCD"
        out = []
        last_row = len(self.column_rows_y) - 1
        last_line = len(self.column_lines_x) - 1
        for r, y in enumerate(self.column_rows_y):
            for c, x in enumerate(self.column_lines_x):
                if r in (0, last_row) or c in (0, last_line):
                    out.append((f"column-{rows[r]}{c + 1}", x, y))
        return out


@dataclass(frozen=True)
class ElementInfo:
    id: str
    kind: str  # courtyard, platform, steps, column, wall, door, frame, roof, stele, urn, planter
    label: str
    material: str  # key of MATERIALS
    priority: int  # where regions overlap, the lowest number wins


# --------------------------------------------------------------------------- mesh


@dataclass(frozen=True)
class Part:
    """A piece of one element: vertices [start, stop) of the mesh.

    Its region is the bounding box of those vertices, cut to ``clip_z`` where given (a
    column runs on into the roof, its region stops at the soffit), or the explicit
    ``boxes`` (a wall with a door: three boxes around the opening).
    """

    element: int
    start: int
    stop: int
    clip_z: tuple[float, float] | None = None
    boxes: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] | None = None


@dataclass
class LabelledMesh:
    """Triangles with one element index each (into ``elements``)."""

    vertices: np.ndarray  # (V, 3) float64, site frame
    triangles: np.ndarray  # (T, 3) int32
    element_index: np.ndarray  # (T,) int32
    elements: list[ElementInfo]
    parts: list[Part] = field(default_factory=list)
    material: np.ndarray | None = None  # (T,) key index into MATERIALS, where not the element's

    @property
    def element_ids(self) -> list[str]:
        return [e.id for e in self.elements]

    def vertex_element_index(self) -> np.ndarray:
        """Element of each vertex (vertices are never shared between elements)."""
        out = np.full(len(self.vertices), -1, dtype=np.int32)
        out[self.triangles.ravel()] = np.repeat(self.element_index, 3)
        return out

    def triangle_normals(self) -> np.ndarray:
        v = self.vertices[self.triangles]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)

    def copy(self) -> LabelledMesh:
        return LabelledMesh(
            self.vertices.copy(),
            self.triangles.copy(),
            self.element_index.copy(),
            list(self.elements),
            list(self.parts),
            None if self.material is None else self.material.copy(),
        )

    def triangle_material(self) -> np.ndarray:
        """Index into MATERIALS of each triangle's material."""
        if self.material is not None:
            return self.material
        names = list(MATERIALS)
        of_element = np.array([names.index(e.material) for e in self.elements], dtype=np.int32)
        return of_element[self.element_index]

    def part_boxes(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(element index, lo, hi) of every part's region, site frame."""
        out = []
        for p in self.parts:
            if p.boxes is not None:
                out += [(p.element, np.array(lo, dtype=float), np.array(hi, dtype=float)) for lo, hi in p.boxes]
                continue
            v = self.vertices[p.start : p.stop]
            lo, hi = v.min(axis=0), v.max(axis=0)
            if p.clip_z is not None:
                lo[2], hi[2] = max(lo[2], p.clip_z[0]), min(hi[2], p.clip_z[1])
            out.append((p.element, lo, hi))
        return out

    def element_bounds(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Axis-aligned bounds of each element's vertices (site frame)."""
        vidx = self.vertex_element_index()
        out = {}
        for i, e in enumerate(self.elements):
            v = self.vertices[vidx == i]
            out[e.id] = (v.min(axis=0), v.max(axis=0))
        return out


@dataclass
class MeshBuilder:
    vertices: list[np.ndarray] = field(default_factory=list)
    triangles: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    materials: list[np.ndarray] = field(default_factory=list)
    elements: list[ElementInfo] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    _count: int = 0
    _current: int = -1

    def element(self, info: ElementInfo) -> None:
        self.elements.append(info)
        self._current = len(self.elements) - 1

    def add(self, v: np.ndarray, t: np.ndarray, clip_z=None, boxes=None, material: str | None = None) -> None:
        self.parts.append(Part(self._current, self._count, self._count + len(v), clip_z, boxes))
        key = material or self.elements[self._current].material
        self.materials.append(np.full(len(t), list(MATERIALS).index(key), dtype=np.int32))
        self.vertices.append(np.asarray(v, dtype=np.float64))
        self.triangles.append(np.asarray(t, dtype=np.int64) + self._count)
        self.labels.append(np.full(len(t), self._current, dtype=np.int32))
        self._count += len(v)

    def build(self) -> LabelledMesh:
        return LabelledMesh(
            np.concatenate(self.vertices),
            np.concatenate(self.triangles).astype(np.int32),
            np.concatenate(self.labels),
            self.elements,
            self.parts,
            np.concatenate(self.materials),
        )


def grid_lines(a: float, b: float, cell: float, extra: list[float] = ()) -> np.ndarray:
    n = max(1, int(np.ceil((b - a) / cell - 1e-9)))
    lines = np.concatenate([np.linspace(a, b, n + 1), [x for x in extra if a < x < b]])
    return np.unique(np.round(lines, 9))


def grid_face(
    origin: np.ndarray,
    u_vec: np.ndarray,
    v_vec: np.ndarray,
    us: np.ndarray,
    vs: np.ndarray,
    normal: np.ndarray,
    holes: list[tuple[float, float, float, float]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """A planar rectangle tessellated on the grid us × vs, minus cells inside holes.

    Points are origin + u·u_vec + v·v_vec; triangles are wound so their normal is
    ``normal``. holes are (u0, u1, v0, v1).
    """
    origin, u_vec, v_vec = (np.asarray(a, dtype=np.float64) for a in (origin, u_vec, v_vec))
    uu, vv = np.meshgrid(us, vs, indexing="ij")
    verts = origin + uu[..., None] * u_vec + vv[..., None] * v_vec
    nu, nv = len(us), len(vs)
    idx = np.arange(nu * nv).reshape(nu, nv)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    cu = ((us[:-1] + us[1:]) / 2)[:, None].repeat(nv - 1, axis=1).ravel()
    cv = ((vs[:-1] + vs[1:]) / 2)[None, :].repeat(nu - 1, axis=0).ravel()
    keep = np.ones(len(a), dtype=bool)
    for u0, u1, v0, v1 in holes:
        keep &= ~((cu > u0) & (cu < u1) & (cv > v0) & (cv < v1))
    a, b, c, d = a[keep], b[keep], c[keep], d[keep]
    tris = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    if np.dot(np.cross(u_vec, v_vec), normal) < 0:
        tris = tris[:, ::-1]
    # drop vertices no triangle uses (inside holes)
    used = np.zeros(nu * nv, dtype=bool)
    used[tris.ravel()] = True
    remap = np.cumsum(used) - 1
    return verts.reshape(-1, 3)[used], remap[tris]


def quad(p0, p1, p2, p3) -> tuple[np.ndarray, np.ndarray]:
    """A planar quad, counter-clockwise as seen from its front."""
    return np.array([p0, p1, p2, p3], dtype=np.float64), np.array([[0, 1, 2], [0, 2, 3]])


def box(lo, hi, skip: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned box; skip names faces to leave out: -x +x -y +y -z +z."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    faces = {
        "-x": quad((x0, y0, z0), (x0, y0, z1), (x0, y1, z1), (x0, y1, z0)),
        "+x": quad((x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)),
        "-y": quad((x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)),
        "+y": quad((x0, y1, z0), (x0, y1, z1), (x1, y1, z1), (x1, y1, z0)),
        "-z": quad((x0, y0, z0), (x0, y1, z0), (x1, y1, z0), (x1, y0, z0)),
        "+z": quad((x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)),
    }
    return merge_parts([f for k, f in faces.items() if k not in skip])


def cylinder(
    cx: float, cy: float, r: float, z0: float, z1: float, segments: int, cap_top: bool = False, cap_bottom: bool = False
):
    """A vertical polygonal cylinder: its side, and the caps asked for."""
    ang = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1)
    v = np.concatenate([np.c_[ring, np.full(segments, z0)], np.c_[ring, np.full(segments, z1)]])
    i = np.arange(segments)
    j = (i + 1) % segments
    tris = np.concatenate([np.stack([i, j, j + segments], 1), np.stack([i, j + segments, i + segments], 1)])
    if cap_top:
        centre = len(v)
        v = np.vstack([v, [cx, cy, z1]])
        tris = np.vstack([tris, np.stack([i + segments, j + segments, np.full(segments, centre)], 1)])
    if cap_bottom:
        centre = len(v)
        v = np.vstack([v, [cx, cy, z0]])
        tris = np.vstack([tris, np.stack([j, i, np.full(segments, centre)], 1)])
    return v, tris


def merge_parts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    vs, ts, n = [], [], 0
    for v, t in parts:
        vs.append(v)
        ts.append(np.asarray(t) + n)
        n += len(v)
    return np.concatenate(vs), np.concatenate(ts)


def _rect_ring(xr: tuple[float, float], yr: tuple[float, float], z: float) -> np.ndarray:
    """Corners of a rectangle at height z, counter-clockwise from (x0, y0)."""
    (x0, x1), (y0, y1) = xr, yr
    return np.array([(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)], dtype=np.float64)


def _band(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quads joining two counter-clockwise rings of 4 corners (facing outward)."""
    parts = []
    for k in range(4):
        m = (k + 1) % 4
        parts.append(quad(lower[k], lower[m], upper[m], upper[k]))
    return merge_parts(parts)


def wall(
    start: tuple[float, float],
    direction: tuple[float, float],
    outward: tuple[float, float],
    length: float,
    thickness: float,
    z0: float,
    z1: float,
    cell: float,
    openings: list[tuple[float, float, float, float]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """A straight wall: outer face through ``start`` along ``direction``, inner face
    ``thickness`` behind it, with rectangular openings (s0, s1, z0, z1) through it.

    Faces: outer and inner (tessellated at ``cell``), both ends, the top and the
    reveals of each opening. The bottom stands on the floor and is left out.
    """
    u = np.array([*direction, 0.0])
    n = np.array([*outward, 0.0])
    z = np.array([0.0, 0.0, 1.0])
    o_out = np.array([*start, 0.0])
    o_in = o_out - thickness * n
    s_extra = [x for op in openings for x in op[:2]]
    z_extra = [x for op in openings for x in op[2:]]
    ss = grid_lines(0.0, length, cell, s_extra)
    zs = grid_lines(z0, z1, cell, z_extra)
    parts = [
        grid_face(o_out, u, z, ss, zs, n, openings),
        grid_face(o_in, u, z, ss, zs, -n, openings),
    ]
    ends = [(0.0, -u), (length, u)]
    for s, nn in ends:
        p = o_out + s * u
        parts.append(grid_face(p, -n, z, np.array([0.0, thickness]), np.array([z0, z1]), nn))
    parts.append(grid_face(o_out + z1 * z, u, -n, np.array([0.0, length]), np.array([0.0, thickness]), z))
    for s0, s1, oz0, oz1 in openings:
        t = np.array([0.0, thickness])
        parts.append(grid_face(o_out + s0 * u, -n, z, t, np.array([oz0, oz1]), u))  # left jamb
        parts.append(grid_face(o_out + s1 * u, -n, z, t, np.array([oz0, oz1]), -u))  # right jamb
        parts.append(grid_face(o_out + oz1 * z, u, -n, np.array([s0, s1]), t, -z))  # head
        if oz0 > z0 + 1e-9:
            parts.append(grid_face(o_out + oz0 * z, u, -n, np.array([s0, s1]), t, z))  # sill
    return merge_parts(parts)


def staircase(x0: float, x1: float, y_face: float, count: int, rise: float, tread: float, base: float = 0.0):
    """A flight of steps against a platform face at y = y_face, descending toward -y,
    its lowest riser and its sides reaching down to ``base`` (below the ground).

    Treads, risers and the two side faces; the back (against the platform) and the
    bottom (in the ground) are hidden and left out.
    """
    parts = []
    for i in range(count):  # step i counted from the top; its tread is at height (count - i)·rise
        top = (count - i) * rise
        ya, yb = y_face - (i + 1) * tread, y_face - i * tread
        parts.append(quad((x0, ya, top), (x1, ya, top), (x1, yb, top), (x0, yb, top)))  # tread
        below = (count - i - 1) * rise if i < count - 1 else base
        parts.append(quad((x0, ya, below), (x1, ya, below), (x1, ya, top), (x0, ya, top)))  # riser
        parts.append(quad((x0, ya, base), (x0, ya, top), (x0, yb, top), (x0, yb, base)))  # west side
        parts.append(quad((x1, ya, base), (x1, yb, base), (x1, yb, top), (x1, ya, top)))  # east side
    return merge_parts(parts)


# --------------------------------------------------------------------------- the pavilion


def build_pavilion(spec: SiteSpec | None = None) -> LabelledMesh:
    """The undeformed pavilion (the reference survey's geometry), site frame."""
    s = spec or SiteSpec()
    b = MeshBuilder()
    ph = s.platform_height
    (px0, px1), (py0, py1) = s.platform_x, s.platform_y

    b.element(ElementInfo("courtyard", "courtyard", "paved courtyard", "paving", 9))
    cx, cy = s.courtyard_half
    v, tri = grid_face((-cx, -cy, 0.0), (1, 0, 0), (0, 1, 0), grid_lines(0, 2 * cx, 4.0), grid_lines(0, 2 * cy, 4.0), (0, 0, 1))
    v[:, 2] = s.ground_z(v[:, 0], v[:, 1])
    b.add(v, tri)
    deep = -s.foundation_depth

    b.element(ElementInfo("platform", "platform", "stone platform", "stone", 7))
    b.add(*box((px0, py0, deep), (px1, py1, ph), skip=("-z",)), clip_z=(s.ground_range(px0, px1, py0, py1)[0], ph))

    rise = ph / s.steps_count
    b.element(ElementInfo("steps-south", "steps", "south flight of steps, before the door", "stone", 3))
    x0, x1 = s.steps_centre_x - s.steps_width / 2, s.steps_centre_x + s.steps_width / 2
    run = s.steps_count * s.step_tread
    b.add(
        *staircase(x0, x1, py0, s.steps_count, rise, s.step_tread, deep),
        clip_z=(s.ground_range(x0, x1, py0 - run, py0)[0], ph),
    )
    b.element(ElementInfo("steps-east", "steps", "east flight of steps", "stone", 3))
    y0, y1 = s.side_steps_centre_y - s.side_steps_width / 2, s.side_steps_centre_y + s.side_steps_width / 2
    v, tri = staircase(y0, y1, -px1, s.steps_count, rise, s.side_step_tread, deep)
    run = s.steps_count * s.side_step_tread
    # built facing south, turned to face east
    b.add(v @ _rotation_z90().T, tri, clip_z=(s.ground_range(px1, px1 + run, y0, y1)[0], ph))

    for name, x, y in s.column_names():
        b.element(ElementInfo(name, "column", f"timber column {name[7:]}", "timber", 2))
        b.add(*cylinder(x, y, s.column_radius, ph - 0.05, s.column_top_z, s.column_segments), clip_z=(ph, s.roof_lower_soffit_z))

    (hx0, hx1), (hy0, hy1) = s.hall_x, s.hall_y
    t = s.wall_thickness
    wz0, wz1 = ph, s.roof_lower_soffit_z
    d0 = s.door_centre_x - s.door_width / 2 - hx0  # along the south wall, s = x - hx0
    door = (d0, d0 + s.door_width, wz0, wz0 + s.door_height)
    ws, wh = wz0 + s.window_sill, wz0 + s.window_head
    wn = (hx1 - s.window_north_x[1], hx1 - s.window_north_x[0], ws, wh)  # along the north wall, s = hx1 - x
    ww = (hy1 - t - s.window_west_y[1], hy1 - t - s.window_west_y[0], ws, wh)  # along the west wall, s = hy1 - t - y
    walls = [
        ("wall-south", "south wall (with the door)", (hx0, hy0), (1, 0), (0, -1), hx1 - hx0, [door], 100.0),
        ("wall-north", "north wall (with a window)", (hx1, hy1), (-1, 0), (0, 1), hx1 - hx0, [wn], s.wall_cell),
        ("wall-east", "east wall", (hx1, hy0 + t), (0, 1), (1, 0), hy1 - hy0 - 2 * t, [], 100.0),
        ("wall-west", "west wall (with a window)", (hx0, hy1 - t), (0, -1), (-1, 0), hy1 - hy0 - 2 * t, [ww], 100.0),
    ]
    for wid, label, start, direction, outward, length, openings, cell in walls:
        b.element(ElementInfo(wid, "wall", label, "plaster", 4))
        v, tri = wall(start, direction, outward, length, t, wz0, wz1, cell, openings)
        boxes = None
        if openings:  # axis-aligned walls only: boxes beside and above each opening
            lo, hi = v.min(axis=0), v.max(axis=0)
            axis = 0 if abs(direction[0]) > 0.5 else 1
            s0 = start[axis] + direction[axis] * np.array([[op[0], op[1]] for op in openings])
            cuts = sorted(zip(s0.min(axis=1), s0.max(axis=1), [op[2] for op in openings], [op[3] for op in openings]))
            boxes, edge = [], lo[axis]
            for c0, c1, zsill, ztop in cuts:
                a, z = lo.copy(), hi.copy()
                a[axis], z[axis] = edge, c0
                boxes.append((tuple(a), tuple(z)))  # beside
                a, z = lo.copy(), hi.copy()
                a[axis], z[axis], a[2] = c0, c1, ztop
                boxes.append((tuple(a), tuple(z)))  # above
                if zsill > lo[2] + 1e-9:
                    a, z = lo.copy(), hi.copy()
                    a[axis], z[axis], z[2] = c0, c1, zsill
                    boxes.append((tuple(a), tuple(z)))  # below
                edge = c1
            a, z = lo.copy(), hi.copy()
            a[axis] = edge
            boxes.append((tuple(a), tuple(z)))
            boxes = tuple((tuple(float(x) for x in p), tuple(float(x) for x in q)) for p, q in boxes)
        b.add(v, tri, boxes=boxes)

    b.element(ElementInfo("door", "door", "south door: frame and two leaves", "door", 1))
    x0, x1 = s.door_centre_x - s.door_width / 2, s.door_centre_x + s.door_width / 2
    top = wz0 + s.door_height
    tr, dp = s.door_trim, s.door_trim_depth
    yo = hy0
    b.add(*box((x0 - tr, yo - dp, wz0), (x0, yo, top), skip=("+y", "-z")))
    b.add(*box((x1, yo - dp, wz0), (x1 + tr, yo, top), skip=("+y", "-z")))
    b.add(*box((x0 - tr, yo - dp, top), (x1 + tr, yo, top + tr), skip=("+y",)))
    leaf = s.door_width / 2
    yi = hy0 + t
    gap = 0.05  # under the leaves
    b.add(*box((x0, yi, wz0 + gap), (x0 + 0.05, yi + leaf, top - 0.02)))
    b.add(*box((x1 - 0.05, yi, wz0 + gap), (x1, yi + leaf, top - 0.02)))

    b.element(ElementInfo("frame", "frame", "exposed timber beams of the veranda", "timber", 3))
    for beam in _veranda_beams(s):  # one part (and region box) per beam
        b.add(*beam)

    b.element(ElementInfo("roof-lower", "roof", "lower roof tier", "tile", 6))
    ex, ey = np.array(s.roof_lower_eave_x), np.array(s.roof_lower_eave_y)
    tx, ty = np.array(s.roof_lower_top_x), np.array(s.roof_lower_top_y)
    f = s.roof_lower_frieze_at
    bx, by = ex + f * (tx - ex), ey + f * (ty - ey)  # the frieze lies on the hips: level all round
    z_under = s.roof_lower_eave_z - s.roof_lower_fascia
    z_frieze = z_under + f * (s.roof_lower_top_z - s.roof_lower_eave_z)
    ceiling = _rect_ring(bx, by, s.roof_lower_soffit_z)
    frieze = _rect_ring(bx, by, z_frieze)
    under = _rect_ring(ex, ey, z_under)
    eave = _rect_ring(ex, ey, s.roof_lower_eave_z)
    topr = _rect_ring(tx, ty, s.roof_lower_top_z)
    b.add(*merge_parts([
        (ceiling[::-1].copy(), np.array([[0, 1, 2], [0, 2, 3]])),  # facing down
        _band(ceiling, frieze),
        facing_toward(_band(frieze, under), np.array([0.0, 0.0, -1.0])),  # the eaves' underside
        _band(under, eave),
        _band(eave, topr),
        (topr, np.array([[0, 1, 2], [0, 2, 3]])),
    ]))  # fmt: skip

    b.element(ElementInfo("roof-upper", "roof", "upper roof tier with its clerestory", "tile", 5))
    dx, dy = s.roof_upper_drum_x, s.roof_upper_drum_y
    ux, uy = s.roof_upper_eave_x, s.roof_upper_eave_y
    drum_lo = _rect_ring(dx, dy, s.roof_lower_top_z)
    drum_hi = _rect_ring(dx, dy, s.roof_upper_soffit_z)
    usoffit = _rect_ring(ux, uy, s.roof_upper_soffit_z)
    ueave = _rect_ring(ux, uy, s.roof_upper_eave_z)
    rz, ry = s.roof_upper_ridge_z, (uy[0] + uy[1]) / 2
    r0, r1 = np.array([s.roof_upper_ridge_x[0], ry, rz]), np.array([s.roof_upper_ridge_x[1], ry, rz])
    hip = [
        quad(ueave[0], ueave[1], r1, r0),  # south slope
        (np.array([ueave[1], ueave[2], r1]), np.array([[0, 1, 2]])),  # east hip end
        quad(ueave[2], ueave[3], r0, r1),  # north slope
        (np.array([ueave[3], ueave[0], r0]), np.array([[0, 1, 2]])),  # west hip end
    ]
    # soffit ring between the drum and the eave (facing down), as four quads
    ring = [quad(usoffit[k], drum_hi[k], drum_hi[(k + 1) % 4], usoffit[(k + 1) % 4]) for k in range(4)]
    b.add(*merge_parts([_band(drum_lo, drum_hi), *ring, _band(usoffit, ueave), *hip]))

    b.element(ElementInfo("stele", "stele", "stone stele on its base", "stele", 1))
    sx, sy = s.stele_centre
    g = float(s.ground_z(sx, sy))  # set level on the sloping paving, its base partly buried
    b.add(*box((sx - 0.75, sy - 0.45, g + deep), (sx + 0.75, sy + 0.45, g + 0.45), skip=("-z",)),
          clip_z=(s.ground_range(sx - 0.75, sx + 0.75, sy - 0.45, sy + 0.45)[0], g + 0.45))  # fmt: skip
    b.add(*box((sx - 0.45, sy - 0.09, g + 0.45), (sx + 0.45, sy + 0.09, g + 2.25), skip=("-z", "+z")))
    b.add(*box((sx - 0.52, sy - 0.13, g + 2.25), (sx + 0.52, sy + 0.13, g + 2.45)))

    b.element(ElementInfo("annex", "annex", "west annex (store room)", "plaster", 4))
    (ax0, ax1), (ay0, ay1) = s.annex_x, s.annex_y
    b.add(*box((ax0, ay0, deep), (ax1, ay1, s.annex_wall_top), skip=("-z", "+z")), clip_z=(0.0, s.annex_wall_top))
    o = s.annex_overhang
    rx0, ry0, ry1 = ax0 - o, ay0 - o, ay1 + o
    zl, zh, zb = s.annex_roof_low, s.annex_roof_high, s.annex_wall_top
    roof = merge_parts([
        quad((rx0, ry0, zl), (ax1, ry0, zh), (ax1, ry1, zh), (rx0, ry1, zl)),  # sloping top
        quad((rx0, ry0, zb), (rx0, ry1, zb), (ax1, ry1, zb), (ax1, ry0, zb)),  # underside
        quad((rx0, ry0, zb), (ax1, ry0, zb), (ax1, ry0, zh), (rx0, ry0, zl)),  # south edge
        quad((rx0, ry1, zb), (rx0, ry1, zl), (ax1, ry1, zh), (ax1, ry1, zb)),  # north edge
        quad((rx0, ry0, zb), (rx0, ry0, zl), (rx0, ry1, zl), (rx0, ry1, zb)),  # west edge
        quad((ax1, ry0, zb), (ax1, ry1, zb), (ax1, ry1, zh), (ax1, ry0, zh)),  # east edge
    ])  # fmt: skip
    b.add(*roof, material="tile")

    b.element(ElementInfo("urn", "urn", "bronze dynastic urn on a stone plinth", "bronze", 1))
    ux, uy = s.urn_centre
    g = float(s.ground_z(ux, uy))
    b.add(*box((ux - 0.8, uy - 0.8, g + deep), (ux + 0.8, uy + 0.8, g + 0.3), skip=("-z",)),
          clip_z=(s.ground_range(ux - 0.8, ux + 0.8, uy - 0.8, uy + 0.8)[0], g + 0.3))  # fmt: skip
    b.add(*cylinder(ux, uy, 0.55, g + 0.3, g + 0.9, 40))
    b.add(*cylinder(ux, uy, 0.7, g + 0.9, g + 1.5, 40, cap_top=True, cap_bottom=True))

    rng = np.random.default_rng(s.planter_seed)
    for k, (x, y, r) in enumerate(s.planters, start=1):
        b.element(ElementInfo(f"planter-{k}", "planter", f"clipped shrub in a glazed pot, no. {k}", "ceramic", 1))
        g = float(s.ground_z(x, y))
        pot_r, pot_h = 0.3 + 0.1 * rng.random(), 0.4 + 0.15 * rng.random()
        b.add(*cylinder(x, y, pot_r, g + deep, g + pot_h, 32, cap_top=True), clip_z=(g - 0.05, g + pot_h))
        crown = (x, y, g + pot_h + 0.15 + r)
        b.add(*cylinder(x, y, 0.05, g + pot_h - 0.02, crown[2], 12), material="bark")
        b.add(*shrub(crown, r, rng), material="foliage")

    return b.build()


def shrub(centre, radius: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An irregular closed crown: an icosphere whose radius varies smoothly with
    direction (a few random low-frequency waves), a little flattened at the bottom."""
    import trimesh  # noqa: PLC0415

    ico = trimesh.creation.icosphere(subdivisions=2)
    d = np.asarray(ico.vertices, dtype=np.float64)
    scale = np.ones(len(d))
    for _ in range(6):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        freq, phase, amp = rng.uniform(1.5, 4.0), rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.14)
        scale += amp * np.sin(freq * (d @ axis) * np.pi + phase)
    squash = np.array([1.0 + 0.3 * rng.random(), 1.0 + 0.3 * rng.random(), 0.85])
    v = d * (radius * scale)[:, None] * squash + np.asarray(centre)
    return v, np.asarray(ico.faces, dtype=np.int64)


def facing_toward(mesh: tuple[np.ndarray, np.ndarray], want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip the triangles whose normal points away from ``want``."""
    v, t = mesh
    t = np.asarray(t).copy()
    n = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    flip = n @ want < 0
    t[flip] = t[flip][:, ::-1]
    return v, t


def _veranda_beams(s: SiteSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tie beams from the columns to the hall walls and an architrave along the column
    lines, under the veranda ceiling."""
    w, d = 0.24, 0.3
    z0, z1 = s.roof_lower_soffit_z - d, s.roof_lower_soffit_z
    (hx0, hx1), (hy0, hy1) = s.hall_x, s.hall_y
    xs, ys = s.column_lines_x, s.column_rows_y
    parts = []
    for x in (xs[0], xs[-1]):  # architrave along the end lines
        parts.append(box((x - w / 2, ys[0] + w / 2, z0), (x + w / 2, ys[-1] - w / 2, z1), skip=("+z",)))
    for y in (ys[0], ys[-1]):  # ... and along the side rows
        parts.append(box((xs[0] - w / 2, y - w / 2, z0), (xs[-1] + w / 2, y + w / 2, z1), skip=("+z",)))
    for x in xs:  # tie beams from the side rows to the long walls
        if hx0 + w / 2 < x < hx1 - w / 2:
            parts.append(box((x - w / 2, ys[0] + w / 2, z0), (x + w / 2, hy0, z1), skip=("+z", "+y")))
            parts.append(box((x - w / 2, hy1, z0), (x + w / 2, ys[-1] - w / 2, z1), skip=("+z", "-y")))
    for y in ys:  # ... and from the end lines to the end walls
        if hy0 + w / 2 < y < hy1 - w / 2:
            parts.append(box((xs[0] + w / 2, y - w / 2, z0), (hx0, y + w / 2, z1), skip=("+z", "+x")))
            parts.append(box((hx1, y - w / 2, z0), (xs[-1] - w / 2, y + w / 2, z1), skip=("+z", "-x")))
    return parts


def _rotation_z90() -> np.ndarray:
    """Quarter turn counter-clockwise about z: -y becomes +x."""
    return np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])

"""A station's working copies: centred coordinates at every scale, normals oriented to
its scanner, the structure off its ground, FPFH features and its vertical.

Everything runs in float64 on coordinates centred per station (bounding-box centre
subtracted), so UTM-sized numbers never reach open3d's solvers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from twin.models.pointcloud import PointCloud
from twin.ops.registration.consensus import dominant_plane
from twin.ops.registration.settings import RegistrationSettings, robust_extent
from twin.ops.spacing import point_spacing


@dataclass
class Station:
    name: str
    centre: np.ndarray
    scanner: np.ndarray | None  # scanner position in centred coordinates, when known
    points: np.ndarray  # centred full-resolution points
    spacing: float  # median nearest-neighbour distance
    extent: float  # diagonal of the box of the middle 96 % of the points
    levels: dict = field(default_factory=dict)  # voxel size -> open3d cloud with normals
    trees: dict = field(default_factory=dict)  # voxel size -> KdTree of that level's points
    structure: np.ndarray | None = None  # coarse points off the dominant plane
    plane_normal: np.ndarray | None = None  # unit normal of the dominant plane, when there is one
    features: dict | None = None  # flipped -> (structure points, their FPFH features)
    up: np.ndarray | None = None  # the vertical, in the station's frame
    levelled: bool | None = None  # whether that vertical is the frame's z (within a few degrees)
    upright: bool | None = None  # ... or at least near it, from walls in one direction only
    returns: object | None = None  # its range image (twin.ops.registration.visibility), when the scanner is known
    parts: list | None = None  # a union of stations (twin.ops.registration.assembly): (member, pose into
    # this station's centred frame) pairs whose levels, normals oriented to each member's scanner, make its own

    @property
    def min_normal_radius(self) -> float:
        return 4.0 * self.spacing


def make_station(name: str, cloud: PointCloud, scanner: np.ndarray | None) -> Station:
    """A station's working copy, centred on its bounding box, with its scanner position:
    the one given, else twin.ops.viewpoint's (its frame's zero when the points surround
    it or lie on an angular grid about it, else from its scan order), else unknown."""
    from twin.ops.viewpoint import scanner_position  # noqa: PLC0415

    lo, hi = cloud.xyz.min(axis=0), cloud.xyz.max(axis=0)
    centre = (lo + hi) / 2.0
    points = cloud.xyz - centre
    extent = robust_extent(points)
    if scanner is None:
        scanner = scanner_position(cloud.xyz, cloud.origin)
    scanner = None if scanner is None else np.asarray(scanner, dtype=np.float64).reshape(3) - centre
    return Station(name, centre, scanner, points, spacing=point_spacing(points, sample=20_000), extent=extent)


def orient(pcd, scanner: np.ndarray | None, k: int = 15) -> None:
    if scanner is not None:
        pcd.orient_normals_towards_camera_location(scanner)
    elif len(pcd.points) > k:
        pcd.orient_normals_consistent_tangent_plane(k)


PROPAGATED_POINTS = 50_000  # without a scanner, levels up to this size are oriented by propagation
LEVEL_MAX_POINTS = 300_000  # a level holds about this many points at most, however dense the station:
# registration's time then stops growing with the density (every ICP query, tree and normal)


def level(station: Station, voxel: float):
    """The station downsampled at ``voxel`` with normals (radius 2.5 voxel, or a few point
    spacings where the scan is sparser than that), oriented toward the scanner; cached.
    A level that would hold more than LEVEL_MAX_POINTS is made with a coarser voxel.

    Without a scanner position, normals are oriented by propagation over the surface
    (open3d's tangent-plane graph), which takes minutes on millions of points; so only a
    level of at most PROPAGATED_POINTS is, and a finer one takes the orientation of its
    nearest point in a level coarse enough (a power-of-two multiple of its voxel)."""
    if voxel not in station.levels and station.parts is not None:
        station.levels[voxel] = _union_level(station.parts, voxel)
    if voxel not in station.levels:
        from twin._deps import open3d  # noqa: PLC0415
        from twin.ops._o3d_convert import points_to_o3d  # noqa: PLC0415
        from twin.ops.voxel import voxel_downsample  # noqa: PLC0415

        o3d = open3d()
        down = voxel_downsample(PointCloud(station.points), voxel).xyz
        size = voxel
        if len(down) > LEVEL_MAX_POINTS:  # a dense station: the level's voxel grows (a surface's count as its square)
            size = voxel * np.sqrt(len(down) / LEVEL_MAX_POINTS)
            down = voxel_downsample(PointCloud(station.points), size).xyz
        pcd = points_to_o3d(down)
        # The normals' reach stays that of the voxel asked for (and at least 1.5 times the
        # coarser spacing, for enough neighbours): grown with a capped level's voxel, they
        # smoothed a statue's curves, and its 2M-point stations registered 0.050 degrees
        # and 0.13 mm off against 0.027 degrees and 0.06 mm.
        radius = max(2.5 * voxel, 1.5 * size, station.min_normal_radius)
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=40))
        if station.scanner is not None or len(down) <= PROPAGATED_POINTS:
            orient(pcd, station.scanner)
        else:
            coarse = size * 2.0 ** np.ceil(np.log2(np.sqrt(len(down) / PROPAGATED_POINTS)))
            reference = np.asarray(level(station, coarse).normals)
            nearest = tree(station, coarse).query(down, k=1)[1]
            normals = np.asarray(pcd.normals)
            flip = np.einsum("ij,ij->i", normals, reference[nearest]) < 0
            normals[flip] *= -1
            pcd.normals = o3d.utility.Vector3dVector(normals)
        station.levels[voxel] = pcd
    return station.levels[voxel]


def _union_level(parts: list, voxel: float):
    """A union's level: its members' levels at ``voxel``, moved by their poses and thinned
    again at ``voxel`` (normals averaged where members meet), their normals keeping each
    member's orientation toward its own scanner; at most LEVEL_MAX_POINTS points."""
    from twin.ops._o3d_convert import points_to_o3d  # noqa: PLC0415
    from twin.ops.voxel import voxel_downsample  # noqa: PLC0415

    points = np.concatenate([arrays(st, voxel)[0] @ p[:3, :3].T + p[:3, 3] for st, p in parts])
    normals = np.concatenate([arrays(st, voxel)[1] @ p[:3, :3].T for st, p in parts])
    merged = voxel_downsample(PointCloud(points, attrs={"normals": normals}), voxel)
    if len(merged) > LEVEL_MAX_POINTS:
        merged = voxel_downsample(merged, voxel * np.sqrt(len(merged) / LEVEL_MAX_POINTS))
    return points_to_o3d(merged.xyz, merged.attrs["normals"].astype(np.float64))


def arrays(station: Station, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    pcd = level(station, voxel)
    return np.asarray(pcd.points), np.asarray(pcd.normals)


def tree(station: Station, voxel: float):
    """A k-d tree of the station's level at ``voxel``, in its own (centred) frame; cached."""
    if voxel not in station.trees:
        from twin.ops.neighbours import KdTree  # noqa: PLC0415

        station.trees[voxel] = KdTree(arrays(station, voxel)[0])
    return station.trees[voxel]


def even_stride(points: np.ndarray, most: int) -> np.ndarray:
    """Every k-th row of ``points``, k the smallest step that leaves at most ``most``."""
    return points[:: max(1, -(-len(points) // most))]


def structure(station: Station, settings: RegistrationSettings):
    """Indices of the coarse points off the station's dominant plane (the ground, usually).

    A TLS station samples the ground around it densely, and every wrong alignment that
    lays one ground on the other still scores well on plain fitness; planar points also
    all share one FPFH signature. Feature matching and the choice between candidate
    alignments therefore use only the points off that plane (when it holds more than a
    quarter of the points); ICP still uses everything.
    """
    if station.structure is None:
        pcd = level(station, settings.coarse_voxel)
        n = len(pcd.points)
        keep = np.arange(n)
        found = None if n < 100 else dominant_plane(np.asarray(pcd.points), 2.0 * settings.coarse_voxel, 1000,
                                                    settings.seed)
        if found is not None:
            plane, inliers = found
            if len(inliers) > 0.25 * n and n - len(inliers) >= 50:
                keep = np.setdiff1d(keep, inliers)
                on_plane = np.asarray(pcd.points)[inliers]
                # Least squares on the inliers: RANSAC's three-point plane is off by tenths of a degree.
                normal = np.linalg.svd(on_plane - on_plane.mean(axis=0), full_matrices=False)[2][2]
                station.plane_normal = normal if normal @ plane[:3] > 0 else -normal
        station.structure = keep
    return station.structure


def features(station: Station, settings: RegistrationSettings, flipped: bool = False):
    """The structure points (open3d cloud) and their FPFH features (computed in full context).

    FPFH describes the angles between neighbours' normals, so it changes when every normal
    turns over. ``flipped``: the features of the station's normals reversed, for a station
    whose normals' overall sign is not known (no scanner position: propagation orients a
    surface consistently, but inward or outward by chance)."""
    if station.features is None:
        station.features = {}
    if flipped not in station.features:
        from twin._deps import open3d  # noqa: PLC0415

        o3d = open3d()
        pcd = level(station, settings.coarse_voxel)
        if flipped:
            pcd = o3d.geometry.PointCloud(pcd)
            pcd.normals = o3d.utility.Vector3dVector(-np.asarray(pcd.normals))
        radius = settings.feature_radius_factor * settings.coarse_voxel
        fpfh = o3d.pipelines.registration.compute_fpfh_feature(
            pcd, o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=100)
        )
        keep = structure(station, settings)
        sub = o3d.pipelines.registration.Feature()
        sub.data = np.ascontiguousarray(np.asarray(fpfh.data)[:, keep])
        station.features[flipped] = (pcd.select_by_index(keep.tolist()), sub)
    return station.features[flipped]


LEVELLED_DEG = 6.0  # a vertical this close to the frame's z: a (roughly) levelled scanner
STEEP_COS = 0.35  # normals within ~20 degrees of horizontal: walls, columns, piers
# The vertical is found again among normals ever closer to horizontal (20, 8.6 and 4
# degrees): curved and sloping surfaces (an arch's soffit, a battered wall) that pass the
# first cut bias it by a degree or more; the true walls pass the last.
STEEP_COS_ROUNDS = (STEEP_COS, 0.15, 0.07, 0.07)
MIN_VERTICAL_SHARE = 0.15  # share of normals within 4 degrees of horizontal (isotropic normals: 7 %)


def up_direction(station: Station, settings: RegistrationSettings) -> np.ndarray:
    """The station's vertical in its own frame, and whether the frame is levelled.

    A terrestrial scanner's z is its vertical axis to within its compensator, or a few
    degrees off on rough ground; a hand-held or object scan's z is anywhere. Buildings
    stand on vertical surfaces (walls, columns, piers, door jambs) whatever the ground
    does: the vertical is the direction most nearly perpendicular to the normals of the
    steep surfaces, the smallest eigenvector of their scatter matrix, found twice from
    the frame's z (the second time among the normals steep for the first estimate). The
    ground is no reference: a sloping street or a stepped courtyard is not level. The
    frame counts as levelled (``station.levelled``) when that vertical lies within
    ``LEVELLED_DEG`` of z and is well determined (steep surfaces in more than one
    direction, so that the smallest eigenvalue stands clear of the next) and vertical
    surfaces make a real share of what it saw (an object's normals point every way).
    A station whose walls all face one way is still ``upright``: they fix the tilt
    across them, the frame's z the rest, and both searches run. Otherwise only a 6-DoF
    search can place the station.
    """
    if station.up is not None:
        return station.up
    z = np.array([0.0, 0.0, 1.0])
    pcd = level(station, settings.check_voxel)
    nrm = np.asarray(pcd.normals)
    up, determined = z, False
    for steep_cos in STEEP_COS_ROUNDS:
        steep = nrm[np.abs(nrm @ up) < steep_cos]
        if len(steep) < 50:
            determined = False
            break
        values, vectors = np.linalg.eigh(steep.T @ steep / len(steep))
        # Well determined: walls in at least two directions leave one clear smallest eigenvalue.
        determined = values[0] < 0.2 * values[1]
        if determined:
            up = vectors[:, 0] if vectors[:, 0] @ z >= 0 else -vectors[:, 0]
        else:
            # Walls in one direction only: they fix the tilt across them; z keeps the rest.
            wall = vectors[:, 2]
            up = z - (z @ wall) * wall
            up /= np.linalg.norm(up)
    # Vertical surfaces must be a real share of what the station saw: an object's normals
    # point every way, and the band of them around any axis would confirm that axis.
    upright = bool(np.mean(np.abs(nrm @ up) < STEEP_COS_ROUNDS[-1]) >= MIN_VERTICAL_SHARE
                   and up @ z >= np.cos(np.radians(LEVELLED_DEG)))
    if not upright:
        up = z
    levelled = upright and determined
    station.upright = upright
    station.up = up
    station.levelled = levelled
    return up


def levelling(up: np.ndarray) -> np.ndarray:
    """A rotation (4x4) that turns ``up`` onto +z."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(up, z)
    s, c = np.linalg.norm(axis), float(up @ z)
    m = np.eye(4)
    if s < 1e-12:
        if c < 0:
            m[:3, :3] = np.diag([1.0, -1.0, -1.0])
        return m
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    m[:3, :3] = np.eye(3) + s * kx + (1 - c) * kx @ kx
    return m


def signed(*stations: Station) -> bool:
    """Normals can be compared with their signs when every scanner position is known."""
    return all(st.scanner is not None for st in stations)


class PlacedUnion:
    """Nearest neighbours among several stations, each moved by its pose, answered from
    each station's own cached tree: the query points are brought into each station's frame
    instead of building a tree of the moved union at every stage (on stations of millions
    of points that rebuild was most of registration's time). ``query`` answers like
    ``cKDTree.query`` would on the concatenation of the stations' moved points."""

    def __init__(self, stations: Sequence[Station], poses: Sequence[np.ndarray], voxel: float):
        self.parts = []
        offset = 0
        for station, pose in zip(stations, poses):
            t = tree(station, voxel)
            self.parts.append((t, np.linalg.inv(pose), offset))
            offset += t.n
        self.n = offset
        pairs = [arrays(station, voxel) for station in stations]
        self.points = MovedRows([a for a, _ in pairs], poses, translate=True)
        self.normals = MovedRows([b for _, b in pairs], poses, translate=False)

    def query(self, x: np.ndarray, k: int = 1, distance_upper_bound: float = np.inf):
        dist, idx = [], []
        for t, inv, offset in self.parts:
            d, i = t.query(x @ inv[:3, :3].T + inv[:3, 3], k=k, distance_upper_bound=distance_upper_bound)
            if k == 1:
                d, i = d[:, None], i[:, None]
            dist.append(d)
            idx.append(np.where(i < t.n, i + offset, self.n))  # a missing neighbour is n, as in cKDTree
        if len(self.parts) == 1:
            d, i = dist[0], idx[0]
        else:
            d, i = np.concatenate(dist, axis=1), np.concatenate(idx, axis=1)
            order = np.argsort(d, axis=1, kind="stable")[:, :k]
            d, i = np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)
        return (d[:, 0], i[:, 0]) if k == 1 else (d, i)


class MovedRows:
    """The concatenation of several stations' points (or normals), each moved by its
    pose: ``view[index]`` for an integer array of any shape, and ``len(view)``.

    ICP asks for the same rows dozens of times (every iteration, four neighbours a point),
    so a union of up to ``MATERIALISE_ROWS`` rows is moved once, whole, on first use;
    a bigger one (many stations of millions of points) moves only the rows asked for."""

    MATERIALISE_ROWS = 4_000_000  # 96 MB of float64 coordinates

    def __init__(self, arrays_: Sequence[np.ndarray], poses: Sequence[np.ndarray], translate: bool):
        self.arrays = list(arrays_)
        self.rotations = [pose[:3, :3] for pose in poses]
        self.shifts = [pose[:3, 3] if translate else np.zeros(3) for pose in poses]
        self.ends = np.cumsum([len(a) for a in self.arrays])
        self._whole: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def __getitem__(self, index) -> np.ndarray:
        index = np.asarray(index)
        if len(self) <= self.MATERIALISE_ROWS:
            if self._whole is None:
                self._whole = (np.concatenate([rows @ r.T + t for rows, r, t in
                                               zip(self.arrays, self.rotations, self.shifts, strict=True)])
                               if self.arrays else np.empty((0, 3)))
            return self._whole[index]
        flat = index.ravel()
        part = np.searchsorted(self.ends, flat, side="right")
        out = np.empty((len(flat), 3))
        for k, (rows, r, t) in enumerate(zip(self.arrays, self.rotations, self.shifts)):
            mine = part == k
            if mine.any():
                out[mine] = rows[flat[mine] - (self.ends[k] - len(rows))] @ r.T + t
        return out.reshape(*index.shape, 3)

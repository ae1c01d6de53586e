"""The ground truth of the sample: its file (``ground_truth.json``), its meshes, and the
queries later code checks itself against.

Frames:

- **UTM**: EPSG:32648 (WGS 84 / UTM zone 48N), metres, heights above the datum. The
  truth file states poses, positions, deformations and element regions in UTM.
- **local**: the frame of the truth meshes (``truth/pavilion-<year>.ply``): UTM minus
  ``origin_utm``, so that float32 vertices keep sub-millimetre precision. It is the
  generator's site frame (x east, y north, z up, origin at courtyard level at the
  platform's centre).
- **file**: the coordinates stored in a station's LAZ file. The control station (S1 of
  each survey) writes UTM; the others write their instrument frame. ``Station.pose``
  maps file coordinates to UTM (identity for the control station).

Paths in the truth file are relative to the dataset root: the folder holding
``survey-*/`` and ``truth/`` (the truth file's parent's parent).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from twin.catalog.store import atomic_write_bytes
from twin.sample.deform import Bulge, Deformation, Lean, displacement_field

TRUTH_FORMAT = "twin-sample-truth/1"
Vec3 = tuple[float, float, float]
Matrix4 = list[list[float]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_matrix(m: Matrix4) -> Matrix4:
    a = np.asarray(m, dtype=np.float64)
    if a.shape != (4, 4) or not np.allclose(a[3], [0, 0, 0, 1]):
        raise ValueError("a pose is a 4x4 matrix whose last row is 0 0 0 1")
    r = a[:3, :3]
    if not np.allclose(r @ r.T, np.eye(3), atol=1e-9) or np.linalg.det(r) < 0:
        raise ValueError("a pose's rotation must be orthonormal and right-handed")
    return m


class CRS(_Model):
    epsg: int
    name: str


class Structure(_Model):
    id: str
    name: str
    description: str


class Station(_Model):
    """One scanner set-up: its file and where it truly stood."""

    name: str  # S1, S2, ...
    file: str  # relative to the dataset root
    sha256: str
    control: bool  # set up over a surveyed point: file written in UTM
    frame: Literal["utm", "scanner"]  # what the file's coordinates are
    pose: Matrix4  # file coordinates -> UTM (identity for the control station)
    instrument_pose: Matrix4  # instrument frame (origin at the optical centre) -> UTM
    position_utm: Vec3  # optical centre
    heading_deg: float  # grid azimuth of the instrument's x axis, clockwise from north
    tilt_deg: float  # angle between the instrument's z axis and the vertical
    instrument_height_m: float  # optical centre above the courtyard
    start_time: str  # ISO 8601 with offset
    point_count: int
    outlier_count: int  # of those, moved along their ray or mixed pixels
    angular_step_deg: float
    azimuth_window_deg: tuple[float, float]  # instrument frame, counter-clockwise from x
    elevation_window_deg: tuple[float, float]

    _check_pose = field_validator("pose", "instrument_pose")(_check_matrix)

    def pose_matrix(self) -> np.ndarray:
        return np.asarray(self.pose, dtype=np.float64)

    def instrument_matrix(self) -> np.ndarray:
        return np.asarray(self.instrument_pose, dtype=np.float64)

    def to_utm(self, xyz_file: np.ndarray) -> np.ndarray:
        """File coordinates -> UTM (float64)."""
        m = self.pose_matrix()
        return np.asarray(xyz_file, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]


class Survey(_Model):
    id: str  # survey-2024
    date: str  # ISO date, also the LAS header's creation date
    mesh: str  # true geometry at this survey, relative to the dataset root
    deformations: list[str]  # ids of the deformations present (relative to the reference)
    sun_azimuth_deg: float
    sun_elevation_deg: float
    stations: list[Station]


class LeanTruth(_Model):
    """A rigid lean about a horizontal axis through ``pivot_utm`` (see twin.sample.deform)."""

    id: str
    type: Literal["lean"] = "lean"
    element: str
    survey: str  # where it is present
    reference_survey: str
    angle_deg: float
    azimuth_deg: float  # grid azimuth the top moves toward, clockwise from north
    pivot_utm: Vec3  # base centre of the element
    axis: Vec3  # unit rotation axis (right-handed, through the pivot), UTM axes
    height_m: float  # visible height above the pivot
    top_displacement_m: float  # height · sin(angle), horizontal
    description: str


class BulgeTruth(_Model):
    """A raised-cosine bump along the wall's outward normal (see twin.sample.deform)."""

    id: str
    type: Literal["bulge"] = "bulge"
    element: str
    survey: str
    reference_survey: str
    centre_utm: Vec3  # on the undeformed outer face
    normal: Vec3  # outward unit normal, UTM axes
    azimuth_deg: float  # of the normal, clockwise from grid north
    radius_m: float
    peak_m: float
    profile: Literal["raised-cosine"] = "raised-cosine"
    description: str


DeformationTruth = Annotated[LeanTruth | BulgeTruth, Field(discriminator="type")]


class Box(_Model):
    min: Vec3
    max: Vec3


class Element(_Model):
    """A named part of the pavilion and the region it occupies in every survey."""

    id: str
    kind: str  # courtyard, platform, steps, column, wall, door, roof, stele
    label: str
    material: str
    mesh_index: int  # value of the truth meshes' per-face ``element_index``
    priority: int  # where regions overlap, the lowest number wins
    regions_utm: list[Box]  # union of axis-aligned boxes, UTM, with a small margin


class Generator(_Model):
    package: str
    version: str
    seed: int
    points_per_station: int
    stations: int
    surveys: int
    full_dome: bool
    region_margin_m: float
    las: dict[str, str | float | int]
    scanner: dict[str, float]
    command: str


class RootedRecord(_Model):
    """A record read from a file, whose relative paths resolve against its ``root``."""

    _root: Path | None = PrivateAttr(default=None)
    _kind: ClassVar[str] = "record"

    @property
    def root(self) -> Path:
        if self._root is None:
            raise ValueError(f"this {self._kind} was not loaded from a file; its paths have no root")
        return self._root


class GroundTruth(RootedRecord):
    format: Literal["twin-sample-truth/1"] = TRUTH_FORMAT
    structure: Structure
    crs: CRS
    origin_utm: Vec3  # local frame of the truth meshes = UTM - origin_utm
    origin_lonlat: tuple[float, float]  # WGS 84 longitude, latitude of the origin
    surveys: list[Survey]
    deformations: list[DeformationTruth]
    elements: list[Element]
    generator: Generator

    _kind: ClassVar[str] = "ground truth"

    # ---- navigation
    def path(self, relative: str) -> Path:
        return self.root / relative

    @property
    def origin(self) -> np.ndarray:
        return np.asarray(self.origin_utm, dtype=np.float64)

    def survey(self, survey_id: str) -> Survey:
        for s in self.surveys:
            if s.id == survey_id:
                return s
        raise KeyError(f"no survey {survey_id!r} in the ground truth (have {[s.id for s in self.surveys]})")

    def element(self, element_id: str) -> Element:
        for e in self.elements:
            if e.id == element_id:
                return e
        raise KeyError(f"no element {element_id!r} in the ground truth")

    def element_ids(self) -> list[str]:
        """Element ids in mesh-index order."""
        return [e.id for e in sorted(self.elements, key=lambda e: e.mesh_index)]

    def deformations_of(self, survey_id: str) -> list[Deformation]:
        """The survey's deformations (relative to the reference) in the local frame."""
        names = set(self.survey(survey_id).deformations)
        return [to_local_deformation(d, self.origin) for d in self.deformations if d.id in names]

    def files(self) -> list[Path]:
        """Every file the truth lists: scans and meshes."""
        out = []
        for s in self.surveys:
            out.append(self.path(s.mesh))
            out += [self.path(st.file) for st in s.stations]
        return out


def to_local_deformation(d: LeanTruth | BulgeTruth, origin: np.ndarray) -> Deformation:
    if isinstance(d, LeanTruth):
        pivot = tuple(float(x) for x in np.asarray(d.pivot_utm) - origin)
        return Lean(d.element, d.angle_deg, d.azimuth_deg, pivot, d.height_m)
    centre = tuple(float(x) for x in np.asarray(d.centre_utm) - origin)
    return Bulge(d.element, centre, tuple(d.normal), d.radius_m, d.peak_m)


# --------------------------------------------------------------------------- files


def load_truth(path: str | os.PathLike[str]) -> GroundTruth:
    """Read and validate ``ground_truth.json``; paths resolve against its parent's parent."""
    path = Path(path)
    truth = GroundTruth.model_validate_json(path.read_text(encoding="utf-8"))
    truth._root = path.resolve().parent.parent
    return truth


def write_truth(truth: GroundTruth, path: str | os.PathLike[str]) -> None:
    """Write the truth file atomically (indented; same truth, same bytes)."""
    path = Path(path)
    text = json.dumps(truth.model_dump(mode="json"), indent=2) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


_PLY_FACE = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("e", "<u2")])


class TruthMesh:
    """A truth mesh: float64 local vertices, triangles, element index per triangle."""

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, element_index: np.ndarray, origin: np.ndarray):
        self.vertices = vertices
        self.triangles = triangles
        self.element_index = element_index
        self.origin = origin
        self._scene = None

    def raycasting_scene(self):
        """An open3d RaycastingScene of the mesh (local frame), built once."""
        if self._scene is None:
            from twin._deps import open3d  # noqa: PLC0415

            o3d = open3d()
            self._scene = o3d.t.geometry.RaycastingScene()
            self._scene.add_triangles(
                o3d.core.Tensor(self.vertices.astype(np.float32)), o3d.core.Tensor(self.triangles.astype(np.uint32))
            )
        return self._scene

    def distance(self, points_utm: np.ndarray) -> np.ndarray:
        """Unsigned distance from UTM points to the true surface."""
        from twin._deps import open3d  # noqa: PLC0415

        q = (np.asarray(points_utm, dtype=np.float64) - self.origin).astype(np.float32)
        return self.raycasting_scene().compute_distance(open3d().core.Tensor(q)).numpy().astype(np.float64)

    def closest(self, points_utm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance to and element index of the nearest triangle of each UTM point."""
        from twin._deps import open3d  # noqa: PLC0415

        local = np.asarray(points_utm, dtype=np.float64) - self.origin
        ans = self.raycasting_scene().compute_closest_points(open3d().core.Tensor(local.astype(np.float32)))
        closest = ans["points"].numpy().astype(np.float64)
        prim = ans["primitive_ids"].numpy().astype(np.int64)
        return np.linalg.norm(closest - local, axis=1), self.element_index[prim]


def write_truth_mesh(
    path: str | os.PathLike[str],
    vertices_local: np.ndarray,
    triangles: np.ndarray,
    element_index: np.ndarray,
    *,
    origin_utm: np.ndarray,
    epsg: int,
    element_ids: list[str],
    title: str,
) -> None:
    """Binary little-endian PLY: float32 local vertices, triangles with a ushort
    ``element_index`` per face; the origin, CRS and element names as header comments."""
    v = np.ascontiguousarray(vertices_local, dtype="<f4")
    faces = np.zeros(len(triangles), dtype=_PLY_FACE)
    faces["n"] = 3
    faces["v"] = triangles
    faces["e"] = element_index
    o = origin_utm
    head = [
        "ply",
        "format binary_little_endian 1.0",
        f"comment {title}",
        f"comment crs EPSG:{epsg}",
        f"comment origin {o[0]:.3f} {o[1]:.3f} {o[2]:.3f} (UTM of the local frame's zero; vertices are local)",
        *[f"comment element_index {i} {name}" for i, name in enumerate(element_ids)],
        f"element vertex {len(v)}",
        "property float x",
        "property float y",
        "property float z",
        f"element face {len(faces)}",
        "property list uchar int vertex_indices",
        "property ushort element_index",
        "end_header",
    ]
    data = ("\n".join(head) + "\n").encode("ascii") + v.tobytes() + faces.tobytes()
    atomic_write_bytes(Path(path), data)


def read_truth_mesh(path: str | os.PathLike[str], origin_utm: np.ndarray | None = None) -> TruthMesh:
    """Read a mesh written by ``write_truth_mesh``; the origin comes from its header
    unless given."""
    raw = Path(path).read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:end].decode("ascii").splitlines()
    counts, origin = {}, None
    for line in header:
        parts = line.split()
        if parts[0] == "element":
            counts[parts[1]] = int(parts[2])
        elif parts[:2] == ["comment", "origin"]:
            origin = np.array([float(x) for x in parts[2:5]])
    if "property ushort element_index" not in header:
        raise ValueError(f"{path}: not a twin truth mesh (no per-face element_index)")
    nv, nf = counts["vertex"], counts["face"]
    v = np.frombuffer(raw, dtype="<f4", count=nv * 3, offset=end).reshape(nv, 3).astype(np.float64)
    f = np.frombuffer(raw, dtype=_PLY_FACE, count=nf, offset=end + nv * 12)
    if np.any(f["n"] != 3):
        raise ValueError(f"{path}: faces must be triangles")
    org = np.asarray(origin_utm if origin_utm is not None else origin, dtype=np.float64)
    return TruthMesh(v, f["v"].astype(np.int64), f["e"].astype(np.int64), org)


def load_truth_mesh(truth: GroundTruth, survey_id: str) -> TruthMesh:
    return read_truth_mesh(truth.path(truth.survey(survey_id).mesh), truth.origin)


# --------------------------------------------------------------------------- queries


def label_points_by_truth(
    points_utm: np.ndarray,
    truth: GroundTruth,
    survey_id: str,
    *,
    max_distance: float = 0.05,
    mesh: TruthMesh | None = None,
) -> np.ndarray:
    """The element id of each UTM point: the element of the nearest triangle of the
    survey's true mesh, or "" where that is farther than ``max_distance`` (outliers)."""
    mesh = mesh or load_truth_mesh(truth, survey_id)
    dist, idx = mesh.closest(points_utm)
    ids = np.array(truth.element_ids(), dtype=object)
    out = ids[idx]
    out[dist > max_distance] = ""
    return out


def label_points_by_region(points_utm: np.ndarray, truth: GroundTruth) -> np.ndarray:
    """The element id of each UTM point from the element regions (boxes), the lowest
    priority number winning where they overlap; "" outside every region."""
    p = np.asarray(points_utm, dtype=np.float64)
    best = np.full(len(p), np.iinfo(np.int32).max)
    out = np.full(len(p), "", dtype=object)
    for e in truth.elements:
        inside = np.zeros(len(p), dtype=bool)
        for b in e.regions_utm:
            inside |= np.all((p >= b.min) & (p <= b.max), axis=1)
        win = inside & (e.priority < best)
        out[win] = e.id
        best[win] = e.priority
    return out


def true_displacement(
    points_utm: np.ndarray, truth: GroundTruth, survey_id: str, *, reference_mesh: TruthMesh | None = None
) -> np.ndarray:
    """The true displacement (UTM axes, metres) between the reference survey and
    ``survey_id`` at points on the reference surface, labelled by the reference mesh."""
    survey = truth.survey(survey_id)
    deformations = truth.deformations_of(survey_id)
    if not deformations:
        return np.zeros((len(points_utm), 3))
    refs = {d.reference_survey for d in truth.deformations if d.id in survey.deformations}
    ref = refs.pop()
    labels = label_points_by_truth(points_utm, truth, ref, mesh=reference_mesh)
    local = np.asarray(points_utm, dtype=np.float64) - truth.origin
    return displacement_field(local, labels, deformations)

"""What registration returns, and the transforms that place stations with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from twin.errors import UsageError
from twin.models.pointcloud import PointCloud


@dataclass(frozen=True)
class EdgeMetrics:
    """One pairwise alignment: ``transform`` maps ``source`` local coordinates to ``target``'s."""

    source: int
    target: int
    transform: np.ndarray
    fitness: float
    inlier_rmse: float
    correspondences: int
    method: str  # "search" (found without initial poses) or "initial"
    in_graph: bool  # used in the pose graph


@dataclass(frozen=True)
class StationPose:
    """A station's transform into the reference station's local frame, and its fit
    against all the other stations once everything is aligned."""

    index: int
    name: str
    transform: np.ndarray
    fitness: float
    inlier_rmse: float
    correspondences: int
    scanner: np.ndarray | None = None  # where the scanner stood, in the station's local frame, when known


@dataclass(frozen=True)
class RegistrationResult:
    reference: int
    stations: list[StationPose]
    edges: list[EdgeMetrics] = field(default_factory=list)
    quality: object | None = None  # twin.ops.registration.quality.SurveyQuality
    lengths: dict = field(default_factory=dict)  # the resolved lengths (settings.lengths())

    @property
    def transforms(self) -> list[np.ndarray]:
        return [s.transform for s in self.stations]


def translation(t: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = t
    return m


def check_transform(t, what: str) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if t.shape != (4, 4) or not np.isfinite(t).all():
        raise UsageError(f"{what} must be a finite 4x4 matrix")
    r = t[:3, :3]
    if not np.allclose(r.T @ r, np.eye(3), atol=1e-5) or np.linalg.det(r) < 0 or not np.allclose(t[3], [0, 0, 0, 1]):
        raise UsageError(f"{what} is not a rigid transform (rotation + translation)")
    return t


def rotation_angle_deg(t: np.ndarray) -> float:
    """The rotation angle of a 4x4 (or 3x3) transform, in degrees."""
    r = np.asarray(t)[:3, :3]
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def initial_poses_from_origins(clouds: Sequence[PointCloud], reference: int = 0) -> list[np.ndarray]:
    """Initial poses for stations already in one common (e.g. georeferenced) frame:
    pure translations by the difference of origins."""
    ref = clouds[reference].origin
    return [translation(c.origin - ref) for c in clouds]


def apply_transform(cloud: PointCloud, transform: np.ndarray, origin: np.ndarray) -> PointCloud:
    """The cloud moved by ``transform`` (its local → a frame whose origin is ``origin``);
    normals are rotated too."""
    t = np.asarray(transform, dtype=np.float64)
    attrs = dict(cloud.attrs)
    if "normals" in attrs:
        attrs["normals"] = (attrs["normals"].astype(np.float64) @ t[:3, :3].T).astype(np.float32)
    return PointCloud(cloud.xyz @ t[:3, :3].T + t[:3, 3], np.asarray(origin, dtype=np.float64).copy(), attrs)


def merge_registered(clouds: Sequence[PointCloud], result: RegistrationResult) -> PointCloud:
    """All stations in the reference station's frame (and origin), concatenated, with
    ``point_source_id`` saying which station (1, 2, ... in input order) saw each point."""
    origin = clouds[result.reference].origin
    moved = []
    for i, (cloud, station) in enumerate(zip(clouds, result.stations, strict=True)):
        part = apply_transform(cloud, station.transform, origin)
        part.attrs["point_source_id"] = np.full(len(part), i + 1, dtype=np.uint16)
        moved.append(part)
    return PointCloud.concatenate(moved)

"""What a scan file's header (and optionally a full streaming pass) says about it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bounds(_Model):
    min: tuple[float, float, float]
    max: tuple[float, float, float]


class CRSInfo(_Model):
    """A coordinate reference system as found in a header or given by the user."""

    name: str | None = None
    epsg: int | None = None
    wkt: str | None = None
    # where it came from: "wkt-vlr", "geotiff", "header", "override", "none"
    source: str = "none"
    is_geographic: bool | None = None
    warnings: list[str] = Field(default_factory=list)


class Pose(_Model):
    """A rigid pose: a point p in the scan's own frame is R(q)·p + t in the file's frame."""

    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_wxyz: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


class SubScan(_Model):
    """One scan inside a multi-scan container (E57)."""

    index: int
    name: str | None = None
    guid: str | None = None
    point_count: int
    fields: list[str] = Field(default_factory=list)
    pose: Pose = Field(default_factory=Pose)
    bounds: Bounds | None = None
    grid: tuple[int, int] | None = None  # rows, columns for structured scans


class ScanStats(_Model):
    """Facts only a full pass over the points can give."""

    points_read: int
    bounds: Bounds | None
    classification_histogram: dict[int, int] | None = None
    point_source_ids: list[int] | None = None
    intensity_range: tuple[float, float] | None = None
    seconds: float = 0.0


class ScanInfo(_Model):
    """Header facts of one scan file, as `twin inspect --json` prints them."""

    path: str
    format: str  # las, laz, copc, e57, ply, pcd, xyz, pts, txt
    size_bytes: int
    version: str | None = None  # "1.4" for LAS, "0.7" for PCD, "1.0" for E57 ...
    encoding: str | None = None  # ascii / binary_little_endian / binary / ...
    point_format: int | None = None  # LAS point data record format
    point_count: int
    bounds: Bounds | None = None
    scales: tuple[float, float, float] | None = None
    offsets: tuple[float, float, float] | None = None
    crs: CRSInfo = Field(default_factory=CRSInfo)
    dimensions: list[str] = Field(default_factory=list)  # every per-point field in the file
    extra_dimensions: list[str] = Field(default_factory=list)
    has_rgb: bool = False
    has_intensity: bool = False
    has_normals: bool = False
    scans: list[SubScan] = Field(default_factory=list)
    vlrs: list[str] = Field(default_factory=list)
    software: str | None = None
    system_id: str | None = None
    capture_date: str | None = None  # ISO date when the header records one
    warnings: list[str] = Field(default_factory=list)
    stats: ScanStats | None = None

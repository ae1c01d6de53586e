"""Pipeline specifications: ordered stages with validated parameters.

A pipeline YAML lists stages under ``stages:``; each item names its ``stage`` and its
parameters. Everything is checked before any work starts: an unknown stage, an unknown
or mistyped parameter, an impossible value, or stages in an order that cannot work.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Positive = Annotated[float, Field(gt=0)]


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CropStage(_Stage):
    """Keep points inside a box or a polygon footprint (structure coordinates); flag the rest."""

    stage: Literal["crop"]
    box_min: tuple[float, float, float] | None = None
    box_max: tuple[float, float, float] | None = None
    polygon: list[tuple[float, float]] | None = Field(default=None, min_length=3)
    z_min: float | None = None
    z_max: float | None = None

    @model_validator(mode="after")
    def _one_region(self):
        has_box = self.box_min is not None or self.box_max is not None
        if has_box == (self.polygon is not None):
            raise ValueError("give either box_min and box_max, or polygon (with optional z_min/z_max)")
        if has_box and (self.box_min is None or self.box_max is None):
            raise ValueError("a box needs both box_min and box_max")
        if has_box and any(lo >= hi for lo, hi in zip(self.box_min, self.box_max)):
            raise ValueError("box_min must be below box_max on every axis")
        return self


class FlagOutliersStage(_Stage):
    """Flag (not delete) isolated points: statistical (k-NN distance) or radius (too few neighbours)."""

    stage: Literal["flag_outliers"]
    method: Literal["statistical", "radius"] = "statistical"
    neighbours: int = Field(default=20, ge=2, le=200, description="statistical: neighbours per point")
    std_ratio: Positive = Field(default=2.0, le=20, description="statistical: threshold in standard deviations")
    radius: Positive | None = Field(default=None, le=10, description="radius: search radius in metres")
    min_points: int = Field(default=4, ge=1, le=1000, description="radius: fewest neighbours to keep a point")

    @model_validator(mode="after")
    def _radius_needs_radius(self):
        if self.method == "radius" and self.radius is None:
            raise ValueError("method radius needs radius (metres)")
        return self


class DropFlaggedStage(_Stage):
    """Remove the points earlier stages flagged."""

    stage: Literal["drop_flagged"]


class VoxelDownsampleStage(_Stage):
    """One point per voxel: the mean of the voxel's points and attributes."""

    stage: Literal["voxel_downsample"]
    voxel_size: Positive = Field(le=10, description="metres")


class NormalsStage(_Stage):
    """Normals by PCA of neighbours, oriented toward the scanner station where known."""

    stage: Literal["normals"]
    radius: Positive = Field(default=0.05, le=10)
    max_neighbours: int = Field(default=30, ge=3, le=500)


class RegisterStage(_Stage):
    """Align every station to the reference station and merge them."""

    stage: Literal["register"]
    reference: str | None = Field(default=None, description="reference station (default: one with a CRS, else the first)")
    coarse_voxel: Positive = Field(default=0.08, le=5, description="voxel for FPFH + RANSAC, metres")
    icp_voxels: list[Positive] = Field(default=[0.04, 0.02, 0.01], min_length=1)
    min_fitness: float = Field(default=0.3, gt=0, le=1)
    max_rmse: Positive = Field(default=0.02, description="largest acceptable inlier RMSE after ICP, metres")
    use_file_poses: bool = Field(default=True, description="start from E57 poses where the file has them")


class MeshStage(_Stage):
    """Surface reconstruction: screened Poisson with trimming, or ball pivoting."""

    stage: Literal["mesh"]
    method: Literal["poisson", "ball_pivoting"] = "poisson"
    depth: int = Field(default=10, ge=5, le=14, description="poisson octree depth")
    scale: float = Field(default=1.1, ge=1.0, le=2.0)
    density_quantile: float = Field(default=0.02, ge=0, lt=0.5, description="poisson: trim this share of lowest-density vertices")
    max_distance: Positive | None = Field(
        default=None, description="drop faces farther than this from any input point, metres (default: twice the local point spacing)"
    )
    radii: list[Positive] | None = Field(default=None, description="ball pivoting radii (default: from point spacing)")


class RepairStage(_Stage):
    """Remove degenerate and duplicate faces, non-manifold edges and small islands."""

    stage: Literal["repair"]
    min_island_faces: int = Field(default=100, ge=0)


class DecimateStage(_Stage):
    """Quadric decimation into named levels of detail (null keeps the full mesh)."""

    stage: Literal["decimate"]
    levels: dict[str, Annotated[int, Field(ge=100)] | None] = Field(
        default={"full": None, "1M": 1_000_000, "200k": 200_000, "50k": 50_000}, min_length=1
    )


class LabelStage(_Stage):
    """Project the structure's current layers onto the model: an element per point, per mesh
    vertex and per mesh face, and from it a phase and a material. Without layers it labels
    nothing and says so."""

    stage: Literal["label"]
    faces: Literal["centroid", "vertices"] = Field(
        default="centroid",
        description="a face's element: the one its centroid lies in, or the one two of its vertices share",
    )


class WriteStage(_Stage):
    """Write the cleaned cloud and the mesh levels into the model folder."""

    stage: Literal["write"]
    cloud_format: Literal["laz", "las", "ply"] = "laz"
    mesh_format: Literal["ply"] = "ply"


StageSpec = Annotated[
    CropStage
    | FlagOutliersStage
    | DropFlaggedStage
    | VoxelDownsampleStage
    | NormalsStage
    | RegisterStage
    | MeshStage
    | RepairStage
    | DecimateStage
    | LabelStage
    | WriteStage,
    Field(discriminator="stage"),
]

# Stages that need the stations merged, or a mesh, before them.
_AFTER_REGISTER = {"crop", "mesh", "repair", "decimate"}  # crop regions are in structure coordinates
_AFTER_MESH = {"repair", "decimate"}


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    stages: list[StageSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self):
        names = [s.stage for s in self.stages]
        if any(names.count(n) > 1 for n in ("register", "mesh", "label", "write")):
            raise ValueError("register, mesh, label and write may each appear once")
        registered = meshed = False
        for i, name in enumerate(names):
            if name in _AFTER_REGISTER and not registered:
                raise ValueError(f"stages[{i}] ({name}) needs a register stage before it")
            if name in _AFTER_MESH and not meshed:
                raise ValueError(f"stages[{i}] ({name}) needs a mesh stage before it")
            registered |= name == "register"
            meshed |= name == "mesh"
        if names[-1] != "write":
            raise ValueError("a pipeline ends with a write stage")
        if "label" in names and names.index("label") != len(names) - 2:
            raise ValueError(
                f"stages[{names.index('label')}] (label) must come right before write: later stages would not "
                "carry the labels"
            )
        return self

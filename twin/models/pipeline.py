"""Pipeline specifications: ordered stages with validated parameters.

A pipeline YAML lists stages under ``stages:``; each item names its ``stage`` and its
parameters. Everything is checked before any work starts: an unknown stage, an unknown
or mistyped parameter, an impossible value, or stages in an order that cannot work.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, WrapValidator, model_validator
from pydantic_core import PydanticCustomError

Positive = Annotated[float, Field(gt=0)]

AUTO = "auto"


def auto_or(number: Any, allow_null: bool = False) -> Any:
    """A field that takes ``auto`` (derived from the measured point spacing and extent of
    the stage's input, see twin.ops.scale) or a value of type ``number``. A wrong number
    is refused with the message that ``number`` alone gives (``Input should be greater
    than 0``), not one message per member of the union. ``allow_null``: null, which such
    a field once meant "from the data", is read as ``auto``."""
    adapter = TypeAdapter(number)

    def validate(value: Any, handler: Any) -> Any:
        if (isinstance(value, str) and value == AUTO) or (allow_null and value is None):
            return AUTO
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                raise PydanticCustomError("auto_or_number", "Input should be a number or 'auto'") from None
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise PydanticCustomError(first["type"], first["msg"].replace("{", "{{").replace("}", "}}")) from None

    return Annotated[number | Literal["auto"], WrapValidator(validate)]


def is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == AUTO


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
    radius: auto_or(Annotated[float, Field(gt=0, le=10)], allow_null=True) = Field(
        default=AUTO, description="radius: search radius in metres, or auto: 1.5 x the median point spacing"
    )
    min_points: int = Field(default=4, ge=1, le=1000, description="radius: fewest neighbours to keep a point")


class DropFlaggedStage(_Stage):
    """Remove the points earlier stages flagged."""

    stage: Literal["drop_flagged"]


class VoxelDownsampleStage(_Stage):
    """One point per voxel: the mean of the voxel's points and attributes."""

    stage: Literal["voxel_downsample"]
    voxel_size: auto_or(Annotated[float, Field(gt=0, le=10)]) = Field(
        default=AUTO,
        description="metres, or auto: the median point spacing / sqrt(3), but at least the extent / max_voxels_across "
                    "and coarse enough to keep at most max_points",
    )
    max_voxels_across: int = Field(
        default=10_000, ge=10, le=1_000_000,
        description="auto: the most voxels along the largest side of the bounding box (a coarse preview: a few hundred)",
    )
    max_points: int | None = Field(
        default=4_000_000, ge=1_000,
        description="auto: the most points to keep (per cloud); the voxel grows until they fit, which bounds the "
                    "memory of the later stages whatever the survey's size; null: no limit",
    )


class NormalsStage(_Stage):
    """Normals by PCA of neighbours, oriented toward the scanner station where known."""

    stage: Literal["normals"]
    radius: auto_or(Annotated[float, Field(gt=0, le=10)]) = Field(
        default=AUTO, description="metres, or auto: 2.75 x the median point spacing"
    )
    max_neighbours: int = Field(default=30, ge=3, le=500)


class RegisterStage(_Stage):
    """Align every station to the reference station and merge them. Lengths are ``auto``
    by default: multiples of a working unit measured on the stations (their extent and
    point spacing; see twin.ops.registration.settings), so an object and a site need no
    edits; the values chosen are printed and recorded in provenance."""

    stage: Literal["register"]
    reference: str | None = Field(default=None, description="reference station (default: one with a CRS, else the first)")
    unit: auto_or(Annotated[float, Field(gt=0, le=100)]) = Field(
        default=AUTO, description="working unit in metres, or auto: max(extent / 450, 2.5 x point spacing)")
    coarse_voxel: auto_or(Annotated[float, Field(gt=0, le=100)]) = Field(
        default=AUTO, description="voxel of the coarse search, metres, or auto: 1.6 units")
    icp_voxels: auto_or(Annotated[list[Positive], Field(min_length=1)]) = Field(
        default=AUTO, description="pairwise ICP voxels coarse to fine, metres (distance 3 x voxel), or auto")
    min_overlap: float = Field(default=0.15, gt=0, le=1,
                               description="share of a station's points another must also see, for a link")
    min_fitness: float = Field(default=0.2, gt=0, le=1,
                               description="share of a station's points within reach of the others once placed")
    max_conflict: float = Field(default=0.12, ge=0, le=1,
                                description="share of a link's points lying where the other scanner saw through")
    max_rmse: auto_or(Annotated[float, Field(gt=0)]) = Field(
        default=AUTO, description="largest point-to-plane RMSE against the others, metres, or auto: 0.4 units")
    use_file_poses: bool = Field(default=True, description="start from E57 poses where the file has them")


class MeshStage(_Stage):
    """Surface reconstruction: screened Poisson with trimming, or ball pivoting."""

    stage: Literal["mesh"]
    method: Literal["poisson", "ball_pivoting"] = "poisson"
    depth: auto_or(Annotated[int, Field(ge=5, le=14)]) = Field(
        default=AUTO,
        description="poisson octree depth, or auto: the shallowest whose finest cell is at most cell_spacings point "
                    "spacings (in 6..13, with a warning where clamped)",
    )
    cell_spacings: float = Field(
        default=1.0, gt=0, le=16, description="poisson, depth auto: the finest cell in median point spacings"
    )
    max_cells: int | None = Field(
        default=20_000_000, ge=10_000,
        description="poisson, depth auto: at most this many finest cells on the surface (its area over a cell's "
                    "square), which bounds the octree's memory (about 0.3 GB per million) and the faces; null: no limit",
    )
    scale: float = Field(default=1.1, ge=1.0, le=2.0)
    density_quantile: float = Field(default=0.02, ge=0, lt=0.5, description="poisson: trim this share of lowest-density vertices")
    max_distance: auto_or(Positive, allow_null=True) = Field(
        default=AUTO,
        description="poisson: drop faces farther than this from any input point, metres, or auto: follow the local "
                    "point spacing along and across the scan lines",
    )
    radii: auto_or(Annotated[list[Positive], Field(min_length=1)], allow_null=True) = Field(
        default=AUTO, description="ball pivoting radii in metres, or auto: 1, 2 and 4 x 1.5 x the median point spacing"
    )


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
    faces: Literal["points", "centroid", "vertices"] = Field(
        default="points",
        description="a face's element: the one most of the cloud points nearest it carry (what the scanners saw "
                    "there), the one its centroid lies in, or the one two of its vertices share",
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

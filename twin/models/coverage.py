"""Coverage of a structure's footprint by a model's points, its occlusion holes, and the
scanner stations suggested to fill them (issue 16.2): what twin.ops.coverage measures and
``twin inventory status`` reports.

Coordinates and heights are in the model's CRS (the survey CRS), metres. Azimuths are
clockwise from grid north, in degrees; a direction is the 8-point compass name of one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CoverageSettings(BaseModel):
    """The lengths a measure used: each derived from the point spacing unless given."""

    spacing_m: float = Field(description="nearest-neighbour distance of the points near the footprint (its upper "
                                         "quartile: the sparser parts' spacing)")
    cell_m: float = Field(description="side of a raster cell on the walls and the roof")
    tolerance_m: float = Field(description="a wall cell is sampled by points within this distance of its plane")
    closing_cells: int = Field(description="gaps between samples up to twice this many cells are bridged")
    min_hole_area_m2: float = Field(description="smaller uncovered regions are not holes")
    rules: dict[str, str] = Field(default_factory=dict, description="how each length was chosen")


class WallFace(BaseModel):
    """One vertical face of the footprint (an edge of one of its rings) extruded from the
    ground in front of it to the wall's top."""

    index: int
    ring: int = Field(description="0: the first polygon's exterior, then its courtyards, then the next polygon's")
    start: tuple[float, float]
    end: tuple[float, float]
    length_m: float
    azimuth_deg: float = Field(description="the way the face looks (its outward normal)")
    direction: str
    ground_z: float
    top_z: float
    top_from: Literal["points", "other faces"] = Field(
        description="the top where the face's own points stop, or the other faces' (a face nobody saw)")
    area_m2: float
    covered_m2: float
    openings_m2: float = Field(description="not sampled but seen through (a door or window): not wall")
    coverage: float | None


class Hole(BaseModel):
    """A connected region of the walls or the roof that no point sampled (an opening seen
    through is not a hole)."""

    id: int
    surface: Literal["wall", "roof"]
    faces: list[int] = Field(default_factory=list, description="the wall faces it spans (wall holes)")
    direction: str | None = Field(default=None, description="compass way of the face holding most of it")
    azimuth_deg: float | None = None
    centroid: tuple[float, float, float]
    area_m2: float
    z_min: float
    z_max: float
    above_ground: tuple[float, float] = Field(description="its lowest and highest point above the ground, m")
    width_m: float = Field(description="along the wall (wall) or the longer side of its box (roof)")
    plan: list[list[tuple[float, float]]] = Field(
        default_factory=list, description="where it is on the plan: a segment of the outline per face it spans "
                                          "(wall), the outline of its cells (roof)")
    seen_by_suggested: float | None = Field(default=None, description="share of its area the suggested stations see")


class HoleSeen(BaseModel):
    hole: int
    share: float = Field(description="share of the hole's area this station sees")
    area_m2: float


class SuggestedStation(BaseModel):
    """Where a scanner would stand to see holes: its ground point and instrument height."""

    id: int
    x: float
    y: float
    ground_z: float
    scanner_z: float
    standoff_m: float = Field(description="distance in plan from the footprint")
    sees: list[HoleSeen]
    new_area_m2: float = Field(description="hole area it adds to the stations suggested before it")


class Coverage(BaseModel):
    """How much of a footprint's walls and roof a model's points sample."""

    crs_epsg: int | None = None
    model_key: str | None = None
    survey_id: str | None = None
    points: int = Field(description="points of the model near the footprint")
    settings: CoverageSettings
    walls: float | None = Field(description="share of the wall area (openings left out) sampled")
    roof: float | None = Field(description="share of the footprint's area seen from above sampled")
    wall_area_m2: float
    roof_area_m2: float
    openings_m2: float
    openings_detected: bool = Field(description="whether the scanner positions let openings be told from holes")
    faces: list[WallFace]
    holes: list[Hole]
    hole_area_m2: float
    stations: list[SuggestedStation] = Field(default_factory=list)
    unseen_holes: list[int] = Field(
        default_factory=list, description="holes no ground station reaches (a flat roof: an elevated scanner)")
    seconds: float = 0.0

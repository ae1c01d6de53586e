"""The site's own record, ``site.json``: which buildings stand where, their plots and
footprints, and which station files make the site's one survey.

Each building's full truth (station poses, truth mesh, element regions) is a sample
truth of its own (``<building>/truth/ground_truth.json``, twin.sample.truth), so every
check made on the pavilion can be made on each building. Paths in ``site.json`` are
relative to the site's root, the folder that holds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from twin.catalog.store import atomic_write_bytes
from twin.sample.truth import CRS, GroundTruth, RootedRecord, Vec3, load_truth

SITE_FORMAT = "twin-sample-site/1"
SITE_FILE = "site.json"
Vec2 = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rect(_Model):
    """An axis-aligned rectangle in UTM (plan)."""

    min: Vec2
    max: Vec2

    def overlaps(self, other: Rect) -> bool:
        """Whether the two share any area (touching edges do not count)."""
        return all(self.min[i] < other.max[i] and other.min[i] < self.max[i] for i in range(2))

    def contains(self, other: Rect) -> bool:
        return all(self.min[i] <= other.min[i] and other.max[i] <= self.max[i] for i in range(2))


class SiteStation(_Model):
    name: str  # b03-S2
    file: str  # relative to the site root
    point_count: int


class SiteBuilding(_Model):
    id: str  # b01, b02, ...
    truth: str  # its ground_truth.json, relative to the site root
    origin_utm: Vec3  # its truth's local frame is UTM minus this
    quarter_turns: int  # counter-clockwise, from the sample pavilion's orientation
    front_azimuth_deg: float  # grid azimuth its front (the pavilion's south side) faces
    scale: Vec3  # stretch along its own x, y, z against the sample pavilion
    plot_utm: Rect  # its courtyard
    footprint_utm: Rect  # everything built but the courtyard, in plan
    stations: list[SiteStation]


class SiteSurvey(_Model):
    id: str
    date: str


class Site(RootedRecord):
    format: Literal["twin-sample-site/1"] = SITE_FORMAT
    crs: CRS
    origin_utm: Vec3  # the site frame's zero: building 1's
    survey: SiteSurvey
    buildings: list[SiteBuilding]
    generator: dict

    _kind: ClassVar[str] = "site"

    def building(self, building_id: str) -> SiteBuilding:
        for b in self.buildings:
            if b.id == building_id:
                return b
        raise KeyError(f"no building {building_id!r} on the site (have {[b.id for b in self.buildings]})")

    def building_truth(self, building_id: str) -> GroundTruth:
        return load_truth(self.root / self.building(building_id).truth)

    def station_files(self) -> list[Path]:
        """Every station file of the survey, building by building."""
        return [self.root / st.file for b in self.buildings for st in b.stations]

    @property
    def point_count(self) -> int:
        return sum(st.point_count for b in self.buildings for st in b.stations)


def write_site(site: Site, path: str | os.PathLike[str]) -> None:
    text = json.dumps(site.model_dump(mode="json"), indent=1) + "\n"
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def load_site(path: str | os.PathLike[str]) -> Site:
    """Read ``site.json`` (or the folder holding it); paths resolve against its folder."""
    path = Path(path)
    if path.is_dir():
        path = path / SITE_FILE
    site = Site.model_validate_json(path.read_text(encoding="utf-8"))
    site._root = path.resolve().parent
    return site

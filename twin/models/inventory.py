"""The inventory of structures (issue 16): the record of one monument, the column mapping
of an inventory file, and what an import reports.

A record's geometries are GeoJSON objects in the coordinates of ``crs_epsg`` (a projected
CRS such as EPSG:32648 for Hue, or EPSG:4326): ``location`` a Point, ``footprint`` a
Polygon or MultiPolygon.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin.models.coverage import Coverage

# The properties of DCMI Metadata Terms (http://purl.org/dc/terms/): the keys a record's
# ``dc`` may hold.
DC_TERMS = frozenset(
    "abstract accessRights accrualMethod accrualPeriodicity accrualPolicy alternative audience available "
    "bibliographicCitation conformsTo contributor coverage created creator date dateAccepted dateCopyrighted "
    "dateSubmitted description educationLevel extent format hasFormat hasPart hasVersion identifier "
    "instructionalMethod isFormatOf isPartOf isReferencedBy isReplacedBy isRequiredBy issued isVersionOf "
    "language license mediator medium modified provenance publisher references relation replaces requires "
    "rights rightsHolder source spatial subject tableOfContents temporal title type valid".split()
)
_DC_BY_LOWER = {t.lower(): t for t in DC_TERMS}


def dc_term(name: str) -> str | None:
    """The DCMI term for ``name`` (``creator``, ``dc:creator``, ``dcterms:rightsHolder``,
    ``dc.creator``, case-insensitive), or None when it is not one."""
    for prefix in ("dcterms:", "dcterms.", "dcterms_", "dc:", "dc.", "dc_"):
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
            break
    return _DC_BY_LOWER.get(name.strip().lower())


# The fields a mapping can fill, in the order they are listed.
FIELDS: dict[str, str] = {
    "inventory_number": "the inventory number, unique in the workspace (required)",
    "id": "the structure id (default: the inventory number, lowercased, other characters as '-')",
    "name_vi": "the name in Vietnamese, with its diacritics (name_vi or name_en required)",
    "name_en": "the name in English",
    "type": "the kind of structure: gate, palace, pavilion, temple, tomb, ...",
    "designation": "the designation or protection level",
    "address": "the postal address",
    "site": "the site or quarter",
    "parent": "the complex it belongs to: the inventory number or structure id of another structure",
    "x": "easting (or longitude) of the location, in the CRS",
    "y": "northing (or latitude) of the location, in the CRS",
    "location": "the location as WKT or GeoJSON (a Point); a GeoJSON or GeoPackage feature's Point geometry",
    "footprint": "the footprint as WKT or GeoJSON (a Polygon or MultiPolygon); a feature's polygon geometry",
    "crs": "the CRS of this row's coordinates, e.g. EPSG:32648 (default: the file's, or the mapping's crs)",
}


class InventoryRecord(BaseModel):
    """One monument's inventory record, as checked on import and stored in the catalog."""

    model_config = ConfigDict(extra="forbid")

    inventory_number: str = Field(min_length=1)
    id: str
    name_vi: str | None = None
    name_en: str | None = None
    type: str | None = None
    designation: str | None = None
    address: str | None = None
    site: str | None = None
    parent_id: str | None = Field(default=None, description="structure id of the complex it belongs to")
    crs_epsg: int | None = None
    location: dict | None = Field(default=None, description="GeoJSON Point in crs_epsg")
    footprint: dict | None = Field(default=None, description="GeoJSON Polygon or MultiPolygon in crs_epsg")
    dc: dict[str, str] = Field(default_factory=dict, description="Dublin Core terms")

    @field_validator("dc")
    @classmethod
    def _dc_terms(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if k not in DC_TERMS)
        if bad:
            raise ValueError(f"not Dublin Core terms: {', '.join(bad)}")
        return dict(sorted(value.items()))


class InventoryEntry(InventoryRecord):
    """A record as ``twin inventory list`` shows it: with the catalog's own figures."""

    model_config = ConfigDict(extra="forbid")

    inventory_number: str | None = None  # a structure known only from its scans has none
    name: str | None = None
    surveys: int = 0
    updated_at: str | None = None


class RowProblem(BaseModel):
    """Why a row of an inventory file was refused. ``row`` counts data rows from 1 (the
    header is not a row); ``line`` is the CSV line (the header is line 1); 0 for the header."""

    row: int
    line: int | None = None
    inventory_number: str | None = None
    field: str | None = None
    message: str

    def text(self, unit: str = "row") -> str:
        where = "header" if self.row == 0 else f"{unit} {self.row}"
        if self.line is not None and self.row:
            where += f" (line {self.line})"
        number = f" [{self.inventory_number}]" if self.inventory_number else ""
        field = f" {self.field}:" if self.field else ""
        return f"{where}{number}:{field} {self.message}"


class ImportReport(BaseModel):
    """What ``twin inventory import`` did (or, refused, would not do)."""

    source: str
    sha256: str
    format: str
    rows: int
    imported: bool
    added: list[str] = Field(default_factory=list, description="inventory numbers")
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    skipped: list[RowProblem] = Field(default_factory=list, description="rows refused under --skip-invalid")
    problems: list[RowProblem] = Field(default_factory=list, description="why the file was refused")
    import_id: int | None = None
    seconds: float = 0.0


class HistoryEntry(BaseModel):
    import_id: int
    structure_id: str
    inventory_number: str
    action: str
    previous: dict
    new: dict
    source_name: str
    source_sha256: str
    changed_at: str


class SurveyDate(BaseModel):
    id: str
    date: str | None = None


class StructureStatus(BaseModel):
    """What the catalog says of one structure: derived, never typed in."""

    id: str
    inventory_number: str | None = None
    name: str | None = None
    type: str | None = None
    designation: str | None = None
    parent_id: str | None = None
    surveys: list[SurveyDate] = Field(default_factory=list)
    last_survey: str | None = Field(default=None, description="date of the latest survey")
    age_years: float | None = Field(default=None, description="years since the latest survey")
    models: int = 0
    layers_rev: int | None = None
    layers: dict[str, int] = Field(default_factory=dict, description="elements, phases, materials, metadata present")
    labelled_share: float | None = Field(default=None, description="share of the latest model's points labelled")
    last_comparison: dict | None = None
    coverage: Coverage | None = Field(default=None, description="of the footprint by the latest model: walls, roof, "
                                                                "holes, suggested stations")
    coverage_note: str | None = Field(default=None, description="why a structure with a footprint and a model has "
                                                                "no coverage")
    priority: list[str] = Field(default_factory=list,
                                description="never surveyed, stale, significant change, low coverage")


class ComplexStatus(BaseModel):
    id: str
    inventory_number: str | None = None
    name: str | None = None
    structures: int  # inside it, at any depth
    surveyed: int
    never_surveyed: int
    stale: int
    with_layers: int
    significant_change: int
    low_coverage: int = 0
    oldest_last_survey: str | None = None


class Priority(BaseModel):
    id: str
    inventory_number: str | None = None
    name: str | None = None
    reasons: list[str]
    last_survey: str | None = None
    age_years: float | None = None


class StatusReport(BaseModel):
    as_of: str
    stale_years: float
    change_share: float
    min_coverage: float | None = Field(default=None, description="walls sampled below this share: low coverage "
                                                                 "(None: coverage not measured)")
    structures: list[StructureStatus]
    complexes: list[ComplexStatus]
    priorities: list[Priority] = Field(description="structures with a reason, most urgent first")

"""What the catalog holds, as the CLI lists it and scripts read it (--json)."""

from __future__ import annotations

from pydantic import BaseModel


class StructureRecord(BaseModel):
    id: str
    name: str | None = None
    surveys: int = 0
    scans: int = 0
    created_at: str


class SurveyRecord(BaseModel):
    structure_id: str
    id: str
    date: str | None = None
    team: str | None = None
    instrument: str | None = None
    scans: int = 0
    points: int = 0
    created_at: str


class ScanRecord(BaseModel):
    id: int
    structure_id: str
    survey_id: str
    station: str
    sha256: str
    store_path: str
    original_name: str
    original_path: str
    format: str
    size_bytes: int
    point_count: int
    crs_epsg: int | None = None
    crs_name: str | None = None
    crs_source: str | None = None
    crs_override: bool = False
    capture_date: str | None = None
    ingested_at: str


class IngestSkip(BaseModel):
    path: str
    reason: str


class IngestReport(BaseModel):
    structure_id: str
    survey_id: str
    added: list[ScanRecord]
    skipped: list[IngestSkip]


class FixityProblem(BaseModel):
    scan_id: int
    store_path: str
    problem: str  # "missing" or "changed"
    expected_sha256: str
    actual_sha256: str | None = None


class VerifyReport(BaseModel):
    workspace: str
    checked: int
    problems: list[FixityProblem]

    @property
    def ok(self) -> bool:
        return not self.problems

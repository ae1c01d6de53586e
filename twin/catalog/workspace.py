"""Opening, creating and listing a workspace."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.engine import Engine

from twin.catalog import db
from twin.catalog.address import CatalogAddress, parse_catalog_url, sqlite_address, workspace_address
from twin.catalog.settings import (
    CATALOG_FILE,
    SETTINGS_FILE,
    STORE_DIR,
    WorkspaceSettings,
    find_workspace,
    load_settings,
)
from twin.catalog.store import RawStore
from twin.io.atomic import atomic_write_bytes
from twin.errors import NotFoundError, UsageError, WorkspaceError
from twin.models.catalog import ScanRecord, StructureRecord, SurveyRecord


@dataclass
class Workspace:
    root: Path
    settings: WorkspaceSettings

    @classmethod
    def open(cls, start: Path | None = None) -> Workspace:
        root = find_workspace(start)
        return cls(root, load_settings(root))

    @property
    def catalog(self) -> CatalogAddress:
        """Where the catalog is: catalog.sqlite here, or the PostgreSQL database twin.yaml names."""
        return workspace_address(self.root, self.settings.catalog, CATALOG_FILE, SETTINGS_FILE)

    @cached_property
    def engine(self) -> Engine:
        return db.open_catalog(self.catalog)

    @property
    def raw_store(self) -> RawStore:
        return RawStore(self.root / STORE_DIR)

    # -- listing ---------------------------------------------------------------------

    def structures(self) -> list[StructureRecord]:
        s, sv, sc = db.structures, db.surveys, db.scans
        n_surveys = select(func.count()).where(sv.c.structure_id == s.c.id).scalar_subquery()
        n_scans = select(func.count()).where(sc.c.structure_id == s.c.id).scalar_subquery()
        query = select(s, n_surveys.label("n_surveys"), n_scans.label("n_scans")).order_by(s.c.id)
        with self.engine.connect() as conn:
            return [
                StructureRecord(
                    id=r.id, name=r.name, surveys=r.n_surveys, scans=r.n_scans, created_at=_iso(r.created_at)
                )
                for r in conn.execute(query)
            ]

    def surveys(self, structure_id: str) -> list[SurveyRecord]:
        self.require_structure(structure_id)
        sv, sc = db.surveys, db.scans
        match = (sc.c.structure_id == sv.c.structure_id) & (sc.c.survey_id == sv.c.id)
        n_scans = select(func.count()).where(match).scalar_subquery()
        n_points = select(cast(func.coalesce(func.sum(sc.c.point_count), 0), BigInteger)).where(match).scalar_subquery()
        query = (
            select(sv, n_scans.label("n_scans"), n_points.label("n_points"))
            .where(sv.c.structure_id == structure_id)
            .order_by(sv.c.date.asc().nulls_first(), sv.c.id)  # SQLite's order on PostgreSQL too
        )
        with self.engine.connect() as conn:
            return [
                SurveyRecord(
                    structure_id=r.structure_id,
                    id=r.id,
                    date=r.date,
                    team=r.team,
                    instrument=r.instrument,
                    scans=r.n_scans,
                    points=r.n_points,
                    created_at=_iso(r.created_at),
                )
                for r in conn.execute(query)
            ]

    def scans(self, structure_id: str | None = None, survey_id: str | None = None) -> list[ScanRecord]:
        sc = db.scans
        query = select(sc).order_by(sc.c.structure_id, sc.c.survey_id, sc.c.station)
        if structure_id is not None:
            self.require_structure(structure_id)
            query = query.where(sc.c.structure_id == structure_id)
        if survey_id is not None:
            query = query.where(sc.c.survey_id == survey_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        if structure_id is not None and survey_id is not None and not rows:
            self.require_survey(structure_id, survey_id)
        return [scan_record(r) for r in rows]

    def require_structure(self, structure_id: str) -> None:
        with self.engine.connect() as conn:
            found = conn.execute(select(db.structures.c.id).where(db.structures.c.id == structure_id)).first()
        if not found:
            known = ", ".join(s.id for s in self.structures()) or "none yet"
            raise NotFoundError(f"no structure {structure_id!r} in {self.root} (known: {known})")

    def require_survey(self, structure_id: str, survey_id: str) -> None:
        self.require_structure(structure_id)
        sv = db.surveys
        with self.engine.connect() as conn:
            found = conn.execute(
                select(sv.c.id).where((sv.c.structure_id == structure_id) & (sv.c.id == survey_id))
            ).first()
        if not found:
            known = ", ".join(s.id for s in self.surveys(structure_id)) or "none yet"
            raise NotFoundError(f"no survey {survey_id!r} of structure {structure_id!r} (known: {known})")


def init_workspace(root: Path, name: str | None = None, organisation: str | None = None,
                   catalog: str | None = None, **details) -> Workspace:
    """Create the settings file, the catalog and the store in ``root``. ``catalog`` is the URL of
    an empty PostgreSQL database for a team catalog (default: catalog.sqlite in ``root``).
    ``details`` are further :class:`WorkspaceSettings` fields (contact_name, contact_email,
    organisation_address, base_uri); a bad one is a UsageError naming it.

    Refuses a folder that already is a workspace. The catalog is built in one transaction (a
    SQLite one under a temporary name, renamed last) that commits only once the settings are
    written: a failed init, a bad or unreachable catalog URL included, leaves nothing behind.
    """
    root = Path(root).resolve()
    if (root / SETTINGS_FILE).exists() or (root / CATALOG_FILE).exists():
        raise WorkspaceError(f"{root} is already a twin workspace; nothing changed")
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder")
    address = parse_catalog_url(catalog) if catalog is not None else None
    settings = _settings(name or root.name, organisation, address, details)
    made = [p for p in (root, root / STORE_DIR) if not p.exists()]  # what to remove on failure
    tmp_catalog = root / f".{CATALOG_FILE}.creating"
    try:
        (root / STORE_DIR / "raw").mkdir(parents=True, exist_ok=True)
        tmp_catalog.unlink(missing_ok=True)
        with db.new_catalog(address or sqlite_address(tmp_catalog)):
            atomic_write_bytes(root / SETTINGS_FILE, settings.to_yaml().encode("utf-8"))
        if address is None:
            tmp_catalog.replace(root / CATALOG_FILE)
    except BaseException:
        for path in (tmp_catalog, root / CATALOG_FILE, root / SETTINGS_FILE):
            path.unlink(missing_ok=True)
        if made:
            import shutil  # noqa: PLC0415

            shutil.rmtree(made[0], ignore_errors=True)
        raise
    return Workspace(root, settings)


def _settings(name: str, organisation: str | None, address: CatalogAddress | None, details: dict) -> WorkspaceSettings:
    try:
        return WorkspaceSettings(name=name, organisation=organisation, catalog=address.shown if address else None,
                                 **{k: v for k, v in details.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        raise UsageError(message if first["loc"] and str(first["loc"][0]) in message
                         else f"{'.'.join(map(str, first['loc'])) or 'settings'}: {message}") from None


def scan_record(row) -> ScanRecord:
    data = dict(row)
    data["ingested_at"] = _iso(data["ingested_at"])
    return ScanRecord.model_validate({k: v for k, v in data.items() if k in ScanRecord.model_fields})


def _iso(value) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)

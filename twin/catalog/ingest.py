"""Ingest: validate scans completely, copy them into the store, register them in one transaction.

Nothing is changed unless every file given is good: a batch with one bad file is
refused whole, so the catalog and the store stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from twin.catalog import db
from twin.catalog.ids import check_identifier
from twin.catalog.store import file_digest
from twin.catalog.workspace import Workspace, scan_record
from twin.errors import ScanReadError, TwinError, UsageError
from twin.io.crs import parse_user_crs
from twin.io.registry import inspect_scan, supported_extensions
from twin.models.catalog import IngestReport, IngestSkip
from twin.models.scan import CRSInfo, ScanInfo


class IngestRefused(ScanReadError):
    """One or more files cannot be ingested; ``problems`` has one line per file."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more file(s); nothing was ingested)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


@dataclass
class IngestProgress:
    """Callbacks the CLI uses to draw a progress bar; all optional."""

    start: Callable[[str, int], None] = lambda phase, total: None  # phase, total bytes
    advance: Callable[[int], None] = lambda nbytes: None


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files as given, and the scan files inside any folder (recursively, sorted)."""
    exts = set(supported_extensions())
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in exts)
            if not found:
                raise ScanReadError(f"{path}: the folder holds no scan files ({', '.join(sorted(exts))})")
            files.extend(found)
        else:
            files.append(path)
    return files


def ingest(
    ws: Workspace,
    paths: list[Path],
    structure_id: str,
    survey_id: str,
    station: str | None = None,
    crs: str | None = None,
    survey_date: str | None = None,
    progress: IngestProgress | None = None,
) -> IngestReport:
    progress = progress or IngestProgress()
    check_identifier(structure_id, "structure")
    check_identifier(survey_id, "survey")
    override = parse_user_crs(crs) if crs else None
    files = expand_inputs([Path(p) for p in paths])
    if station is not None and len(files) > 1:
        raise UsageError(
            f"--station names one station but {len(files)} files were given; "
            "leave it out and each file's name (without extension) becomes its station"
        )
    stations = [check_identifier(station or f.stem, "station") for f in files]
    duplicates = {s for s in stations if stations.count(s) > 1}
    if duplicates:
        raise UsageError(f"two files would be station {sorted(duplicates)[0]!r}; rename one of them")

    # 1. Read every point of every file: refuse the batch if any is bad.
    infos: list[ScanInfo] = []
    problems: list[str] = []
    progress.start("checking", sum(f.stat().st_size for f in files if f.is_file()))
    for f in files:
        try:
            infos.append(inspect_scan(f, stats=True))
        except TwinError as exc:
            problems.append(str(exc))
        if f.is_file():
            progress.advance(f.stat().st_size)
    if problems:
        raise IngestRefused(problems)

    # 2. Hash; files already in the catalog are skipped, with where they are.
    progress.start("hashing", sum(f.stat().st_size for f in files))
    digests = [file_digest(f, progress=progress.advance) for f in files]
    sc = db.scans
    with ws.engine.connect() as conn:
        existing = {
            r.sha256: r
            for r in conn.execute(select(sc).where(sc.c.sha256.in_(digests)))
        }
        taken = {
            r.station: r.sha256
            for r in conn.execute(
                select(sc.c.station, sc.c.sha256).where(
                    (sc.c.structure_id == structure_id) & (sc.c.survey_id == survey_id)
                )
            )
        }
    skipped: list[IngestSkip] = []
    todo = []
    for f, digest, info, st in zip(files, digests, infos, stations):
        if digest in existing:
            r = existing[digest]
            skipped.append(
                IngestSkip(path=str(f), reason=f"already ingested as {r.structure_id}/{r.survey_id}/{r.station}")
            )
        elif st in taken:
            problems.append(
                f"{f}: station {st!r} of {structure_id}/{survey_id} already holds another scan; "
                "choose another --station"
            )
        else:
            todo.append((f, digest, info, st))
    if problems:
        raise IngestRefused(problems)

    if not todo:
        return IngestReport(structure_id=structure_id, survey_id=survey_id, added=[], skipped=skipped)

    # 3. Copy into the store, then register everything in one transaction.
    store = ws.raw_store
    added_blobs: list[Path] = []
    rows = []
    progress.start("storing", sum(f.stat().st_size for f, *_ in todo))
    try:
        for f, digest, info, st in todo:
            stored, is_new = store.add(f, digest, progress=progress.advance)
            if is_new:
                added_blobs.append(stored)
            rows.append(_scan_row(ws, f, digest, info, st, stored, override, structure_id, survey_id))
        with db.transaction(ws.engine) as conn:
            _ensure_structure_and_survey(conn, structure_id, survey_id, survey_date, infos)
            conn.execute(sc.insert(), rows)
            added = [
                scan_record(r)
                for r in conn.execute(
                    select(sc).where(sc.c.sha256.in_([row["sha256"] for row in rows])).order_by(sc.c.station)
                ).mappings()
            ]
    except BaseException:
        for blob in added_blobs:
            store.remove(blob)
        raise
    return IngestReport(structure_id=structure_id, survey_id=survey_id, added=added, skipped=skipped)


def _scan_row(ws, f: Path, digest: str, info: ScanInfo, station: str, stored: Path,
              override: CRSInfo | None, structure_id: str, survey_id: str) -> dict:
    crs = override or info.crs
    return {
        "structure_id": structure_id,
        "survey_id": survey_id,
        "station": station,
        "sha256": digest,
        "store_path": str(stored.relative_to(ws.root)),
        "original_name": f.name,
        "original_path": str(f.resolve()),
        "format": info.format,
        "size_bytes": info.size_bytes,
        "point_count": info.point_count,
        "crs_epsg": crs.epsg,
        "crs_name": crs.name,
        "crs_wkt": crs.wkt,
        "crs_source": crs.source,
        "crs_override": override is not None,
        "capture_date": info.capture_date,
        "header_json": info.model_dump_json(),
        "ingested_at": db.now(),
    }


def _ensure_structure_and_survey(conn, structure_id, survey_id, survey_date, infos) -> None:
    s, sv = db.structures, db.surveys
    if not conn.execute(select(s.c.id).where(s.c.id == structure_id)).first():
        conn.execute(s.insert().values(id=structure_id, name=structure_id, created_at=db.now()))
    found = conn.execute(
        select(sv.c.id).where((sv.c.structure_id == structure_id) & (sv.c.id == survey_id))
    ).first()
    if not found:
        dates = sorted(i.capture_date for i in infos if i.capture_date)
        conn.execute(
            sv.insert().values(
                structure_id=structure_id,
                id=survey_id,
                date=survey_date or (dates[0] if dates else None),
                created_at=db.now(),
            )
        )

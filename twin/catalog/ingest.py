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
from twin.io.crs import crs_contradiction, parse_user_crs
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
    if override is None:  # a CRS the coordinates contradict is refused unless --crs replaces it
        for f, info in zip(files, infos):
            problem = _crs_problem(info)
            if problem:
                problems.append(f"{f}: {problem}; give the right coordinate system with --crs EPSG:NNNN")
    if problems:
        raise IngestRefused(problems)

    # 2. Hash; files already in the catalog are skipped, with where they are.
    progress.start("hashing", sum(f.stat().st_size for f in files))
    digests = [file_digest(f, progress=progress.advance) for f in files]
    with ws.engine.connect() as conn:
        skipped, todo = _triage(conn, files, digests, infos, stations, structure_id, survey_id)
    if not todo:
        return IngestReport(structure_id=structure_id, survey_id=survey_id, added=[], skipped=skipped)

    # 3. Copy into the store, then register everything in one transaction. That transaction
    # holds the catalog's write lock from its first read: a process ingesting the same files
    # at the same time waits, then finds them registered and answers as a sequential rerun.
    store = ws.raw_store
    added_blobs: list[Path] = []
    progress.start("storing", sum(f.stat().st_size for f, *_ in todo))
    try:
        for f, digest, _info, _st in todo:
            stored, is_new = store.add(f, digest, progress=progress.advance)
            if is_new:
                added_blobs.append(stored)
        with db.transaction(ws.engine, immediate=True) as conn:
            todo_files = [t[0] for t in todo]
            late_skips, todo = _triage(conn, todo_files, [t[1] for t in todo], [t[2] for t in todo],
                                       [t[3] for t in todo], structure_id, survey_id)
            skipped += late_skips
            rows = []
            for f, digest, info, st in todo:
                stored, _ = store.add(f, digest)  # present unless a failed peer just removed its copy
                rows.append(_scan_row(ws, f, digest, info, st, stored, override, structure_id, survey_id))
            if rows:
                _ensure_structure_and_survey(conn, structure_id, survey_id, survey_date, infos)
                conn.execute(db.scans.insert(), rows)
            added = [
                scan_record(r)
                for r in conn.execute(
                    select(db.scans).where(db.scans.c.sha256.in_([row["sha256"] for row in rows]))
                    .order_by(db.scans.c.station)
                ).mappings()
            ]
            _drop_unreferenced(conn, store, added_blobs)  # blobs that only a skipped file brought
    except BaseException:
        _undo_blobs(ws, store, added_blobs)
        raise
    return IngestReport(structure_id=structure_id, survey_id=survey_id, added=added, skipped=skipped)


def _triage(conn, files, digests, infos, stations, structure_id, survey_id):
    """(skipped, todo): files the catalog already holds are skipped with where they are; a
    station that already holds another scan refuses the batch."""
    sc = db.scans
    existing = {r.sha256: r for r in conn.execute(select(sc).where(sc.c.sha256.in_(digests)))}
    taken = {
        r.station: r.sha256
        for r in conn.execute(
            select(sc.c.station, sc.c.sha256).where((sc.c.structure_id == structure_id) & (sc.c.survey_id == survey_id))
        )
    }
    skipped: list[IngestSkip] = []
    todo = []
    problems: list[str] = []
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
    return skipped, todo


def _undo_blobs(ws: Workspace, store, blobs: list[Path]) -> None:
    """After a failed ingest: drop the blobs it copied in that no catalog row refers to;
    when the catalog cannot even be asked, drop them all (nothing of this ingest committed)."""
    try:
        with db.transaction(ws.engine, immediate=True) as conn:
            _drop_unreferenced(conn, store, blobs)
        return
    except Exception:  # noqa: BLE001 - the first error is the one to report
        pass
    for blob in blobs:
        try:
            store.remove(blob)
        except OSError:
            pass


def _drop_unreferenced(conn, store, blobs: list[Path]) -> None:
    """Remove the blobs this ingest copied in that no catalog row refers to (run under the write lock)."""
    if not blobs:
        return
    names = {Path(b).name.split(".")[0] for b in blobs}
    kept = {r.sha256 for r in conn.execute(select(db.scans.c.sha256).where(db.scans.c.sha256.in_(names)))}
    for blob in blobs:
        if Path(blob).name.split(".")[0] not in kept:
            store.remove(blob)


def _crs_problem(info: ScanInfo) -> str | None:
    bounds = info.stats.bounds if info.stats and info.stats.bounds else info.bounds
    if bounds is None:
        return None
    return crs_contradiction(info.crs, bounds.min, bounds.max)


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

"""Fixity: re-hash every stored raw file and compare with the catalog."""

from __future__ import annotations

from collections.abc import Callable

from twin.catalog.store import file_digest
from twin.catalog.workspace import Workspace
from twin.models.catalog import FixityProblem, VerifyReport


def verify_workspace(ws: Workspace, advance: Callable[[int], None] | None = None) -> VerifyReport:
    problems: list[FixityProblem] = []
    records = ws.scans()
    for rec in records:
        path = ws.root / rec.store_path
        if not path.is_file():
            problems.append(
                FixityProblem(scan_id=rec.id, store_path=rec.store_path, problem="missing", expected_sha256=rec.sha256)
            )
            continue
        actual = file_digest(path, progress=advance)
        if actual != rec.sha256:
            problems.append(
                FixityProblem(
                    scan_id=rec.id,
                    store_path=rec.store_path,
                    problem="changed",
                    expected_sha256=rec.sha256,
                    actual_sha256=actual,
                )
            )
    return VerifyReport(workspace=str(ws.root), checked=len(records), problems=problems)

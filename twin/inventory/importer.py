"""``twin inventory import``: read, check and write an inventory file in one transaction.

The file is read and every row checked against the catalog inside one transaction that
holds the catalog's write lock; if any row is refused (and ``skip_invalid`` is not set)
the transaction is rolled back and the workspace is exactly as it was.
"""

from __future__ import annotations

import time
from pathlib import Path

from twin.catalog import db
from twin.catalog import inventory as catalog_inventory
from twin.errors import SpecError
from twin.inventory.check import Catalogued, check
from twin.inventory.mapping import load_mapping, resolve
from twin.inventory.sources import read_source
from twin.models.inventory import ImportReport, RowProblem


class InventoryRefused(SpecError):
    """Rows of an inventory file were refused and nothing was imported. ``problems`` is the
    block the CLI prints: a summary line, then one line per problem with its row number."""

    def __init__(self, report: ImportReport, unit: str = "row"):
        self.report = report
        n_rows = len({p.row for p in report.problems if p.row})
        header = any(p.row == 0 for p in report.problems)
        what = f"{n_rows} of {report.rows} {unit}s refused" if n_rows else "the header is refused"
        if n_rows and header:
            what += " and the header too"
        hint = "; fix them, or import the others with --skip-invalid" if n_rows and not header else "; fix them"
        self.problems = [f"{report.source}: {what}, nothing imported{hint}", *problem_lines(report.problems, unit)]
        super().__init__(self.problems[0])


def problem_lines(problems: list[RowProblem], unit: str = "row", limit: int = 200) -> list[str]:
    """One line per problem, by row; a problem that many rows share (the same field and
    message) is one line naming the rows, and beyond ``limit`` lines the rest is counted."""
    groups: dict[tuple, list[RowProblem]] = {}
    for p in problems:
        groups.setdefault((p.field, p.message), []).append(p)
    lines: list[tuple[int, str]] = []
    for (field, message), same in groups.items():
        if len(same) > 3:
            field_text = f" {field}:" if field else ""
            lines.append((same[0].row, f"  {unit}s {_ranges([p.row for p in same])} ({len(same)} {unit}s):"
                                       f"{field_text} {message}"))
        else:
            lines.extend((p.row, f"  {p.text(unit)}") for p in same)
    lines.sort(key=lambda item: item[0])
    out = [text for _, text in lines[:limit]]
    if len(lines) > limit:
        out.append(f"  ... and {len(lines) - limit} more (--json lists every problem)")
    return out


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 5, 7, 8 -> 1-3, 5, 7-8."""
    numbers = sorted(set(numbers))
    parts, start = [], numbers[0]
    for prev, cur in zip(numbers, [*numbers[1:], None]):
        if cur != prev + 1 if cur is not None else True:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = cur
    return ", ".join(parts)


def import_inventory(ws, path: Path, mapping_path: Path | None = None, skip_invalid: bool = False) -> ImportReport:
    started = time.perf_counter()
    mapping = load_mapping(mapping_path)
    source = read_source(Path(path), layer=mapping.layer)
    resolved = resolve(mapping, source.columns, str(source.path))
    report = ImportReport(source=str(source.path), sha256=source.sha256, format=source.format,
                          rows=len(source.rows), imported=False)
    with db.transaction(ws.engine, immediate=True) as conn:
        existing = catalog_inventory.catalog_rows(conn)
        catalog = Catalogued(
            by_number={r["inventory_number"]: sid for sid, r in existing.items() if r["inventory_number"]},
            numbers={sid: r["inventory_number"] for sid, r in existing.items()},
            parents={sid: r["parent_id"] for sid, r in existing.items()},
        )
        checked = check(source, resolved, mapping, catalog, skip_invalid=skip_invalid)
        header_problems = [p for p in checked.problems if p.row == 0]
        if header_problems or (checked.problems and not skip_invalid):
            report.problems = checked.problems
            report.seconds = round(time.perf_counter() - started, 3)
            raise InventoryRefused(report, source.unit)  # leaving the block rolls the transaction back
        report.skipped = checked.problems
        import_id = catalog_inventory.begin_import(conn, source_name=source.path.name, sha256=source.sha256,
                                                   fmt=source.format, mapping_json=mapping.canonical_json())
        added, updated, unchanged = catalog_inventory.write_records(conn, import_id, source.sha256,
                                                                    checked.records, existing)
        catalog_inventory.finish_import(conn, import_id, len(added), len(updated), len(unchanged),
                                        len(checked.refused_rows))
    report.imported = True
    report.import_id = import_id
    report.added, report.updated, report.unchanged = added, updated, unchanged
    report.seconds = round(time.perf_counter() - started, 3)
    return report

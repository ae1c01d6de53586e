"""Delimited text point files: XYZ, PTS, TXT and CSV.

Layout, decided from the first lines:

- Values are separated by semicolons, commas or whitespace, tried in that order on the
  first data row (decimal commas are not supported).
- Lines starting with ``#`` or ``//`` before the data are comments. The last line
  before the data may name the columns ("x y z r g b", "//X,Y,Z,R,G,B,Intensity");
  names map to chunk keys case-insensitively (x/y/z, r/g/b or red/green/blue,
  nx/ny/nz, intensity/i, classification) and other names become extra dimensions.
- PTS convention: a first data line holding one whole number is the point count;
  the rows follow. Fewer rows than declared is an error (truncated file).
- Without a header line the column count decides (the common exports' orders):

  ======= ===========================================
  columns meaning
  ======= ===========================================
  3       x y z
  4       x y z intensity
  6       x y z red green blue
  7       x y z intensity red green blue (PTS)
  9       x y z red green blue nx ny nz
  10      x y z intensity red green blue nx ny nz
  other   x y z, then extras column4, column5, ...
  ======= ===========================================

  Colours must lie in 0..65535 (above 255 means 16-bit); otherwise reading stops
  with a hint to add a header line. PTS intensity (-2048..2047) is kept as stored.

Rows are parsed in batches, so large files stream; a bad row is reported by line number.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.errors import ScanReadError
from twin.io._common import (
    FieldPlan,
    build_chunk,
    count_nonblank_lines,
    guarded,
    iter_rows,
    plan_fields,
    split_tokens,
)
from twin.io.base import DEFAULT_CHUNK_POINTS, Chunk, ScanFormat
from twin.models.scan import ScanInfo

_BY_COUNT = {
    3: ["x", "y", "z"],
    4: ["x", "y", "z", "intensity"],
    6: ["x", "y", "z", "red", "green", "blue"],
    7: ["x", "y", "z", "intensity", "red", "green", "blue"],
    9: ["x", "y", "z", "red", "green", "blue", "nx", "ny", "nz"],
    10: ["x", "y", "z", "intensity", "red", "green", "blue", "nx", "ny", "nz"],
}
_HEAD_BYTES = 1 << 16
_MAX_LEADING_LINES = 50
_COMMENT = ("#", "//")


@dataclass
class _Layout:
    names: list[str]
    from_header: bool
    delimiter: str | None
    data_line: int  # 0-based index of the first data row
    data_offset: int  # its byte offset
    declared: int | None  # PTS point count


def _delimiter(line: str) -> str | None:
    return ";" if ";" in line else "," if "," in line else None


def _numbers(line: str) -> list[float] | None:
    try:
        return [float(t) for t in split_tokens(line, _delimiter(line))]
    except ValueError:
        return None


def _header_names(text: str, ncols: int, delimiter: str | None) -> list[str] | None:
    body = text.lstrip("/#").strip()
    for tokens in (split_tokens(body, delimiter), body.split()):
        names = [t.strip("\"'") for t in tokens]
        if len(names) == ncols and all(names) and _numbers(" ".join(names)) is None:
            return names
    return None


def _layout(lines: list[str]) -> _Layout | str:
    """The layout of a text point file from its first lines (kept line endings), or why not."""
    leading: list[tuple[int, str]] = []
    rows = [(i, line.strip()) for i, line in enumerate(lines) if line.strip()]
    for k, (index, text) in enumerate(rows):
        values = _numbers(text)
        if values is None:
            leading.append((index, text))
            if len(leading) > _MAX_LEADING_LINES:
                return f"no numeric rows in the first {_MAX_LEADING_LINES} lines"
            continue
        declared = None
        if len(values) == 1 and k + 1 < len(rows) and values[0].is_integer() and values[0] >= 0:
            declared = int(values[0])  # PTS: a point count, then the rows
            index, text = rows[k + 1]
            values = _numbers(text)
            if values is None:
                return f"line {index + 1} after the point count is not numeric ({text[:40]!r})"
        if len(values) < 3:
            return f"line {index + 1} holds {len(values)} value(s); at least x, y and z are needed"
        delimiter = _delimiter(text)
        names = None
        for n, (lead_index, lead_text) in enumerate(leading):
            if n == len(leading) - 1:
                names = _header_names(lead_text, len(values), delimiter)
            if names is None and not lead_text.startswith(_COMMENT):
                return (
                    f"line {lead_index + 1} ({lead_text[:40]!r}) is neither a header naming the "
                    f"{len(values)} columns nor a '#' comment"
                )
        from_header = names is not None
        if names is None:
            names = _BY_COUNT.get(len(values)) or ["x", "y", "z"] + [f"column{c}" for c in range(4, len(values) + 1)]
        offset = sum(len(line.encode("latin-1")) for line in lines[:index])
        return _Layout(names, from_header, delimiter, index, offset, declared)
    return "no numeric rows found"


def _head_lines(head: bytes, complete: bool) -> list[str]:
    lines = list(io.TextIOWrapper(io.BytesIO(head), encoding="latin-1", newline=""))
    if not complete and lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()  # cut off by the head's size
    return lines


def _looks_like_text(head: bytes) -> bool:
    """No NUL bytes and at least 95 % printable ASCII (a header may hold a few UTF-8 names)."""
    if not head or b"\x00" in head:
        return False
    data = np.frombuffer(head, dtype=np.uint8)
    printable = ((data >= 32) & (data < 127)) | (data == 9) | (data == 10) | (data == 13)
    return bool(printable.mean() >= 0.95)


class TextFormat(ScanFormat):
    """One of the text flavours; they share the reader and differ in name and extensions."""

    def __init__(self, name: str, extensions: tuple[str, ...]) -> None:
        self.name = name
        self.extensions = extensions

    def sniff(self, head: bytes) -> bool:
        if not _looks_like_text(head):
            return False
        return isinstance(_layout(_head_lines(head, complete=len(head) < 4096)), _Layout)

    def _read_layout(self, path: Path) -> tuple[_Layout, FieldPlan]:
        try:
            with path.open("rb") as fh:
                head = fh.read(_HEAD_BYTES)
        except OSError as exc:
            raise ScanReadError(f"{path}: cannot open the file ({exc.strerror or exc})") from exc
        layout = _layout(_head_lines(head, complete=len(head) < _HEAD_BYTES))
        if isinstance(layout, str):
            raise ScanReadError(f"{path}: not a readable {self.name.upper()} point file: {layout}")
        names = [n.encode("latin-1").decode("utf-8", errors="replace") for n in layout.names]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ScanReadError(f"{path}: the header line names the column(s) {', '.join(twice)} twice; rename them")
        plan = plan_fields(names)
        if plan.xyz is None:
            raise ScanReadError(
                f"{path}: the header line names no x, y and z columns ({', '.join(names)}); "
                "name the coordinate columns x, y and z"
            )
        layout.names = names
        return layout, plan

    def _count_rows(self, path: Path, layout: _Layout) -> int:
        with path.open("rb") as fh:
            fh.seek(layout.data_offset)
            count = count_nonblank_lines(fh)
        if layout.declared is not None and count < layout.declared:
            raise ScanReadError(
                f"{path}: the PTS header declares {layout.declared:,} points but the file holds only "
                f"{count:,} rows; it is truncated"
            )
        return count

    def inspect(self, path: Path) -> ScanInfo:
        layout, plan = self._read_layout(path)
        count = self._count_rows(path, layout)
        warnings = []
        if layout.declared is not None and count != layout.declared:
            warnings.append(f"the PTS header declares {layout.declared:,} points but the file holds {count:,} rows")
        if not layout.from_header and len(layout.names) > 3:
            warnings.append(
                f"no header line: the {len(layout.names)} columns are read as {' '.join(layout.names)}; "
                "add a header line naming them if that is wrong"
            )
        return ScanInfo(
            path=str(path),
            format=self.name,
            size_bytes=path.stat().st_size,
            encoding="ascii",
            point_count=count,
            dimensions=list(layout.names),
            extra_dimensions=plan.extra_names,
            **plan.has_flags,
            warnings=warnings,
        )

    def iter_chunks(self, path: Path, chunk_points: int = DEFAULT_CHUNK_POINTS) -> Iterator[Chunk]:
        layout, plan = self._read_layout(path)
        yield from guarded(path, self.name.upper(), self._chunks(path, layout, plan, chunk_points))

    def _chunks(self, path: Path, layout: _Layout, plan: FieldPlan, chunk_points: int) -> Iterator[Chunk]:
        ncols = len(layout.names)
        delivered = 0
        with path.open("rb") as raw:
            raw.seek(layout.data_offset)
            fh = io.TextIOWrapper(raw, encoding="latin-1", newline="")
            first = layout.data_line + 1
            for rows in iter_rows(path, fh, first, ncols, layout.delimiter, chunk_points):
                delivered += len(rows)
                yield build_chunk(path, {name: rows[:, i] for i, name in enumerate(layout.names)}, plan)
        if layout.declared is not None and delivered < layout.declared:
            raise ScanReadError(
                f"{path}: the PTS header declares {layout.declared:,} points but the file holds only "
                f"{delivered:,} rows; it is truncated"
            )


FORMATS = [
    TextFormat("xyz", (".xyz",)),
    TextFormat("pts", (".pts",)),
    TextFormat("txt", (".txt", ".csv")),
]

"""Helpers shared by the E57, PLY, PCD and text readers.

- :func:`plan_fields` maps a file's field names to the standard chunk keys (``xyz``,
  ``rgb``, ``normals``, ``intensity``, ``classification``, ``point_source_id``);
  every other field becomes an extra dimension under its own name.
- :func:`build_chunk` turns named columns into a chunk following such a plan.
- :func:`iter_rows` parses numeric text rows in batches with errors that name the line.
- :func:`rgb_to_uint8` is the one place that decides how colours become 8-bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, TypeVar

import numpy as np

from twin.errors import ScanContentError, ScanReadError, TwinError
from twin.io.base import Chunk

T = TypeVar("T")

# Chunk keys a reader fills itself; an extra dimension of the same name is renamed.
RESERVED_KEYS = frozenset(
    {"xyz", "rgb", "normals", "intensity", "classification", "point_source_id", "scan_index", "flags"}
)

# Role -> accepted field names, compared after normalise_name (case, "_", "-", spaces
# and a "scalar_" prefix ignored).
_ALIASES = {
    "x": ("x",), "y": ("y",), "z": ("z",),
    "red": ("red", "r", "diffusered", "colorred"),
    "green": ("green", "g", "diffusegreen", "colorgreen"),
    "blue": ("blue", "b", "diffuseblue", "colorblue"),
    "nx": ("nx", "normalx"), "ny": ("ny", "normaly"), "nz": ("nz", "normalz"),
    "intensity": ("intensity", "i"),
    "classification": ("classification", "class"),
    "point_source_id": ("pointsourceid",),
}  # fmt: skip
_ROLES = {alias: role for role, aliases in _ALIASES.items() for alias in aliases}


def normalise_name(name: str) -> str:
    key = name.strip().lower()
    if key.startswith("scalar_"):
        key = key[len("scalar_") :]
    return key.replace("_", "").replace("-", "").replace(" ", "")


@dataclass
class FieldPlan:
    """Which of a file's fields fill which chunk key."""

    xyz: tuple[str, str, str] | None
    rgb: tuple[str, str, str] | None = None
    normals: tuple[str, str, str] | None = None
    intensity: str | None = None
    classification: str | None = None
    point_source_id: str | None = None
    extras: dict[str, str] = field(default_factory=dict)  # file field name -> chunk key

    @property
    def has_flags(self) -> dict[str, bool]:
        """has_rgb / has_intensity / has_normals for ScanInfo."""
        return {
            "has_rgb": self.rgb is not None,
            "has_intensity": self.intensity is not None,
            "has_normals": self.normals is not None,
        }

    @property
    def extra_names(self) -> list[str]:
        return list(self.extras.values())


def plan_fields(names: list[str]) -> FieldPlan:
    """Assign roles by name (case-insensitive; the first field with a role wins).

    ``xyz`` is None when x, y or z is missing: the caller raises with its own wording.
    Colours and normals need all three components; otherwise the fields stay extras.
    """
    found: dict[str, str] = {}
    for name in names:
        role = _ROLES.get(normalise_name(name))
        if role and role not in found:
            found[role] = name

    def triple(a: str, b: str, c: str) -> tuple[str, str, str] | None:
        return (found[a], found[b], found[c]) if a in found and b in found and c in found else None

    plan = FieldPlan(
        xyz=triple("x", "y", "z"),
        rgb=triple("red", "green", "blue"),
        normals=triple("nx", "ny", "nz"),
        intensity=found.get("intensity"),
        classification=found.get("classification"),
        point_source_id=found.get("point_source_id"),
    )
    used = {n for t in (plan.xyz, plan.rgb, plan.normals) if t for n in t}
    used |= {n for n in (plan.intensity, plan.classification, plan.point_source_id) if n}
    for name in names:
        if name not in used:
            plan.extras[name] = f"{name}_extra" if name in RESERVED_KEYS else name
    return plan


def rgb_to_uint8(rgb: np.ndarray, max_value: float | None = None) -> np.ndarray:
    """Colours as (n, 3) uint8.

    With ``max_value`` (a declared colour limit, as E57 has) values are scaled by
    255 / max_value. Without it the values decide: uint8 stays; floats that all lie in
    0..1 and are not all whole numbers are fractions; values above 255 mean 16-bit
    colour (divided by 257); anything else is taken as 8-bit. The caller checks that
    values are not negative.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        return rgb
    if max_value is not None and max_value > 0 and max_value != 255:
        return np.rint(rgb.astype(np.float64) * (255.0 / max_value)).clip(0, 255).astype(np.uint8)
    if not rgb.size:
        return rgb.astype(np.uint8)
    top = float(rgb.max())
    if max_value is None and rgb.dtype.kind == "f" and top <= 1.0 and not np.all(rgb == np.floor(rgb)):
        return np.rint(rgb * 255.0).astype(np.uint8)
    if max_value is None and top > 255:
        return (np.rint(rgb).astype(np.uint32) // 257).astype(np.uint8)
    return np.rint(rgb).astype(np.uint8) if rgb.dtype.kind == "f" else rgb.astype(np.uint8)


def _as_int(path: Path, name: str, values: np.ndarray, dtype: type) -> np.ndarray:
    """Integer values in the range of ``dtype``, or a ScanContentError naming the field."""
    info = np.iinfo(dtype)
    values = np.asarray(values)
    if values.dtype.kind in "ui" and np.iinfo(values.dtype).min >= info.min and np.iinfo(values.dtype).max <= info.max:
        return values.astype(dtype)
    if values.size:
        lo, hi = values.min(), values.max()
        integral = values.dtype.kind in "ui" or bool(np.all(values == np.floor(values)))
        if not integral or lo < info.min or hi > info.max:
            raise ScanContentError(
                f"{path}: field {name!r} holds values {lo}..{hi}, not integers in {info.min}..{info.max}; "
                "rename the field if it is not what its name says"
            )
    return values.astype(dtype)


def _native(values: np.ndarray) -> np.ndarray:
    """A native-byte-order copy (detached from any memory map)."""
    values = np.asarray(values)
    return values.astype(values.dtype.newbyteorder("="), copy=True)


def _stack(columns: Mapping[str, np.ndarray], names: tuple[str, str, str], dtype: type) -> np.ndarray:
    first = np.asarray(columns[names[0]])
    out = np.empty((len(first), 3), dtype=dtype)
    for axis, name in enumerate(names):
        out[:, axis] = columns[name]
    return out


def build_chunk(path: Path, columns: Mapping[str, np.ndarray], plan: FieldPlan) -> Chunk:
    """A chunk from equal-length named columns (any dtype/byte order), following ``plan``."""
    assert plan.xyz is not None
    chunk: Chunk = {"xyz": _stack(columns, plan.xyz, np.float64)}
    if plan.rgb:
        is_float = any(np.asarray(columns[n]).dtype.kind == "f" for n in plan.rgb)
        rgb = _stack(columns, plan.rgb, np.float64 if is_float else np.int64)
        if rgb.size and (rgb.min() < 0 or rgb.max() > 65535):
            raise ScanContentError(
                f"{path}: the colour fields {'/'.join(plan.rgb)} hold values {rgb.min()}..{rgb.max()}, "
                "outside 0..65535; if they are not colours, name the columns in a header line"
            )
        chunk["rgb"] = rgb_to_uint8(rgb)
    if plan.normals:
        chunk["normals"] = _stack(columns, plan.normals, np.float32)
    if plan.intensity:
        chunk["intensity"] = np.asarray(columns[plan.intensity], dtype=np.float32)
    if plan.classification:
        chunk["classification"] = _as_int(path, plan.classification, columns[plan.classification], np.uint8)
    if plan.point_source_id:
        chunk["point_source_id"] = _as_int(path, plan.point_source_id, columns[plan.point_source_id], np.uint16)
    for name, key in plan.extras.items():
        chunk[key] = _native(columns[name])
    return chunk


def one_line(exc: BaseException) -> str:
    """The first line of a library's exception message."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def guarded(path: Path, what: str, items: Iterator[T]) -> Iterator[T]:
    """Pass ``items`` through, turning any library exception into one ScanReadError line.

    twin's own errors pass unchanged; the original exception stays chained for --debug.
    """
    try:
        yield from items
    except TwinError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # struct.error, KeyError, numpy's ValueError, E57Exception ...
        raise ScanReadError(f"{path}: the {what} data cannot be read ({one_line(exc)}); the file is corrupt") from exc


# ---------------------------------------------------------------- text rows


def split_tokens(line: str, delimiter: str | None) -> list[str]:
    return line.split() if delimiter is None else [t.strip() for t in line.split(delimiter)]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _diagnose(path: Path, lines: list[str], first_line_no: int, ncols: int, delimiter: str | None) -> ScanReadError:
    """The first bad row of a batch that failed to parse (error path only)."""
    for offset, line in enumerate(lines):
        if not line.strip():
            continue
        tokens = split_tokens(line.strip(), delimiter)
        number = first_line_no + offset
        if len(tokens) != ncols:
            return ScanReadError(
                f"{path}: line {number:,} has {len(tokens)} values where {ncols} are expected "
                f"({line.strip()[:60]!r}); the file is corrupt or not in this layout"
            )
        bad = next((t for t in tokens if not _is_number(t)), None)
        if bad is not None:
            return ScanReadError(
                f"{path}: line {number:,} holds the non-numeric value {bad[:40]!r}; "
                "fix or remove that line and read the file again"
            )
    last = first_line_no + len(lines) - 1
    return ScanReadError(f"{path}: lines {first_line_no:,}..{last:,} cannot be read as numbers; the file is corrupt")


def _loadtxt(lines: list[str], delimiter: str | None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data" for all-blank batches
        return np.loadtxt(lines, dtype=np.float64, delimiter=delimiter, comments=None, ndmin=2)


def parse_rows(path: Path, lines: list[str], first_line_no: int, ncols: int, delimiter: str | None) -> np.ndarray:
    """Numeric rows as an (n, ncols) float64 array; blank lines are skipped."""
    try:
        rows = _loadtxt(lines, delimiter)
    except ValueError as exc:
        # numpy skips empty lines but, with a delimiter, not whitespace-only ones: retry
        # without them (rare, so the fast path stays free of per-line Python work).
        try:
            rows = _loadtxt([line for line in lines if not line.isspace()], delimiter)
        except ValueError:
            raise _diagnose(path, lines, first_line_no, ncols, delimiter) from exc
    if rows.size == 0:
        return np.empty((0, ncols))
    if rows.shape[1] != ncols:
        raise _diagnose(path, lines, first_line_no, ncols, delimiter)
    return rows


def iter_rows(
    path: Path,
    fh: IO[str],
    first_line_no: int,
    ncols: int,
    delimiter: str | None,
    batch_rows: int,
    limit: int | None = None,
) -> Iterator[np.ndarray]:
    """Parse numeric rows from a text stream in batches of at most ``batch_rows``.

    ``first_line_no`` is the 1-based line number of the stream's next line, so that
    errors name the line. With ``limit`` no more than that many rows are read (blank
    lines do not count). Stops at the end of the stream.
    """
    line_no = first_line_no
    done = 0
    while limit is None or done < limit:
        want = batch_rows if limit is None else min(batch_rows, limit - done)
        try:
            lines = list(islice(fh, want))
        except UnicodeDecodeError as exc:
            raise ScanReadError(f"{path}: undecodable bytes after line {line_no:,} ({one_line(exc)})") from exc
        if not lines:
            return
        rows = parse_rows(path, lines, line_no, ncols, delimiter)
        line_no += len(lines)
        done += len(rows)
        if len(rows):
            yield rows


_BYTE_CLASS = np.ones(256, dtype=np.uint8)  # 1: content
_BYTE_CLASS[[9, 11, 12, 32]] = 0  # blanks
_BYTE_CLASS[[10, 13]] = 2  # line ends (CR LF makes an extra, blank, line)


def count_nonblank_lines(fh: IO[bytes], block_bytes: int = 1 << 22) -> int:
    """Lines holding at least one non-whitespace byte, from the stream's position to its end.

    Vectorised over blocks: with blanks removed, each non-blank line is a run of
    content bytes, so the count is the number of runs.
    """
    total = 0
    in_line = False  # the previous block ended inside a counted line
    while block := fh.read(block_bytes):
        cls = _BYTE_CLASS[np.frombuffer(block, dtype=np.uint8)]
        content = cls[cls != 0] == 1
        if not content.size:
            continue
        total += int(np.count_nonzero(content[1:] & ~content[:-1])) + int(content[0] and not in_line)
        in_line = bool(content[-1])
    return total

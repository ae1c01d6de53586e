"""PCD (Point Cloud Library) files: DATA ascii, binary and binary_compressed.

Accepts old headers ("VERSION .5", COLUMNS for FIELDS, no VIEWPOINT, no SIZE/TYPE/
COUNT), field names in any case (X Y Z), fields with COUNT > 1 (kept as (n, k)
extra dimensions), types F/U/I of 1, 2, 4 or 8 bytes, and "_" padding fields.
A packed "rgb"/"rgba" field (float or uint32 bits 0x00RRGGBB, alpha in the top byte)
is unpacked to 8-bit colour.

Organised clouds mark "no return" cells with NaN coordinates. Those records are not
measurements: they are dropped, and inspect reports how many, so ``point_count`` is
the number of points actually delivered. Because that needs the coordinates, inspect
reads the data once (and reports exact bounds from it).

binary_compressed data are LZF-compressed and stored field by field; the whole block
is decompressed in memory (as PCL does) and then delivered in chunks.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.errors import ScanReadError
from twin.io._common import FieldPlan, build_chunk, guarded, iter_rows, plan_fields
from twin.io.base import DEFAULT_CHUNK_POINTS, Chunk, ScanFormat
from twin.models.scan import Bounds, ScanInfo

_KEYWORDS = ("VERSION", "FIELDS", "COLUMNS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS", "DATA")
_DATA_KINDS = ("ascii", "binary", "binary_compressed")
_SIZES = {"F": (4, 8), "U": (1, 2, 4, 8), "I": (1, 2, 4, 8)}
_KIND = {"F": "f", "U": "u", "I": "i"}
_MAX_HEADER_BYTES = 1 << 20
_IDENTITY_VIEWPOINT = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


@dataclass
class _Field:
    name: str  # unique: "_" padding fields become "_0", "_1", ...
    size: int
    type: str
    count: int
    padding: bool = False

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(f"<{_KIND[self.type]}{self.size}")


@dataclass
class _Header:
    version: str | None
    fields: list[_Field]
    width: int
    height: int
    points: int
    viewpoint: tuple[float, ...]
    data: str
    data_offset: int
    header_lines: int
    warnings: list[str] = field(default_factory=list)

    def record_dtype(self) -> np.dtype:
        return np.dtype([(f.name, f.dtype, (f.count,)) if f.count > 1 else (f.name, f.dtype) for f in self.fields])

    @property
    def columns(self) -> int:
        return sum(f.count for f in self.fields)


def _read_header(path: Path) -> _Header:
    try:
        with path.open("rb") as fh:
            head = fh.read(_MAX_HEADER_BYTES)
    except OSError as exc:
        raise ScanReadError(f"{path}: cannot open the file ({exc.strerror or exc})") from exc
    values: dict[str, list[str]] = {}
    offset = 0
    for number, raw in enumerate(head.split(b"\n"), start=1):
        end = offset + len(raw) + 1
        line = raw.decode("latin-1").strip()
        offset = end
        if not line or line.startswith("#"):
            continue
        key, *rest = line.split()
        key = key.upper()
        if not (key.isascii() and key.isprintable()):
            raise ScanReadError(
                f"{path}: PCD header line {number} is not text: the header has no DATA line before "
                "binary content; the file is corrupt or not PCD"
            )
        if key not in _KEYWORDS:
            raise ScanReadError(
                f"{path}: PCD header line {number} starts with unknown keyword {key[:20]!r}; "
                "the file is corrupt or not PCD"
            )
        values["FIELDS" if key == "COLUMNS" else key] = rest
        if key == "DATA":
            if offset > len(head):
                raise ScanReadError(f"{path}: the PCD header ends without a newline after DATA; the file is truncated")
            return _parse_header(path, values, offset, number)
    raise ScanReadError(f"{path}: the PCD header has no DATA line; the file is truncated or not PCD")


def _ints(path: Path, key: str, words: list[str]) -> list[int]:
    try:
        return [int(w) for w in words]
    except ValueError:
        raise ScanReadError(f"{path}: PCD header {key} {' '.join(words)!r} is not a list of integers") from None


def _parse_header(path: Path, values: dict[str, list[str]], data_offset: int, header_lines: int) -> _Header:
    notes: list[str] = []
    names = values.get("FIELDS")
    if not names:
        raise ScanReadError(f"{path}: the PCD header has no FIELDS line; the file is corrupt")
    n = len(names)
    legacy = [k for k in ("SIZE", "TYPE", "COUNT") if k not in values]
    if legacy:
        notes.append(f"the header has no {'/'.join(legacy)} line; assumed 4-byte floats, one value per field")
    sizes = _ints(path, "SIZE", values.get("SIZE", ["4"] * n))
    types = [t.upper() for t in values.get("TYPE", ["F"] * n)]
    counts = _ints(path, "COUNT", values.get("COUNT", ["1"] * n))
    for key, got in (("SIZE", sizes), ("TYPE", types), ("COUNT", counts)):
        if len(got) != n:
            raise ScanReadError(
                f"{path}: the PCD header lists {n} FIELDS but {len(got)} {key} values; the header is corrupt"
            )
    fields: list[_Field] = []
    seen: set[str] = set()
    for name, size, kind, count in zip(names, sizes, types, counts):
        if kind not in _SIZES or size not in _SIZES[kind]:
            raise ScanReadError(
                f"{path}: PCD field {name!r} has TYPE {kind} with SIZE {size}, which is not supported "
                "(F: 4/8, U and I: 1/2/4/8 bytes)"
            )
        if count < 1:
            raise ScanReadError(f"{path}: PCD field {name!r} has COUNT {count}; it must be at least 1")
        padding = name == "_"
        unique = f"_{len(fields)}" if padding else name
        if unique in seen:
            raise ScanReadError(f"{path}: PCD field {name!r} appears twice in FIELDS; the header is corrupt")
        seen.add(unique)
        fields.append(_Field(unique, size, kind, count, padding))
    width = _ints(path, "WIDTH", values.get("WIDTH", []))
    height = _ints(path, "HEIGHT", values.get("HEIGHT", ["1"]))
    points = _ints(path, "POINTS", values.get("POINTS", []))
    if not points and not width:
        raise ScanReadError(f"{path}: the PCD header has neither POINTS nor WIDTH; the point count is unknown")
    w = width[0] if width else points[0]
    h = height[0] if height else 1
    p = points[0] if points else w * h
    if w * h != p:
        raise ScanReadError(
            f"{path}: the PCD header says WIDTH {w} x HEIGHT {h} = {w * h:,} but POINTS {p:,}; the header is corrupt"
        )
    viewpoint = tuple(float(v) for v in values.get("VIEWPOINT", _IDENTITY_VIEWPOINT))
    if len(viewpoint) != 7:
        raise ScanReadError(
            f"{path}: the PCD VIEWPOINT has {len(viewpoint)} values instead of 7; the header is corrupt"
        )
    if not np.allclose(viewpoint, _IDENTITY_VIEWPOINT):
        notes.append(
            f"VIEWPOINT {' '.join(f'{v:g}' for v in viewpoint)} (sensor pose) is recorded but, as in PCL, "
            "not applied to the points"
        )
    data = (values["DATA"] or [""])[0].lower()
    if data not in _DATA_KINDS:
        raise ScanReadError(f"{path}: unknown PCD DATA type {data!r}; expected ascii, binary or binary_compressed")
    version = values.get("VERSION", [None])[0]
    if version and version.startswith("."):
        version = "0" + version
    return _Header(version, fields, w, h, p, viewpoint, data, data_offset, header_lines, notes)


def _plan(path: Path, header: _Header) -> FieldPlan:
    """The field plan over the delivered names: padding dropped, packed rgb/rgba expanded."""
    names: list[str] = []
    for f in header.fields:
        if f.padding:
            continue
        if f.name.lower() in ("rgb", "rgba") and f.count == 1 and f.size == 4:
            names += ["red", "green", "blue"] + (["alpha"] if f.name.lower() == "rgba" else [])
        else:
            names.append(f.name)
    plan = plan_fields(names)
    if plan.xyz is None:
        raise ScanReadError(
            f"{path}: the PCD FIELDS have no x, y and z ({' '.join(f.name for f in header.fields)}); "
            "it holds no point coordinates; export it again with its x y z fields"
        )
    for f in header.fields:
        if f.name in plan.xyz and f.count != 1:
            raise ScanReadError(f"{path}: PCD coordinate field {f.name!r} has COUNT {f.count}; it must be 1")
    return plan


def _unpack_rgb(column: np.ndarray, with_alpha: bool) -> dict[str, np.ndarray]:
    """Split packed colour (uint32 bits 0xAARRGGBB) into uint8 channels."""
    bits = column.view(np.uint32) if column.dtype.itemsize == 4 else column.astype(np.uint32)
    out = {
        "red": ((bits >> 16) & 0xFF).astype(np.uint8),
        "green": ((bits >> 8) & 0xFF).astype(np.uint8),
        "blue": (bits & 0xFF).astype(np.uint8),
    }
    if with_alpha:
        out["alpha"] = (bits >> 24).astype(np.uint8)
    return out


def _ascii_packed_rgb(values: np.ndarray) -> np.ndarray:
    """Packed colour written as text: PCL writes the uint32 bits as an integer, older
    writers the float itself. Whole numbers are the former, anything else the latter."""
    whole = np.isfinite(values) & (values >= 0) & (values < 2**32) & (values == np.floor(values))
    as_float_bits = values.astype(np.float32).view(np.uint32)
    return np.where(whole, np.where(whole, values, 0).astype(np.uint32), as_float_bits)


def _expand(header: _Header, columns: dict[str, np.ndarray], ascii_data: bool) -> dict[str, np.ndarray]:
    """Raw field columns -> delivered columns (padding dropped, packed colour unpacked)."""
    out: dict[str, np.ndarray] = {}
    for f in header.fields:
        if f.padding:
            continue
        col = columns[f.name]
        if f.name.lower() in ("rgb", "rgba") and f.count == 1 and f.size == 4:
            packed = _ascii_packed_rgb(col) if ascii_data else col
            out.update(_unpack_rgb(packed, with_alpha=f.name.lower() == "rgba"))
        else:
            out[f.name] = col
    return out


# ---------------------------------------------------------------- LZF


def lzf_decompress(data: bytes, expected: int) -> bytes:
    """Decompress liblzf data (as PCD binary_compressed uses) into ``expected`` bytes.

    A loop over LZF tokens, not over points: each token copies a run of up to 32
    literal bytes or a back-reference of up to 264 bytes.
    """
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # literal run of ctrl + 1 bytes
            end = i + ctrl + 1
            if end > n:
                raise ValueError(f"literal run overruns the input at byte {i}")
            out += data[i:end]
            i = end
            continue
        length = ctrl >> 5
        if length == 7:
            if i >= n:
                raise ValueError(f"back-reference length overruns the input at byte {i}")
            length += data[i]
            i += 1
        if i >= n:
            raise ValueError(f"back-reference offset overruns the input at byte {i}")
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        length += 2
        if ref < 0:
            raise ValueError(f"back-reference before the start of the output at byte {i}")
        distance = len(out) - ref
        if distance >= length:
            out += out[ref : ref + length]
        else:  # overlapping copy repeats the last `distance` bytes
            pattern = bytes(out[ref:])
            out += (pattern * (length // distance + 1))[:length]
        if len(out) > expected:
            raise ValueError("output longer than declared")
    if len(out) != expected:
        raise ValueError(f"decompressed to {len(out):,} bytes, {expected:,} declared")
    return bytes(out)


# ---------------------------------------------------------------- reading


def _raw_chunks(path: Path, header: _Header, chunk_points: int) -> Iterator[dict[str, np.ndarray]]:
    """Delivered columns per chunk, NaN records still in."""
    if header.points == 0:
        return
    if header.data == "ascii":
        yield from _ascii_chunks(path, header, chunk_points)
    elif header.data == "binary":
        yield from _binary_chunks(path, header, chunk_points)
    else:
        yield from _compressed_chunks(path, header, chunk_points)


def _binary_chunks(path: Path, header: _Header, chunk_points: int) -> Iterator[dict[str, np.ndarray]]:
    dtype = header.record_dtype()
    size = path.stat().st_size
    if size < header.data_offset + header.points * dtype.itemsize:
        complete = max(0, size - header.data_offset) // dtype.itemsize
        raise ScanReadError(
            f"{path}: the PCD header declares {header.points:,} points but the file holds only {complete:,} complete "
            f"records (it ends at byte {size:,}, {header.data_offset + header.points * dtype.itemsize:,} are needed); "
            "it is truncated, copy it again"
        )
    records = np.memmap(path, dtype=dtype, mode="r", offset=header.data_offset, shape=(header.points,))
    try:
        for start in range(0, header.points, chunk_points):
            block = records[start : start + chunk_points]
            yield _expand(header, {f.name: np.array(block[f.name]) for f in header.fields}, ascii_data=False)
    finally:
        del records


def _compressed_chunks(path: Path, header: _Header, chunk_points: int) -> Iterator[dict[str, np.ndarray]]:
    with path.open("rb") as fh:
        fh.seek(header.data_offset)
        sizes = fh.read(8)
        if len(sizes) < 8:
            raise ScanReadError(f"{path}: the PCD binary_compressed block has no size header; the file is truncated")
        packed_size, unpacked_size = (int(v) for v in np.frombuffer(sizes, dtype="<u4"))
        packed = fh.read(packed_size)
    point_bytes = sum(f.size * f.count for f in header.fields)
    if unpacked_size != header.points * point_bytes:
        raise ScanReadError(
            f"{path}: the PCD compressed block unpacks to {unpacked_size:,} bytes but {header.points:,} points "
            f"of {point_bytes} bytes need {header.points * point_bytes:,}; the file is corrupt"
        )
    if len(packed) < packed_size:
        raise ScanReadError(
            f"{path}: the PCD compressed block declares {packed_size:,} bytes but the file holds {len(packed):,}; "
            "it is truncated"
        )
    try:
        raw = lzf_decompress(packed, unpacked_size)
    except ValueError as exc:
        raise ScanReadError(f"{path}: the PCD compressed data are corrupt ({exc})") from exc
    columns: dict[str, np.ndarray] = {}
    offset = 0
    for f in header.fields:  # stored field by field: all x, then all y, ...
        col = np.frombuffer(raw, dtype=f.dtype, count=header.points * f.count, offset=offset)
        columns[f.name] = col.reshape(header.points, f.count) if f.count > 1 else col
        offset += header.points * f.count * f.size
    for start in range(0, header.points, chunk_points):
        part = {name: col[start : start + chunk_points] for name, col in columns.items()}
        yield _expand(header, part, ascii_data=False)


def _ascii_chunks(path: Path, header: _Header, chunk_points: int) -> Iterator[dict[str, np.ndarray]]:
    delivered = 0
    with path.open("rb") as raw:
        raw.seek(header.data_offset)
        fh = io.TextIOWrapper(raw, encoding="latin-1", newline=None)
        rows_iter = iter_rows(path, fh, header.header_lines + 1, header.columns, None, chunk_points, header.points)
        for rows in rows_iter:
            columns: dict[str, np.ndarray] = {}
            at = 0
            for f in header.fields:
                block = rows[:, at : at + f.count]
                at += f.count
                keep_float = f.name.lower() in ("rgb", "rgba")  # packed colour is decoded from the text value
                values = block if keep_float else block.astype(f.dtype)
                columns[f.name] = values[:, 0] if f.count == 1 else values
            delivered += len(rows)
            yield _expand(header, columns, ascii_data=True)
    if delivered < header.points:
        raise ScanReadError(
            f"{path}: the PCD header declares {header.points:,} points but the file holds only "
            f"{delivered:,} data lines; it is truncated"
        )


def _finite_mask(columns: dict[str, np.ndarray], plan: FieldPlan) -> np.ndarray:
    """Records whose coordinates are not NaN (PCL's marker for "no return")."""
    mask = np.ones(len(columns[plan.xyz[0]]), dtype=bool)
    for name in plan.xyz:
        mask &= ~np.isnan(columns[name])
    return mask


class PcdFormat(ScanFormat):
    name = "pcd"
    extensions = (".pcd",)

    def sniff(self, head: bytes) -> bool:
        for raw in head.split(b"\n")[:40]:
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            word = line.split()[0].upper()
            return word in (b"VERSION", b"FIELDS", b"COLUMNS")
        return False

    def inspect(self, path: Path) -> ScanInfo:
        header = _read_header(path)
        plan = _plan(path, header)
        kept = 0
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for columns in guarded(path, "PCD", _raw_chunks(path, header, DEFAULT_CHUNK_POINTS)):
            mask = _finite_mask(columns, plan)
            kept += int(mask.sum())
            if mask.any():
                xyz = np.column_stack([columns[n][mask] for n in plan.xyz]).astype(np.float64)
                lo, hi = np.minimum(lo, xyz.min(axis=0)), np.maximum(hi, xyz.max(axis=0))
        warnings = list(header.warnings)
        dropped = header.points - kept
        if dropped:
            shape = f"organised {header.width} x {header.height} cloud" if header.height > 1 else "cloud"
            warnings.append(
                f"{dropped:,} of {header.points:,} records in this {shape} have NaN coordinates "
                f"(no return) and are skipped; {kept:,} points are read"
            )
        return ScanInfo(
            path=str(path),
            format=self.name,
            size_bytes=path.stat().st_size,
            version=header.version,
            encoding=header.data,
            point_count=kept,
            bounds=Bounds(min=tuple(lo.tolist()), max=tuple(hi.tolist())) if kept else None,
            dimensions=[f.name for f in header.fields if not f.padding],
            extra_dimensions=plan.extra_names,
            **plan.has_flags,
            warnings=warnings,
        )

    def iter_chunks(self, path: Path, chunk_points: int = DEFAULT_CHUNK_POINTS) -> Iterator[Chunk]:
        header = _read_header(path)
        plan = _plan(path, header)
        for columns in guarded(path, "PCD", _raw_chunks(path, header, chunk_points)):
            mask = _finite_mask(columns, plan)
            if not mask.all():
                columns = {name: col[mask] for name, col in columns.items()}
            if len(columns[plan.xyz[0]]):
                yield build_chunk(path, columns, plan)


FORMATS = [PcdFormat()]

"""PLY (ASCII, binary little- and big-endian): the vertices are the points.

The header is parsed here, and the vertex element is read with a numpy structured
dtype (binary, through a memory map) or parsed in batches of text lines (ASCII), so
every problem gets a precise message. Other elements (faces, edges) are skipped; a
face count is reported as a warning so that nobody mistakes a mesh for a scan.

Vertex properties map to chunk keys by name: x/y/z; red/green/blue (also r/g/b,
diffuse_red...); nx/ny/nz (also normal_x...); intensity (also scalar_intensity);
classification; everything else is an extra dimension under its own name.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from twin.errors import ScanReadError
from twin.io._common import FieldPlan, build_chunk, guarded, iter_rows, plan_fields
from twin.io.base import DEFAULT_CHUNK_POINTS, Chunk, ScanFormat
from twin.models.scan import ScanInfo

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
_ENCODINGS = {"ascii": "", "binary_little_endian": "<", "binary_big_endian": ">"}
_MAX_HEADER_BYTES = 1 << 20


@dataclass
class _Element:
    name: str
    count: int
    props: list[tuple[str, str]] = field(default_factory=list)  # (name, numpy type code)
    lists: list[str] = field(default_factory=list)  # names of list properties

    def dtype(self, endian: str) -> np.dtype:
        return np.dtype([(name, endian + code) for name, code in self.props])


@dataclass
class _Header:
    encoding: str
    version: str
    elements: list[_Element]
    comments: list[str]
    data_offset: int  # byte offset of the body
    header_lines: int

    @property
    def vertex(self) -> _Element:
        return next(e for e in self.elements if e.name == "vertex")

    @property
    def before_vertex(self) -> list[_Element]:
        return self.elements[: self.elements.index(self.vertex)]


def _read_header(path: Path) -> _Header:
    try:
        with path.open("rb") as fh:
            head = fh.read(_MAX_HEADER_BYTES)
    except OSError as exc:
        raise ScanReadError(f"{path}: cannot open the file ({exc.strerror or exc})") from exc
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        what = "no 'end_header' line" if head.startswith(b"ply") else "it does not start with 'ply'"
        raise ScanReadError(f"{path}: not a valid PLY header ({what}); the file may be truncated or not PLY")
    newline = head.find(b"\n", end)
    if newline < 0:
        raise ScanReadError(f"{path}: the PLY header ends without a newline after 'end_header'; the file is truncated")
    lines = head[:newline].decode("latin-1").splitlines()
    return _parse_header(path, lines, newline + 1)


def ply_element_counts(path: Path) -> dict[str, int]:
    """How many of each element (``vertex``, ``face`` ...) a PLY file's header declares."""
    return {element.name: element.count for element in _read_header(Path(path)).elements}


def _parse_header(path: Path, lines: list[str], data_offset: int) -> _Header:
    encoding = version = None
    elements: list[_Element] = []
    comments: list[str] = []
    for number, raw in enumerate(lines[1:], start=2):
        words = raw.split()
        if not words or words[0] in ("end_header",):
            continue
        key = words[0]
        where = f"{path}: PLY header line {number}"
        if key in ("comment", "obj_info"):
            comments.append(raw.split(None, 1)[1] if len(words) > 1 else "")
        elif key == "format":
            if len(words) != 3 or words[1] not in _ENCODINGS:
                raise ScanReadError(
                    f"{where}: unknown format {raw.strip()!r}; "
                    "expected ascii, binary_little_endian or binary_big_endian"
                )
            encoding, version = words[1], words[2]
        elif key == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise ScanReadError(
                    f"{where}: bad element line {raw.strip()!r}; expected 'element <name> <count>': "
                    "the header is corrupt, export the file again"
                )
            elements.append(_Element(words[1], int(words[2])))
        elif key == "property":
            if not elements:
                raise ScanReadError(f"{where}: a property comes before any element; the header is corrupt")
            _add_property(path, where, elements[-1], words)
        else:
            raise ScanReadError(f"{where}: unknown header keyword {key!r}; the header is corrupt")
    if encoding is None:
        raise ScanReadError(f"{path}: the PLY header has no 'format' line; the file is corrupt")
    if not any(e.name == "vertex" for e in elements):
        raise ScanReadError(f"{path}: the PLY file has no vertex element, so it holds no points")
    return _Header(encoding, version or "1.0", elements, comments, data_offset, len(lines))


def _add_property(path: Path, where: str, element: _Element, words: list[str]) -> None:
    if len(words) >= 2 and words[1] == "list":
        if len(words) != 5:
            raise ScanReadError(f"{where}: bad list property {' '.join(words)!r}")
        for type_name in words[2:4]:
            if type_name not in _TYPES:
                raise ScanReadError(
                    f"{path}: PLY property {words[4]!r} has unknown type {type_name!r}; "
                    f"known types: {', '.join(sorted(_TYPES))}"
                )
        element.lists.append(words[4])
        return
    if len(words) != 3:
        raise ScanReadError(f"{where}: bad property line {' '.join(words)!r}; expected 'property <type> <name>'")
    type_name, name = words[1], words[2]
    if type_name not in _TYPES:
        raise ScanReadError(
            f"{path}: PLY property {name!r} has unknown type {type_name!r}; known types: {', '.join(sorted(_TYPES))}"
        )
    if any(name == p for p, _ in element.props):
        raise ScanReadError(f"{where}: property {name!r} appears twice in element {element.name!r}")
    element.props.append((name, _TYPES[type_name]))


def _plan(path: Path, header: _Header) -> FieldPlan:
    vertex = header.vertex
    if vertex.lists:
        raise ScanReadError(
            f"{path}: the PLY vertex element has list properties ({', '.join(vertex.lists)}), "
            "which cannot be read as points; convert the file with one value per property"
        )
    plan = plan_fields([name for name, _ in vertex.props])
    if plan.xyz is None:
        raise ScanReadError(
            f"{path}: the PLY vertex element has no x, y and z properties "
            f"(it has {', '.join(n for n, _ in vertex.props) or 'none'}); it holds no point coordinates"
        )
    return plan


def _binary_layout(path: Path, header: _Header) -> tuple[int, np.dtype]:
    """Byte offset of the vertex data and its record dtype; checks the file is long enough."""
    endian = _ENCODINGS[header.encoding]
    offset = header.data_offset
    for element in header.before_vertex:
        if element.lists:
            raise ScanReadError(
                f"{path}: element {element.name!r} with list properties comes before the vertices; "
                "such binary PLY files are not supported; re-export with the vertex element first"
            )
        offset += element.count * element.dtype(endian).itemsize
    dtype = header.vertex.dtype(endian)
    count = header.vertex.count
    size = path.stat().st_size
    if size < offset + count * dtype.itemsize:
        complete = max(0, size - offset) // dtype.itemsize
        raise ScanReadError(
            f"{path}: the PLY header declares {count:,} vertices but the file holds only {complete:,} complete ones "
            f"(it ends at byte {size:,}, {offset + count * dtype.itemsize:,} are needed); it is truncated, copy it again"
        )
    return offset, dtype


class PlyFormat(ScanFormat):
    name = "ply"
    extensions = (".ply",)

    def sniff(self, head: bytes) -> bool:
        return head.startswith((b"ply\n", b"ply\r\n"))

    def inspect(self, path: Path) -> ScanInfo:
        header = _read_header(path)
        plan = _plan(path, header)
        if header.encoding != "ascii":
            _binary_layout(path, header)
        warnings = [
            f"mesh: {e.count:,} faces (points are its vertices)"
            for e in header.elements
            if e.name == "face" and e.count
        ]
        return ScanInfo(
            path=str(path),
            format=self.name,
            size_bytes=path.stat().st_size,
            version=header.version,
            encoding=header.encoding,
            point_count=header.vertex.count,
            dimensions=[name for name, _ in header.vertex.props],
            extra_dimensions=plan.extra_names,
            **plan.has_flags,
            warnings=warnings,
        )

    def iter_chunks(self, path: Path, chunk_points: int = DEFAULT_CHUNK_POINTS) -> Iterator[Chunk]:
        header = _read_header(path)
        plan = _plan(path, header)
        read = self._ascii_chunks if header.encoding == "ascii" else self._binary_chunks
        yield from guarded(path, "PLY", read(path, header, plan, chunk_points))

    def _binary_chunks(self, path: Path, header: _Header, plan: FieldPlan, chunk_points: int) -> Iterator[Chunk]:
        offset, dtype = _binary_layout(path, header)
        count = header.vertex.count
        if count == 0:
            return
        records = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(count,))
        try:
            for start in range(0, count, chunk_points):
                block = records[start : start + chunk_points]
                yield build_chunk(path, {name: block[name] for name in dtype.names}, plan)
        finally:
            del records

    def _ascii_chunks(self, path: Path, header: _Header, plan: FieldPlan, chunk_points: int) -> Iterator[Chunk]:
        names = [name for name, _ in header.vertex.props]
        types = dict(header.vertex.props)
        count = header.vertex.count
        with path.open("rb") as raw:
            raw.seek(header.data_offset)
            fh = io.TextIOWrapper(raw, encoding="latin-1", newline=None)
            skip = sum(e.count for e in header.before_vertex)
            deque(islice(fh, skip), maxlen=0)
            line_no = header.header_lines + skip + 1
            delivered = 0
            for rows in iter_rows(path, fh, line_no, len(names), None, chunk_points, limit=count):
                columns = {name: rows[:, i].astype(types[name]) for i, name in enumerate(names)}
                delivered += len(rows)
                yield build_chunk(path, columns, plan)
        if delivered < count:
            raise ScanReadError(
                f"{path}: the PLY header declares {count:,} vertices but the file holds only "
                f"{delivered:,} vertex lines; it is truncated"
            )


FORMATS = [PlyFormat()]

"""Cloud Optimized Point Cloud (COPC 1.0, https://copc.io) writer, streamed: points go
through temporary files on disk, never all into memory.

A COPC file is a LAZ 1.4 file (point format 6, or 7 with colour; here with the labels as
LAS 1.4 extra bytes) whose points are grouped into the nodes of an octree, one LAZ chunk
(variable-size chunks) per node. Its first VLR (``copc``/1) gives the cube of the root
node, and an EVLR (``copc``/1000) lists every node: its key (level, x, y, z), the file
offset and size of its chunk and its point count. Readers fetch only the nodes a box or a
level of detail needs (laspy's ``CopcReader.query``); plain LAZ readers read every point.

How points are placed
---------------------
Coordinates are the LAS integers (``round(local / scale)``; the LAS offset is the cloud's
origin). The root is a cube of 2^K scale units (K the fewest bits that hold the largest
extent); a node of level d is one of its 8^d sub-cubes. Every point gets a fixed priority
(a bijective hash of its position in the input stream, so ties never occur and output is
deterministic). Each node samples a 128^3 grid over its cube: a point belongs to level d
when it has the lowest priority in its level-d grid cell (cells of side root/2^(d+7)) and
in no coarser one. So levels 0..d together hold exactly one point per occupied level-d
grid cell: an evenly spread subsample whose spacing halves at each level (the ``spacing``
of the info VLR is the root's grid cell). A node whose cube holds at most
``max_points_per_node`` input points is a leaf and takes every point left in it, as does
a node at the depth where grid cells reach one scale unit. Every point lies in exactly one
node, inside that node's cube (the cube is offset by half a unit, so no point lies on a face).

Because a point's level depends only on the points in its grid cells and the counts of
its node cubes, the octree can be built cell by cell:

1. bounds and count (a first pass over ``chunks`` when it can be iterated again; else the
   records are staged in a temporary file while the bounds are taken);
2. every record is binned by its cell at a coarse level Ls (buffered, sorted, appended as
   runs to one spill file; counts and minimal priorities per cell are kept);
3. each cell is loaded on its own (a cell with more than ``memory_limit_points`` points is
   binned again, 3 levels finer), its points sorted in Morton order, their levels found
   level by level with run-wise minima, and its nodes of level >= its own compressed
   straight into the output; pieces of the coarser nodes it shares with other cells go to
   a second spill file and are compressed last;
4. the LAZ chunk table, the hierarchy EVLR (one page) and the final header.

Morton codes keep 21 bits per axis, so in a cell wider than 2^21 scale units (210 m at
0.1 mm: only the first cells of a site over about 1 km) the deepest levels end a level or
two early; the file stays valid, only leaves there may exceed ``max_points_per_node``.

Memory stays near ``memory_limit_points`` records (about 56 bytes each plus sort
scratch) whatever the size of the survey; disk holds the spill files (about one copy
of the points, two when the input had to be staged) in a hidden folder beside the
target. The file appears atomically: a failure leaves neither it nor the temporary files.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.errors import CRSError, ScanContentError, UsageError
from twin.io.atomic import atomic_target
from twin.io.las_meta import LABEL_ATTRIBUTES, extra_bytes_params, stamp_header, wkt1
from twin.models.pointcloud import PointCloud

GRID_BITS = 7  # every node samples a 2^7 = 128 cells grid per axis
LABELS = LABEL_ATTRIBUTES  # int32 extra bytes, -1 = unlabelled (declared as their no-data value)
DEFAULT_MAX_POINTS_PER_NODE = 100_000
DEFAULT_MEMORY_LIMIT_POINTS = 2_000_000
_MORTON_BITS = 21  # per axis in a uint64 Morton code
_MAX_SPILL_LEVEL = 5  # the first binning makes at most 8^5 cells
_REFINE_LEVELS = 3  # a cell over the memory limit is binned again this many levels finer
_INT32 = 2**31 - 1
_ENTRY = struct.Struct("<iiiiQii")
_EVLR_HEADER = struct.Struct("<H16sHQ32s")
_U64 = np.uint64

ChunkSource = Iterable[PointCloud] | Callable[[], Iterable[PointCloud]]


@dataclass(frozen=True)
class CopcSummary:
    """What :func:`write_copc` wrote."""

    path: Path
    point_count: int
    node_count: int  # nodes holding points (the hierarchy may add empty parents)
    points_per_level: list[int]
    center: tuple[float, float, float]  # of the root cube, world coordinates
    halfsize: float
    spacing: float
    point_format: int
    extra_dims: list[str] = field(default_factory=list)


def write_cloud_copc(cloud: PointCloud, path: Path, *, crs_wkt: str | None = None, scale: float = 0.0001,
                     extra_dims: Sequence[str] | None = None,
                     max_points_per_node: int = DEFAULT_MAX_POINTS_PER_NODE,
                     memory_limit_points: int = DEFAULT_MEMORY_LIMIT_POINTS,
                     chunk_points: int = 1_000_000) -> CopcSummary:
    """Write an in-memory PointCloud as COPC (see :func:`write_copc`)."""
    if not len(cloud):
        raise ScanContentError(f"{path}: the cloud has no points; a COPC file needs at least one")

    def chunks() -> Iterator[PointCloud]:
        for start in range(0, len(cloud), chunk_points):
            yield cloud.subset(slice(start, start + chunk_points))

    return write_copc(chunks, path, origin=cloud.origin, scale=scale, extra_dims=extra_dims, crs_wkt=crs_wkt,
                      max_points_per_node=max_points_per_node, memory_limit_points=memory_limit_points)


def write_copc(chunks: ChunkSource, path: Path, *, origin: Sequence[float] | np.ndarray | None = None,
               scale: float = 0.0001, extra_dims: Sequence[str] | None = None, crs_wkt: str | None = None,
               max_points_per_node: int = DEFAULT_MAX_POINTS_PER_NODE,
               memory_limit_points: int = DEFAULT_MEMORY_LIMIT_POINTS,
               bounds: tuple[Sequence[float], Sequence[float]] | None = None,
               count: int | None = None) -> CopcSummary:
    """Write point cloud chunks as one COPC file, atomically, in bounded memory.

    ``chunks``: PointClouds in one local frame (same ``origin``). Either a callable that
    returns a fresh iterable each call, or a list/tuple (both read twice: bounds, then
    points), or any iterable (read once; its records are staged on disk while the bounds
    are taken). With ``bounds`` (local min and max xyz of every point) the first pass is
    skipped; a point outside them is an error. ``count`` (the number of points, optional)
    only helps choose the first binning.

    ``origin`` (default: the first chunk's) is the LAS offset; ``scale`` the LAS scale
    (0.1 mm). The first non-empty chunk decides the layout: point format 7 when it has
    ``rgb``, else 6; ``intensity``, ``classification``, ``point_source_id`` when present;
    ``extra_dims`` (default: ``element``, ``phase``, ``material`` and ``normals`` when
    present) as LAS extra bytes: labels as int32, normals as ``normal_x/y/z`` float32,
    any other 1-D numeric attribute in its own type. Later chunks must have them too.
    The header says what the labelled LAS/LAZ export says (:mod:`twin.io.las_meta`):
    described extra bytes, ``-1`` as the labels' no-data value, ``crs_wkt`` (any WKT
    pyproj reads) recorded as OGC WKT1, ``twin <version>`` as the generating software.

    Raises CRSError (a ``crs_wkt`` pyproj cannot read, before anything is written),
    UsageError (bad parameters, chunks in another frame or without an attribute of the
    layout, coordinates that do not fit LAS integers) and ScanContentError (no points,
    coordinates that are not finite).
    """
    path = Path(path)
    if not (np.isfinite(scale) and scale > 0):
        raise UsageError(f"{path}: the COPC scale must be a positive number, not {scale}")
    if max_points_per_node < 1:
        raise UsageError(f"{path}: max_points_per_node must be at least 1, not {max_points_per_node}")
    if memory_limit_points < 2 * max_points_per_node:
        raise UsageError(f"{path}: memory_limit_points ({memory_limit_points:,}) must be at least twice "
                         f"max_points_per_node ({max_points_per_node:,})")
    if crs_wkt:
        try:
            crs_wkt = wkt1(crs_wkt)
        except Exception as exc:  # pyproj's CRSError
            raise CRSError(f"{path}: the CRS is not a WKT pyproj can read ({exc})") from None
    if isinstance(chunks, PointCloud):
        chunks = [chunks]
    if callable(chunks):
        factory = chunks
    elif isinstance(chunks, (list, tuple)):
        factory = lambda: chunks  # noqa: E731
    else:
        factory = None
    with atomic_target(path) as tmp, tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.",
                                                                 suffix=".copc-work") as work:
        writer = _Writer(path, tmp, Path(work), scale=float(scale),
                         origin=None if origin is None else np.asarray(origin, dtype=np.float64).reshape(3),
                         extra_dims=extra_dims, crs_wkt=crs_wkt, max_ppn=int(max_points_per_node),
                         memory_limit=int(memory_limit_points))
        summary = writer.run(factory, chunks, bounds, count)
    return summary


# --------------------------------------------------------------------------- helpers


def _mix64(seq: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64, so distinct inputs never tie."""
    with np.errstate(over="ignore"):
        z = seq.astype(_U64) + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def _spread3(v: np.ndarray) -> np.ndarray:
    """The low 21 bits of v with two zero bits between each (for Morton codes)."""
    v = v & _U64(0x1FFFFF)
    v = (v | (v << _U64(32))) & _U64(0x1F00000000FFFF)
    v = (v | (v << _U64(16))) & _U64(0x1F0000FF0000FF)
    v = (v | (v << _U64(8))) & _U64(0x100F00F00F00F00F)
    v = (v | (v << _U64(4))) & _U64(0x10C30C30C30C30C3)
    v = (v | (v << _U64(2))) & _U64(0x1249249249249249)
    return v


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the runs of equal values of a sorted array (not empty)."""
    change = np.empty(len(keys), dtype=bool)
    change[0] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    return starts, np.diff(np.append(starts, len(keys)))


def _run_argmins(keys: np.ndarray, prio: np.ndarray) -> np.ndarray:
    """Index of the lowest priority in each run of equal keys."""
    starts, lengths = _runs(keys)
    lowest = np.minimum.reduceat(prio, starts)
    return np.flatnonzero(prio == np.repeat(lowest, lengths))


def _read_into(fh, offset: int, target: np.ndarray) -> None:
    view = target.view(np.uint8)
    fh.seek(offset)
    done = 0
    while done < len(view):
        got = fh.readinto(view[done:])
        if not got:
            raise OSError(f"{fh.name}: temporary file ends early at byte {offset + done:,}")
        done += got


class _Layout:
    """The point record of the file, decided by the first non-empty chunk."""

    def __init__(self, first: PointCloud, extra_dims: Sequence[str] | None, where: Path):
        import laspy  # noqa: PLC0415

        attrs = first.attrs
        self.has_rgb = "rgb" in attrs
        self.fields = [name for name in ("intensity", "classification", "point_source_id") if name in attrs]
        if extra_dims is None:
            extra_dims = [name for name in (*LABELS, "normals") if name in attrs]
        self.extras: list[tuple[str, str, int | None, np.dtype]] = []  # las name, attribute, column, type
        for name in extra_dims:
            if name not in attrs:
                raise UsageError(f"{where}: extra dimension {name!r} is not an attribute of the cloud "
                                 f"(it has {', '.join(sorted(attrs)) or 'none'})")
            values = np.asarray(attrs[name])
            if name == "normals":
                if values.ndim != 2 or values.shape[1] != 3:
                    raise UsageError(f"{where}: normals must be (N, 3), not {values.shape}")
                self.extras += [(f"normal_{axis}", name, k, np.dtype(np.float32)) for k, axis in enumerate("xyz")]
            elif values.ndim != 1 or values.dtype.kind not in "biuf":
                raise UsageError(f"{where}: extra dimension {name!r} must hold one number per point "
                                 f"(it is {values.dtype} of shape {values.shape})")
            else:
                dtype = np.dtype(np.int32) if name in LABELS else values.dtype
                self.extras.append((name, name, None, np.dtype(np.uint8) if dtype.kind == "b" else dtype))
        self.required = ["rgb"] * self.has_rgb + self.fields + sorted({attr for _, attr, _, _ in self.extras})
        self.point_format_id = 7 if self.has_rgb else 6
        self.point_format = laspy.PointFormat(self.point_format_id)
        for las_name, _, _, dtype in self.extras:
            self.point_format.add_extra_dimension(extra_bytes_params(las_name, dtype))  # described; labels: no-data -1
        self.point_dtype = self.point_format.dtype()
        self.dtype = np.dtype([("rec", self.point_dtype), ("prio", "<u8")])

    def records(self, cloud: PointCloud, scale: float, first_seq: int, where: str, first: int = 0) -> np.ndarray:
        """Spill records (LAS point + priority) of a chunk (or of its part from point ``first``)."""
        n = len(cloud)
        missing = [name for name in self.required if name not in cloud.attrs]
        if missing:
            raise UsageError(f"{where} has no {', '.join(missing)} while the first chunk has; every chunk "
                             "must carry the same attributes")
        if not np.isfinite(cloud.xyz).all():
            bad = int(np.flatnonzero(~np.isfinite(cloud.xyz).all(axis=1))[0])
            raise ScanContentError(f"{where}: point {first + bad:,} has coordinates {cloud.xyz[bad].tolist()}; "
                                   "remove points that are not finite before writing")
        units = np.rint(cloud.xyz / scale)
        if n and np.abs(units).max() > _INT32:
            raise UsageError(f"{where}: coordinates up to {np.abs(cloud.xyz).max():,.1f} from the origin do not fit "
                             f"LAS integers at scale {scale:g}; use an origin nearer the points or a larger scale")
        out = np.zeros(n, dtype=self.dtype)
        rec = out["rec"]
        for axis, name in enumerate("XYZ"):
            rec[name] = units[:, axis]
        rec["bit_fields"] = 0x11  # return 1 of 1
        attrs = cloud.attrs
        if "intensity" in self.fields:
            rec["intensity"] = np.clip(attrs["intensity"], 0, 65535)
        if "classification" in self.fields:
            rec["classification"] = attrs["classification"]
        if "point_source_id" in self.fields:
            rec["point_source_id"] = attrs["point_source_id"]
        if self.has_rgb:
            rgb = np.asarray(attrs["rgb"])
            rgb = rgb.astype(np.uint16) * np.uint16(257) if rgb.dtype == np.uint8 else np.clip(rgb, 0, 65535)
            rec["red"], rec["green"], rec["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        for las_name, attr, column, dtype in self.extras:
            values = np.asarray(attrs[attr])
            rec[las_name] = (values if column is None else values[:, column]).astype(dtype)
        out["prio"] = _mix64(np.arange(first_seq, first_seq + n, dtype=np.uint64))
        return out


class _Cube:
    """The root cube in LAS integer units: 2^bits units from ``low`` on each axis."""

    def __init__(self, imin: np.ndarray, imax: np.ndarray):
        extent = int((imax - imin).max())
        self.bits = extent.bit_length()  # 2^bits > extent
        side = 1 << self.bits
        self.low = imin - (side - 1 - (imax - imin)) // 2  # centre the points in the cube
        self.max_depth = max(self.bits - GRID_BITS, 0)  # there, grid cells are one unit

    def key(self, rec: np.ndarray, level: int) -> list[np.ndarray]:
        return [(rec[name].astype(np.int64) - self.low[axis]) >> (self.bits - level) for axis, name in enumerate("XYZ")]


class _Spill:
    """Records binned by their cell at ``level`` inside the cell ``parent_key`` of
    ``parent_level``: buffered, sorted by cell, appended to one file as runs."""

    def __init__(self, work: Path, dtype: np.dtype, cube: _Cube, level: int, parent_level: int,
                 parent_key: tuple[int, int, int], flush_points: int):
        fd, name = tempfile.mkstemp(dir=work, prefix=f"spill-L{level}-", suffix=".bin")
        self.path = Path(name)
        self.fh = os.fdopen(fd, "w+b")
        self.dtype, self.cube, self.level = dtype, cube, level
        self.parent_level, self.parent_key = parent_level, parent_key
        self.shift = level - parent_level
        self.flush_points = flush_points
        self.runs: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.counts: dict[int, int] = defaultdict(int)
        self.mins: dict[int, int] = {}
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.end = 0

    def add(self, records: np.ndarray) -> None:
        self.buffer.append(records)
        self.buffered += len(records)
        if self.buffered >= self.flush_points:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        records = self.buffer[0] if len(self.buffer) == 1 else np.concatenate(self.buffer)
        self.buffer, self.buffered = [], 0
        keys = np.zeros(len(records), dtype=np.int64)
        for axis, cell in enumerate(self.cube.key(records["rec"], self.level)):
            keys = (keys << self.shift) | (cell - (self.parent_key[axis] << self.shift))
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        records = np.take(records.view(np.dtype((np.void, self.dtype.itemsize))), order).view(self.dtype)
        starts, lengths = _runs(keys)
        lowest = np.minimum.reduceat(records["prio"], starts)
        self.fh.seek(self.end)
        self.fh.write(records.view(np.uint8))
        size = self.dtype.itemsize
        for key, start, length, low in zip(keys[starts].tolist(), starts.tolist(), lengths.tolist(), lowest.tolist()):
            self.runs[key].append((self.end + start * size, length))
            self.counts[key] += length
            self.mins[key] = min(self.mins.get(key, low), low)
        self.end += len(records) * size

    def absolute(self, key: int) -> tuple[int, int, int]:
        mask = (1 << self.shift) - 1
        rel = ((key >> (2 * self.shift)) & mask, (key >> self.shift) & mask, key & mask)
        return tuple((p << self.shift) + r for p, r in zip(self.parent_key, rel))

    def read(self, key: int) -> np.ndarray:
        out = np.empty(self.counts[key], dtype=self.dtype)
        at = 0
        for offset, length in self.runs[key]:
            _read_into(self.fh, offset, out[at:at + length])
            at += length
        return out

    def batches(self, key: int, size: int) -> Iterator[np.ndarray]:
        for offset, length in self.runs[key]:
            for start in range(0, length, size):
                part = np.empty(min(size, length - start), dtype=self.dtype)
                _read_into(self.fh, offset + start * self.dtype.itemsize, part)
                yield part

    def close(self) -> None:
        self.fh.close()
        self.path.unlink(missing_ok=True)


class _NodePieces:
    """Parts of the nodes that span several cells, kept until every cell is done:
    in memory up to a limit, then appended to a file as runs."""

    def __init__(self, work: Path, dtype: np.dtype, limit: int):
        self.work, self.dtype, self.limit = work, dtype, limit
        self.memory: dict[tuple, list[np.ndarray]] = defaultdict(list)
        self.held = 0
        self.runs: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
        self.fh = None
        self.end = 0

    def add(self, node: tuple, records: np.ndarray) -> None:
        self.memory[node].append(records.copy())
        self.held += len(records)
        if self.held >= self.limit:
            self._flush()

    def _flush(self) -> None:
        if self.fh is None:
            fd, name = tempfile.mkstemp(dir=self.work, prefix="nodes-", suffix=".bin")
            self.fh, self.path = os.fdopen(fd, "w+b"), Path(name)
        self.fh.seek(self.end)
        for node, parts in self.memory.items():
            records = np.concatenate(parts)
            self.fh.write(records.view(np.uint8))
            self.runs[node].append((self.end, len(records)))
            self.end += len(records) * self.dtype.itemsize
        self.memory.clear()
        self.held = 0

    def nodes(self) -> Iterator[tuple[tuple, np.ndarray]]:
        for node in sorted(set(self.memory) | set(self.runs)):
            parts = []
            for offset, length in self.runs.get(node, []):
                part = np.empty(length, dtype=self.dtype)
                _read_into(self.fh, offset, part)
                parts.append(part)
            parts += self.memory.pop(node, [])
            yield node, parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.path.unlink(missing_ok=True)


class _ChunkSink:
    """Compresses nodes as LAZ chunks (one variable-size chunk per node) into the output."""

    def __init__(self, fh, laz_vlr, limit: int):
        import lazrs  # noqa: PLC0415

        self.compressor = lazrs.ParLasZipCompressor(fh, laz_vlr)
        self.limit = limit
        self.order: list[tuple[tuple, int]] = []  # (node, points) in file order
        self.pending: list[np.ndarray] = []
        self.pending_points = 0
        self.seen: set[tuple] = set()

    def add(self, node: tuple, records: np.ndarray) -> None:
        if node in self.seen:
            raise AssertionError(f"COPC node {node} written twice")
        self.seen.add(node)
        self.order.append((node, len(records)))
        # a copy: a view would keep the whole cell it comes from alive until the next flush
        self.pending.append(np.ascontiguousarray(records).view(np.uint8).copy())
        self.pending_points += len(records)
        if self.pending_points >= self.limit:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.compressor.compress_chunks(self.pending)
            self.pending, self.pending_points = [], 0

    def done(self) -> None:
        self.flush()
        self.compressor.done()


class _Writer:
    def __init__(self, path: Path, tmp: Path, work: Path, *, scale: float, origin: np.ndarray | None,
                 extra_dims: Sequence[str] | None, crs_wkt: str | None, max_ppn: int, memory_limit: int):
        self.path, self.tmp, self.work = path, tmp, work
        self.scale, self.origin, self.extra_dims, self.crs_wkt = scale, origin, extra_dims, crs_wkt
        self.max_ppn, self.memory_limit = max_ppn, memory_limit
        self.flush_points = max(memory_limit // 4, 10_000)
        self.layout: _Layout | None = None
        self.counts: dict[tuple, int] = {}  # (level, x, y, z) -> points in that cube
        self.mins: dict[tuple, int] = {}  # (level, x, y, z) -> lowest priority in that cube
        self.points_per_level: dict[int, int] = defaultdict(int)

    # ---- input

    def _checked(self, chunks: Iterable[PointCloud]) -> Iterator[tuple[PointCloud, str]]:
        """Non-empty chunks, each in the writer's frame; fixes the layout on the first."""
        for index, cloud in enumerate(chunks):
            where = f"{self.path}: chunk {index + 1}"
            if not isinstance(cloud, PointCloud):
                raise UsageError(f"{where} is a {type(cloud).__name__}, not a PointCloud")
            if self.origin is None:
                self.origin = cloud.origin.copy()
            elif not np.array_equal(cloud.origin, self.origin):
                raise UsageError(f"{where} has origin {cloud.origin.tolist()} but the cloud's origin is "
                                 f"{self.origin.tolist()}: every chunk must be in the same local frame")
            if not len(cloud):
                continue
            if self.layout is None:
                self.layout = _Layout(cloud, self.extra_dims, self.path)
            yield cloud, where

    def _record_batches(self, chunks: Iterable[PointCloud]) -> Iterator[np.ndarray]:
        seq = 0
        for cloud, where in self._checked(chunks):
            for start in range(0, len(cloud), self.flush_points):  # a huge chunk in parts
                part = cloud if len(cloud) <= self.flush_points else cloud.subset(slice(start, start + self.flush_points))
                yield self.layout.records(part, self.scale, seq, where, start)
                seq += len(part)

    def _first_pass(self, factory) -> tuple[np.ndarray, np.ndarray, int]:
        low, high, total = np.full(3, np.inf), np.full(3, -np.inf), 0
        for cloud, where in self._checked(factory()):
            xyz = cloud.xyz
            if not np.isfinite(xyz).all():
                raise ScanContentError(f"{where} has coordinates that are not finite; remove them before writing")
            low, high = np.minimum(low, xyz.min(axis=0)), np.maximum(high, xyz.max(axis=0))
            total += len(cloud)
        return low, high, total

    def _units(self, low, high) -> tuple[np.ndarray, np.ndarray]:
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        if not (np.isfinite(low).all() and np.isfinite(high).all()) or (low > high).any():
            raise UsageError(f"{self.path}: bounds {low.tolist()}..{high.tolist()} do not describe a box")
        imin, imax = np.rint(low / self.scale), np.rint(high / self.scale)
        if max(np.abs(imin).max(), np.abs(imax).max()) > _INT32:
            raise UsageError(f"{self.path}: coordinates up to {max(np.abs(low).max(), np.abs(high).max()):,.1f} from "
                             f"the origin do not fit LAS integers at scale {self.scale:g}; use an origin nearer "
                             "the points or a larger scale")
        return imin.astype(np.int64), imax.astype(np.int64)

    # ---- the whole write

    def run(self, factory, chunks, bounds, count) -> CopcSummary:
        staged = None
        try:
            if bounds is not None:
                imin, imax = self._units(*bounds)
                source = self._record_batches(factory() if factory is not None else chunks)
                check = (imin, imax)
            elif factory is not None:
                low, high, count = self._first_pass(factory)
                if not count:
                    raise ScanContentError(f"{self.path}: the chunks hold no points; a COPC file needs at least one")
                imin, imax = self._units(low, high)
                source = self._record_batches(factory())
                check = None
            else:
                staged, imin, imax, count = self._stage(chunks)
                source = staged.batches(0, self.flush_points)
                check = None
            self.cube = _Cube(imin, imax)
            top = self._distribute(source, count, check)
            try:
                return self._write(top)
            finally:
                top.close()
        finally:
            if staged is not None:
                staged.close()

    def _stage(self, chunks) -> tuple[_Spill, np.ndarray, np.ndarray, int]:
        """One pass over a single-use iterable: records to a file, bounds on the way."""
        staged = None
        imin, imax = np.full(3, np.iinfo(np.int64).max), np.full(3, np.iinfo(np.int64).min)
        try:
            for records in self._record_batches(chunks):
                if staged is None:
                    staged = _Spill(self.work, self.layout.dtype, None, 0, 0, (0, 0, 0), self.flush_points)
                    staged.runs[0], staged.counts[0] = [], 0
                rec = records["rec"]
                for axis, name in enumerate("XYZ"):
                    imin[axis] = min(imin[axis], int(rec[name].min()))
                    imax[axis] = max(imax[axis], int(rec[name].max()))
                staged.fh.write(records.view(np.uint8))
                staged.runs[0].append((staged.end, len(records)))
                staged.counts[0] += len(records)
                staged.end += records.nbytes
        except BaseException:
            if staged is not None:
                staged.close()
            raise
        if staged is None:
            raise ScanContentError(f"{self.path}: the chunks hold no points; a COPC file needs at least one")
        return staged, imin, imax, staged.counts[0]

    def _spill_level(self, count: int | None) -> int:
        top = min(_MAX_SPILL_LEVEL, self.cube.max_depth)
        if count is None:
            return min(4, top)
        level = 0
        while level < top and count / 4**level > self.memory_limit / 4:
            level += 1
        return level

    def _distribute(self, source: Iterator[np.ndarray], count: int | None, check) -> _Spill:
        level = self._spill_level(count)
        spill = None
        self.imin, self.imax = np.full(3, np.iinfo(np.int64).max), np.full(3, np.iinfo(np.int64).min)
        self.total = 0
        try:
            for records in source:
                if spill is None:
                    spill = _Spill(self.work, self.layout.dtype, self.cube, level, 0, (0, 0, 0), self.flush_points)
                rec = records["rec"]
                for axis, name in enumerate("XYZ"):
                    self.imin[axis] = min(self.imin[axis], int(rec[name].min()))
                    self.imax[axis] = max(self.imax[axis], int(rec[name].max()))
                if check is not None and ((self.imin < check[0]).any() or (self.imax > check[1]).any()):
                    raise UsageError(f"{self.path}: points lie outside the given bounds "
                                     f"{(check[0] * self.scale).tolist()}..{(check[1] * self.scale).tolist()}")
                self.total += len(records)
                spill.add(records)
            if spill is None:
                raise ScanContentError(f"{self.path}: the chunks hold no points; a COPC file needs at least one")
            spill.flush()
        except BaseException:
            if spill is not None:
                spill.close()
            raise
        self.counts[(0, 0, 0, 0)] = self.total
        self.mins[(0, 0, 0, 0)] = min(spill.mins.values())
        self._register(spill)
        return spill

    def _register(self, spill: _Spill) -> None:
        """Counts and lowest priorities of the spill's cells and of their ancestors below
        the spill's parent."""
        for key, n in spill.counts.items():
            x, y, z = spill.absolute(key)
            low = spill.mins[key]
            for level in range(spill.level, spill.parent_level, -1):
                up = spill.level - level
                node = (level, x >> up, y >> up, z >> up)
                self.counts[node] = self.counts.get(node, 0) + n
                self.mins[node] = min(self.mins.get(node, low), low)

    # ---- octree

    def _cell(self, spill: _Spill, key: int) -> None:
        level, cell = spill.level, spill.absolute(key)
        if spill.counts[key] > self.memory_limit and level < self.cube.max_depth:
            finer = _Spill(self.work, self.layout.dtype, self.cube, min(level + _REFINE_LEVELS, self.cube.max_depth),
                           level, cell, self.flush_points)
            try:
                for batch in spill.batches(key, self.flush_points):
                    finer.add(batch)
                finer.flush()
                self._register(finer)
                for sub in sorted(finer.counts):
                    self._cell(finer, sub)
            finally:
                finer.close()
            return
        self._build_cell(spill.read(key), level, cell)

    def _build_cell(self, records: np.ndarray, cell_level: int, cell: tuple[int, int, int]) -> None:
        """Levels of the points of one cell; its own nodes to the output, pieces of
        the coarser nodes to ``self.pieces``."""
        cube, n = self.cube, len(records)
        rec = records["rec"]
        width = cube.bits - cell_level  # bits of a coordinate inside the cell
        bits = min(_MORTON_BITS, width)  # kept in the Morton code
        drop, inside = width - bits, (1 << width) - 1
        morton = np.zeros(n, dtype=_U64)
        for axis, name in enumerate("XYZ"):
            q = ((rec[name].astype(np.int64) - cube.low[axis]) & inside) >> drop
            morton |= _spread3(q.astype(_U64)) << _U64(2 - axis)
        order = np.argsort(morton, kind="stable")
        morton = morton[order]
        prio = records["prio"][order]
        level = np.full(n, -1, dtype=np.int16)
        deepest = min(cube.max_depth, cell_level + max(bits - GRID_BITS, 0))

        def claim(winners: np.ndarray, d: int) -> None:
            winners = winners[level[winners] < 0]
            level[winners] = d

        for d in range(cell_level):  # nodes bigger than the cell: one ancestor each
            grid = d + GRID_BITS - cell_level
            if grid < 0:  # a grid cell bigger than this cell: its lowest priority is known
                up = cell_level - d - GRID_BITS
                region = (d + GRID_BITS, cell[0] >> up, cell[1] >> up, cell[2] >> up)
                claim(np.flatnonzero(prio == _U64(self.mins[region])), d)
            else:
                claim(_run_argmins(morton >> _U64(3 * (bits - min(grid, bits))), prio), d)
            up = cell_level - d
            if self.counts[(d, cell[0] >> up, cell[1] >> up, cell[2] >> up)] <= self.max_ppn:
                level[level < 0] = d
                break
        else:
            active = np.arange(n)
            for d in range(cell_level, deepest + 1):
                r = d - cell_level
                keys = morton[active]
                claim(active[_run_argmins(keys >> _U64(3 * (bits - min(r + GRID_BITS, bits))), prio[active])], d)
                starts, lengths = _runs(keys >> _U64(3 * (bits - r)))
                leaf = lengths <= self.max_ppn if d < deepest else np.ones(len(lengths), dtype=bool)
                if leaf.any():
                    in_leaf = np.repeat(leaf, lengths)
                    rest = active[in_leaf]
                    level[rest[level[rest] < 0]] = d
                    active = active[~in_leaf]
                    if not len(active):
                        break
        if (level < 0).any():
            raise AssertionError("COPC: points left without a level")
        self._emit(rec, order, morton, level, cell_level, cell, bits)

    def _emit(self, rec, order, morton, level, cell_level, cell, bits) -> None:
        by_level = np.argsort(level, kind="stable")
        points = rec[order[by_level]]  # contiguous LAS records, by level then Morton order
        level, morton = level[by_level], morton[by_level]
        starts, lengths = _runs(level)
        for start, length in zip(starts.tolist(), lengths.tolist()):
            d = int(level[start])
            self.points_per_level[d] += length
            part = points[start:start + length]
            if d < cell_level:
                up = cell_level - d
                self.pieces.add((d, cell[0] >> up, cell[1] >> up, cell[2] >> up), part)
                continue
            node_starts, node_lengths = _runs(morton[start:start + length] >> _U64(3 * (bits - (d - cell_level))))
            firsts = part[node_starts]
            keys = self.cube.key(firsts, d)
            for i, (s, m) in enumerate(zip(node_starts.tolist(), node_lengths.tolist())):
                self.sink.add((d, int(keys[0][i]), int(keys[1][i]), int(keys[2][i])), part[s:s + m])

    # ---- file

    def _header(self, laz_vlr, info: bytes, evlr_start: int):
        import laspy  # noqa: PLC0415
        from laspy.vlrs.known import LasZipVlr  # noqa: PLC0415

        header = laspy.LasHeader(point_format=self.layout.point_format, version="1.4")
        header.offsets = self.origin
        header.scales = np.full(3, self.scale)
        header.global_encoding.wkt = True  # required for point formats 6 and up
        stamp_header(header, self.crs_wkt)  # twin <version>, EXTRACTION, the CRS as WKT1 (converted in write_copc)
        others = [v for v in header.vlrs if type(v).__name__ != "ExtraBytesVlr"]
        header.vlrs = [laspy.VLR("copc", 1, "COPC info", info), LasZipVlr(laz_vlr.record_data()), *others]
        header.are_points_compressed = True
        header.point_count = self.total
        header.number_of_points_by_return[0] = self.total  # every point: return 1 of 1
        header.mins = self.origin + self.imin * self.scale
        header.maxs = self.origin + self.imax * self.scale
        header.start_of_first_evlr = evlr_start
        header.number_of_evlrs = 1 if evlr_start else 0
        return header

    def _info(self, root_offset: int, root_size: int) -> bytes:
        halfsize = (1 << self.cube.bits) * self.scale / 2
        corner = self.origin + (self.cube.low - 0.5) * self.scale  # half a unit: no point on a face
        center = corner + halfsize
        spacing = 2 * halfsize / (1 << GRID_BITS)
        return struct.pack("<5d2Q2d11Q", *center, halfsize, spacing, root_offset, root_size, 0.0, 0.0, *[0] * 11)

    def _write(self, top: _Spill) -> CopcSummary:
        import io  # noqa: PLC0415

        import lazrs  # noqa: PLC0415

        layout = self.layout
        laz_vlr = lazrs.LazVlr.new_for_compression(layout.point_format_id, layout.point_format.num_extra_bytes, True)
        with open(self.tmp, "w+b") as fh:
            placeholder = io.BytesIO()
            self._header(laz_vlr, self._info(0, 0), 0).write_to(placeholder)
            data_start = len(placeholder.getvalue())
            fh.write(placeholder.getvalue())
            self.sink = _ChunkSink(fh, laz_vlr, self.flush_points)
            self.pieces = _NodePieces(self.work, layout.point_dtype, self.flush_points)
            try:
                for key in sorted(top.counts):
                    self._cell(top, key)
                for node, records in self.pieces.nodes():
                    self.sink.add(node, records)
            finally:
                self.pieces.close()
            self.sink.done()
            fh.flush()
            fh.seek(data_start)
            table = lazrs.read_chunk_table(fh, laz_vlr)
            if [int(c) for c, _ in table] != [n for _, n in self.sink.order]:
                raise AssertionError("COPC: the LAZ chunk table does not match the nodes written")
            entries: dict[tuple, tuple[int, int, int]] = {}
            offset = data_start + 8
            for (node, points), (_, size) in zip(self.sink.order, table):
                entries[node] = (offset, int(size), points)
                offset += int(size)
            for node in list(entries):  # every node's parent must be in the hierarchy
                d, x, y, z = node
                while d > 0:
                    d, x, y, z = d - 1, x >> 1, y >> 1, z >> 1
                    if (d, x, y, z) in entries:
                        break
                    entries[(d, x, y, z)] = (0, 0, 0)
            page = b"".join(_ENTRY.pack(*node, *entries[node]) for node in sorted(entries))
            fh.seek(0, os.SEEK_END)
            evlr_start = fh.tell()
            fh.write(_EVLR_HEADER.pack(0, b"copc", 1000, len(page), b"EPT hierarchy"))
            root_offset = fh.tell()
            fh.write(page)
            final = io.BytesIO()
            self._header(laz_vlr, self._info(root_offset, len(page)), evlr_start).write_to(final)
            if len(final.getvalue()) != data_start:
                raise AssertionError("COPC: the final header changed size")
            fh.seek(0)
            fh.write(final.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        halfsize = (1 << self.cube.bits) * self.scale / 2
        center = self.origin + (self.cube.low - 0.5) * self.scale + halfsize
        deepest = max(self.points_per_level)
        return CopcSummary(
            path=self.path, point_count=self.total, node_count=len(self.sink.order),
            points_per_level=[self.points_per_level.get(d, 0) for d in range(deepest + 1)],
            center=tuple(float(c) for c in center), halfsize=float(halfsize),
            spacing=float(2 * halfsize / (1 << GRID_BITS)), point_format=layout.point_format_id,
            extra_dims=[name for name, *_ in layout.extras],
        )


__all__ = ["LABELS", "CopcSummary", "write_cloud_copc", "write_copc"]

"""A tile store on disk: ``<folder>/tiles.json`` (the layout and the tiles' keys), and per
tile ``<folder>/<ix>_<iy>/<attribute>.npy`` with its record, ``record.json`` (points and
a hash). Each tile's record lives with the tile, so workers that update different tiles
at once never write the same file.

Tiles are working storage, so they are plain numpy arrays, one file per attribute:
float64 local coordinates and every attribute exactly as the steps made it (flags,
normals, labels), and memory-mappable, so a halo read takes the few points near the
edge of a neighbour without loading it. What leaves the store for other tools is LAZ or
COPC (:mod:`twin.io.las`, :mod:`twin.io.copc`).

Bucketing is one streaming pass (the model is untwine's first pass): each chunk's points
are appended to per-tile spill files, so memory holds one chunk at a time; ``finish``
turns each tile's spill into its arrays, one tile at a time.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from twin.errors import UsageError
from twin.io.atomic import atomic_write_bytes
from twin.models.pointcloud import PointCloud
from twin.tiles.layout import TileLayout

INDEX = "tiles.json"
RECORD = "record.json"
SPILL = "spill"


class TileRecord(BaseModel):
    key: tuple[int, int]
    points: int
    sha256: str  # of the tile's arrays, in attribute order: changes whenever a point or value does
    # the box of its points (local coordinates), so that a reader needs no pass over them;
    # None in stores written before it was kept, and for a tile without points
    lo: tuple[float, float, float] | None = None
    hi: tuple[float, float, float] | None = None


class _Spill:
    """Per-tile append-only files of raw values, with each attribute's dtype and row shape."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.columns: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.counts: dict[int, int] = {}

    def append(self, tile: int, name: str, values: np.ndarray) -> None:
        spec = (values.dtype.str, values.shape[1:])
        known = self.columns.setdefault(name, spec)
        if known != spec:
            raise UsageError(f"attribute {name!r} changed type between chunks ({known} then {spec})")
        with open(self.folder / f"{tile}.{name}.bin", "ab") as fh:
            fh.write(np.ascontiguousarray(values).tobytes())

    def read(self, tile: int, name: str) -> np.ndarray:
        dtype, shape = self.columns[name]
        path = self.folder / f"{tile}.{name}.bin"
        flat = np.fromfile(path, dtype=np.dtype(dtype)) if path.exists() else np.zeros(0, dtype=np.dtype(dtype))
        return flat.reshape((-1, *shape))


class TileStore:
    """The tiles of one cloud (one survey's model) under ``folder``."""

    def __init__(self, folder: Path, layout: TileLayout, records: dict[tuple[int, int], TileRecord]):
        self.folder = Path(folder)
        self.layout = layout
        self.records = records

    # -- building --------------------------------------------------------------------------

    @classmethod
    def bucket(cls, folder: Path, layout: TileLayout, chunks: Iterable[PointCloud]) -> TileStore:
        """Stream ``chunks`` (any frame; moved to the layout's origin) into a new store at
        ``folder``, which must not exist. Every chunk must carry the same attributes. On any
        error the folder is removed: no half-built store is left."""
        folder = Path(folder)
        if folder.exists():
            raise UsageError(f"{folder} already exists; a tile store is built into a new folder")
        spill_dir = folder / SPILL
        spill_dir.mkdir(parents=True)
        try:
            spill = _Spill(spill_dir)
            origin = np.asarray(layout.origin, dtype=np.float64)
            names: list[str] | None = None
            for chunk in chunks:
                chunk = chunk.with_origin(origin)
                if names is None:
                    names = sorted(chunk.attrs)
                elif sorted(chunk.attrs) != names:
                    raise UsageError(f"every chunk must carry the same attributes: {names} then {sorted(chunk.attrs)}")
                tile = layout.index_of(chunk.xyz)
                order = np.argsort(tile, kind="stable")
                starts = np.flatnonzero(np.diff(tile[order], prepend=-1))
                ends = np.append(starts[1:], len(order))
                for s, e in zip(starts, ends, strict=True):
                    rows = order[s:e]
                    t = int(tile[rows[0]])
                    spill.append(t, "xyz", chunk.xyz[rows])
                    for name in names:
                        spill.append(t, name, np.asarray(chunk.attrs[name])[rows])
                    spill.counts[t] = spill.counts.get(t, 0) + len(rows)
            records = {}
            for t in sorted(spill.counts):
                key = layout.key(t)
                arrays = {"xyz": spill.read(t, "xyz")} | {n: spill.read(t, n) for n in names or []}
                records[key] = _write_tile(folder / tile_dir(key), arrays)
                for name in arrays:
                    (spill_dir / f"{t}.{name}.bin").unlink(missing_ok=True)
            shutil.rmtree(spill_dir)
            store = cls(folder, layout, records)
            store._save_index()
            return store
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    @classmethod
    def open(cls, folder: Path) -> TileStore:
        folder = Path(folder)
        try:
            index = json.loads((folder / INDEX).read_text())
        except FileNotFoundError:
            raise UsageError(f"{folder} is not a tile store (no {INDEX})") from None
        layout = TileLayout.model_validate(index["layout"])
        records = {}
        for key in index["tiles"]:
            record = TileRecord.model_validate_json((folder / tile_dir(key) / RECORD).read_text())
            records[record.key] = record
        return cls(folder, layout, records)

    def _save_index(self) -> None:
        index = {"format": "twin-tiles/2", "layout": self.layout.model_dump(mode="json"),
                 "tiles": [list(k) for k in sorted(self.records)]}
        atomic_write_bytes(self.folder / INDEX, json.dumps(index, indent=1).encode())

    # -- reading and writing tiles -----------------------------------------------------------

    @property
    def keys(self) -> list[tuple[int, int]]:
        return sorted(self.records)

    @property
    def points(self) -> int:
        return sum(r.points for r in self.records.values())

    def attributes(self, key: tuple[int, int]) -> list[str]:
        return sorted(p.stem for p in (self.folder / tile_dir(key)).glob("*.npy") if p.stem != "xyz")

    def read(self, key: tuple[int, int], halo: float | None = None) -> tuple[PointCloud, int]:
        """The tile's own points, then the neighbours' points within ``halo`` (default the
        layout's) of its plan rectangle; and how many of the points are the tile's own
        (they come first). Neighbours are memory-mapped: only their halo points are read."""
        halo = self.layout.halo if halo is None else float(halo)
        own = self.arrays(key)
        parts = [own]
        if halo > 0:
            lo, hi = self.layout.bounds(key)
            for other in self.layout.neighbours(key):
                if other not in self.records:
                    continue
                arrays = self.arrays(other, mmap=True)
                xy = arrays["xyz"][:, :2]
                near = np.all((xy >= lo - halo) & (xy <= hi + halo), axis=1)
                if near.any():
                    rows = np.flatnonzero(near)
                    parts.append({k: np.asarray(v[rows]) for k, v in arrays.items()})
        # attributes every part has: a neighbour may not yet carry one the tile already has (a
        # step that wrote it to this tile first, then ran again here after a worker died)
        names = [n for n in own if n != "xyz" and all(n in p for p in parts)]
        cloud = PointCloud(np.concatenate([p["xyz"] for p in parts]), np.asarray(self.layout.origin),
                           {n: np.concatenate([p[n] for p in parts]) for n in names})
        return cloud, len(own["xyz"])

    def points_in(self, lo: np.ndarray, hi: np.ndarray, skip: tuple[int, int] | None = None) -> np.ndarray:
        """The local xyz of every point in the plan box ``lo``..``hi`` (x, y), from every
        tile the box reaches (but ``skip``), through memory maps."""
        parts = []
        for key in self.records:
            if key == skip:
                continue
            t_lo, t_hi = self.layout.bounds(key)
            if np.any(t_hi < lo) or np.any(t_lo > hi):
                continue
            xyz = self.arrays(key, mmap=True)["xyz"]
            inside = np.all((xyz[:, :2] >= lo) & (xyz[:, :2] <= hi), axis=1)
            parts.append(np.asarray(xyz[np.flatnonzero(inside)]))
        return np.concatenate(parts) if parts else np.zeros((0, 3))

    def update(self, key: tuple[int, int], attrs: dict[str, np.ndarray]) -> TileRecord:
        """Write new or changed attributes of a tile's own points (atomically per file) and
        refresh its record (the tile's own file: tiles updated at once by different workers
        never write the same file)."""
        folder = self.folder / tile_dir(key)
        n = self.records[key].points
        for name, values in attrs.items():
            if name == "xyz" or len(values) != n:
                raise UsageError(f"tile {key}: {name!r} must be an attribute of its {n} points")
            _save_array(folder / f"{name}.npy", np.asarray(values))
        old = self.records[key]
        self.records[key] = _save_record(folder, TileRecord(key=key, points=n, sha256=_digest(self.arrays(key)),
                                                            lo=old.lo, hi=old.hi))
        return self.records[key]

    def merged(self) -> PointCloud:
        """Every tile's own points in one cloud, tiles in key order (for small models and tests)."""
        parts = [self.arrays(k) for k in self.keys]
        names = [n for n in parts[0] if n != "xyz"] if parts else []
        return PointCloud(np.concatenate([p["xyz"] for p in parts]) if parts else np.empty((0, 3)),
                          np.asarray(self.layout.origin), {n: np.concatenate([p[n] for p in parts]) for n in names})

    def arrays(self, key: tuple[int, int], mmap: bool = False) -> dict[str, np.ndarray]:
        folder = self.folder / tile_dir(key)
        mode = "r" if mmap else None
        names = ["xyz", *self.attributes(key)]
        return {n: np.load(folder / f"{n}.npy", mmap_mode=mode) for n in names}


def tile_dir(key: tuple[int, int]) -> str:
    return f"{key[0]}_{key[1]}"


def _save_array(path: Path, values: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        np.save(fh, values)
    tmp.replace(path)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        values = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + values.dtype.str.encode() + str(values.shape).encode())
        h.update(memoryview(values).cast("B"))
    return h.hexdigest()


def _write_tile(folder: Path, arrays: dict[str, np.ndarray]) -> TileRecord:
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in arrays.items():
        _save_array(folder / f"{name}.npy", values)
    key = tuple(int(v) for v in folder.name.split("_"))
    xyz = arrays["xyz"]
    box = (tuple(float(v) for v in xyz.min(axis=0)), tuple(float(v) for v in xyz.max(axis=0))) if len(xyz) else (None, None)
    return _save_record(folder, TileRecord(key=key, points=len(xyz), sha256=_digest(arrays), lo=box[0], hi=box[1]))


def _save_record(folder: Path, record: TileRecord) -> TileRecord:
    atomic_write_bytes(folder / RECORD, record.model_dump_json().encode())
    return record

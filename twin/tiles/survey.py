"""A survey at full resolution through the tile store: the raw station files streamed in
chunks, each moved by its registered pose, bucketed into tiles, cleaned tile by tile,
and written out as one COPC file, so that no step holds the survey in memory.

The poses come from the survey's latest model (its registration, made on whatever the
pipeline kept of each station); the points are the stations' own, every one of them.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from twin.errors import ProcessingError, ScanReadError, UsageError
from twin.io.atomic import atomic_write_bytes
from twin.models.pointcloud import PointCloud
from twin.tiles.layout import BYTES_PER_POINT, TileLayout
from twin.tiles.store import TileStore

STATION = "station"  # uint16 attribute: the index of the station a point came from
DEFAULT_HALO = 0.5  # m: wider than the outlier step's 20-neighbour reach at survey densities
CHUNK_POINTS = 1_000_000
CROWDING = 4.0  # a first guess: a survey's densest tiles hold this many times its average density
MAX_RETILES = 4


class SurveyTiles(BaseModel):
    structure_id: str
    survey_id: str
    model: str
    store: str
    copc: str | None
    stations: int
    tiles: int
    tile_size: float
    points: int
    flagged: int
    widened: int  # points measured again past the halo (stray returns far from anything)
    written: int
    resumed: int = 0  # tile steps taken from an interrupted run of the same job instead of done again
    tile_hashes: dict[str, str] = {}  # "ix_iy" -> SHA-256 of the tile's arrays, as written
    seconds: dict[str, float]


def _pose_parts(transform: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R and the shift that take file coordinates to local coordinates about ``origin``."""
    t = np.asarray(transform, dtype=np.float64)
    return t[:3, :3], t[:3, 3] - origin


def station_chunks(path: Path, transform: np.ndarray, origin: np.ndarray, index: int, keep: list[str],
                   chunk_points: int = CHUNK_POINTS) -> Iterator[PointCloud]:
    """A station's points in chunks, moved by ``transform`` (file -> world) into the local
    frame about ``origin``, with the attributes in ``keep`` and their station index."""
    from twin.io.registry import format_for  # noqa: PLC0415

    rotation, shift = _pose_parts(transform, origin)
    for chunk in format_for(path).iter_chunks(path, chunk_points):
        xyz = chunk["xyz"]
        if not len(xyz):
            continue
        attrs = {name: chunk[name] for name in keep}
        attrs[STATION] = np.full(len(xyz), index, dtype=np.uint16)
        yield PointCloud(xyz @ rotation.T + shift, origin.copy(), attrs)


def _station_bounds(path: Path, transform: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Local bounds of a station once moved, and its point count: from its header where
    it has a box, else a streaming pass."""
    from twin.io.registry import inspect_scan  # noqa: PLC0415

    rotation, shift = _pose_parts(transform, origin)
    info = inspect_scan(path)
    if info.bounds is not None:
        lo, hi = np.asarray(info.bounds.min), np.asarray(info.bounds.max)
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        moved = corners @ rotation.T + shift
        return moved.min(axis=0), moved.max(axis=0), int(info.point_count)
    lo, hi, count = np.full(3, np.inf), np.full(3, -np.inf), 0
    for chunk in station_chunks(path, transform, origin, 0, []):
        lo, hi = np.minimum(lo, chunk.xyz.min(axis=0)), np.maximum(hi, chunk.xyz.max(axis=0))
        count += len(chunk)
    return lo, hi, count


def default_memory_budget(workers: int = 1) -> float:
    """60 % of this machine's memory, shared by ``workers`` processes (bytes)."""
    import psutil  # noqa: PLC0415

    return 0.6 * psutil.virtual_memory().total / max(1, workers)


def auto_tile_size(points: int, lo: np.ndarray, hi: np.ndarray, memory_bytes: float, halo: float) -> float:
    """The tile size for ``points`` over the plan box ``lo``..``hi`` within a memory
    budget. Points crowd onto the buildings, so the density is taken as
    ``CROWDING`` times the box's average; no larger than the survey itself."""
    from twin.tiles.layout import tile_size_for_budget  # noqa: PLC0415

    area = max(float((hi[0] - lo[0]) * (hi[1] - lo[1])), 1e-6)
    size = tile_size_for_budget(points * CROWDING, area, memory_bytes, halo)
    return float(min(size, max(hi[0] - lo[0], hi[1] - lo[1]) + 2 * halo + 1e-3))


def _common_attributes(paths: list[Path]) -> list[str]:
    """The point attributes every station's first chunk has (intensity, rgb, ...)."""
    from twin.io.registry import format_for  # noqa: PLC0415

    common: set[str] | None = None
    for path in paths:
        first = next(iter(format_for(path).iter_chunks(path, 1000)), {"xyz": None})
        names = {k for k, v in first.items() if k != "xyz" and isinstance(v, np.ndarray)}
        common = names if common is None else common & names
    return sorted((common or set()) - {STATION, "scan_index"})


def build_survey_tiles(folder: Path, stations: list[tuple[Path, np.ndarray]], origin: np.ndarray,
                       tile_size: float | None = None, halo: float = DEFAULT_HALO,
                       memory_bytes: float | None = None, chunk_points: int = CHUNK_POINTS) -> TileStore:
    """Stream every station (file, file -> world pose) into a new tile store at ``folder``;
    tiles of ``tile_size`` metres, or by default as large as ``memory_bytes`` allows
    (``default_memory_budget()``)."""
    if not stations:
        raise UsageError("no stations to tile")
    paths = [Path(p) for p, _ in stations]
    bounds = [_station_bounds(p, t, origin) for p, t in stations]
    lo = np.min([b[0] for b in bounds], axis=0)
    hi = np.max([b[1] for b in bounds], axis=0)
    keep = _common_attributes(paths)

    def chunks() -> Iterator[PointCloud]:
        for index, (path, transform) in enumerate(stations):
            yield from station_chunks(Path(path), transform, origin, index, keep, chunk_points)

    if tile_size is not None:
        return TileStore.bucket(folder, TileLayout.covering(lo, hi, origin, tile_size, halo), chunks())
    # from the budget: a first guess from the average density, then smaller tiles while
    # the densest tile with its halo would not fit (points crowd where the scanners stood)
    budget = memory_bytes if memory_bytes is not None else default_memory_budget()
    size = auto_tile_size(sum(b[2] for b in bounds), lo, hi, budget, halo)
    for _ in range(MAX_RETILES):
        store = TileStore.bucket(folder, TileLayout.covering(lo, hi, origin, size, halo), chunks())
        largest = max(len(store.read(key)[0]) for key in store.keys) * BYTES_PER_POINT
        if largest <= budget:
            return store
        shutil.rmtree(folder)
        size = 0.9 * size * math.sqrt(budget / largest)
        if size <= 2 * halo:
            break
    raise UsageError(f"a memory budget of {budget / 2**30:.2f} GiB cannot hold the densest tile of this survey with "
                     f"its {halo} m halo; raise --memory-limit or narrow the halo")


JOB = "job.json"  # in the store being built: what it is built from, so a rerun knows it may resume


def _job(scans, stations, origin, tile_size, halo, memory_bytes, k, std_ratio) -> dict:
    """Everything a store under construction depends on: the stations' files (by hash),
    their poses, the frame and the parameters."""
    return {"stations": [[s.station, s.sha256, np.asarray(t).tolist()] for s, (_, t) in zip(
                sorted(scans, key=lambda s: s.station), stations, strict=True)],
            "origin": np.asarray(origin).tolist(), "tile_size": tile_size, "halo": halo,
            "memory_bytes": None if tile_size is not None else memory_bytes, "k": k, "std_ratio": std_ratio,
            "chunk_points": CHUNK_POINTS}


def _resumable(work: Path, job: dict) -> TileStore | None:
    """The store an interrupted run of the same job left at ``work``, else None (and
    whatever is there removed)."""
    import json  # noqa: PLC0415

    try:
        if json.loads((work / JOB).read_text()) == json.loads(json.dumps(job)):
            return TileStore.open(work)
    except (FileNotFoundError, ValueError, UsageError):
        pass
    shutil.rmtree(work, ignore_errors=True)
    return None


def survey_tiles(ws, structure_id: str, survey_id: str, *, tile_size: float | None = None,
                 halo: float = DEFAULT_HALO, memory_bytes: float | None = None, k: int = 20, std_ratio: float = 2.0,
                 copc: bool = True, client=None, on_step: Callable[[str], None] = lambda m: None,
                 on_tile: Callable[[str, int, int], None] = lambda step, done, total: None) -> SurveyTiles:
    """The survey's raw stations, at full resolution, moved by the latest model's poses,
    into ``<model>/tiles/``; statistical outliers flagged per tile; with ``copc`` the
    points not flagged written as ``<model>/cloud-full.copc.laz``. The store is built
    beside the last one and replaces it only when every step succeeded: a failed run
    leaves the model folder as it was. An *interrupted* run (Ctrl-C, a killed process)
    leaves the store it was building, and the same command resumes it: the bucketing if it
    had finished, and every tile step already done (``resumed``). ``on_tile(step, done,
    total)`` follows the work tile by tile."""
    import json  # noqa: PLC0415
    import time  # noqa: PLC0415

    from twin.catalog.models import latest_model, model_crs  # noqa: PLC0415
    from twin.io.crs import crs_wkt  # noqa: PLC0415
    from twin.tiles.tasks import flag_statistical_outliers_tiled  # noqa: PLC0415

    model = latest_model(ws, structure_id, survey_id)
    registration = (model.provenance or {}).get("registration") or {}
    poses = {name: s["transform"] for name, s in (registration.get("stations") or {}).items()}
    scans = ws.scans(structure_id, survey_id)
    if len(scans) > 1 and not poses:
        raise UsageError(f"the latest model of {structure_id}/{survey_id} has no registration; process the survey "
                         "with a pipeline that registers its stations first")
    missing = [s.station for s in scans if len(scans) > 1 and s.station not in poses]
    if missing:
        raise ProcessingError(f"the latest model of {structure_id}/{survey_id} has no pose for station(s) "
                              f"{', '.join(missing)}; process the survey again")
    stations = [(ws.root / s.store_path, np.asarray(poses.get(s.station, np.eye(4)), dtype=np.float64))
                for s in sorted(scans, key=lambda s: s.station)]
    origin = model.provenance.get("origin")
    if origin is None:  # a model without a merged cloud: a round origin near the moved stations
        from twin.models.pointcloud import choose_origin  # noqa: PLC0415

        path, transform = stations[0]
        origin = choose_origin(_station_bounds(path, transform, np.zeros(3))[0])
    origin = np.asarray(origin, dtype=np.float64)
    folder = Path(model.folder) / "tiles"
    work = Path(model.folder) / ".tiles-new"  # built aside: a failed run leaves the last good store as it was
    job = _job(scans, stations, origin, tile_size, halo, memory_bytes, k, std_ratio)
    store = _resumable(work, job)
    seconds, resumed = {}, 0
    try:
        started = time.perf_counter()
        if store is None:
            on_step(f"streaming {len(stations)} station(s) into tiles")
            try:
                store = build_survey_tiles(work, stations, origin, tile_size, halo, memory_bytes)
            except ScanReadError as exc:  # name the station, not only its file in the store
                names = [s.station for s in sorted(scans, key=lambda s: s.station)]
                station = next((n for n, (path, _) in zip(names, stations, strict=True) if str(path) in str(exc)),
                               None)
                raise type(exc)(f"station {station}: {exc}" if station else str(exc)) from None
            atomic_write_bytes(work / JOB, json.dumps(job).encode())
        else:
            on_step(f"resuming the tiles an interrupted run left ({len(store.keys)} tiles, {store.points:,} points)")
        seconds["tiles"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        on_step(f"flagging outliers in {len(store.keys)} tile(s) ({store.points:,} points)")
        done: dict[str, int] = {}

        def tile_done(step: str):
            def note(key, result) -> None:
                done[step] = done.get(step, 0) + 1
                on_tile(step, done[step], len(store.keys))
            return note

        outliers = flag_statistical_outliers_tiled(work, k=k, std_ratio=std_ratio, client=client,
                                                   on_tile=tile_done("outliers"))
        resumed = outliers.resumed
        seconds["outliers"] = round(time.perf_counter() - started, 3)
        copc_path, written = None, 0
        if copc:
            started = time.perf_counter()
            copc_path = Path(model.folder) / "cloud-full.copc.laz"
            on_step(f"writing {copc_path.name}")
            written = write_store_copc(store, copc_path, crs_wkt=crs_wkt(model_crs(ws, model)))  # atomic
            seconds["copc"] = round(time.perf_counter() - started, 3)
        final = TileStore.open(work).records  # as the steps left them (each wrote its tiles' records)
        hashes = {f"{key[0]}_{key[1]}": final[key].sha256 for key in store.keys}
        (work / JOB).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
    except Exception:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # anything else (KeyboardInterrupt, SystemExit) is an interruption: the store being
    # built stays for the same command to resume
    return SurveyTiles(structure_id=structure_id, survey_id=survey_id, model=model.key, store=str(folder),
                       copc=str(copc_path) if copc_path else None, stations=len(stations), tiles=len(store.keys),
                       tile_size=store.layout.size, points=store.points, flagged=outliers.flagged,
                       widened=outliers.widened, written=written, resumed=resumed, tile_hashes=hashes, seconds=seconds)


def write_store_copc(store: TileStore, path: Path, crs_wkt: str | None = None) -> int:
    """Write every tile's own points that carry no flag as one COPC file, a tile at a time;
    the number of points written."""
    from twin.io.copc import write_copc  # noqa: PLC0415

    def chunks() -> Iterator[PointCloud]:
        for key in store.keys:
            arrays = store.arrays(key)
            keep = arrays["flags"] == 0 if "flags" in arrays else np.ones(len(arrays["xyz"]), dtype=bool)
            attrs = {n: np.asarray(v)[keep] for n, v in arrays.items()
                     if n in ("intensity", "rgb", "classification", "point_source_id")}
            yield PointCloud(np.asarray(arrays["xyz"])[keep], np.asarray(store.layout.origin), attrs)

    return write_copc(chunks, path, origin=np.asarray(store.layout.origin), crs_wkt=crs_wkt).point_count

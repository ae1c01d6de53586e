"""Coverage and occlusion of each structure's latest model against its footprint (issue 16.2):
the workspace's side of twin.ops.coverage.

For every structure with an inventory footprint and a processed model (the latest one,
as twin.inventory.heights picks it): the footprint is brought into the model's CRS, the
model's cloud read, each point's scanner found from the registration's record (so that
openings seen through are told from holes), the coverage measured, and stations suggested
(other footprints nearby are ground no station stands on). The figures are kept under
``cache/coverage/`` keyed by the model, the footprints and the rules' version (a note why
not, too): a status computes them once per model and footprint, then reads them back.

A structure with a footprint and a model that cannot be measured gets a note saying why
(a model in its scans' own frame, no point of the model near the footprint).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np

from twin.io.atomic import atomic_write_bytes
from twin.models.coverage import Coverage

NEIGHBOURHOOD_M = 100.0  # other footprints this near may stand where a station would


@dataclass
class Measured:
    coverage: Coverage | None
    note: str | None = None


def footprint_coverage(ws, records=None) -> dict[str, Measured]:
    """Structure id -> its measure, for every structure with a footprint and a model on disk.
    ``records``: the inventory entries (twin.catalog.inventory.list_inventory) when the caller
    has them already."""
    from twin.catalog.inventory import list_inventory  # noqa: PLC0415
    from twin.inventory.heights import latest_model_rows  # noqa: PLC0415

    models = latest_model_rows(ws)
    if not models:
        return {}
    records = list_inventory(ws) if records is None else records
    with_footprint = {r.id: r for r in records if r.footprint and r.crs_epsg}
    out = {}
    for sid in sorted(set(with_footprint) & set(models)):
        row = models[sid]
        if not row["crs_epsg"]:
            out[sid] = Measured(None, f"the model of {row['survey_id']} is in its scans' own frame (no CRS): its "
                                      "points cannot be laid on the footprint")
            continue
        out[sid] = _measure(ws, with_footprint[sid], row, with_footprint)
    return out


def _measure(ws, record, row, footprints: dict) -> Measured:
    from twin.catalog.models import latest_model  # noqa: PLC0415

    epsg = int(row["crs_epsg"])
    footprint = _in_crs(record, epsg)
    others = []
    for other in footprints.values():
        if other.id == record.id:
            continue
        polygon = _in_crs(other, epsg)
        if polygon.distance(footprint) <= NEIGHBOURHOOD_M and not polygon.intersects(footprint):
            others.append(polygon)  # a complex holding the structure is no obstacle round it
    key = _cache_key(row["key"], footprint, others)
    cache = ws.root / "cache" / "coverage" / f"{key}.json"
    if cache.is_file():
        kept = json.loads(cache.read_text(encoding="utf-8"))
        return Measured(None, kept["note"]) if "note" in kept else Measured(Coverage.model_validate(kept))
    model = latest_model(ws, record.id, row["survey_id"])
    started = time.perf_counter()
    figures = _coverage(model, footprint, others)
    if figures is None:
        note = (f"no point of the model of {row['survey_id']} lies near the footprint: is the footprint where the "
                f"survey is (EPSG:{epsg})?")
        atomic_write_bytes(cache, json.dumps({"note": note}).encode("utf-8"))
        return Measured(None, note)
    figures = figures.model_copy(update={"crs_epsg": epsg, "model_key": row["key"], "survey_id": row["survey_id"],
                                         "seconds": round(time.perf_counter() - started, 2)})
    atomic_write_bytes(cache, figures.model_dump_json().encode("utf-8"))
    return Measured(figures)


def _coverage(model, footprint, others) -> Coverage | None:
    from twin.io.registry import read_scan  # noqa: PLC0415
    from twin.ops.coverage import measure_coverage  # noqa: PLC0415
    from twin.ops.coverage.stations import suggest_stations  # noqa: PLC0415

    cloud = read_scan(model.require_cloud())
    scanners, scanner_of = scanner_of_points(model.provenance, cloud)
    result = measure_coverage(cloud.xyz, _local(footprint, cloud.origin), origin=cloud.origin, scanners=scanners,
                              scanner_of=scanner_of)
    if result is None:
        return None
    used = None if scanners is None else scanners[np.unique(scanner_of[scanner_of >= 0])]
    suggested, unseen = suggest_stations(result, cloud.xyz, others=[p for o in others for p in _local(o, cloud.origin)],
                                         origin=cloud.origin, scanners=used)
    return result.figures.model_copy(update={"stations": suggested, "unseen_holes": unseen})


def scanner_of_points(provenance: dict, cloud) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(k, 3) scanner positions in the cloud's local frame and, per point, the row of its
    scanner (-1: unknown), from the registration's record and the points' source ids; (None,
    None) where the model does not say."""
    reg = provenance.get("registration") or {}
    index, where = reg.get("station_index") or {}, reg.get("scanner_positions") or {}
    ids = cloud.attrs.get("point_source_id")
    if not index or ids is None:
        return None, None
    table = np.full((max(index.values()) + 1, 3), np.nan)
    for name, i in index.items():
        if where.get(name) is not None:
            table[i] = np.asarray(where[name], dtype=np.float64) - cloud.origin
    known = np.isfinite(table).all(axis=1)
    if not known.any():
        return None, None
    ids = np.asarray(ids, dtype=np.int64)
    valid = (ids >= 0) & (ids < len(table))
    valid[valid] &= known[ids[valid]]
    return np.where(known[:, None], table, 0.0), np.where(valid, ids, -1)


def _in_crs(record, epsg: int):
    import shapely  # noqa: PLC0415
    from shapely.geometry import shape  # noqa: PLC0415

    geometry = shape(record.footprint)
    if record.crs_epsg != epsg:
        from pyproj import Transformer  # noqa: PLC0415

        t = Transformer.from_crs(record.crs_epsg, epsg, always_xy=True)
        geometry = shapely.transform(geometry, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    return geometry


def _local(geometry, origin: np.ndarray) -> list[list[np.ndarray]]:
    """Polygons as lists of rings (exterior first) in the cloud's local frame."""
    parts = getattr(geometry, "geoms", [geometry])
    return [[np.asarray(ring.coords)[:, :2] - origin[:2] for ring in (p.exterior, *p.interiors)] for p in parts]


def _cache_key(model_key: str, footprint, others) -> str:
    import shapely  # noqa: PLC0415

    from twin.ops.coverage import RULES_VERSION  # noqa: PLC0415

    text = json.dumps({"rules": RULES_VERSION, "model": model_key,
                       "footprint": shapely.to_wkt(footprint, rounding_precision=3),
                       "others": sorted(shapely.to_wkt(o, rounding_precision=3) for o in others)})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

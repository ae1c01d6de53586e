"""The vertical extent of each structure's latest processed model, as the workspace knows it:
what the inventory export extrudes a footprint to (CityJSON LoD1) and reports as the model's
height.

The latest model of a structure is its most recently built one (any survey) whose folder
still exists. Its extent is read from the cloud's header where the format has bounds there
(LAS/LAZ: no point is read), else by streaming the cloud's points, else the vertices of its
coarsest mesh level. Coordinates are the model's: in its CRS (``crs_epsg``) when it has one,
else in the frame of its scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from twin.catalog import db
from twin.catalog.models import CLOUD_NAMES


@dataclass(frozen=True)
class ModelExtent:
    structure_id: str
    survey_id: str
    model_key: str
    crs_epsg: int | None  # None: the model is in its scans' own frame
    z_min: float
    z_max: float
    source: str  # the file the extent was read from, relative to the model folder
    folder: Path | None = None  # the model folder

    def coarsest_mesh(self) -> Path | None:
        return coarsest_mesh(self.folder) if self.folder else None

    @property
    def height(self) -> float:
        return self.z_max - self.z_min


def latest_model_rows(ws) -> dict[str, dict]:
    """Structure id -> the catalog row (survey_id, key, path, crs_epsg) of its latest model
    whose folder still exists."""
    m = db.models
    query = select(m.c.structure_id, m.c.survey_id, m.c.key, m.c.path, m.c.crs_epsg).order_by(
        m.c.structure_id, m.c.created_at.desc())
    with ws.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out: dict[str, dict] = {}
    for row in rows:
        if row["structure_id"] not in out and (ws.root / row["path"]).is_dir():
            out[row["structure_id"]] = dict(row)
    return out


def latest_model_extents(ws) -> dict[str, ModelExtent]:
    """Structure id -> the extent of its latest model, for every structure with a model on disk."""
    out: dict[str, ModelExtent] = {}
    for sid, row in latest_model_rows(ws).items():
        folder = ws.root / row["path"]
        found = _z_range(folder)
        if found is not None:
            (z_min, z_max), source = found
            out[sid] = ModelExtent(structure_id=sid, survey_id=row["survey_id"], model_key=row["key"],
                                   crs_epsg=row["crs_epsg"], z_min=z_min, z_max=z_max, source=source,
                                   folder=folder)
    return out


def coarsest_mesh(folder: Path) -> Path | None:
    """A model folder's coarsest mesh level (its smallest ``mesh-*.ply``), if it has one."""
    meshes = sorted(folder.glob("mesh-*.ply"), key=lambda p: p.stat().st_size)
    return meshes[0] if meshes else None


def _z_range(folder: Path) -> tuple[tuple[float, float], str] | None:
    """((z_min, z_max), file name) of a model folder: its cloud, else its coarsest mesh."""
    from twin.io.registry import inspect_scan  # noqa: PLC0415

    candidates = [folder / name for name in CLOUD_NAMES if (folder / name).is_file()]
    candidates += [m for m in [coarsest_mesh(folder)] if m is not None]
    for path in candidates:
        info = inspect_scan(path)
        bounds = info.bounds or inspect_scan(path, stats=True).stats.bounds
        if bounds is not None:
            return (float(bounds.min[2]), float(bounds.max[2])), path.name
    return None

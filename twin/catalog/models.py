"""Reading processed models from the catalog: the latest model of a survey and its files.

A model folder (``models/<structure>/<survey>/<key>/``, written by the pipeline runner)
holds ``cloud.laz`` (or ``.las``/``.ply``), ``mesh-<level>.ply`` per level of detail and
``provenance.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from twin.catalog import db
from twin.errors import NotFoundError

CLOUD_NAMES = ("cloud.laz", "cloud.las", "cloud.ply")


@dataclass
class ModelFiles:
    """One processed model: its catalog row and where its files are."""

    key: str
    structure_id: str
    survey_id: str
    pipeline: str
    folder: Path
    point_count: int
    face_count: int
    created_at: str
    provenance: dict

    @property
    def cloud(self) -> Path | None:
        return next((self.folder / n for n in CLOUD_NAMES if (self.folder / n).is_file()), None)

    @property
    def meshes(self) -> dict[str, Path]:
        """Mesh files by level name (``mesh-full.ply`` -> ``full``)."""
        out = {}
        for path in sorted(self.folder.glob("mesh-*.ply")):
            out[path.stem.split("-", 1)[1]] = path
        return out

    def finest_mesh(self) -> Path | None:
        """``mesh-full.ply`` if there is one, else the level with the most faces (by its
        name, e.g. ``200k``, else by file size)."""
        meshes = self.meshes
        if not meshes:
            return None
        if "full" in meshes:
            return meshes["full"]
        return max(meshes.values(), key=lambda p: (_faces_in_name(p.stem), p.stat().st_size))

    def require_cloud(self) -> Path:
        cloud = self.cloud
        if cloud is None:
            raise NotFoundError(
                f"model {self.key[:12]} of {self.structure_id}/{self.survey_id} has no cloud file in {self.folder}; "
                f"rerun: twin process {self.structure_id} --survey {self.survey_id}"
            )
        return cloud

    @property
    def registration(self) -> dict | None:
        return self.provenance.get("registration")

    def scanner_positions(self) -> list[list[float]]:
        """Scanner stations (world coordinates) the registration recorded, if any."""
        positions = (self.registration or {}).get("scanner_positions") or {}
        return [list(map(float, p)) for p in positions.values() if p is not None]


def _faces_in_name(stem: str) -> float:
    m = re.search(r"(\d+(?:\.\d+)?)([km]?)$", stem)
    if not m:
        return 0.0
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2)]


def latest_model(ws, structure_id: str, survey_id: str) -> ModelFiles:
    """The most recent model of a survey whose folder still exists.

    Raises NotFoundError for an unknown structure or survey, or a survey never processed.
    """
    ws.require_survey(structure_id, survey_id)
    m = db.models
    query = (
        select(m)
        .where((m.c.structure_id == structure_id) & (m.c.survey_id == survey_id))
        .order_by(m.c.created_at.desc())
    )
    with ws.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    for row in rows:
        folder = ws.root / row["path"]
        if folder.is_dir():
            created = row["created_at"]
            return ModelFiles(
                key=row["key"],
                structure_id=structure_id,
                survey_id=survey_id,
                pipeline=row["pipeline"],
                folder=folder,
                point_count=row["point_count"],
                face_count=row["face_count"],
                created_at=created.isoformat(timespec="seconds") if hasattr(created, "isoformat") else str(created),
                provenance=json.loads(row["provenance_json"] or "{}"),
            )
    raise NotFoundError(
        f"survey {structure_id}/{survey_id} has no processed model yet; run: "
        f"twin process {structure_id} --survey {survey_id}"
    )


def all_models(ws, structure_id: str) -> list[ModelFiles]:
    """The latest model of each survey of a structure that has one (survey order)."""
    out = []
    for survey in ws.surveys(structure_id):
        try:
            out.append(latest_model(ws, structure_id, survey.id))
        except NotFoundError:
            continue
    return out


def model_crs(ws, model) -> object | None:
    """The model's CRS as a CRSInfo (EPSG code or WKT of its reference station), or None."""
    from sqlalchemy import select  # noqa: PLC0415

    from twin.catalog import db  # noqa: PLC0415
    from twin.models.scan import CRSInfo  # noqa: PLC0415

    crs = model.provenance.get("crs") or {}
    if not crs.get("epsg") and not crs.get("name"):
        return None
    wkt = None
    if not crs.get("epsg"):
        reference = (model.provenance.get("registration") or {}).get("reference")
        sc = db.scans
        query = select(sc.c.station, sc.c.crs_wkt).where(
            (sc.c.structure_id == model.structure_id) & (sc.c.survey_id == model.survey_id) & sc.c.crs_wkt.is_not(None)
        ).order_by(sc.c.station)
        with ws.engine.connect() as conn:
            rows = conn.execute(query).all()
        wkt = next((w for s, w in rows if s == reference), rows[0][1] if rows else None)
    return CRSInfo(name=crs.get("name"), epsg=crs.get("epsg"), wkt=wkt, source="model")

"""Comparisons in the catalog: which surveys were compared, how, and where the results are.

Each run of ``twin compare STRUCTURE --from A --to B`` adds a row (nothing is overwritten
in the catalog; the output folder of a rerun replaces the earlier one).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select

from twin.catalog import db


class ComparisonRecord(BaseModel):
    id: int
    structure_id: str
    from_survey: str
    to_survey: str
    method: str
    params: dict
    path: str
    from_model: str | None = None
    to_model: str | None = None
    layers_rev: int | None = None
    created_at: str
    summary: dict

    def folder(self, root: Path) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else root / path


def record_comparison(ws, *, structure_id: str, from_survey: str, to_survey: str, method: str, params: dict,
                      folder: Path, from_model: str | None, to_model: str | None, layers_rev: int | None,
                      summary: dict) -> int:
    """Add a comparison to the catalog (one transaction); returns its id."""
    folder = Path(folder).resolve()
    try:
        path = str(folder.relative_to(ws.root.resolve()))
    except ValueError:
        path = str(folder)
    with db.transaction(ws.engine) as conn:
        result = conn.execute(
            db.comparisons.insert().values(
                structure_id=structure_id, from_survey=from_survey, to_survey=to_survey, method=method,
                params_json=json.dumps(params, sort_keys=True), path=path, from_model=from_model,
                to_model=to_model, layers_rev=layers_rev, summary_json=json.dumps(summary, sort_keys=True),
                created_at=db.now(),
            )
        )
        return int(result.inserted_primary_key[0])


def comparisons(ws, structure_id: str, from_survey: str | None = None, to_survey: str | None = None,
                method: str | None = None) -> list[ComparisonRecord]:
    """Recorded comparisons of a structure, newest first."""
    c = db.comparisons
    query = select(c).where(c.c.structure_id == structure_id).order_by(c.c.created_at.desc(), c.c.id.desc())
    if from_survey is not None:
        query = query.where(c.c.from_survey == from_survey)
    if to_survey is not None:
        query = query.where(c.c.to_survey == to_survey)
    if method is not None:
        query = query.where(c.c.method == method)
    with ws.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        ComparisonRecord(
            id=r["id"], structure_id=r["structure_id"], from_survey=r["from_survey"], to_survey=r["to_survey"],
            method=r["method"], params=json.loads(r["params_json"]), path=r["path"], from_model=r["from_model"],
            to_model=r["to_model"], layers_rev=r["layers_rev"],
            created_at=r["created_at"].isoformat(timespec="seconds") if hasattr(r["created_at"], "isoformat")
            else str(r["created_at"]),
            summary=json.loads(r["summary_json"]),
        )
        for r in rows
    ]

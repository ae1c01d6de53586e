"""``twin inventory status``: per structure and per complex, what the catalog says of its
surveys, layers, labels and last comparison, and the priority list. Everything is derived
from the catalog (a handful of queries, whatever the number of structures); nothing is typed in.

The coverage of each footprint by the latest model (walls and roof sampled, occlusion holes,
suggested stations) is twin.inventory.coverage's, measured once per model and footprint.

The HTML page of the status is twin.report.inventory_page, the GIS export twin.export.inventory
(both through the flat table of twin.inventory.table). Not yet here (issue 16.2): point density.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy import func, select

from twin.catalog import db
from twin.models.inventory import ComplexStatus, Priority, StatusReport, StructureStatus, SurveyDate

REASONS = ("never surveyed", "stale", "significant change", "low coverage")


def inventory_status(ws, stale_years: float = 10.0, change_share: float = 0.05,
                     as_of: dt.date | None = None, *, coverage: bool = True,
                     min_coverage: float = 0.8) -> StatusReport:
    """The status of every structure. A structure is *stale* when its latest survey is more
    than ``stale_years`` old; its last comparison shows a *significant change* when at least
    ``change_share`` of its core points changed beyond their level of detection; its
    coverage is *low* when its latest model samples less than ``min_coverage`` of its
    footprint's walls (the roof, rarely reached from the ground, is reported, not ranked).
    ``coverage=False`` leaves coverage unmeasured."""
    as_of = as_of or dt.date.today()
    s, sv, lr, m, c = db.structures, db.surveys, db.layer_revisions, db.models, db.comparisons
    with ws.engine.connect() as conn:
        structures = conn.execute(select(s.c.id, s.c.inventory_number, s.c.name, s.c.name_vi, s.c.name_en, s.c.type,
                                         s.c.designation, s.c.parent_id).order_by(s.c.id)).mappings().all()
        surveys = conn.execute(select(sv.c.structure_id, sv.c.id, sv.c.date, sv.c.created_at)).mappings().all()
        latest_rev = (select(lr.c.structure_id, func.max(lr.c.rev).label("rev")).group_by(lr.c.structure_id)
                      .subquery())
        layers = conn.execute(
            select(lr.c.structure_id, lr.c.rev, lr.c.n_elements, lr.c.n_phases, lr.c.n_materials, lr.c.content_json)
            .join(latest_rev, (lr.c.structure_id == latest_rev.c.structure_id) & (lr.c.rev == latest_rev.c.rev))
        ).mappings().all()
        n_models = dict(conn.execute(select(m.c.structure_id, func.count()).group_by(m.c.structure_id)).all())
        latest_model = (select(m.c.structure_id, func.max(m.c.created_at).label("at")).group_by(m.c.structure_id)
                        .subquery())
        models = conn.execute(
            select(m.c.structure_id, m.c.point_count, m.c.provenance_json)
            .join(latest_model, (m.c.structure_id == latest_model.c.structure_id) & (m.c.created_at == latest_model.c.at))
        ).mappings().all()
        latest_cmp = (select(c.c.structure_id, func.max(c.c.id).label("id")).group_by(c.c.structure_id).subquery())
        comparisons = conn.execute(
            select(c).join(latest_cmp, c.c.id == latest_cmp.c.id)
        ).mappings().all()

    by_structure: dict[str, list] = {}
    for row in surveys:
        by_structure.setdefault(row["structure_id"], []).append(row)
    layers_of = {r["structure_id"]: r for r in layers}
    labelled = {r["structure_id"]: _labelled_share(r) for r in models}
    compared = {r["structure_id"]: r for r in comparisons}
    measured = {}
    if coverage:
        from twin.inventory.coverage import footprint_coverage  # noqa: PLC0415

        measured = footprint_coverage(ws)

    out: list[StructureStatus] = []
    for row in structures:
        sid = row["id"]
        dated = sorted(((_survey_date(r), r) for r in by_structure.get(sid, [])), key=lambda t: (t[0], t[1]["id"]))
        status = StructureStatus(
            id=sid, inventory_number=row["inventory_number"], name=row["name_vi"] or row["name_en"] or row["name"],
            type=row["type"], designation=row["designation"], parent_id=row["parent_id"],
            surveys=[SurveyDate(id=r["id"], date=d.isoformat() if d else None) for d, r in dated],
            models=n_models.get(sid, 0), labelled_share=labelled.get(sid),
        )
        if dated:
            last = dated[-1][0]
            status.last_survey = last.isoformat()
            status.age_years = round((as_of - last).days / 365.25, 2)
        if sid in layers_of:
            rev = layers_of[sid]
            content = json.loads(rev["content_json"] or "{}")
            status.layers_rev = rev["rev"]
            status.layers = {"elements": rev["n_elements"], "phases": rev["n_phases"],
                             "materials": rev["n_materials"], "metadata": int(bool(content.get("metadata")))}
        if sid in compared:
            status.last_comparison = _comparison(compared[sid])
        if not dated:
            status.priority.append("never surveyed")
        elif status.age_years is not None and status.age_years > stale_years:
            status.priority.append("stale")
        share = (status.last_comparison or {}).get("significant_share")
        if share is not None and share >= change_share:
            status.priority.append("significant change")
        if sid in measured:
            status.coverage, status.coverage_note = measured[sid].coverage, measured[sid].note
            walls = status.coverage.walls if status.coverage is not None else None
            if walls is not None and walls < min_coverage:
                status.priority.append("low coverage")
        out.append(status)

    priorities = sorted((s for s in out if s.priority),
                        key=lambda s: (REASONS.index(s.priority[0]), -(s.age_years or 0.0), s.inventory_number or s.id))
    return StatusReport(
        as_of=as_of.isoformat(), stale_years=stale_years, change_share=change_share,
        min_coverage=min_coverage if coverage else None, structures=out,
        complexes=_complexes(out),
        priorities=[Priority(id=s.id, inventory_number=s.inventory_number, name=s.name, reasons=s.priority,
                             last_survey=s.last_survey, age_years=s.age_years) for s in priorities],
    )


def _survey_date(row) -> dt.date:
    """A survey's date: its recorded date (``2024-03-12``, ``2024-03``, ``2024``), else the day
    it entered the catalog."""
    text = row["date"] or ""
    match = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", text)
    if match:
        year, month, day = match.groups()
        try:
            return dt.date(int(year), int(month or 1), int(day or 1))
        except ValueError:
            pass
    created = row["created_at"]
    return created.date() if hasattr(created, "date") else dt.date.fromisoformat(str(created)[:10])


def _labelled_share(row) -> float | None:
    labels = (json.loads(row["provenance_json"] or "{}") or {}).get("labels")
    if not labels:
        return None
    labelled = sum((labels.get("points_per_element") or {}).values())
    total = labelled + int(labels.get("unlabelled_points") or 0)
    return round(labelled / total, 4) if total else None


def _comparison(row) -> dict:
    summary = json.loads(row["summary_json"] or "{}")
    figures = summary.get("figures") or {}
    with_distance = figures.get("with_distance") or 0
    significant = figures.get("significant")
    created = row["created_at"]
    return {
        "id": row["id"], "from_survey": row["from_survey"], "to_survey": row["to_survey"], "method": row["method"],
        "created_at": created.isoformat(timespec="seconds") if hasattr(created, "isoformat") else str(created),
        "core_points": figures.get("core_points"), "significant": significant,
        "significant_share": round(significant / with_distance, 4) if significant is not None and with_distance
        else None,
    }


def within(children: dict[str, list[str]], cid: str) -> list[str]:
    """Every id inside the complex ``cid``, at any depth; ``children`` maps an id to the ids
    of the structures directly inside it."""
    inside, todo, seen = [], list(children.get(cid, [])), {cid}
    while todo:
        sid = todo.pop()
        if sid in seen:
            continue
        seen.add(sid)
        inside.append(sid)
        todo.extend(children.get(sid, []))
    return inside


def _complexes(structures: list[StructureStatus]) -> list[ComplexStatus]:
    """Every structure that holds others, with figures over everything inside it, at any depth."""
    children: dict[str, list[str]] = {}
    for s in structures:
        if s.parent_id:
            children.setdefault(s.parent_id, []).append(s.id)
    by_id = {s.id: s for s in structures}
    out = []
    for cid in sorted(children, key=lambda i: (by_id[i].inventory_number or i) if i in by_id else i):
        inside = [by_id[sid] for sid in within(children, cid) if sid in by_id]
        lasts = [s.last_survey for s in inside if s.last_survey]
        head = by_id.get(cid)
        out.append(ComplexStatus(
            id=cid, inventory_number=head.inventory_number if head else None, name=head.name if head else None,
            structures=len(inside), surveyed=sum(1 for s in inside if s.surveys),
            never_surveyed=sum(1 for s in inside if "never surveyed" in s.priority),
            stale=sum(1 for s in inside if "stale" in s.priority),
            with_layers=sum(1 for s in inside if s.layers_rev is not None),
            significant_change=sum(1 for s in inside if "significant change" in s.priority),
            low_coverage=sum(1 for s in inside if "low coverage" in s.priority),
            oldest_last_survey=min(lasts) if lasts else None,
        ))
    return out

"""Layer revisions in the catalog: every accepted layer file is kept, nothing is overwritten.

A revision stores the YAML exactly as authored (comments included), its canonical JSON
(defaults filled in, keys sorted) and the SHA-256 of that JSON, with its author and time.
Setting a file whose canonical content equals the latest revision's records nothing. An
invalid file is refused before anything is written.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from twin.catalog import db
from twin.errors import NotFoundError, UsageError
from twin.layers.load import parse_layers, read_text
from twin.models.edtf import parse_edtf
from twin.models.layers import (
    KNOWLEDGE_STATUSES,
    FieldChange,
    ItemChange,
    LayerDiff,
    LayerFile,
    LayerRevision,
    LinkChange,
    MaterialRef,
    PhaseRef,
    QueryHit,
    RevisionInfo,
    SectionDiff,
    canonical_json,
    effective_links,
    layers_to_data,
)

AUTHOR_ENV = "TWIN_AUTHOR"

layer_revisions = db.layer_revisions  # defined with the other tables, in db


def ensure_tables(engine: Engine) -> None:
    """Create the layer tables where a catalog lacks them (idempotent)."""
    db.metadata.create_all(engine, tables=[layer_revisions])


def default_author() -> str:
    """$TWIN_AUTHOR, else the login name."""
    env = os.environ.get(AUTHOR_ENV, "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


# -- writing -------------------------------------------------------------------------------


def set_layers(ws, structure_id: str, path: Path | str, author: str | None = None,
               message: str | None = None) -> RevisionInfo:
    """Validate a layer file and record it as the structure's next revision.

    Refuses an unknown structure (:class:`NotFoundError`) and an invalid file
    (:class:`SpecError`) before writing anything. Content identical to the latest revision
    records nothing: the latest revision comes back with ``created=False``.
    """
    ws.require_structure(structure_id)
    path = Path(path)
    text = read_text(path)
    layers = parse_layers(text, source=str(path))
    content = canonical_json(layers)
    sha = _sha256(content)
    author = (author or "").strip() or default_author()
    ensure_tables(ws.engine)
    t = layer_revisions
    for _attempt in range(3):
        try:
            with db.transaction(ws.engine) as conn:
                latest = conn.execute(
                    select(t).where(t.c.structure_id == structure_id).order_by(t.c.rev.desc()).limit(1)
                ).mappings().first()
                if latest is not None and latest["sha256"] == sha:
                    info = _info(latest)
                    info.created = False
                    return info
                row = {
                    "structure_id": structure_id,
                    "rev": (latest["rev"] if latest else 0) + 1,
                    "author": author,
                    "message": message,
                    "source_name": str(path),
                    "sha256": sha,
                    "yaml_text": text,
                    "content_json": content,
                    "n_elements": len(layers.elements),
                    "n_phases": len(layers.phases),
                    "n_materials": len(layers.materials),
                    "created_at": db.now(),
                }
                conn.execute(t.insert().values(**row))
            return _info(row)
        except SQLIntegrityError:  # another writer took the same revision number: try the next
            continue
    raise RuntimeError(f"could not record layers of {structure_id!r}: the catalog is busy; try again")


# -- reading -------------------------------------------------------------------------------


def history(ws, structure_id: str) -> list[RevisionInfo]:
    """Every revision of a structure's layers, oldest first (empty when none yet)."""
    ws.require_structure(structure_id)
    ensure_tables(ws.engine)
    t = layer_revisions
    cols = [c for c in t.c if c.name not in ("yaml_text", "content_json")]
    with ws.engine.connect() as conn:
        rows = conn.execute(select(*cols).where(t.c.structure_id == structure_id).order_by(t.c.rev)).mappings()
        return [_info(r) for r in rows]


def get_layers(ws, structure_id: str, rev: int | None = None) -> LayerRevision:
    """One revision with its content: the latest, or ``rev``."""
    ws.require_structure(structure_id)
    ensure_tables(ws.engine)
    t = layer_revisions
    query = select(t).where(t.c.structure_id == structure_id)
    query = query.order_by(t.c.rev.desc()).limit(1) if rev is None else query.where(t.c.rev == rev)
    with ws.engine.connect() as conn:
        row = conn.execute(query).mappings().first()
        if row is None:
            revs = conn.execute(select(t.c.rev).where(t.c.structure_id == structure_id).order_by(t.c.rev)).scalars().all()
    if row is None:
        if not revs:
            raise NotFoundError(
                f"structure {structure_id!r} has no layers yet; add them with: twin layers set {structure_id} FILE"
            )
        raise NotFoundError(
            f"no revision {rev} of the layers of {structure_id!r} (revisions: {_ranges(revs)})"
        )
    return _revision(row)


def _revision(row) -> LayerRevision:
    layers = LayerFile.model_validate(json.loads(row["content_json"]))
    return LayerRevision(**_info(row).model_dump(), layers=layers, yaml_text=row["yaml_text"])


def _info(row) -> RevisionInfo:
    created = row["created_at"]
    if getattr(created, "tzinfo", True) is None:  # SQLite gives back naive UTC
        import datetime as dt  # noqa: PLC0415

        created = created.replace(tzinfo=dt.timezone.utc)
    return RevisionInfo(
        structure_id=row["structure_id"],
        rev=row["rev"],
        author=row["author"],
        created_at=created.isoformat(timespec="seconds") if hasattr(created, "isoformat") else str(created),
        sha256=row["sha256"],
        message=row["message"],
        source_name=row["source_name"],
        elements=row["n_elements"],
        phases=row["n_phases"],
        materials=row["n_materials"],
    )


def _ranges(values: list[int]) -> str:
    if not values:
        return "none"
    if len(values) == 1:
        return str(values[0])
    return f"{values[0]}-{values[-1]}" if values == list(range(values[0], values[-1] + 1)) else ", ".join(map(str, values))


def _sha256(text: str) -> str:
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- diff ----------------------------------------------------------------------------------


def diff(ws, structure_id: str, rev1: int, rev2: int) -> LayerDiff:
    """What changed from ``rev1`` to ``rev2``: sections item by item, field by field, and
    which elements gained or lost phases or materials (through unions too)."""
    a = get_layers(ws, structure_id, rev1).layers
    b = get_layers(ws, structure_id, rev2).layers
    return diff_layers(a, b, structure_id=structure_id, rev1=rev1, rev2=rev2)


def diff_layers(a: LayerFile, b: LayerFile, structure_id: str = "", rev1: int = 0, rev2: int = 0) -> LayerDiff:
    da, db_ = layers_to_data(a), layers_to_data(b)
    meta = _field_changes({**da["metadata"], "crs": da["crs"]}, {**db_["metadata"], "crs": db_["crs"]})
    sections = {name: _section_diff(da[name], db_[name]) for name in ("elements", "phases", "materials")}
    common = [e.id for e in b.elements if e.id in {x.id for x in a.elements}]
    element_phases, element_materials = [], []
    for eid in common:
        pa, ma = effective_links(a, eid)
        pb, mb = effective_links(b, eid)
        for before, after, out in ((pa, pb, element_phases), (ma, mb, element_materials)):
            added = [x for x in after if x not in before]
            removed = [x for x in before if x not in after]
            if added or removed:
                out.append(LinkChange(element=eid, added=added, removed=removed))
    identical = not meta and all(
        not (s.added or s.removed or s.changed) for s in sections.values()
    )
    return LayerDiff(
        structure_id=structure_id,
        rev1=rev1,
        rev2=rev2,
        identical=identical,
        metadata=meta,
        element_phases=element_phases,
        element_materials=element_materials,
        **sections,
    )


def _section_diff(old: list[dict], new: list[dict]) -> SectionDiff:
    before = {item["id"]: item for item in old}
    after = {item["id"]: item for item in new}
    changed = []
    for item_id, item in after.items():
        if item_id in before:
            fields = _field_changes(before[item_id], item)
            if fields:
                changed.append(ItemChange(id=item_id, fields=fields))
    return SectionDiff(
        added=[i for i in after if i not in before],
        removed=[i for i in before if i not in after],
        changed=changed,
    )


def _field_changes(old: dict, new: dict, prefix: str = "") -> list[FieldChange]:
    out: list[FieldChange] = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict) and set(a) & set(b):
            out += _field_changes(a, b, prefix=f"{name}.")
        else:
            out.append(FieldChange(field=name, old=a, new=b))
    return out


# -- query ---------------------------------------------------------------------------------


def query_elements(
    ws,
    material: str | None = None,
    phase: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    status: str | None = None,
    structure: str | None = None,
) -> list[QueryHit]:
    """Elements across the catalog (the latest layers of every structure) that match every
    given filter.

    ``material``: a material id, an AAT URI or number, or part of a label (any case).
    ``phase``: a phase id or a phase type (construction, restoration ...).
    ``date_from``/``date_to``: EDTF; an element matches when one of its phases (of the
    given ``phase`` if any) could fall in the range: its span overlaps [from, to].
    ``status``: measured, inferred or hypothetical.
    Phases and materials of a union hold for its members, as in labelling.
    """
    if status is not None and status not in KNOWLEDGE_STATUSES:
        raise UsageError(f"unknown knowledge status {status!r}: use one of {', '.join(KNOWLEDGE_STATUSES)}")
    lower, upper = _date_window(date_from, date_to)
    if structure is not None:
        ws.require_structure(structure)
    ensure_tables(ws.engine)
    t = layer_revisions
    latest = (
        select(t.c.structure_id, func.max(t.c.rev).label("rev")).group_by(t.c.structure_id).subquery()
    )
    query = (
        select(t)
        .join(latest, (t.c.structure_id == latest.c.structure_id) & (t.c.rev == latest.c.rev))
        .order_by(t.c.structure_id)
    )
    if structure is not None:
        query = query.where(t.c.structure_id == structure)
    with ws.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()

    hits: list[QueryHit] = []
    for row in rows:
        layers = LayerFile.model_validate(json.loads(row["content_json"]))
        phases = {p.id: p for p in layers.phases}
        spans = {p.id: p.span() for p in layers.phases}
        materials = {m.id: m for m in layers.materials}
        for el in layers.elements:
            if status is not None and el.knowledge.status != status:
                continue
            el_phases, el_materials = effective_links(layers, el.id)
            if material is not None and not any(_material_matches(materials[m], material) for m in el_materials):
                continue
            matched: list[str] = []
            if phase is not None or lower is not None or upper is not None:
                matched = [
                    p
                    for p in el_phases
                    if (phase is None or phase in (p, phases[p].type))
                    and (lower is None or spans[p].upper >= lower)
                    and (upper is None or spans[p].lower <= upper)
                ]
                if not matched:
                    continue
            hits.append(
                QueryHit(
                    structure_id=row["structure_id"],
                    rev=row["rev"],
                    element_id=el.id,
                    name=el.name,
                    element_class=el.class_,
                    status=el.knowledge.status,
                    phases=[
                        PhaseRef(id=p, type=phases[p].type, date=phases[p].date,
                                 earliest=spans[p].earliest, latest=spans[p].latest)
                        for p in el_phases
                    ],
                    materials=[MaterialRef(id=m, label=materials[m].label, aat=materials[m].aat) for m in el_materials],
                    matched_phases=matched,
                )
            )
    return hits


def _date_window(date_from: str | None, date_to: str | None) -> tuple[float | None, float | None]:
    lower = upper = None
    if date_from is not None:
        lower = _edtf_option(date_from, "--from").lower
    if date_to is not None:
        upper = _edtf_option(date_to, "--to").upper
    if lower is not None and upper is not None and lower > upper:
        raise UsageError(f"--from {date_from} is after --to {date_to}: nothing can match")
    return lower, upper


def _edtf_option(value: str, option: str):
    try:
        return parse_edtf(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _material_matches(material, wanted: str) -> bool:
    w = wanted.strip().lower()
    if not w:
        return False
    aat_number = material.aat.rstrip("/").rsplit("/", 1)[-1]
    return (
        w == material.id.lower()
        or w == material.aat.lower()
        or w == aat_number
        or w in material.label.lower()
    )


__all__ = [
    "default_author",
    "diff",
    "diff_layers",
    "ensure_tables",
    "get_layers",
    "history",
    "layer_revisions",
    "query_elements",
    "set_layers",
]

"""Inventory records in the catalog: the inventory columns of ``structures``, every import in
``inventory_imports`` and every change in ``inventory_history`` (the previous values, when,
and the SHA-256 of the file that changed them). Written by twin.inventory.importer.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from twin.catalog import db
from twin.models.inventory import HistoryEntry, InventoryEntry, InventoryRecord

# record field -> structures column, for the fields stored as text of JSON
_JSON_COLUMNS = {"location": "location_geojson", "footprint": "footprint_geojson", "dc": "dc_json"}


def record_from_row(row) -> InventoryRecord | None:
    """The inventory record a ``structures`` row holds; None when it has none."""
    if row["inventory_number"] is None:
        return None
    return InventoryRecord(**_fields(row))


def _fields(row) -> dict:
    data = {name: row[name] for name in ("inventory_number", "id", "name_vi", "name_en", "type", "designation",
                                         "address", "site", "parent_id", "crs_epsg")}
    for name, column in _JSON_COLUMNS.items():
        text = row[column]
        data[name] = json.loads(text) if text else ({} if name == "dc" else None)
    return data


def _columns(record: InventoryRecord) -> dict:
    data = record.model_dump(mode="json", exclude={"id"})
    out = {k: v for k, v in data.items() if k not in _JSON_COLUMNS}
    for name, column in _JSON_COLUMNS.items():
        value = data[name]
        out[column] = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else None
    return out


def catalog_rows(conn: Connection) -> dict[str, dict]:
    """Every structure row, by id."""
    return {r["id"]: dict(r) for r in conn.execute(select(db.structures)).mappings()}


def begin_import(conn: Connection, *, source_name: str, sha256: str, fmt: str, mapping_json: str) -> int:
    result = conn.execute(db.inventory_imports.insert().values(
        source_name=source_name, sha256=sha256, format=fmt, mapping_json=mapping_json,
        added=0, updated=0, unchanged=0, skipped=0, imported_at=db.now()))
    return int(result.inserted_primary_key[0])


def write_records(conn: Connection, import_id: int, sha256: str, records: list[InventoryRecord],
                  existing: dict[str, dict]) -> tuple[list[str], list[str], list[str]]:
    """Add or update ``records`` (matched by structure id, which the checks resolved from the
    inventory number); returns the inventory numbers added, updated and unchanged."""
    s = db.structures
    added, updated, unchanged = [], [], []
    history, inserts = [], []
    now = db.now()
    for record in records:
        new = record.model_dump(mode="json")
        row = existing.get(record.id)
        old = record_from_row(row).model_dump(mode="json") if row is not None and row["inventory_number"] else None
        name = record.name_vi or record.name_en
        if row is None:
            inserts.append({"id": record.id, "name": name, "created_at": now, "inventory_updated_at": now,
                            **_columns(record)})
            added.append(record.inventory_number)
            changed = {k: v for k, v in new.items() if k != "id" and v not in (None, {})}
            history.append(_history(import_id, record, "added", {}, changed, sha256, now))
            continue
        if old == new:
            unchanged.append(record.inventory_number)
            continue
        before = old or {}
        keys = [k for k in new if k != "id" and before.get(k, None if k != "dc" else {}) != new[k]]
        conn.execute(s.update().where(s.c.id == record.id).values(name=name, inventory_updated_at=now,
                                                                  **_columns(record)))
        if old is None:  # a structure known from its scans gains its record
            added.append(record.inventory_number)
            history.append(_history(import_id, record, "added", {}, {k: new[k] for k in keys}, sha256, now))
        else:
            updated.append(record.inventory_number)
            history.append(_history(import_id, record, "updated", {k: old.get(k) for k in keys},
                                    {k: new[k] for k in keys}, sha256, now))
    if inserts:
        conn.execute(s.insert(), inserts)
    if history:
        conn.execute(db.inventory_history.insert(), history)
    return added, updated, unchanged


def finish_import(conn: Connection, import_id: int, added: int, updated: int, unchanged: int, skipped: int) -> None:
    conn.execute(db.inventory_imports.update().where(db.inventory_imports.c.id == import_id).values(
        added=added, updated=updated, unchanged=unchanged, skipped=skipped))


def _history(import_id, record, action, previous, new, sha256, now) -> dict:
    return {"import_id": import_id, "structure_id": record.id, "inventory_number": record.inventory_number,
            "action": action, "previous_json": json.dumps(previous, ensure_ascii=False, sort_keys=True),
            "new_json": json.dumps(new, ensure_ascii=False, sort_keys=True), "source_sha256": sha256,
            "changed_at": now}


def list_inventory(ws, include_all: bool = False) -> list[InventoryEntry]:
    """Structures with an inventory record (every structure with ``include_all``), by inventory number."""
    s, sv = db.structures, db.surveys
    n_surveys = select(func.count()).where(sv.c.structure_id == s.c.id).scalar_subquery()
    query = select(s, n_surveys.label("n_surveys")).order_by(s.c.inventory_number.is_(None), s.c.inventory_number,
                                                             s.c.id)
    if not include_all:
        query = query.where(s.c.inventory_number.is_not(None))
    with ws.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for r in rows:
        updated = r["inventory_updated_at"]
        out.append(InventoryEntry(**_fields(r), name=r["name"], surveys=r["n_surveys"],
                                  updated_at=updated.isoformat(timespec="seconds") if updated else None))
    return out


def history(ws, key: str | None = None) -> list[HistoryEntry]:
    """Every recorded change, oldest first; only those of one structure (by id or inventory
    number) when ``key`` is given."""
    h, imp = db.inventory_history, db.inventory_imports
    query = (select(h, imp.c.source_name).join(imp, imp.c.id == h.c.import_id).order_by(h.c.id))
    if key is not None:
        query = query.where((h.c.structure_id == key) | (h.c.inventory_number == key))
    with ws.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [HistoryEntry(import_id=r["import_id"], structure_id=r["structure_id"],
                         inventory_number=r["inventory_number"], action=r["action"],
                         previous=json.loads(r["previous_json"]), new=json.loads(r["new_json"]),
                         source_name=r["source_name"], source_sha256=r["source_sha256"],
                         changed_at=r["changed_at"].isoformat(timespec="seconds")
                         if hasattr(r["changed_at"], "isoformat") else str(r["changed_at"]))
            for r in rows]

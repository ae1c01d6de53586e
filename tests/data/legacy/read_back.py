"""What a workspace's catalog reads back through twin's own functions, as JSON-ready data.

Run by the migration tests with today's twin, and run once with the twin of 4585599 (the last
before Alembic) to write each legacy workspace's ``expected.json`` (see make_legacy.py):

    PYTHONPATH=/tmp/4585599:$SP .venv/bin/python -S tests/data/legacy/read_back.py tests/data/legacy/v1
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path


def _rows(ws, table) -> list[dict]:
    from sqlalchemy import inspect, select

    with ws.engine.connect() as conn:
        if not inspect(conn).has_table(table.name):
            return []
        rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings().all()
    return [{k: (v.isoformat(timespec="seconds") if hasattr(v, "isoformat") else v) for k, v in r.items()}
            for r in rows]


def read_back(ws) -> dict:
    from twin.catalog import db
    from twin.catalog.comparisons import comparisons
    from twin.catalog.fixity import verify_workspace
    from twin.catalog.inventory import history as inventory_history, list_inventory
    from twin.catalog.layers import get_layers, history

    out: dict = {"structures": [s.model_dump(mode="json") for s in ws.structures()]}
    for s in out["structures"]:
        sid = s["id"]
        out[f"surveys/{sid}"] = [v.model_dump(mode="json") for v in ws.surveys(sid)]
        out[f"scans/{sid}"] = [v.model_dump(mode="json") for v in ws.scans(sid)]
        revisions = [r.model_dump(mode="json") for r in history(ws, sid)]
        out[f"layers/{sid}"] = revisions
        for r in revisions:
            rev = get_layers(ws, sid, r["rev"])
            out[f"layers/{sid}/{r['rev']}"] = {"yaml": rev.yaml_text, "layers": rev.layers.model_dump(mode="json")}
        out[f"comparisons/{sid}"] = [c.model_dump(mode="json") for c in comparisons(ws, sid)]
    out["models"] = _rows(ws, db.models)
    out["runs"] = _rows(ws, db.runs)
    out["inventory"] = [e.model_dump(mode="json") for e in list_inventory(ws, include_all=True)]
    out["inventory_history"] = [e.model_dump(mode="json") for e in inventory_history(ws)]
    report = verify_workspace(ws)
    out["fixity"] = {"checked": report.checked, "ok": report.ok}
    return out


if __name__ == "__main__":
    from twin.catalog.workspace import Workspace

    source = Path(sys.argv[1]).resolve()
    copy = Path(tempfile.mkdtemp()) / "ws"
    shutil.copytree(source, copy)  # the old twin migrates what it opens: read a copy
    ws = Workspace.open(copy)
    text = json.dumps(read_back(ws), indent=1, ensure_ascii=False, sort_keys=True)
    ws.engine.dispose()
    shutil.rmtree(copy.parent)
    (source / "expected.json").write_text(text + "\n", encoding="utf-8")
    print(f"{source / 'expected.json'}: {len(text)} characters")

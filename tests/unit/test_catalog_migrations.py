"""Schema migrations with Alembic, on SQLite and PostgreSQL.

``tests/data/legacy/v1``, ``v2`` and ``v3`` are workspaces made by the twins of schema versions
1, 2 and 3 (commits eee2b92, da71bac and 4585599, the last before Alembic; see make_legacy.py):
each upgrades in place when opened, every row it held is still there unchanged, and what twin
reads back from it equals what the twin of 4585599 read back (``expected.json``).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import BACKENDS, write_las
from twin.catalog import db, migrate
from twin.catalog.schema import HEAD_REVISION, SCHEMA_VERSION, metadata
from twin.catalog.workspace import Workspace
from twin.errors import WorkspaceError

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy"
CATALOG_BACKENDS = BACKENDS

_spec = importlib.util.spec_from_file_location("legacy_read_back", LEGACY / "read_back.py")
read_back_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(read_back_module)


def _copy(version: str, tmp_path: Path) -> Path:
    root = tmp_path / version
    shutil.copytree(LEGACY / version, root, ignore=shutil.ignore_patterns("expected.json"))
    return root


def _sqlite_rows(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table's columns and rows, straight from the file."""
    con = sqlite3.connect(path)
    tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
    out = {}
    for table in tables:
        columns = [r[1] for r in con.execute(f"pragma table_info({table})")]
        out[table] = (columns, sorted(con.execute(f"select * from {table}"), key=repr))
    con.close()
    return out


def _differences(engine) -> list:
    """What Alembic finds between the catalog and twin.catalog.schema (nothing, when migrated right)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def test_the_revisions_end_at_this_schema_version():
    assert migrate.head_revision() == HEAD_REVISION == f"{SCHEMA_VERSION:04d}"


def test_a_new_catalog_is_the_schema(workspace):
    """Built by running every revision, a new catalog has exactly the tables, columns, types,
    keys and indexes of twin.catalog.schema, on both backends."""
    assert _differences(workspace.engine) == []
    with workspace.engine.connect() as conn:
        assert migrate.state(conn) == (HEAD_REVISION, SCHEMA_VERSION)


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_a_workspace_of_an_earlier_version_upgrades_in_place(version, tmp_path: Path):
    root = _copy(version, tmp_path)
    before = _sqlite_rows(root / "catalog.sqlite")
    assert "alembic_version" not in before and before["meta"][1] == [("schema_version", version[1])]

    ws = Workspace.open(root)
    assert json.loads(json.dumps(read_back_module.read_back(ws))) == json.loads(
        (LEGACY / version / "expected.json").read_text(encoding="utf-8"))
    assert _differences(ws.engine) == []
    ws.engine.dispose()

    after = _sqlite_rows(root / "catalog.sqlite")
    assert after["alembic_version"][1] == [(HEAD_REVISION,)]
    assert after["meta"][1] == [("schema_version", str(SCHEMA_VERSION))]
    for table, (columns, rows) in before.items():
        if table == "meta":
            continue
        new_columns, new_rows = after[table]
        assert new_columns[: len(columns)] == columns, table  # new columns only ever come after
        assert sorted((row[: len(columns)] for row in new_rows), key=repr) == rows, table
        assert all(set(row[len(columns):]) <= {None} for row in new_rows), table


def test_a_failed_upgrade_changes_nothing(tmp_path: Path, monkeypatch):
    """The whole upgrade is one transaction: a revision failing halfway (here 0003, after it
    added its columns) leaves the tables, indexes and rows as they were."""
    from twin.catalog.migrations import helpers

    root = _copy("v2", tmp_path)
    path = root / "catalog.sqlite"

    def schema() -> list[tuple]:
        con = sqlite3.connect(path)
        rows = sorted(con.execute("select type, name, sql from sqlite_master"), key=repr)
        con.close()
        return rows

    before = (schema(), _sqlite_rows(path))
    record = helpers.set_schema_version

    def failing(version: int) -> None:
        if version == 3:
            raise RuntimeError("the disk is full")
        record(version)

    monkeypatch.setattr(helpers, "set_schema_version", failing)  # the revisions import it when loaded
    with pytest.raises(RuntimeError, match="the disk is full"):
        Workspace.open(root).structures()
    assert (schema(), _sqlite_rows(path)) == before
    monkeypatch.undo()
    assert len(Workspace.open(root).structures()) == 2


def test_an_upgraded_workspace_takes_new_work(tmp_path: Path):
    from twin.catalog.ingest import ingest
    from twin.catalog.layers import history, set_layers

    ws = Workspace.open(_copy("v1", tmp_path))
    added = ingest(ws, [write_las(tmp_path / "S3.las", n=500, seed=3)], "ngo-mon-gate", "2024-03").added
    assert [r.station for r in added] == ["S3"] and added[0].id == 4
    assert set_layers(ws, "ngo-mon-gate", LEGACY.parent / "layers" / "example.yaml", author="a").rev == 3
    assert [r.rev for r in history(ws, "ngo-mon-gate")] == [1, 2, 3]


def test_a_first_twin_catalog_gains_the_tables_made_on_first_use(tmp_path: Path):
    """The first twins created models, runs and layer_revisions only when first used."""
    root = _copy("v1", tmp_path)
    con = sqlite3.connect(root / "catalog.sqlite")
    con.executescript("DROP TABLE models; DROP TABLE runs; DROP TABLE layer_revisions;")
    con.close()
    ws = Workspace.open(root)
    assert _differences(ws.engine) == []
    assert [s.id for s in ws.structures()] == ["ngo-mon-gate", "thai-hoa"] and len(ws.scans()) == 3


def test_two_processes_opening_an_old_catalog_at_once(tmp_path: Path):
    """The upgrade runs under the write lock and looks again once it has it: one upgrades, the
    other waits and finds it done."""
    from tests.unit.test_catalog_race import _race

    root = _copy("v2", tmp_path)
    results = _race(tmp_path, "open", {who: [["structures", "-w", root, "--json"]] for who in ("a", "b")})
    assert results["a"][0] == results["b"][0] and len(json.loads(results["a"][0])) == 2
    assert _sqlite_rows(root / "catalog.sqlite")["alembic_version"][1] == [(HEAD_REVISION,)]


@pytest.mark.parametrize(("revision", "version"), [("0004", "4"), ("ffe1a3b0c2d4", "3"), (None, "4")])
def test_a_newer_catalog_is_refused_and_left_alone(tmp_path: Path, revision, version):
    root = _copy("v3", tmp_path)
    con = sqlite3.connect(root / "catalog.sqlite")
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    if revision is not None:
        con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        con.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    con.commit()
    con.close()
    before = _sqlite_rows(root / "catalog.sqlite")
    with pytest.raises(WorkspaceError, match=r"newer than this twin understands \(3\); upgrade twin"):
        Workspace.open(root).structures()
    assert _sqlite_rows(root / "catalog.sqlite") == before


def test_a_database_that_is_no_catalog(tmp_path: Path):
    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE things (x)").connection.close()
    with pytest.raises(WorkspaceError, match="not a twin catalog"):
        db.open_catalog(path)


def test_an_older_postgresql_catalog_upgrades(tmp_path: Path, pg_cluster):
    """On PostgreSQL too: a catalog at revision 0002 (no inventory yet) with data in it."""
    from alembic import command

    from twin.catalog.engine import make_engine
    from twin.catalog.workspace import init_workspace

    workspace = init_workspace(tmp_path / "ws", catalog=pg_cluster.create_database())
    engine = make_engine(workspace.catalog)
    with engine.begin() as conn:
        for table in ("inventory_history", "inventory_imports", *metadata.tables):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
        conn.exec_driver_sql("DROP TABLE alembic_version")
        command.upgrade(migrate.alembic_config(conn), "0002")
        conn.execute(text("INSERT INTO structures (id, name, created_at) VALUES ('gate', 'Ngọ Môn', now())"))
        conn.execute(text("INSERT INTO surveys (structure_id, id, date, created_at) "
                          "VALUES ('gate', '2024', '2024-03-12', now())"))
    assert migrate.state(engine.connect()) == ("0002", 2)
    engine.dispose()
    ws = Workspace.open(workspace.root)
    assert [(s.id, s.name, s.surveys) for s in ws.structures()] == [("gate", "Ngọ Môn", 1)]
    assert ws.surveys("gate")[0].date == "2024-03-12"
    assert _differences(ws.engine) == []
    with ws.engine.connect() as conn:
        assert migrate.state(conn) == (HEAD_REVISION, SCHEMA_VERSION)

"""The catalog through SQLAlchemy: the SQLite file in the workspace, or a team's PostgreSQL.

Its tables are in twin.catalog.schema (and re-exported here), its migrations in
twin.catalog.migrations; this module creates and opens a catalog and runs transactions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from twin.catalog import migrate
from twin.catalog.address import CatalogAddress, sqlite_address
from twin.catalog.engine import BUSY_TIMEOUT_S, connect_or_explain, make_engine
from twin.catalog.schema import (  # noqa: F401 - the tables, for every module that queries them
    INVENTORY_COLUMNS,
    SCHEMA_VERSION,
    comparisons,
    inventory_history,
    inventory_imports,
    layer_revisions,
    meta,
    metadata,
    models,
    runs,
    scans,
    structures,
    surveys,
)
from twin.errors import WorkspaceError

# PostgreSQL's stand-in for SQLite's database-wide write lock: one transaction-scoped advisory
# lock per database (the key spells "twincat").
WRITE_LOCK_KEY = 0x7477696E636174


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _address(target: CatalogAddress | Path | str) -> CatalogAddress:
    return target if isinstance(target, CatalogAddress) else sqlite_address(Path(target))


@contextmanager
def new_catalog(target: CatalogAddress | Path) -> Iterator[None]:
    """Create the catalog at ``target`` (a new SQLite file, or an empty PostgreSQL database) in one
    transaction that commits when the block ends: an error inside the block (the workspace's
    settings could not be written) leaves the database as it was."""
    address = _address(target)
    engine = make_engine(address)
    try:
        connect_or_explain(engine, address, after="nothing was created")
        with transaction(engine, immediate=True) as conn:
            migrate.create(conn, address.shown)
            yield
    finally:
        engine.dispose()


def open_catalog(target: CatalogAddress | Path | str) -> Engine:
    """An engine on an existing catalog, migrated to the current schema version."""
    address = _address(target)
    if address.is_sqlite and not Path(address.url.database).is_file():
        raise WorkspaceError(f"{address.shown}: the catalog is missing")
    engine = make_engine(address)
    try:
        connect_or_explain(engine, address)
        with engine.connect() as conn:
            current = migrate.is_current(conn, address.shown)
        if not current:
            with transaction(engine, immediate=True) as conn:
                migrate.upgrade(conn, address.shown)
    except BaseException:
        engine.dispose()
        raise
    return engine


@contextmanager
def transaction(engine: Engine, immediate: bool = False) -> Iterator[Connection]:
    """One transaction: everything inside commits together or not at all.

    With ``immediate`` the transaction takes the catalog's write lock at once (SQLite's
    BEGIN IMMEDIATE; on PostgreSQL an advisory lock held until the transaction ends), so what it
    reads cannot change before it writes: another process doing the same waits (up to the 60 s
    busy timeout) and then sees this one's result.
    """
    with engine.begin() as conn:
        if immediate and engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif immediate and engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{BUSY_TIMEOUT_S}s'")
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
        yield conn

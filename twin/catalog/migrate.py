"""Bringing a catalog to this twin's schema with Alembic (twin/catalog/migrations).

A catalog records its revision in Alembic's ``alembic_version`` and its schema version in
``meta`` (which the twins from before Alembic read). A catalog made before Alembic has only
``meta``: it is upgraded from the first revision, whose steps skip what the old hand-written
migrations already did. An upgrade runs inside the transaction that holds the write lock, so
two processes opening an old catalog at once upgrade it once, and a failed upgrade changes
nothing.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from twin.catalog.schema import HEAD_REVISION, SCHEMA_VERSION, meta, metadata
from twin.errors import WorkspaceError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(conn: Connection | None = None):
    """Alembic's configuration: our revision scripts, run on ``conn`` (see migrations/env.py)."""
    from alembic.config import Config  # noqa: PLC0415 - only when a catalog needs work

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    """The head of the revision scripts (a test checks it is HEAD_REVISION)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def state(conn: Connection) -> tuple[str | None, int | None]:
    """(Alembic revision, schema version in meta); None where absent."""
    tables = set(inspect(conn).get_table_names())
    revision = None
    if "alembic_version" in tables:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    version = None
    if "meta" in tables:
        value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        version = int(value) if value is not None else None
    return revision, version


def is_current(conn: Connection, shown: str) -> bool:
    """True when the catalog needs no upgrade; a WorkspaceError when it is not a twin catalog
    or is newer than this twin understands."""
    revision, version = state(conn)
    if revision is None and version is None:
        raise WorkspaceError(f"{shown}: not a twin catalog (no schema version)")
    if revision == HEAD_REVISION:
        return True
    if (version or 0) > SCHEMA_VERSION:
        raise WorkspaceError(f"{shown}: the catalog has schema version {version}, newer than this twin "
                             f"understands ({SCHEMA_VERSION}); upgrade twin")
    if revision is not None and not (revision.isdigit() and int(revision) <= SCHEMA_VERSION):
        raise WorkspaceError(f"{shown}: the catalog is at revision {revision}, newer than this twin "
                             f"understands ({SCHEMA_VERSION}); upgrade twin")
    return False


def upgrade(conn: Connection, shown: str) -> None:
    """Upgrade to the head revision on ``conn``, inside the caller's transaction (which holds
    the write lock); nothing to do when another process just did it."""
    from alembic import command  # noqa: PLC0415

    if is_current(conn, shown):
        return
    command.upgrade(alembic_config(conn), "head")


def create(conn: Connection, shown: str) -> None:
    """Build a new catalog on ``conn`` by running every revision. It goes into an empty database
    only (no table of twin's there yet)."""
    from alembic import command  # noqa: PLC0415

    ours = sorted(set(inspect(conn).get_table_names()) & {*metadata.tables, "alembic_version"})
    if ours:
        raise WorkspaceError(
            f"catalog {shown} already holds a twin catalog or tables of its names ({', '.join(ours)}); "
            "open the workspace that uses it, or give an empty database; nothing was created"
        )
    command.upgrade(alembic_config(conn), "head")

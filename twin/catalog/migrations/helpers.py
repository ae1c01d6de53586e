"""What the revisions share: the schema version older twins read, and the checks that make the
first three revisions safe to run over a catalog the hand-written migrations already brought
to that version (a catalog from before Alembic is upgraded from the start, and every step
skips what it finds done)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def has_table(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name)


def columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def indexes(table: str) -> set[str]:
    return {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}


def set_schema_version(version: int) -> None:
    """Record the version in ``meta`` too: a twin from before Alembic reads it there, and
    refuses a catalog newer than it understands."""
    bind = op.get_bind()
    params = {"value": str(version)}
    updated = bind.execute(sa.text("UPDATE meta SET value = :value WHERE key = 'schema_version'"), params)
    if updated.rowcount == 0:
        bind.execute(sa.text("INSERT INTO meta (key, value) VALUES ('schema_version', :value)"), params)


def no_downgrade() -> None:
    raise NotImplementedError("twin never downgrades a catalog: restore the backup taken before the upgrade")

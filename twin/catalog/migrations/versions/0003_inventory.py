"""Schema version 3: the inventory record on structures, the import and history tables."""

import sqlalchemy as sa
from alembic import op

from twin.catalog.migrations.helpers import columns, has_table, indexes, no_downgrade, set_schema_version
from twin.catalog.schema import Key, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _record() -> list[sa.Column]:
    return [
        sa.Column("inventory_number", Key()),
        sa.Column("name_vi", sa.Text),
        sa.Column("name_en", sa.Text),
        sa.Column("type", sa.Text),
        sa.Column("designation", sa.Text),
        sa.Column("address", sa.Text),
        sa.Column("site", sa.Text),
        sa.Column("parent_id", Key()),
        sa.Column("crs_epsg", sa.Integer),
        sa.Column("location_geojson", sa.Text),
        sa.Column("footprint_geojson", sa.Text),
        sa.Column("dc_json", sa.Text),
        sa.Column("inventory_updated_at", UTCDateTime()),
    ]


def upgrade() -> None:
    present = columns("structures")
    for column in _record():
        if column.name not in present:
            op.add_column("structures", column)
    if "ix_structures_inventory_number" not in indexes("structures"):
        op.create_index("ix_structures_inventory_number", "structures", ["inventory_number"], unique=True)
    if not has_table("inventory_imports"):
        op.create_table(
            "inventory_imports",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("source_name", sa.Text, nullable=False),
            sa.Column("sha256", Key(64), nullable=False),
            sa.Column("format", Key(), nullable=False),
            sa.Column("mapping_json", sa.Text, nullable=False),
            sa.Column("added", sa.Integer, nullable=False),
            sa.Column("updated", sa.Integer, nullable=False),
            sa.Column("unchanged", sa.Integer, nullable=False),
            sa.Column("skipped", sa.Integer, nullable=False),
            sa.Column("imported_at", UTCDateTime(), nullable=False),
        )
    if not has_table("inventory_history"):
        op.create_table(
            "inventory_history",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("import_id", sa.Integer, nullable=False),
            sa.Column("structure_id", Key(), nullable=False),
            sa.Column("inventory_number", Key(), nullable=False),
            sa.Column("action", Key(), nullable=False),
            sa.Column("previous_json", sa.Text, nullable=False),
            sa.Column("new_json", sa.Text, nullable=False),
            sa.Column("source_sha256", Key(64), nullable=False),
            sa.Column("changed_at", UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(["import_id"], ["inventory_imports.id"]),
            sa.ForeignKeyConstraint(["structure_id"], ["structures.id"]),
        )
        op.create_index("ix_inventory_history_structure", "inventory_history", ["structure_id"])
    set_schema_version(3)


downgrade = no_downgrade

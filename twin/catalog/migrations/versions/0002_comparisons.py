"""Schema version 2: the comparisons table."""

import sqlalchemy as sa
from alembic import op

from twin.catalog.migrations.helpers import has_table, no_downgrade, set_schema_version
from twin.catalog.schema import Key, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_table("comparisons"):
        op.create_table(
            "comparisons",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("structure_id", Key(), nullable=False),
            sa.Column("from_survey", Key(), nullable=False),
            sa.Column("to_survey", Key(), nullable=False),
            sa.Column("method", Key(), nullable=False),
            sa.Column("params_json", sa.Text, nullable=False),
            sa.Column("path", sa.Text, nullable=False),
            sa.Column("from_model", Key(64)),
            sa.Column("to_model", Key(64)),
            sa.Column("layers_rev", sa.Integer),
            sa.Column("summary_json", sa.Text, nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(["structure_id", "from_survey"], ["surveys.structure_id", "surveys.id"]),
            sa.ForeignKeyConstraint(["structure_id", "to_survey"], ["surveys.structure_id", "surveys.id"]),
        )
    set_schema_version(2)


downgrade = no_downgrade

"""Schema version 1: structures, surveys, scans, models, runs and layer revisions.

Each table is created only where it is missing: the first twins made some of them later,
when first used (models and runs came with the pipelines, layer_revisions with the layers).
"""

import sqlalchemy as sa
from alembic import op

from twin.catalog.migrations.helpers import has_table, no_downgrade, set_schema_version
from twin.catalog.schema import Count, Key, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = {
    "meta": lambda: [
        sa.Column("key", Key(), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    ],
    "structures": lambda: [
        sa.Column("id", Key(), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    ],
    "surveys": lambda: [
        sa.Column("structure_id", Key(), nullable=False),
        sa.Column("id", Key(), nullable=False),
        sa.Column("date", Key()),
        sa.Column("team", sa.Text),
        sa.Column("instrument", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"]),
        sa.UniqueConstraint("structure_id", "id"),
    ],
    "scans": lambda: [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("structure_id", Key(), nullable=False),
        sa.Column("survey_id", Key(), nullable=False),
        sa.Column("station", Key(), nullable=False),
        sa.Column("sha256", Key(64), nullable=False, unique=True),
        sa.Column("store_path", sa.Text, nullable=False),
        sa.Column("original_name", sa.Text, nullable=False),
        sa.Column("original_path", sa.Text, nullable=False),
        sa.Column("format", Key(), nullable=False),
        sa.Column("size_bytes", Count(), nullable=False),
        sa.Column("point_count", Count(), nullable=False),
        sa.Column("crs_epsg", sa.Integer),
        sa.Column("crs_name", sa.Text),
        sa.Column("crs_wkt", sa.Text),
        sa.Column("crs_source", Key()),
        sa.Column("crs_override", sa.Boolean, nullable=False),
        sa.Column("capture_date", Key()),
        sa.Column("header_json", sa.Text, nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["structure_id", "survey_id"], ["surveys.structure_id", "surveys.id"]),
        sa.UniqueConstraint("structure_id", "survey_id", "station"),
    ],
    "models": lambda: [
        sa.Column("key", Key(64), primary_key=True),
        sa.Column("structure_id", Key(), nullable=False),
        sa.Column("survey_id", Key(), nullable=False),
        sa.Column("pipeline", Key(), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("point_count", Count(), nullable=False),
        sa.Column("face_count", Count(), nullable=False),
        sa.Column("crs_epsg", sa.Integer),
        sa.Column("provenance_json", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["structure_id", "survey_id"], ["surveys.structure_id", "surveys.id"]),
    ],
    "runs": lambda: [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("structure_id", Key(), nullable=False),
        sa.Column("survey_id", Key(), nullable=False),
        sa.Column("pipeline", Key(), nullable=False),
        sa.Column("model_key", Key(64)),
        sa.Column("status", Key(), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("provenance_json", sa.Text),
    ],
    "layer_revisions": lambda: [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("structure_id", Key(), nullable=False),
        sa.Column("rev", sa.Integer, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("source_name", sa.Text),
        sa.Column("sha256", Key(64), nullable=False),
        sa.Column("yaml_text", sa.Text, nullable=False),
        sa.Column("content_json", sa.Text, nullable=False),
        sa.Column("n_elements", sa.Integer, nullable=False),
        sa.Column("n_phases", sa.Integer, nullable=False),
        sa.Column("n_materials", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"]),
        sa.UniqueConstraint("structure_id", "rev"),
    ],
}


def upgrade() -> None:
    for name, columns in TABLES.items():
        if not has_table(name):
            op.create_table(name, *columns())
    set_schema_version(1)


downgrade = no_downgrade

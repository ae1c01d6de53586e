"""The catalog's tables, one SQLAlchemy schema for SQLite and PostgreSQL.

Identifiers (``Key``) compare and sort byte by byte on both backends (PostgreSQL's columns use
the "C" collation, whatever the database's locale), counts of points and bytes (``Count``) are
64-bit, and times (``UTCDateTime``) are stored in UTC and read back as naive UTC, as SQLite
always gave them. The tables change only through a migration (twin/catalog/migrations), and a
test checks that the migrations build exactly these tables.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

SCHEMA_VERSION = 3  # the number of the head revision in twin/catalog/migrations/versions
HEAD_REVISION = f"{SCHEMA_VERSION:04d}"


def Key(length: int | None = None):  # noqa: N802 - used like a type
    """An identifier column's type: VARCHAR, collated "C" on PostgreSQL."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def Count():  # noqa: N802 - used like a type
    """A count of points, faces or bytes: BIGINT on PostgreSQL (SQLite's INTEGER is 64-bit already)."""
    return BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """A moment in UTC: aware or naive-UTC in, naive UTC out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.astimezone(dt.timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Key(), primary_key=True),
    Column("value", Text, nullable=False),
)

structures = Table(
    "structures",
    metadata,
    Column("id", Key(), primary_key=True),
    Column("name", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    # The inventory record (since schema version 3; twin.inventory imports it): all NULL for a
    # structure that is only known from its scans. Geometries are GeoJSON in ``crs_epsg``.
    Column("inventory_number", Key()),  # unique where set (index below)
    Column("name_vi", Text),
    Column("name_en", Text),
    Column("type", Text),
    Column("designation", Text),  # protection level
    Column("address", Text),
    Column("site", Text),
    Column("parent_id", Key()),  # the complex it belongs to: a structure id (no cycles, checked on import)
    Column("crs_epsg", Integer),
    Column("location_geojson", Text),  # a Point
    Column("footprint_geojson", Text),  # a Polygon or MultiPolygon
    Column("dc_json", Text),  # Dublin Core terms, {"creator": "...", ...}
    Column("inventory_updated_at", UTCDateTime()),
)

INVENTORY_COLUMNS = ("inventory_number", "name_vi", "name_en", "type", "designation", "address", "site",
                     "parent_id", "crs_epsg", "location_geojson", "footprint_geojson", "dc_json",
                     "inventory_updated_at")
Index("ix_structures_inventory_number", structures.c.inventory_number, unique=True)

surveys = Table(
    "surveys",
    metadata,
    Column("structure_id", Key(), nullable=False),
    Column("id", Key(), nullable=False),
    Column("date", Key()),  # ISO date of capture (earliest scan) or as given
    Column("team", Text),
    Column("instrument", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(["structure_id"], ["structures.id"]),
    UniqueConstraint("structure_id", "id"),
)

scans = Table(
    "scans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("structure_id", Key(), nullable=False),
    Column("survey_id", Key(), nullable=False),
    Column("station", Key(), nullable=False),
    Column("sha256", Key(64), nullable=False, unique=True),
    Column("store_path", Text, nullable=False),  # relative to the workspace root
    Column("original_name", Text, nullable=False),
    Column("original_path", Text, nullable=False),
    Column("format", Key(), nullable=False),
    Column("size_bytes", Count(), nullable=False),
    Column("point_count", Count(), nullable=False),
    Column("crs_epsg", Integer),
    Column("crs_name", Text),
    Column("crs_wkt", Text),
    Column("crs_source", Key()),
    Column("crs_override", Boolean, nullable=False, default=False),
    Column("capture_date", Key()),
    Column("header_json", Text, nullable=False),  # the full ScanInfo, as inspect --json prints it
    Column("ingested_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(["structure_id", "survey_id"], ["surveys.structure_id", "surveys.id"]),
    UniqueConstraint("structure_id", "survey_id", "station"),
)

models = Table(
    "models",
    metadata,
    Column("key", Key(64), primary_key=True),  # the cache key of the pipeline's last stage
    Column("structure_id", Key(), nullable=False),
    Column("survey_id", Key(), nullable=False),
    Column("pipeline", Key(), nullable=False),
    Column("path", Text, nullable=False),  # model folder, relative to the workspace root
    Column("point_count", Count(), nullable=False),
    Column("face_count", Count(), nullable=False),
    Column("crs_epsg", Integer),
    Column("provenance_json", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(["structure_id", "survey_id"], ["surveys.structure_id", "surveys.id"]),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("structure_id", Key(), nullable=False),
    Column("survey_id", Key(), nullable=False),
    Column("pipeline", Key(), nullable=False),
    Column("model_key", Key(64)),
    Column("status", Key(), nullable=False),  # succeeded, failed
    Column("message", Text),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Column("provenance_json", Text),
)

comparisons = Table(  # since schema version 2
    "comparisons",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("structure_id", Key(), nullable=False),
    Column("from_survey", Key(), nullable=False),
    Column("to_survey", Key(), nullable=False),
    Column("method", Key(), nullable=False),  # m3c2, c2c, c2m
    Column("params_json", Text, nullable=False),
    Column("path", Text, nullable=False),  # output folder, relative to the workspace root when inside it
    Column("from_model", Key(64)),
    Column("to_model", Key(64)),
    Column("layers_rev", Integer),
    Column("summary_json", Text, nullable=False),  # the comparison's provenance and figures
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(["structure_id", "from_survey"], ["surveys.structure_id", "surveys.id"]),
    ForeignKeyConstraint(["structure_id", "to_survey"], ["surveys.structure_id", "surveys.id"]),
)


layer_revisions = Table(  # written by twin.catalog.layers; every accepted layer file, never overwritten
    "layer_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("structure_id", Key(), nullable=False),
    Column("rev", Integer, nullable=False),  # 1, 2, 3 ... per structure
    Column("author", Text, nullable=False),
    Column("message", Text),
    Column("source_name", Text),  # the file as it was given
    Column("sha256", Key(64), nullable=False),  # of content_json
    Column("yaml_text", Text, nullable=False),  # verbatim, comments included
    Column("content_json", Text, nullable=False),  # canonical JSON of the validated layers
    Column("n_elements", Integer, nullable=False),
    Column("n_phases", Integer, nullable=False),
    Column("n_materials", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(["structure_id"], ["structures.id"]),
    UniqueConstraint("structure_id", "rev"),
)


inventory_imports = Table(  # since schema version 3: one row per accepted `twin inventory import`
    "inventory_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_name", Text, nullable=False),  # the file as it was given
    Column("sha256", Key(64), nullable=False),  # of the file's bytes
    Column("format", Key(), nullable=False),  # csv, geojson, gpkg
    Column("mapping_json", Text, nullable=False),  # the mapping used, canonical JSON
    Column("added", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),  # rows refused under --skip-invalid
    Column("imported_at", UTCDateTime(), nullable=False),
)

inventory_history = Table(  # since schema version 3: every change an import made to a record
    "inventory_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", Integer, nullable=False),
    Column("structure_id", Key(), nullable=False),
    Column("inventory_number", Key(), nullable=False),
    Column("action", Key(), nullable=False),  # added, updated
    Column("previous_json", Text, nullable=False),  # the changed fields' values before ({} when added)
    Column("new_json", Text, nullable=False),  # the changed fields' values after
    Column("source_sha256", Key(64), nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(["import_id"], ["inventory_imports.id"]),
    ForeignKeyConstraint(["structure_id"], ["structures.id"]),
)
Index("ix_inventory_history_structure", inventory_history.c.structure_id)

"""The SQLite catalog, through SQLAlchemy. Its schema is versioned in the ``meta`` table;
each migration is a function that brings version N-1 to N inside one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
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
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Connection, Engine

from twin.errors import WorkspaceError

SCHEMA_VERSION = 3

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

structures = Table(
    "structures",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The inventory record (since schema version 3; twin.inventory imports it): all NULL for a
    # structure that is only known from its scans. Geometries are GeoJSON in ``crs_epsg``.
    Column("inventory_number", String),  # unique where set (index below)
    Column("name_vi", Text),
    Column("name_en", Text),
    Column("type", Text),
    Column("designation", Text),  # protection level
    Column("address", Text),
    Column("site", Text),
    Column("parent_id", String),  # the complex it belongs to: a structure id (no cycles, checked on import)
    Column("crs_epsg", Integer),
    Column("location_geojson", Text),  # a Point
    Column("footprint_geojson", Text),  # a Polygon or MultiPolygon
    Column("dc_json", Text),  # Dublin Core terms, {"creator": "...", ...}
    Column("inventory_updated_at", DateTime(timezone=True)),
)

INVENTORY_COLUMNS = ("inventory_number", "name_vi", "name_en", "type", "designation", "address", "site",
                     "parent_id", "crs_epsg", "location_geojson", "footprint_geojson", "dc_json",
                     "inventory_updated_at")
Index("ix_structures_inventory_number", structures.c.inventory_number, unique=True)

surveys = Table(
    "surveys",
    metadata,
    Column("structure_id", String, nullable=False),
    Column("id", String, nullable=False),
    Column("date", String),  # ISO date of capture (earliest scan) or as given
    Column("team", Text),
    Column("instrument", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["structure_id"], ["structures.id"]),
    UniqueConstraint("structure_id", "id"),
)

scans = Table(
    "scans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("structure_id", String, nullable=False),
    Column("survey_id", String, nullable=False),
    Column("station", String, nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("store_path", Text, nullable=False),  # relative to the workspace root
    Column("original_name", Text, nullable=False),
    Column("original_path", Text, nullable=False),
    Column("format", String, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("point_count", Integer, nullable=False),
    Column("crs_epsg", Integer),
    Column("crs_name", Text),
    Column("crs_wkt", Text),
    Column("crs_source", String),
    Column("crs_override", Boolean, nullable=False, default=False),
    Column("capture_date", String),
    Column("header_json", Text, nullable=False),  # the full ScanInfo, as inspect --json prints it
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["structure_id", "survey_id"], ["surveys.structure_id", "surveys.id"]),
    UniqueConstraint("structure_id", "survey_id", "station"),
)

models = Table(
    "models",
    metadata,
    Column("key", String(64), primary_key=True),  # the cache key of the pipeline's last stage
    Column("structure_id", String, nullable=False),
    Column("survey_id", String, nullable=False),
    Column("pipeline", String, nullable=False),
    Column("path", Text, nullable=False),  # model folder, relative to the workspace root
    Column("point_count", Integer, nullable=False),
    Column("face_count", Integer, nullable=False),
    Column("crs_epsg", Integer),
    Column("provenance_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["structure_id", "survey_id"], ["surveys.structure_id", "surveys.id"]),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("structure_id", String, nullable=False),
    Column("survey_id", String, nullable=False),
    Column("pipeline", String, nullable=False),
    Column("model_key", String(64)),
    Column("status", String, nullable=False),  # succeeded, failed
    Column("message", Text),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("provenance_json", Text),
)

comparisons = Table(  # since schema version 2
    "comparisons",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("structure_id", String, nullable=False),
    Column("from_survey", String, nullable=False),
    Column("to_survey", String, nullable=False),
    Column("method", String, nullable=False),  # m3c2, c2c, c2m
    Column("params_json", Text, nullable=False),
    Column("path", Text, nullable=False),  # output folder, relative to the workspace root when inside it
    Column("from_model", String(64)),
    Column("to_model", String(64)),
    Column("layers_rev", Integer),
    Column("summary_json", Text, nullable=False),  # the comparison's provenance and figures
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["structure_id", "from_survey"], ["surveys.structure_id", "surveys.id"]),
    ForeignKeyConstraint(["structure_id", "to_survey"], ["surveys.structure_id", "surveys.id"]),
)


layer_revisions = Table(  # written by twin.catalog.layers; every accepted layer file, never overwritten
    "layer_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("structure_id", String, nullable=False),
    Column("rev", Integer, nullable=False),  # 1, 2, 3 ... per structure
    Column("author", Text, nullable=False),
    Column("message", Text),
    Column("source_name", Text),  # the file as it was given
    Column("sha256", String(64), nullable=False),  # of content_json
    Column("yaml_text", Text, nullable=False),  # verbatim, comments included
    Column("content_json", Text, nullable=False),  # canonical JSON of the validated layers
    Column("n_elements", Integer, nullable=False),
    Column("n_phases", Integer, nullable=False),
    Column("n_materials", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["structure_id"], ["structures.id"]),
    UniqueConstraint("structure_id", "rev"),
)


inventory_imports = Table(  # since schema version 3: one row per accepted `twin inventory import`
    "inventory_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_name", Text, nullable=False),  # the file as it was given
    Column("sha256", String(64), nullable=False),  # of the file's bytes
    Column("format", String, nullable=False),  # csv, geojson, gpkg
    Column("mapping_json", Text, nullable=False),  # the mapping used, canonical JSON
    Column("added", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),  # rows refused under --skip-invalid
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

inventory_history = Table(  # since schema version 3: every change an import made to a record
    "inventory_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", Integer, nullable=False),
    Column("structure_id", String, nullable=False),
    Column("inventory_number", String, nullable=False),
    Column("action", String, nullable=False),  # added, updated
    Column("previous_json", Text, nullable=False),  # the changed fields' values before ({} when added)
    Column("new_json", Text, nullable=False),  # the changed fields' values after
    Column("source_sha256", String(64), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["import_id"], ["inventory_imports.id"]),
    ForeignKeyConstraint(["structure_id"], ["structures.id"]),
)
Index("ix_inventory_history_structure", inventory_history.c.structure_id)


def _v2_comparisons(conn: Connection) -> None:
    """Version 1 -> 2: the comparisons table."""
    comparisons.create(conn, checkfirst=True)


def _v3_inventory(conn: Connection) -> None:
    """Version 2 -> 3: inventory columns on structures, the import and history tables."""
    present = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(structures)")}
    for name in INVENTORY_COLUMNS:
        if name not in present:
            column = structures.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE structures ADD COLUMN {name} {kind}")
    for index in structures.indexes:
        index.create(conn, checkfirst=True)
    inventory_imports.create(conn, checkfirst=True)
    inventory_history.create(conn, checkfirst=True)


# Each migration brings the schema from version (index + 1) to (index + 2).
MIGRATIONS: list[Callable[[Connection], None]] = [_v2_comparisons, _v3_inventory]


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", future=True, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    return engine


def create_catalog(path: Path) -> None:
    engine = _sqlite_engine(path)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(meta.insert(), [{"key": "schema_version", "value": str(SCHEMA_VERSION)}])
    engine.dispose()


def open_catalog(path: Path) -> Engine:
    """An engine on an existing catalog, migrated to the current schema version."""
    if not path.is_file():
        raise WorkspaceError(f"{path}: the catalog is missing")
    engine = _sqlite_engine(path)
    with engine.begin() as conn:
        row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
        if row is None:
            raise WorkspaceError(f"{path}: not a twin catalog (no schema version)")
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{path}: the catalog has schema version {version}, newer than this twin "
                f"understands ({SCHEMA_VERSION}); upgrade twin"
            )
        for step in MIGRATIONS[version - 1 :]:
            step(conn)
        if version < SCHEMA_VERSION:
            conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
    return engine


@contextmanager
def transaction(engine: Engine, immediate: bool = False) -> Iterator[Connection]:
    """One transaction: everything inside commits together or not at all.

    With ``immediate`` the transaction takes the catalog's write lock at once (SQLite's
    BEGIN IMMEDIATE), so what it reads cannot change before it writes: another process
    doing the same waits (up to the 60 s busy timeout) and then sees this one's result.
    """
    with engine.begin() as conn:
        if immediate and engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn

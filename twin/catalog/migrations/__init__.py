"""The catalog's schema history as Alembic revisions, run by twin.catalog.migrate when a catalog
is opened (never by hand). A revision's id is the schema version it makes, zero-padded; the next
one starts from script.py.mako with

    python -c "from alembic import command; from twin.catalog import migrate; \\
               command.revision(migrate.alembic_config(), 'what it adds', rev_id='0004')"

and comes with SCHEMA_VERSION = 4 in twin/catalog/schema.py and the tables changed there to
match (tests/unit/test_catalog_migrations.py checks both).
"""

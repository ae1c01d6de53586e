"""SQLAlchemy engines on a catalog, SQLite or PostgreSQL (psycopg 3), and the one line a user
reads when the catalog cannot be reached."""

from __future__ import annotations

import os
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from twin.catalog.address import PASSWORD_HINT, CatalogAddress
from twin.errors import WorkspaceError

BUSY_TIMEOUT_S = 60  # how long a writer waits for the catalog's write lock, on either backend
CONNECT_TIMEOUT_S = 10


def make_engine(address: CatalogAddress) -> Engine:
    if address.is_sqlite:
        return _sqlite_engine(address)
    connect_args = {"application_name": "twin"}
    if "connect_timeout" not in address.url.query and "PGCONNECT_TIMEOUT" not in os.environ:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    return create_engine(address.url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_engine(address: CatalogAddress) -> Engine:
    engine = create_engine(address.url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    return engine


def connect_or_explain(engine: Engine, address: CatalogAddress, after: str = "") -> None:
    """Open one connection (it goes back to the pool for what follows); when that fails, one
    WorkspaceError line naming the catalog and what to do (``after`` adds what it meant for
    the command, e.g. "nothing was created")."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        if address.is_sqlite:
            raise
        raise WorkspaceError(_unreachable(address, exc.orig or exc) + (f"; {after}" if after else "")) from None


def _unreachable(address: CatalogAddress, original: BaseException) -> str:
    detail = " ".join(str(original).split()) or type(original).__name__
    detail = detail.removeprefix("connection failed: ")
    if "password" in detail or "authentication failed" in detail:
        hint = PASSWORD_HINT + " (twin never keeps it in a file)"
    elif "database" in detail and "does not exist" in detail:
        hint = "create the database first (createdb), or correct the URL"
    elif "invalid connection option" in detail or "invalid URI" in detail:
        hint = "correct the URL's options"
    else:
        hint = "check that the server runs and the URL's host and port"
    return f"catalog {address.shown}: cannot connect ({detail}); {hint}"

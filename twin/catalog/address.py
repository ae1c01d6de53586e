"""Where a workspace's catalog lives: the SQLite file in the workspace (the default) or a team's
PostgreSQL database, named by a URL such as ``postgresql://technician@db.example.org:5432/hue``.

A URL never carries a password: twin writes the URL into twin.yaml, and a password there would
sit in a plain file on a shared folder. libpq finds it instead, in $PGPASSWORD or in a
~/.pgpass line (``host:port:database:user:password``, mode 0600).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from twin.errors import UsageError, WorkspaceError

PASSWORD_HINT = "give the password in PGPASSWORD or a ~/.pgpass line (host:port:database:user:password)"
_FORM = "postgresql://USER@HOST:PORT/DATABASE"
_SCHEMES = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
            "postgresql+psycopg": "postgresql+psycopg"}


@dataclass(frozen=True)
class CatalogAddress:
    """``url`` is what SQLAlchemy connects to; ``shown`` is what messages and twin.yaml say."""

    url: URL
    shown: str

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()  # sqlite, postgresql

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"


def sqlite_address(path: Path) -> CatalogAddress:
    return CatalogAddress(URL.create("sqlite", database=str(path)), str(path))


def parse_catalog_url(text: str, where: str = "--catalog") -> CatalogAddress:
    """A PostgreSQL catalog URL, checked: a UsageError (one line naming ``where``) when it is
    malformed, not PostgreSQL, names no database or holds a password."""
    text = (text or "").strip()
    try:
        url = make_url(text)
        port = url.port  # a port that is not a number fails here
    except (ArgumentError, ValueError):
        raise UsageError(f"{where}: {text!r} is not a database URL; write {_FORM}") from None
    if url.drivername not in _SCHEMES:
        raise UsageError(f"{where}: {url.drivername}:// is not a PostgreSQL URL; write {_FORM} "
                         "(leave --catalog out for the SQLite catalog inside the workspace)")
    if url.password is not None or "password" in url.query:
        raise UsageError(f"{where}: the URL holds a password, and twin writes the URL into twin.yaml; "
                         f"remove it and {PASSWORD_HINT}")
    if not url.database:
        raise UsageError(f"{where}: {text!r} names no database; write {_FORM}")
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"{where}: port {port} is out of range (1-65535)")
    return CatalogAddress(url.set(drivername=_SCHEMES[url.drivername]), text)


def workspace_address(root: Path, catalog: str | None, catalog_file: str, settings_file: str) -> CatalogAddress:
    """The catalog of the workspace at ``root`` whose settings name ``catalog`` (None: SQLite)."""
    if catalog is None:
        return sqlite_address(root / catalog_file)
    try:
        return parse_catalog_url(catalog, where="catalog")
    except UsageError as exc:
        raise WorkspaceError(f"{root / settings_file}: {exc}") from None

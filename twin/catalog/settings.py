"""The workspace's settings file and how a workspace is found."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twin.errors import WorkspaceError

SETTINGS_FILE = "twin.yaml"
CATALOG_FILE = "catalog.sqlite"
STORE_DIR = "store"
WORKSPACE_ENV = "TWIN_WORKSPACE"
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = 1
    name: str
    organisation: str | None = Field(default=None, description="source organisation, written into packages")
    organisation_address: str | None = Field(default=None, description="its postal address (bag-info)")
    contact_name: str | None = Field(default=None, description="who answers for the packages (bag-info)")
    contact_email: str | None = Field(default=None, description="their e-mail address (bag-info)")
    base_uri: str | None = Field(
        default=None, description="namespace of the JSON-LD IRIs, e.g. https://monuments.example.org/twin/ "
                                  "(default urn:twin:); twin export --base-uri overrides it")
    created: str = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    default_pipeline: str = "default"
    catalog: str | None = Field(
        default=None, description="URL of a team catalog on PostgreSQL, postgresql://USER@HOST:PORT/DATABASE "
                                  "(never a password); absent: the SQLite catalog.sqlite in the workspace")

    def to_yaml(self) -> str:
        """The settings file's text; ``catalog`` only when set, so that the twins from before it
        still read a SQLite workspace's settings."""
        data = self.model_dump(exclude={"catalog"} if self.catalog is None else set())
        return yaml.safe_dump(data, sort_keys=False)

    @field_validator("base_uri")
    @classmethod
    def _absolute_uri(cls, value: str | None) -> str | None:
        if value is not None and not _ABSOLUTE_URI.match(value):
            raise ValueError(f"base_uri {value!r} is not an absolute URI, e.g. https://monuments.example.org/twin/")
        return value

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"contact_email {value!r} is not an e-mail address")
        return value


def load_settings(root: Path) -> WorkspaceSettings:
    path = root / SETTINGS_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return WorkspaceSettings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise WorkspaceError(f"{path}: the workspace settings cannot be read ({where}: "
                             f"{error['msg'].removeprefix('Value error, ')})") from exc
    except (OSError, yaml.YAMLError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkspaceError(f"{path}: the workspace settings cannot be read ({first})") from exc


def is_workspace(folder: Path) -> bool:
    """A settings file, and the catalog.sqlite beside it or a catalog URL in it."""
    settings = folder / SETTINGS_FILE
    if not settings.is_file():
        return False
    if (folder / CATALOG_FILE).is_file():
        return True
    try:
        data = yaml.safe_load(settings.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("catalog"))


def find_workspace(start: Path | None = None) -> Path:
    """The workspace holding ``start`` (or $TWIN_WORKSPACE, or the current folder), searching upward."""
    if start is None:
        env = os.environ.get(WORKSPACE_ENV)
        start = Path(env) if env else Path.cwd()
    start = start.resolve()
    if start.is_file():
        start = start.parent
    for folder in (start, *start.parents):
        if is_workspace(folder):
            return folder
    raise WorkspaceError(
        f"{start} is not inside a twin workspace (no {SETTINGS_FILE} with {CATALOG_FILE} or a catalog URL found); "
        f"create one with `twin init {start}` or pass --workspace"
    )

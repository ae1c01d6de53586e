"""The workspace's settings file and how a workspace is found."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from twin.errors import WorkspaceError

SETTINGS_FILE = "twin.yaml"
CATALOG_FILE = "catalog.sqlite"
STORE_DIR = "store"
WORKSPACE_ENV = "TWIN_WORKSPACE"


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = 1
    name: str
    organisation: str | None = Field(default=None, description="source organisation, written into packages")
    created: str = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    default_pipeline: str = "default"


def load_settings(root: Path) -> WorkspaceSettings:
    path = root / SETTINGS_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return WorkspaceSettings.model_validate(data)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkspaceError(f"{path}: the workspace settings cannot be read ({first})") from exc


def find_workspace(start: Path | None = None) -> Path:
    """The workspace holding ``start`` (or $TWIN_WORKSPACE, or the current folder), searching upward."""
    if start is None:
        env = os.environ.get(WORKSPACE_ENV)
        start = Path(env) if env else Path.cwd()
    start = start.resolve()
    if start.is_file():
        start = start.parent
    for folder in (start, *start.parents):
        if (folder / SETTINGS_FILE).is_file() and (folder / CATALOG_FILE).is_file():
            return folder
    raise WorkspaceError(
        f"{start} is not inside a twin workspace (no {SETTINGS_FILE} and {CATALOG_FILE} found); "
        f"create one with `twin init {start}` or pass --workspace"
    )

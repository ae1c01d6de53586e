"""Workspace, store and ingest: nothing lost, nothing half-done."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, workspace_state, write_las
from twin.catalog.fixity import verify_workspace
from twin.catalog.ingest import IngestRefused, ingest
from twin.catalog.workspace import Workspace, init_workspace
from twin.errors import CRSError, InvalidIdentifierError, UsageError, WorkspaceError

CATALOG_BACKENDS = BACKENDS  # every test with a workspace runs on SQLite and on PostgreSQL


def test_init_creates_settings_catalog_store(tmp_path: Path, catalog_url):
    import yaml

    ws = init_workspace(tmp_path / "w", organisation="Hue Monuments Conservation Centre", catalog=catalog_url)
    settings = yaml.safe_load((ws.root / "twin.yaml").read_text(encoding="utf-8"))
    # a SQLite workspace's settings stay readable by the twins from before --catalog
    assert settings.get("catalog") == catalog_url and ("catalog" in settings) == (catalog_url is not None)
    assert (ws.root / "catalog.sqlite").is_file() == (catalog_url is None)
    assert (ws.root / "store" / "raw").is_dir()
    again = Workspace.open(ws.root / "store")  # found from a subfolder
    assert again.root == ws.root and again.settings.organisation.startswith("Hue")
    assert again.catalog.backend == ("sqlite" if catalog_url is None else "postgresql")
    with pytest.raises(WorkspaceError, match="already a twin workspace"):
        init_workspace(ws.root)


def test_schema_version_recorded(workspace):
    from sqlalchemy import text

    from twin.catalog.db import SCHEMA_VERSION
    from twin.catalog.schema import HEAD_REVISION

    with workspace.engine.connect() as conn:
        assert conn.execute(text("select value from meta where key='schema_version'")).scalar() == str(SCHEMA_VERSION)
        assert conn.execute(text("select version_num from alembic_version")).scalar() == HEAD_REVISION


def test_ingest_copies_read_only_and_records_facts(workspace, tmp_path: Path):
    src = write_las(tmp_path / "S1.laz", n=2000)
    report = ingest(workspace, [src], "pavilion", "survey-2024")
    (rec,) = report.added
    stored = workspace.root / rec.store_path
    assert stored.read_bytes() == src.read_bytes()
    assert not stored.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert rec.sha256 in stored.name and rec.station == "S1" and rec.point_count == 2000
    assert rec.crs_epsg == 32648 and not rec.crs_override and rec.capture_date == "2024-03-12"
    (survey,) = workspace.surveys("pavilion")
    assert survey.date == "2024-03-12" and survey.scans == 1 and survey.points == 2000


def test_ingest_twice_is_a_noop(workspace, tmp_path: Path):
    src = write_las(tmp_path / "S1.las")
    ingest(workspace, [src], "pavilion", "s1")
    before = workspace_state(workspace.root)
    report = ingest(workspace, [src], "pavilion", "s1")
    assert report.added == [] and "already ingested as pavilion/s1/S1" in report.skipped[0].reason
    assert workspace_state(workspace.root) == before


def test_crs_override_wins_and_is_recorded(workspace, tmp_path: Path):
    src = write_las(tmp_path / "x.las", epsg=None)
    (rec,) = ingest(workspace, [src], "gate", "s1", crs="EPSG:32648").added
    assert rec.crs_epsg == 32648 and rec.crs_override and rec.crs_source == "override"


def test_folder_ingest(workspace, tmp_path: Path):
    folder = tmp_path / "survey"
    folder.mkdir()
    for i in range(3):
        write_las(folder / f"S{i + 1}.laz", seed=i)
    report = ingest(workspace, [folder], "pavilion", "2024")
    assert [r.station for r in report.added] == ["S1", "S2", "S3"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"structure_id": "bad/id"}, InvalidIdentifierError, "structure id 'bad/id' contains '/'"),
        ({"survey_id": "a:b"}, InvalidIdentifierError, "survey id 'a:b' contains ':'"),
        ({"structure_id": "CON"}, InvalidIdentifierError, "structure id 'CON' is not allowed"),
        ({"crs": "EPSG:999999"}, CRSError, "unknown coordinate system 'EPSG:999999'"),
        ({"station": "S1"}, UsageError, "--station names one station but 2 files"),
    ],
)
def test_bad_arguments_change_nothing(workspace, tmp_path: Path, kwargs, error, message):
    files = [write_las(tmp_path / "a.las"), write_las(tmp_path / "b.las", seed=1)]
    before = workspace_state(workspace.root)
    args = {"structure_id": "pavilion", "survey_id": "s1", **kwargs}
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        ingest(workspace, files, args.pop("structure_id"), args.pop("survey_id"), **args)
    assert workspace_state(workspace.root) == before


def test_one_bad_file_refuses_the_batch(workspace, tmp_path: Path):
    good = write_las(tmp_path / "good.las")
    bad = tmp_path / "bad.las"
    bad.write_bytes(good.read_bytes()[:-5000])
    before = workspace_state(workspace.root)
    with pytest.raises(IngestRefused, match=r"bad\.las: the header declares 1,000 points"):
        ingest(workspace, [good, bad], "pavilion", "s1")
    assert workspace_state(workspace.root) == before


def test_failed_transaction_removes_new_blobs(workspace, tmp_path: Path, monkeypatch):
    from twin.catalog import db

    src = write_las(tmp_path / "S1.las")
    before = workspace_state(workspace.root)

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(db, "transaction", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(workspace, [src], "pavilion", "s1")
    assert workspace_state(workspace.root) == before


def test_verify_reports_changed_and_missing(workspace, tmp_path: Path):
    a, b = write_las(tmp_path / "A.las"), write_las(tmp_path / "B.las", seed=2)
    recs = ingest(workspace, [a, b], "pavilion", "s1").added
    assert verify_workspace(workspace).ok
    changed = workspace.root / recs[0].store_path
    os.chmod(changed, 0o644)
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0xFF
    changed.write_bytes(bytes(data))
    (workspace.root / recs[1].store_path).unlink()
    report = verify_workspace(workspace)
    assert {(p.store_path, p.problem) for p in report.problems} == {
        (recs[0].store_path, "changed"),
        (recs[1].store_path, "missing"),
    }


def test_not_a_workspace(tmp_path: Path):
    with pytest.raises(WorkspaceError, match="is not inside a twin workspace"):
        Workspace.open(tmp_path)

"""Shared fixtures: the real scans in ../shared/data/real, fresh workspaces, the CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
SAMPLES = REPO / "sample_scans"


@pytest.fixture(autouse=True, scope="session")
def _own_log(tmp_path_factory):
    """Commands run in-process write their captured warnings to a log of the test run's
    own, not to the user's ~/.local/state/twin/twin.log (twin.cli.logs)."""
    if "TWIN_LOG" not in os.environ:
        os.environ["TWIN_LOG"] = str(tmp_path_factory.mktemp("log") / "twin.log")
    yield


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real: skipped on a user's machine without it, a failure under CI."""
    if not REAL_DATA.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REAL_DATA} is missing: CI must have ../shared/data/real beside the checkout")
        pytest.skip(f"{REAL_DATA} not present")
    return REAL_DATA


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    """A throwaway PostgreSQL cluster for this test session (tests/pg_cluster.py), its password in
    a .pgpass file that PGPASSFILE names, as a technician's would be. Skipped where PostgreSQL is
    not installed (Debian: apt-get install postgresql; ./run setup does it as root), a failure
    under CI=true."""
    from tests.pg_cluster import SUPERUSER, find_bin_dir, start_cluster

    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL's initdb and pg_ctl not found (Debian: apt-get install postgresql; or set PG_BIN)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    cluster = start_cluster(bin_dir)
    pgpass = tmp_path_factory.mktemp("pgpass") / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{cluster.port}:*:{SUPERUSER}:{cluster.password}\n")
    pgpass.chmod(0o600)
    saved = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(pgpass)
    try:
        yield cluster
    finally:
        if saved is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = saved
        cluster.stop()


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    """A module that sets ``CATALOG_BACKENDS = BACKENDS`` runs each of its tests that uses a
    catalog (the ``catalog_url`` fixture, through ``workspace`` or directly) once per backend."""
    backends = getattr(metafunc.module, "CATALOG_BACKENDS", None)
    if backends and "catalog_url" in metafunc.fixturenames:
        metafunc.parametrize("catalog_url", backends, indirect=True)


@pytest.fixture
def catalog_url(request) -> str | None:
    """The ``--catalog`` of a new workspace: None for the SQLite catalog inside it (the default),
    or, where the test runs on PostgreSQL, the URL of a new, empty database on the test cluster."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    return request.getfixturevalue("pg_cluster").create_database()


def catalog_option(url: str | None) -> list[str]:
    """``twin init``'s arguments for that catalog."""
    return [] if url is None else ["--catalog", url]


@pytest.fixture
def workspace(tmp_path: Path, catalog_url):
    from twin.catalog.workspace import init_workspace

    return init_workspace(tmp_path / "ws", name="test-ws", catalog=catalog_url)


@pytest.fixture
def cli():
    """Invoke the twin CLI in-process: cli("inspect", "x.las") -> Result with exit_code, stdout, stderr."""
    from typer.testing import CliRunner

    from twin.cli.app import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def write_las(path: Path, n: int = 1000, version: str = "1.4", point_format: int = 7, epsg: int | None = 32648,
              seed: int = 0, xyz=None) -> Path:
    """A small georeferenced LAS/LAZ (by extension) near Hue, UTM 48N, for tests."""
    import datetime as dt

    import laspy
    import numpy as np

    rng = np.random.default_rng(seed)
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.scales = [0.001, 0.001, 0.001]
    header.offsets = [749000.0, 1821000.0, 0.0]
    header.creation_date = dt.date(2024, 3, 12)
    if epsg:
        from pyproj import CRS

        header.add_crs(CRS.from_epsg(epsg))
    las = laspy.LasData(header)
    if xyz is None:
        xyz = rng.random((n, 3)) * [20, 12, 9] + [749010.0, 1821020.0, 5.0]
    las.x, las.y, las.z = np.asarray(xyz).T
    las.intensity = rng.integers(0, 65535, len(xyz), dtype=np.uint16)
    las.classification = rng.integers(0, 7, len(xyz), dtype=np.uint8)
    las.point_source_id = np.full(len(xyz), 3, dtype=np.uint16)
    if point_format in (2, 3, 5, 7, 8, 10):
        las.red = las.green = las.blue = rng.integers(0, 65535, len(xyz), dtype=np.uint16)
    las.write(str(path))
    return path


@pytest.fixture
def las_file(tmp_path: Path) -> Path:
    return write_las(tmp_path / "station.las")


def workspace_state(root: Path) -> tuple:
    """Everything a failed command must leave untouched: catalog rows (SQLite or PostgreSQL) and store files."""
    from sqlalchemy import MetaData, select

    from twin.catalog.engine import make_engine
    from twin.catalog.workspace import Workspace

    engine = make_engine(Workspace.open(root).catalog)  # as it is: opening it must not migrate it
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as conn:
        rows = {name: sorted(map(repr, conn.execute(select(t)))) for name, t in sorted(tables.tables.items())}
    engine.dispose()
    files = sorted(
        (str(p.relative_to(root)), p.stat().st_size) for p in (root / "store").rglob("*") if p.is_file()
    )
    return rows, files


@pytest.fixture
def surveyed(workspace, tmp_path: Path):
    """A workspace with one structure ("pavilion") and survey ("2024") of two small stations."""
    from twin.catalog.ingest import ingest  # noqa: PLC0415

    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(2):
        write_las(folder / f"S{i + 1}.laz", n=3000, seed=i)
    ingest(workspace, [folder], "pavilion", "2024")
    return workspace

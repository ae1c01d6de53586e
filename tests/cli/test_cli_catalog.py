"""`twin init --catalog postgresql://...`: a team catalog, its password never in a file, and one
clear line with a non-zero exit, the folder as it was, for a URL that is wrong or unreachable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.pg_cluster import SUPERUSER, free_port


def _folder_state(folder: Path) -> list[tuple[str, bytes]]:
    return sorted((str(p.relative_to(folder)), p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def _one_error_line(result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    """A folder that already holds something of the user's."""
    folder = tmp_path / "existing"
    folder.mkdir()
    (folder / "notes.txt").write_text("survey plan\n")
    return folder


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ("not a url", ["--catalog: 'not a url' is not a database URL", "postgresql://USER@HOST:PORT/DATABASE"]),
        ("mysql://an@db.example/hue", ["mysql:// is not a PostgreSQL URL"]),
        ("postgresql://an@db.example:port/hue", ["is not a database URL"]),
        ("postgresql://an@db.example:99999/hue", ["port 99999 is out of range"]),
        ("postgresql://an@db.example", ["names no database"]),
        ("postgresql://an:s3cret@db.example/hue", ["holds a password", "PGPASSWORD", ".pgpass"]),
        ("postgresql://an@db.example/hue?password=s3cret", ["holds a password"]),
    ],
)
def test_malformed_url_one_line_exit_2_nothing_made(cli, tmp_path: Path, existing: Path, url, fragments):
    for folder in (tmp_path / "new", existing):
        before = _folder_state(folder) if folder.exists() else None
        line = _one_error_line(cli("init", folder, "--catalog", url), 2, *fragments)
        assert "s3cret" not in line  # a password given by mistake is not echoed
        assert (_folder_state(folder) if folder.exists() else None) == before


def test_unreachable_server_one_line_exit_4_nothing_made(cli, tmp_path: Path, existing: Path):
    url = f"postgresql://an@127.0.0.1:{free_port()}/hue"  # nothing listens there
    for folder in (tmp_path / "new", existing):
        before = _folder_state(folder) if folder.exists() else None
        _one_error_line(cli("init", folder, "--catalog", url), 4, f"catalog {url}: cannot connect",
                        "check that the server runs", "nothing was created")
        assert (_folder_state(folder) if folder.exists() else None) == before


def test_password_missing_or_wrong_database_absent_or_used(cli, tmp_path: Path, existing: Path, pg_cluster,
                                                           monkeypatch):
    before = _folder_state(existing)
    used = pg_cluster.create_database()
    assert cli("init", tmp_path / "first", "--catalog", used).exit_code == 0
    first_state = json.loads(cli("structures", "-w", tmp_path / "first", "--json").stdout)
    _one_error_line(cli("init", existing, "--catalog", used), 4, "already holds a twin catalog",
                    "nothing was created")
    _one_error_line(cli("init", existing, "--catalog", pg_cluster.url("no_such_db")), 4,
                    'database "no_such_db" does not exist', "create the database first")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    _one_error_line(cli("init", existing, "--catalog", pg_cluster.create_database()), 4,
                    "no password supplied", "PGPASSWORD", ".pgpass", "never keeps it in a file")
    monkeypatch.setenv("PGPASSWORD", "wrong")
    _one_error_line(cli("init", existing, "--catalog", pg_cluster.create_database()), 4,
                    f'password authentication failed for user "{SUPERUSER}"', "PGPASSWORD")
    assert _folder_state(existing) == before
    monkeypatch.setenv("PGPASSWORD", pg_cluster.password)  # the password from the environment works
    assert json.loads(cli("structures", "-w", tmp_path / "first", "--json").stdout) == first_state


def test_team_workspace_records_the_url_never_a_password(cli, tmp_path: Path, pg_cluster):
    url = pg_cluster.create_database()
    result = cli("init", tmp_path / "team", "--catalog", url, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["catalog"] == url
    assert not (tmp_path / "team" / "catalog.sqlite").exists()
    assert yaml.safe_load((tmp_path / "team" / "twin.yaml").read_text())["catalog"] == url
    for path in (tmp_path / "team").rglob("*"):
        assert not path.is_file() or pg_cluster.password.encode() not in path.read_bytes()
    text = cli("init", tmp_path / "team2", "--catalog", pg_cluster.create_database())
    assert text.exit_code == 0 and "(catalog postgresql://" in text.stdout
    # found from inside it like any workspace, and `twin verify FOLDER` knows it as one
    verify = cli("verify", tmp_path / "team")
    assert verify.exit_code == 0 and "verified 0 raw scan(s)" in verify.stdout


def test_team_workspace_whose_server_is_gone(cli, tmp_path: Path, pg_cluster):
    ws = tmp_path / "team"
    assert cli("init", ws, "--catalog", pg_cluster.create_database()).exit_code == 0
    settings = ws / "twin.yaml"
    data = yaml.safe_load(settings.read_text())
    data["catalog"] = data["catalog"].replace(f":{pg_cluster.port}/", f":{free_port()}/")
    settings.write_text(yaml.safe_dump(data, sort_keys=False))
    before = _folder_state(ws)
    _one_error_line(cli("structures", "-w", ws), 4, f"catalog {data['catalog']}: cannot connect")
    data["catalog"] = "postgresql://an:pw@db.example/hue"
    settings.write_text(yaml.safe_dump(data, sort_keys=False))
    _one_error_line(cli("scans", "x", "-w", ws), 4, "twin.yaml: catalog: the URL holds a password")
    others = [(name, data) for name, data in before if name != "twin.yaml"]
    assert [(n, d) for n, d in _folder_state(ws) if n != "twin.yaml"] == others  # nothing else changed

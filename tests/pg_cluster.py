"""A throwaway PostgreSQL cluster for the tests: initdb and pg_ctl in a temporary folder.

The server listens on 127.0.0.1 at a free port (and on a unix socket in its folder), asks for a
password (scram-sha-256; the tests give it as PGPASSWORD, as a technician would) and is stopped
and removed at the end. PostgreSQL refuses to run as root: under root (CI's container) the
cluster belongs to the ``postgres`` account that Debian's package creates (else ``nobody``),
and its folder is made under /tmp, outside pytest's root-only temporary folders, so that
account can reach it.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "twin_test"


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: $PG_BIN, PATH, else Debian's newest
    /usr/lib/postgresql/N/bin (Debian keeps them off PATH)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a postgres nor a nobody account exists to run PostgreSQL")


@dataclass
class Cluster:
    bin_dir: Path
    folder: Path
    port: int
    password: str
    account: pwd.struct_passwd | None
    _databases: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        """The catalog URL as a user gives it: no password (that comes from PGPASSWORD)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.account is not None:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C.UTF-8", "HOME": str(self.folder)}
        result = subprocess.run(args, cwd=self.folder, env=env, capture_output=True, text=True, timeout=timeout,
                                **kwargs)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}{log}")
        return result

    def start(self) -> None:
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.account is not None:
            for path in (self.folder, pwfile):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                  "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        pwfile.unlink()
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def admin(self):
        """An autocommit connection to the maintenance database."""
        import psycopg  # noqa: PLC0415

        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password,
                               dbname="postgres", autocommit=True)

    def create_database(self) -> str:
        """A new empty database; returns its catalog URL. It sorts text as a team's server
        usually does, by the rules of a language (ICU's en-US, where PostgreSQL has ICU), not
        byte by byte as SQLite does."""
        import psycopg  # noqa: PLC0415

        name = f"twin_{secrets.token_hex(6)}"
        with self.admin() as conn:
            try:
                conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
            except psycopg.Error:  # PostgreSQL before 15, or built without ICU
                conn.execute(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster(bin_dir: Path, attempts: int = 3) -> Cluster:
    """initdb and start a cluster on a free port (another port if that one was taken meanwhile)."""
    account = _server_account()
    error: Exception | None = None
    for _ in range(attempts):
        folder = Path(tempfile.mkdtemp(prefix="twin-pg-", dir="/tmp" if account is not None else None))
        cluster = Cluster(bin_dir=bin_dir, folder=folder, port=free_port(), password=secrets.token_urlsafe(16),
                          account=account)
        try:
            cluster.start()
            return cluster
        except RuntimeError as exc:
            error = exc
            cluster.stop()
            time.sleep(0.5)
    raise RuntimeError(f"could not start a PostgreSQL cluster: {error}")

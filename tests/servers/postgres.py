"""A private PostgreSQL server on loopback for the test session.

PostgreSQL refuses to run as root and CI runs as root, so when we are root
the server runs as an unprivileged system user created on first use. The
data directory (which also holds the unix socket) lives in a fresh temp dir
under /tmp that the server user owns; pytest's own tmp dirs are private to
root and would be unreachable for it.

Fixtures:
  postgres_url        (session)  URL of the server's `postgres` database
  fresh_postgres_url  (function) URL of a new, empty database, dropped afterwards

Missing server binaries fail loudly: `make test` installs the `postgresql`
package, so a machine without them is misconfigured, not a reason to skip.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

SERVER_USER = "itrader-test"
BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_ATTEMPTS = 3


@dataclass(frozen=True)
class PostgresServer:
    bin_dir: Path
    data_dir: Path
    port: int
    run_as: str | None  # None: run as the current user

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that has pg_ctl and initdb."""
    candidates = [
        Path(d) for d in glob.glob(BIN_GLOB)
        if (Path(d) / "pg_ctl").exists() and (Path(d) / "initdb").exists()
    ]
    if not candidates:
        raise RuntimeError(
            f"PostgreSQL server binaries not found ({BIN_GLOB}/pg_ctl, initdb). "
            "Install the Debian `postgresql` package (`make test` does it)."
        )
    return max(candidates, key=lambda d: _version_key(d.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def ensure_server_user() -> str | None:
    """The user the server runs as, creating it when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        result = subprocess.run(
            ["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", SERVER_USER],
            capture_output=True, text=True,
        )
        # 9 = the user appeared meanwhile (another fixture created it)
        if result.returncode not in (0, 9):
            raise RuntimeError(f"useradd {SERVER_USER} failed: {result.stderr.strip()}")
    return SERVER_USER


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(server_user: str | None, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", server_user, "--"] if server_user else []
    # cwd must be readable by the server user; the caller's cwd may not be.
    env = dict(os.environ, LC_ALL="C", LANG="C")
    return subprocess.run(prefix + argv, cwd=cwd, env=env, capture_output=True, text=True)


def _check(result: subprocess.CompletedProcess, what: str, log_file: Path | None = None) -> None:
    if result.returncode == 0:
        return
    log_tail = ""
    if log_file is not None and log_file.exists():
        log_tail = "\n--- server log ---\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
    raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}{log_tail}")


def start_server(base_dir: Path) -> PostgresServer:
    bin_dir = find_bin_dir()
    server_user = ensure_server_user()
    data_dir = base_dir / "data"
    data_dir.mkdir(mode=0o700)
    if server_user:
        entry = pwd.getpwnam(server_user)
        for path in (base_dir, data_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    _check(_run(server_user, [str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust",
                              "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
                cwd=base_dir), "initdb")

    log_file = base_dir / "server.log"
    last_error: RuntimeError | None = None
    for _ in range(START_ATTEMPTS):  # the free port can be taken between probe and bind
        port = free_loopback_port()
        # durability settings off: a throwaway test cluster, speed matters more
        options = (f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        result = _run(server_user, [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_file),
                                    "-o", options, "-w", "-t", "60", "start"], cwd=base_dir)
        try:
            _check(result, "pg_ctl start", log_file)
        except RuntimeError as error:
            last_error = error
            continue
        return PostgresServer(bin_dir=bin_dir, data_dir=data_dir, port=port, run_as=server_user)
    assert last_error is not None
    raise last_error


def stop_server(server: PostgresServer) -> None:
    _run(server.run_as, [str(server.bin_dir / "pg_ctl"), "-D", str(server.data_dir),
                         "-m", "fast", "-w", "stop"], cwd=server.data_dir.parent)


def _admin_execute(server: PostgresServer, sql: str) -> None:
    import psycopg2  # imported late: only sessions that use PostgreSQL need it

    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres")
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        with conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    base_dir = Path(tempfile.mkdtemp(prefix="itrader-pg-"))
    try:
        server = start_server(base_dir)
        try:
            yield server
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """postgresql://postgres@127.0.0.1:PORT/postgres of the private server."""
    return postgres_server.url()


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new empty database on the private server; dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    _admin_execute(postgres_server, f'CREATE DATABASE "{name}"')
    yield postgres_server.url(name)
    # FORCE ends connections a test left open (e.g. a connection pool not closed)
    _admin_execute(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

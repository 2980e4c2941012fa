"""A private Dovecot IMAP server on loopback for the test session.

Dovecot runs from a config file of its own in a temp dir (notes/local-servers.md), listening on a
free 127.0.0.1 port, plaintext LOGIN allowed. Mail users are passwd-file lines (one file per user); their mail is
`HOME/Maildir`. When we are root (CI) the mail user is an unprivileged system user created on first
use and delivered files are given to it, like a local delivery agent does.

Fixtures:
  imap_server   (session)  DovecotServer: host, port, user, password, maildir, deliver(bytes),
                           new_mailbox() -> a fresh Mailbox (own user and Maildir) on the same server
  imap_mailbox  (function) a fresh Mailbox for one test

A missing `dovecot` binary fails loudly: `make test` installs dovecot-imapd.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from .postgres import free_loopback_port

MAIL_USER = "itrader-mail"
START_ATTEMPTS = 3
START_TIMEOUT = 20.0

CONFIG_TEMPLATE = """\
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_internal_user = {user}
default_login_user = {user}
passdb {{
  driver = passwd-file
  args = {base}/users/%u
}}
userdb {{
  driver = passwd-file
  args = {base}/users/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass
class Mailbox:
    """One mail user on the server: connect with (host, port, user, password)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    home: Path
    owner: tuple[int, int]

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"

    def deliver(self, message: bytes) -> str:
        """Write a message into Maildir/new as a delivery agent would; returns its file name."""
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.itrader-test"
        tmp_path = self.maildir / "tmp" / name
        tmp_path.write_bytes(message)
        os.chown(tmp_path, *self.owner)
        os.rename(tmp_path, self.maildir / "new" / name)
        return name

    def reset_uidvalidity(self, new_uidvalidity: int) -> None:
        """Forget every UID, as after a mailbox restore: Dovecot renumbers with this UIDVALIDITY.

        Clients must be logged out first (Dovecot keeps the index open per session)."""
        for path in self.maildir.iterdir():
            if path.name.startswith("dovecot"):
                path.unlink()
        uidlist = self.maildir / "dovecot-uidlist"
        uidlist.write_text(f"3 V{new_uidvalidity} N1\n")
        os.chown(uidlist, *self.owner)
        for message in (self.maildir / "cur").iterdir():  # back to new/: unseen as far as Dovecot knows
            os.rename(message, self.maildir / "new" / message.name.split(":", 1)[0])


class DovecotServer:
    def __init__(self, base: Path, port: int, user: str, owner: tuple[int, int]) -> None:
        self.base = base
        self.host = "127.0.0.1"
        self.port = port
        self.run_as = user
        self._owner = owner
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.default = self.new_mailbox()

    # the session's default mailbox, for tests that need just one
    @property
    def user(self) -> str:
        return self.default.user

    @property
    def password(self) -> str:
        return self.default.password

    @property
    def maildir(self) -> Path:
        return self.default.maildir

    def deliver(self, message: bytes) -> str:
        return self.default.deliver(message)

    def new_mailbox(self) -> Mailbox:
        """A new user with an empty Maildir (Dovecot re-reads the passwd-file when it changes)."""
        with self._lock:
            number = next(self._counter)
            user = f"user{number}"
            password = uuid.uuid4().hex
            home = self.base / "home" / user
            for sub in ("tmp", "new", "cur"):
                (home / "Maildir" / sub).mkdir(parents=True)
            for dirpath, _dirs, _files in os.walk(home):
                os.chown(dirpath, *self._owner)
            uid, gid = self._owner
            # one passwd-file per user (path with %u): Dovecot opens it at login, no reload needed
            with open(self.base / "users" / user, "w") as users:
                users.write(f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{home}\n")
            return Mailbox(self.host, self.port, user, password, home, self._owner)

    def log_tail(self, lines: int = 30) -> str:
        log = self.base / "dovecot.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def find_dovecot() -> str:
    path = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if not path:
        raise RuntimeError("dovecot not found. Install the Debian `dovecot-imapd` package (`make test` does it).")
    return path


def ensure_mail_user() -> tuple[str, tuple[int, int]]:
    """The unprivileged user owning the mail (created when we are root), and its uid/gid."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return entry.pw_name, (entry.pw_uid, entry.pw_gid)
    try:
        entry = pwd.getpwnam(MAIL_USER)
    except KeyError:
        result = subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", MAIL_USER],
                                capture_output=True, text=True)
        if result.returncode not in (0, 9):  # 9: created meanwhile by another session
            raise RuntimeError(f"useradd {MAIL_USER} failed: {result.stderr.strip()}")
        entry = pwd.getpwnam(MAIL_USER)
    return MAIL_USER, (entry.pw_uid, entry.pw_gid)


def _wait_for_greeting(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return True
        except OSError:
            time.sleep(0.1)
    return False


def start_dovecot(base: Path) -> DovecotServer:
    binary = find_dovecot()
    user, owner = ensure_mail_user()
    os.chmod(base, 0o755)  # the mail user must reach its home under here
    for sub in ("run", "state", "home", "users"):
        (base / sub).mkdir()
    last_error = ""
    for _ in range(START_ATTEMPTS):  # the probed port can be taken before Dovecot binds it
        port = free_loopback_port()
        config = base / "dovecot.conf"
        config.write_text(CONFIG_TEMPLATE.format(base=base, user=user, port=port))
        # output to a file, not a pipe: the daemonized master would hold a pipe open forever
        with open(base / "start.out", "w+") as out:
            result = subprocess.run([binary, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
            out.seek(0)
            last_error = out.read()
        if result.returncode == 0 and _wait_for_greeting(port, time.monotonic() + START_TIMEOUT):
            return DovecotServer(base, port, user, owner)
        stop_dovecot(base)
    log = (base / "dovecot.log").read_text(errors="replace") if (base / "dovecot.log").exists() else ""
    raise RuntimeError(f"dovecot did not start: {last_error}\n--- log ---\n{log[-3000:]}")


def stop_dovecot(base: Path) -> None:
    pid_file = base / "run" / "master.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def imap_server() -> Iterator[DovecotServer]:
    base = Path(tempfile.mkdtemp(prefix="itrader-dovecot-"))
    try:
        server = start_dovecot(base)
        try:
            yield server
        finally:
            stop_dovecot(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def imap_mailbox(imap_server: DovecotServer) -> Mailbox:
    """A fresh, empty mailbox for one test."""
    return imap_server.new_mailbox()

"""The sandbox mailbox over IMAP, for `itrader sandbox` / `make run` where no Dovecot runs.

pymap (an asyncio IMAP server) serves the Maildir the sandbox bank's Mailer writes into. It runs as a
child process: asyncio and gevent's monkey-patched runtime do not share one process well, and a
separate process also keeps the daemon's IMAP client honest (real sockets, real protocol).

Layout: the user's home is `<maildir_root>/Maildir`, which is INBOX (Maildir++ layout); pymap's own
user files live in a private temp dir removed at stop.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

START_TIMEOUT = 30.0


@dataclass
class SandboxImapServer:
    host: str
    port: int
    login: str
    maildir: Path
    process: subprocess.Popen
    state_dir: Path

    def __repr__(self) -> str:
        return f"SandboxImapServer({self.login}@{self.host}:{self.port}, pid {self.process.pid})"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        shutil.rmtree(self.state_dir, ignore_errors=True)


def _write_user_files(state_dir: Path, login: str, password: str, home: Path) -> None:
    """pymap's passwd/shadow-style files, the password hashed the way pymap checks it."""
    from pysasl.hashing import BuiltinHash  # pymap's hash when passlib is absent (it is not a dependency)

    for value in (login, str(home)):
        if ":" in value or "\n" in value:
            raise ValueError(f"IMAP login and maildir path cannot contain ':' or newlines: {value!r}")
    # passwd(5): name:password:uid:gid:comment:home:shell ; shadow(5): name:hash + 7 empty fields
    (state_dir / "pymap-etc-passwd").write_text(f"{login}:x::::{home}:\n")
    (state_dir / "pymap-etc-shadow").write_text(f"{login}:{BuiltinHash().hash(password)}:::::::\n")
    (state_dir / "pymap-etc-shadow").chmod(0o600)


def _die_with_parent() -> None:
    """In the child before exec: end with the process that started us, even if it is SIGKILLed,
    so a killed daemon never leaves a server holding the sandbox's IMAP port."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _greets(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            return sock.recv(100).startswith(b"* OK")
    except OSError:
        return False


def start_imap_server(maildir_root: str | os.PathLike, host: str, port: int, login: str, password: str,
                      log_file: Optional[str | os.PathLike] = None) -> SandboxImapServer:
    """Serve `<maildir_root>/Maildir` as `login`'s INBOX on host:port (port 0 = a free one)."""
    home = Path(maildir_root).resolve() / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    if port == 0:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    elif _greets(host, port):
        # Someone already answers there (an older sandbox?): our mail would never reach the daemon.
        raise RuntimeError(f"sandbox IMAP address {host}:{port} is already in use")
    state_dir = Path(tempfile.mkdtemp(prefix="itrader-sandbox-imap-"))
    _write_user_files(state_dir, login, password, home)
    argv = [sys.executable, "-c", "from pymap.main import main; main()", "--host", host, "--port", str(port),
            "--no-service", "admin", "maildir", str(state_dir)]
    output = open(log_file, "ab") if log_file else open(state_dir / "pymap.log", "wb")
    with output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent)
    server = SandboxImapServer(host, port, login, home, process, state_dir)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _greets(host, port):
            return server
        time.sleep(0.1)
    log_path = Path(log_file) if log_file else state_dir / "pymap.log"
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    server.stop()
    raise RuntimeError(f"sandbox IMAP server (pymap) did not start on {host}:{port}:\n{tail}")

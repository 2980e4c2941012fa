"""Run `itrader run` as a real subprocess on a free loopback port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def eventually(predicate, timeout: float, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def end_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, and SIGKILL when it has not exited within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaemonProcess:
    def __init__(self, data_dir: Path, args: tuple[str, ...] = (), env: dict | None = None) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.log_path = data_dir / "daemon.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ITRADER_")}
        environment.update(env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "itrader.cli", "run", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", str(data_dir), "--sandbox-listen", "127.0.0.1:0", "--sandbox-imap", "127.0.0.1:0",
             *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=environment,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = ""

    def wait_ready(self, timeout: float = 60.0) -> "DaemonProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    token_file = self.data_dir / "api-token"
                    self.token = self.token or (token_file.read_text().strip() if token_file.exists() else "")
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"daemon not ready in {timeout}s:\n{self.log()}")

    def get(self, path: str, auth: bool = True, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        return requests.get(self.base + path, headers=headers, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.base + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=10, **kwargs)

    def terminate(self, timeout: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        self.kill()
        self._log.close()

"""Logging set-up with a last line of defence for secrets.

Code should never log a secret in the first place; the redacting filter
catches the mistakes (an exception text carrying a URL with a key, say).
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import threading
import time

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
MASK = "***"
# Libraries whose INFO lines say nothing an operator acts on (fontTools.subset alone was 3 of every 4
# lines of a sandbox run: the simulated bank subsets a font for each receipt it draws). They speak
# from WARNING up, unless the operator asks for DEBUG.
THIRD_PARTY = ("fontTools", "fpdf", "PIL", "urllib3", "requests", "peewee", "openai", "httpx", "httpcore",
               "imapclient", "pymap", "pykka", "websocket", "redis", "psycopg2")


class SecretRedactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            # Very short values would mask ordinary words; they are not real secrets anyway.
            self._secrets.update(s for s in secrets if s and len(s) >= 6)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now so it can be redacted too.
            cleaned = self.redact(cleaned + "\n" + logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


REDACTOR = SecretRedactor()


class DrillKills(logging.Filter):
    """An actor killed on purpose (a drill's Crash) is expected: pykka's traceback at ERROR is dropped, and the
    supervisor's own line ("root/Web failed: ActorKilled: ...") is the one line the kill leaves. The exception
    says it is a drill itself (`drill = True`), so this module need not know the actor classes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and getattr(exc, "drill", False))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers (Loki, Vector, journald) read without a parser."""

    def format(self, record: logging.LogRecord) -> str:
        # A traceback is in the message already: the redactor folds it in (to redact it) before this runs.
        entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text", file: str = "") -> None:
    """Logs go to stderr, or to `file` (reopened when logrotate moves it), as text or JSON lines."""
    handler: logging.Handler = logging.handlers.WatchedFileHandler(file) if file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT))
    handler.addFilter(DrillKills())  # before the redactor, which turns a traceback into text
    handler.addFilter(REDACTOR)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = logging.NOTSET if level == "DEBUG" else logging.WARNING
    for noisy in THIRD_PARTY:
        logging.getLogger(noisy).setLevel(quiet)

"""`--env-file`: secrets for the daemon from a root-only file, as supervisord cannot read one itself.

The format is the one systemd's EnvironmentFile and docker's --env-file share: `NAME=VALUE` lines,
`#` comments and blank lines ignored, an optional `export ` before the name, the value optionally in
matching single or double quotes. A variable left out of the file is simply not set, so optional
secrets stay optional. The file's values win over the inherited environment: it is named on the
command line, the more specific instruction. Errors name the line, never its value.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import MutableMapping

from itrader.config import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse(text: str, source: str = "--env-file") -> dict[str, str]:
    values: dict[str, str] = {}
    problems = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not _NAME.fullmatch(name):
            problems.append((source, f"line {number}: expected NAME=VALUE"))
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    if problems:
        raise ConfigError.of(problems)
    return values


def load_into(path: str, environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Read `path` and set its variables in `environ`; the names set, for a log line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("--env-file", f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--env-file", f"cannot read {path}: {type(exc).__name__}") from None
    values = parse(text, f"--env-file {path}")
    environ.update(values)
    return sorted(values)

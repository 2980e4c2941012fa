"""Write a config file and load it as `itrader run --config` would: shared by the config tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from itrader.config import ConfigError, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "itrader.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(tmp_path: Path, text: str, env: dict | None = None) -> list[tuple[str, str]]:
    """The problems `load` refuses this file with (it must refuse it)."""
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), env=env or {})
    return info.value.problems

"""`--env-file`: the secrets file the shipped supervisord.conf names."""
from __future__ import annotations

import subprocess
import sys

import pytest

from itrader import env_file
from itrader.config import ConfigError


def test_the_systemd_and_docker_shapes_are_read():
    values = env_file.parse("# secrets\n\nENCRYPTION_KEY=abc=def\nexport ITRADER_API_TOKEN='tok en'\n"
                            'EMAIL_PASSWORD="p#w"\nEMPTY=\n')
    assert values == {"ENCRYPTION_KEY": "abc=def", "ITRADER_API_TOKEN": "tok en", "EMAIL_PASSWORD": "p#w", "EMPTY": ""}


def test_a_bad_line_is_named_by_number_and_its_text_never_echoed():
    with pytest.raises(ConfigError) as info:
        env_file.parse("GOOD=1\nsupersecretvalue\n2BAD=x\n")
    assert [problem for _, problem in info.value.problems] == ["line 2: expected NAME=VALUE", "line 3: expected NAME=VALUE"]
    assert "supersecret" not in str(info.value)


def test_a_missing_env_file_is_a_config_error_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "itrader.cli", "migrate", "--data-dir", str(tmp_path),
                             "--env-file", str(tmp_path / "nope.env")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"itrader: config error: --env-file: file not found: {tmp_path / 'nope.env'}"


def test_the_file_wins_over_the_inherited_environment(tmp_path):
    path = tmp_path / "itrader.env"
    path.write_text("ITRADER_MODE=manual\n")
    environ = {"ITRADER_MODE": "auto", "OTHER": "kept"}
    assert env_file.load_into(str(path), environ) == ["ITRADER_MODE"]
    assert environ == {"ITRADER_MODE": "manual", "OTHER": "kept"}

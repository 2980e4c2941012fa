"""The README a newcomer reads names every deal state, every command-line flag and every API route."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from itrader.cli import build_parser
from itrader.deal.facts import State
from itrader.web_openapi import openapi_document

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_deal_state_has_a_row():
    missing = [state.value for state in State if f"| `{state.value}` |" not in README]
    assert missing == []


@pytest.mark.parametrize("command", ["run", "status", "deals", "confirm", "migrate"])
def test_every_flag_of_the_commands_is_documented(command):
    parser = build_parser()
    sub = next(action for action in parser._subparsers._group_actions if command in action.choices).choices[command]
    flags = [option for action in sub._actions if action.help != "==SUPPRESS==" for option in action.option_strings
             if option.startswith("--") and option != "--help"]
    assert [flag for flag in flags if not re.search(rf"`{flag}[ `=]", README)] == []


def test_every_api_route_is_documented():
    paths = openapi_document(drills=True)["paths"]
    patterns = [re.escape(path).replace(r"\{", "{").replace(r"\}", "}") for path in paths]
    patterns = [re.sub(r"\{[a-z_]+\}", "<[a-z]+>", pattern) for pattern in patterns]
    assert [path for path, pattern in zip(paths, patterns) if not re.search(pattern, README)] == []

"""The wall between sandbox and production (itrader/sandbox_wall.py, DESIGN §5.7): the sandbox's
published trust roots and credentials work only in the sandbox profile, or with
`[sandbox] external = true` and every platform on loopback."""
from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from itrader import sandbox_wall
from itrader.config import Config, ConfigError, EmailConfig, SandboxConfig, load
from itrader.sandbox import world as sandbox_world
from tests.core.config_files import refusal, write

TEST_DATA = Path(__file__).resolve().parents[2] / "test_data"
IN_PROCESS_LLM_KEY = "sandbox"  # actors/tree.py gives the in-process world's LLM this key


def published_values() -> set[str]:
    """Every key, secret, login and token the sandbox and test_data/ ship."""
    values = {sandbox_world.GATE_LOGIN, sandbox_world.GATE_PASSWORD, sandbox_world.GATE_COOKIE_SID,
              sandbox_world.GATE_COOKIE_RSID, sandbox_world.MAILBOX_LOGIN, sandbox_world.MAILBOX_PASSWORD,
              IN_PROCESS_LLM_KEY}
    values |= {v for _, key, secret, _ in sandbox_world.BYBIT_ACCOUNTS for v in (key, secret)}
    bybit_file = json.loads((TEST_DATA / "bybit_creditials.json").read_text())
    values |= {bybit_file["key"], bybit_file["secret"]}
    values |= {cookie["value"] for cookie in json.loads((TEST_DATA / "gate_cookie.json").read_text())}
    external = tomllib.loads((TEST_DATA / "sandbox-external.toml").read_text())
    values |= {external["daemon"]["api_token"], external["assistant"]["api_key"],
               external["email"]["address"], external["email"]["password"]}
    values |= {v for a in external["gate"]["accounts"] for v in (a["login"], a["password"])}
    values |= {v for a in external["bybit"]["accounts"] for v in (a["api_key"], a["api_secret"])}
    return values


def test_the_wall_knows_every_published_credential_and_nothing_else():
    fingerprints = {hashlib.sha256(v.encode()).hexdigest() for v in published_values()}
    assert fingerprints == sandbox_wall.PUBLISHED
    assert all(sandbox_wall.is_published(v) for v in published_values())
    assert not sandbox_wall.is_published("") and not sandbox_wall.is_published("my-real-bybit-secret")


def test_the_sandbox_dkim_key_is_refused_in_production(tmp_path):
    problems = refusal(tmp_path, '[email]\nimap_host = "imap.example.com"\ndkim_key_source = "sandbox"\n')
    assert len(problems) == 1
    key, problem = problems[0]
    assert key == "email.dkim_key_source"
    assert problem.startswith('"sandbox" is only allowed with the sandbox profile or [sandbox] external = true')


@pytest.mark.parametrize("text, key", [
    ('[daemon]\napi_token = "sandbox-token"\n', "daemon.api_token"),
    ('[[gate.accounts]]\nlogin = "trader@sandbox.local"\npassword = "real-looking"\n', "gate.accounts[0].login"),
    ('[[gate.accounts]]\nlogin = "desk@example.com"\npassword = "sandbox-gate-password"\n',
     "gate.accounts[0].password"),
    ('[[bybit.accounts]]\napi_key = "SANDBOXKEY000002"\napi_secret = "x"\n', "bybit.accounts[0].api_key"),
    ('[[bybit.accounts]]\napi_key = "REAL"\napi_secret = "sandbox-secret-0000000000000000003"\n',
     "bybit.accounts[0].api_secret"),
    ('[email]\npassword = "sandbox-mail-password"\n', "email.password"),
    ('[assistant]\napi_key = "sandbox-llm-key"\n', "assistant.api_key"),
])
def test_each_sandbox_credential_is_refused_in_production_under_its_key(tmp_path, text, key):
    assert [k for k, _ in refusal(tmp_path, text)] == [key]


def test_a_sandbox_credential_from_the_environment_is_refused_too(tmp_path):
    assert [k for k, _ in refusal(tmp_path, "", env={"ITRADER_API_TOKEN": "sandbox-token"})] == ["daemon.api_token"]


EXTERNAL = """
[sandbox]
external = true
[gate]
base_url = "http://127.0.0.1:8081/gate/api/v1"
[bybit]
base_url = "http://localhost:8081/bybit"
[assistant]
base_url = "http://[::1]:8081/llm/v1"
api_key = "sandbox-llm-key"
[email]
imap_host = "127.0.0.1"
dkim_key_source = "sandbox"
password = "sandbox-mail-password"
"""


def test_an_external_sandbox_on_loopback_may_use_the_sandbox_keys(tmp_path):
    config = load(write(tmp_path, EXTERNAL), env={})
    assert config.trusts_sandbox and config.email.dkim_key_source == "sandbox"


@pytest.mark.parametrize("change, key", [
    (("http://127.0.0.1:8081/gate", "https://panel.gate.cx"), "gate.base_url"),
    (("http://localhost:8081/bybit", "https://api.bybit.com"), "bybit.base_url"),
    (('base_url = "http://localhost:8081/bybit"', 'base_url = "http://localhost:8081/bybit"\n'
                                                'file_base_url = "https://www.bybit.com"'), "bybit.file_base_url"),
    (("http://[::1]:8081/llm/v1", "https://openrouter.ai/api/v1"), "assistant.base_url"),
    (('imap_host = "127.0.0.1"', 'imap_host = "imap.example.com"'), "email.imap_host"),
])
def test_an_external_sandbox_must_keep_every_platform_on_loopback(tmp_path, change, key):
    problems = refusal(tmp_path, EXTERNAL.replace(*change))
    assert [k for k, _ in problems] == [key]
    assert "must be on loopback with [sandbox] external = true" in problems[0][1]


def test_a_disabled_assistant_is_not_called_so_its_address_does_not_matter(tmp_path):
    text = EXTERNAL.replace("http://[::1]:8081/llm/v1", "https://openrouter.ai/api/v1").replace(
        "[assistant]\n", "[assistant]\nenabled = false\n")
    assert load(write(tmp_path, text), env={}).sandbox.external


def test_the_in_process_sandbox_profile_trusts_its_own_keys(tmp_path):
    assert load(None, env={}).trusts_sandbox
    text = '[sandbox]\nenabled = true\n[email]\ndkim_key_source = "sandbox"\n[daemon]\napi_token = "sandbox-token"\n'
    assert load(write(tmp_path, text), env={}).is_sandbox


def test_external_and_in_process_at_once_is_refused(tmp_path):
    assert [k for k, _ in refusal(tmp_path, "[sandbox]\nenabled = true\nexternal = true\n")] == ["sandbox.external"]


def test_the_composer_refuses_sandbox_trust_for_a_config_built_by_hand():
    """A Config made in code skips `load`; actors/tree.py checks again before it installs the key."""
    from actors.tree import build_root

    config = Config(email=EmailConfig(imap_host="imap.example.com", dkim_key_source="sandbox"),
                    sandbox=SandboxConfig())
    with pytest.raises(ConfigError) as info:
        build_root(SimpleNamespace(config=config, world=None), on_escalate=lambda reason: None)
    assert info.value.key == "email.dkim_key_source"

"""Accounts declared in a config file, imported into the encrypted store; the sync plan; the import files."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from itrader.account_import import (
    DECLARED, declared_accounts, encryption_key, import_declared, require_key,
)
from itrader.account_sync import SyncPlan, plan
from itrader.config import ConfigError, load
from itrader.credentials import CredentialFileError, describe, read_bybit_file, read_cookie_file
from itrader.store import SecretBox, Store, migrate, open_database

ROOT = Path(__file__).resolve().parents[2]
KEY = "ab" * 32
GATE_COOKIES = ROOT / "test_data" / "gate_cookie.json"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def store(tmp_path):
    db = open_database(tmp_path / "itrader.db")
    migrate(db)
    yield Store(db, SecretBox(KEY))
    db.close()


def production(tmp_path: Path, text: str):
    return load(write(tmp_path, "itrader.toml", "[daemon]\napi_token = \"prod-token-0123456789\"\n" + text), env={})


def test_secrets_come_from_files_and_environment_variables(tmp_path):
    secret_file = write(tmp_path, "bybit.secret", "bybit-secret-from-a-file\n")
    cookie_file = tmp_path / "desk.json"
    cookie_file.write_text(json.dumps([{"name": "sid", "value": "live-sid-value-1", "expirationDate": 4102444800},
                                       {"name": "rsid", "value": "live-rsid-value-1"}]))
    config = production(tmp_path, f"""
[[gate.accounts]]
login = "desk@example.com"
password_env = "DESK_PASSWORD"
cookies_file = "{cookie_file}"
[[bybit.accounts]]
name = "main"
api_key = "REALKEY1"
api_secret_file = "{secret_file}"
""")
    gate, bybit = declared_accounts(config, env={"DESK_PASSWORD": "desk-password-from-env"})
    assert (gate.kind, gate.name, gate.settings) == ("gate", "desk@example.com", {"login": "desk@example.com"})
    assert gate.secret["password"] == "desk-password-from-env"
    assert [c["value"] for c in gate.secret["cookies"]] == ["live-sid-value-1", "live-rsid-value-1"]
    assert (bybit.name, bybit.settings, bybit.secret) == ("main", {"login": "REALKEY1"},
                                                          {"api_secret": "bybit-secret-from-a-file"})
    assert "desk-password-from-env" not in repr(gate) and "bybit-secret-from-a-file" not in repr(bybit)


def test_every_unreadable_secret_is_one_line_naming_its_key(tmp_path):
    config = production(tmp_path, f"""
[[gate.accounts]]
login = "desk@example.com"
password_env = "NOT_SET_ANYWHERE"
[[gate.accounts]]
login = "second@example.com"
cookies_file = "{tmp_path / 'missing.json'}"
[[bybit.accounts]]
api_key = "REALKEY1"
api_secret_file = "{write(tmp_path, 'empty.secret', '')}"
""")
    with pytest.raises(ConfigError) as caught:
        declared_accounts(config, env={})
    assert [key for key, _ in caught.value.problems] == [
        "gate.accounts[0].password_env", "gate.accounts[1].cookies_file", "bybit.accounts[0].api_secret_file"]
    assert "NOT_SET_ANYWHERE is not set" in str(caught.value) and "does not exist" in str(caught.value)


def test_a_secret_given_two_ways_or_not_at_all_is_refused_at_load(tmp_path):
    with pytest.raises(ConfigError) as caught:
        production(tmp_path, '[[bybit.accounts]]\napi_key = "K"\napi_secret = "s"\napi_secret_env = "X"\n'
                             '[[gate.accounts]]\nlogin = "desk@example.com"\n')
    assert [key for key, _ in caught.value.problems] == ["gate.accounts[0].password_file",
                                                         "bybit.accounts[0].api_secret_env"]


def test_a_published_sandbox_session_in_a_file_is_refused_outside_the_sandbox(tmp_path):
    config = production(tmp_path, f'[[gate.accounts]]\nlogin = "desk@example.com"\ncookies_file = "{GATE_COOKIES}"\n')
    with pytest.raises(ConfigError) as caught:
        declared_accounts(config, env={})
    assert caught.value.key == "gate.accounts[0]"
    assert "session cookie is a sandbox credential published in this repository" in caught.value.problem


def test_the_import_is_idempotent_and_never_overwrites_a_renewed_session(tmp_path, store):
    config = production(tmp_path, '[[gate.accounts]]\nlogin = "desk@example.com"\npassword_env = "PW"\n')
    declared = declared_accounts(config, env={"PW": "first-password"})
    assert import_declared(store.accounts, declared, KEY) == ["gate/desk@example.com"]
    account = store.accounts.find("gate", "desk@example.com")
    assert DECLARED in account.settings and "first-password" not in json.dumps(account.settings)

    # The daemon renewed the session and the operator disabled the account: a restart keeps both.
    store.accounts.save_session(account.id, account.revision, {"password": "first-password", "cookies": [{"n": 1}]})
    store.accounts.disable(account.id)
    assert import_declared(store.accounts, declared, KEY) == []
    kept = store.accounts.get(account.id)
    assert store.accounts.secret(kept.id).reveal()["cookies"] == [{"n": 1}]
    assert not kept.enabled and kept.revision == account.revision

    # A changed declaration is written again, as an operator's change (the account restarts).
    changed = declared_accounts(config, env={"PW": "second-password"})
    assert import_declared(store.accounts, changed, KEY) == ["gate/desk@example.com"]
    assert store.accounts.secret(account.id).reveal() == {"password": "second-password"}
    assert store.accounts.get(account.id).revision == account.revision + 1


def test_the_key_is_required_for_declared_accounts_and_generated_only_in_the_sandbox(tmp_path):
    config = production(tmp_path, '[[gate.accounts]]\nlogin = "desk@example.com"\npassword = "pw-inline"\n')
    declared = declared_accounts(config, env={})
    assert encryption_key(config, tmp_path / "prod") == ""
    with pytest.raises(ConfigError) as caught:
        require_key("", declared)
    assert caught.value.key == "security.encryption_key"
    require_key("", [])  # nothing to keep: a daemon may start empty

    sandbox = load(None, env={})
    first = encryption_key(sandbox, tmp_path / "var")
    path = tmp_path / "var" / "encryption-key"
    assert len(first) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert encryption_key(sandbox, tmp_path / "var") == first  # kept: the next run reads its accounts


def test_the_sync_plan():
    assert plan({"a": 1}, {}, ()) == SyncPlan(start=("a",))
    assert plan({"a": 2, "b": 1}, {"a": 1, "b": 1}, ()) == SyncPlan(restart=("a",))
    assert plan({}, {"a": 1}, ()) == SyncPlan(retire=("a",))
    assert plan({}, {"a": 1}, {"a"}).empty  # already winding down
    assert plan({"a": 1}, {"a": 1}, {"a"}) == SyncPlan(revive=("a",))
    assert plan({"a": 1, "b": 1}, {"a": 1, "b": 1}, ()).empty


def test_import_files_and_what_list_says(tmp_path):
    cookies = read_cookie_file(GATE_COOKIES)
    assert [c["name"] for c in cookies] == ["sid", "rsid"]
    assert describe("gate", {"password": "x", "cookies": cookies}) == \
        "password, session (2 cookie(s), until 2030-01-01 00:00 UTC)"
    assert describe("gate", {"cookies": cookies}, now=4102444800) == "session (expired)"
    assert describe("bybit", "a bare secret stored by an older itrader") == "API secret"
    assert read_bybit_file(ROOT / "test_data" / "bybit_creditials.json")[0] == "SANDBOXKEY000001"

    expired = write(tmp_path, "old.json", json.dumps([{"name": "sid", "value": "v", "expirationDate": 1000}]))
    with pytest.raises(CredentialFileError, match="no live sid"):
        read_cookie_file(expired)
    with pytest.raises(CredentialFileError, match="key and secret"):
        read_bybit_file(write(tmp_path, "b.json", '{"key": "K"}'))
    with pytest.raises(CredentialFileError, match="not valid JSON"):
        read_bybit_file(write(tmp_path, "c.json", "{"))

"""Accounts in the encrypted store, changed while a real daemon runs — as an operator does it: `itrader run`
as a subprocess over the sandbox World on loopback, `itrader accounts ...` and `itrader deals` as
commands, the API over HTTP, the database read as it lies on disk.

* An account imported and one disabled on a running daemon: the new actor starts, the disabled account's
  un-taken ad moves to the new one, the deal records both its accounts, the API and the CLI show them,
  the disabled account's actor stops, and starts again when enabled.
* A Gate session imported from a browser export (test_data/gate_cookie.json) whose cookies expire: the
  daemon renews them, saves them encrypted, trades through the expiry of the imported ones.
* A session the sandbox ends on demand: without a password the account is unhealthy (one event), nothing
  crashes; the operator stores a password and the account recovers and trades; with it, the next
  expiry is renewed by a login and nobody is told.
* Secrets appear nowhere: the daemon's log, `accounts list`, the API.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import requests

from itrader.store import SecretBox, Store, open_database
from tests.pipeline.crash_harness import CrashingDaemon
from tests.pipeline.harness import TEST_ENCRYPTION_KEY, daemon_config_text

ROOT = Path(__file__).resolve().parents[2]
GATE_COOKIES = ROOT / "test_data" / "gate_cookie.json"
TOKEN = "test-token-123456"
SECOND = ("1400009", "SECONDKEY0000009", "second-api-secret-not-published-09", "Second")


def start_daemon(world, tmp_path: Path, *, bybit_accounts: int = 1, gate_account: bool = True,
                 gate: str = "") -> CrashingDaemon:
    daemon = CrashingDaemon(world, tmp_path / "daemon", world.imap_login)
    text = daemon_config_text(world, daemon.data_dir, world.imap_login, mode="auto", bybit_accounts=bybit_accounts)
    text = text.replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{daemon.port}"')
    if not gate_account:
        text = re.sub(r"\[\[gate\.accounts\]\]\nlogin = .*\npassword = .*\n", "", text)
    text = text.replace("[gate]\n", f"[gate]\n{gate}\n", 1)
    daemon.config_path.write_text(text)
    daemon.start()
    daemon.wait_ready()
    return daemon


def itrader(daemon: CrashingDaemon, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """An operator's command against the daemon's config and data directory."""
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("ITRADER_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "itrader.cli", *args, "--config", str(daemon.config_path),
                           "--data-dir", str(daemon.data_dir)], capture_output=True, text=True, timeout=60,
                          env=environment)


def api(daemon: CrashingDaemon, path: str):
    answer = requests.get(daemon.base + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait(daemon: CrashingDaemon, predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert daemon.alive(), f"the daemon exited:\n{daemon.tail()}"
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{daemon.tail(40)}")


def deal_of(daemon: CrashingDaemon, payout_id: int) -> dict | None:
    return next((d for d in api(daemon, "/api/v1/deals?all=1")["deals"] if d["payout_id"] == str(payout_id)), None)


def actor_node(daemon: CrashingDaemon, actor_id: str) -> dict | None:
    def find(node: dict) -> dict | None:
        if node.get("id") == actor_id:
            return node
        return next((hit for child in node.get("children") or () if child and (hit := find(child))), None)
    return find(api(daemon, "/api/v1/status")["tree"])


def account_row(daemon: CrashingDaemon, kind: str, name: str) -> dict:
    return next(a for a in api(daemon, "/api/v1/accounts")["accounts"] if a["kind"] == kind and a["name"] == name)


def events(daemon: CrashingDaemon, kind: str) -> list[dict]:
    text = requests.get(daemon.base + "/api/v1/events?once=1", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=10).text
    found = [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]
    return [e for e in found if e.get("type") == kind]


def test_an_account_imported_and_one_disabled_on_a_running_daemon(world, tmp_path):
    uid, key, secret, nickname = SECOND
    world.add_bybit_account(uid, key, secret, nickname)
    first = world.credentials()["bybit"][0]["nickname"]
    gate_login = world.credentials()["gate"]["login"]
    daemon = start_daemon(world, tmp_path, bybit_accounts=1)
    try:
        payout = world.create_payout(Decimal("6100"), "sbp", "sberbank")  # no buyer yet: its ad stays un-taken
        wait(daemon, lambda: (deal_of(daemon, payout["id"]) or {}).get("state") == "AD_ONLINE", 60, "the ad")
        assert deal_of(daemon, payout["id"])["bybit_account"] == first

        creds = tmp_path / "second_creditials.json"
        creds.write_text(json.dumps({"key": key, "secret": secret}))
        imported = itrader(daemon, "accounts", "import", "bybit", nickname, str(creds))
        assert imported.returncode == 0, imported.stderr
        wait(daemon, lambda: (actor_node(daemon, f"bybit:{nickname}") or {}).get("state") == "running", 15,
             "the imported account's actor to start")

        disabled = itrader(daemon, "accounts", "disable", "bybit", first)
        assert disabled.returncode == 0, disabled.stderr
        moved = wait(daemon, lambda: (d := deal_of(daemon, payout["id"]))["bybit_account"] == nickname
                     and d["state"] == "AD_ONLINE" and d, 60, "the un-taken ad to move to the new account")
        old_ads = {e["item_id"] for e in world.ledger.entries("bybit_ad_create") if e["uid"] == "1400001"}
        wait(daemon, lambda: old_ads <= {e["item_id"] for e in world.ledger.entries("bybit_ad_cancel")}, 15,
             "the disabled account's ad to be cancelled")
        wait(daemon, lambda: actor_node(daemon, f"bybit:{first}") is None, 30, "the disabled account's actor to stop")
        row = account_row(daemon, "bybit", first)
        assert (row["enabled"], row["running"]) == (False, False)

        world.attach_buyer(payout["id"], persona="honest")
        done = wait(daemon, lambda: (d := deal_of(daemon, payout["id"]))["state"] in ("COMPLETED", "MANUAL_REVIEW",
                                                                                     "ERROR") and d, 120, "the deal")
        assert done["state"] == "COMPLETED", done["reason"]
        assert (done["gate_account"], done["bybit_account"]) == (gate_login, nickname)
        assert isinstance(done["gate_account_id"], int) and isinstance(done["bybit_account_id"], int)
        assert moved["bybit_account_id"] == done["bybit_account_id"]
        assert [e["uid"] for e in world.ledger.entries("bybit_release")] == [uid]

        listed = itrader(daemon, "deals", "--all")
        assert listed.returncode == 0, listed.stderr
        assert re.search(rf"^{done['id']}\s+COMPLETED\s+{re.escape(gate_login)}/{nickname}\s", listed.stdout, re.M), \
            listed.stdout

        enabled = itrader(daemon, "accounts", "enable", "bybit", first)
        assert enabled.returncode == 0, enabled.stderr
        wait(daemon, lambda: (actor_node(daemon, f"bybit:{first}") or {}).get("state") == "running", 15,
             "the account enabled again to start")
        assert {e["account"] for e in events(daemon, "account_started")} >= {nickname, first}
        assert world.audit() == []
        assert secret not in daemon.tail(100_000)
    finally:
        daemon.terminate()


def test_an_imported_gate_session_is_renewed_stored_encrypted_and_an_unrenewable_one_only_waits(world, tmp_path):
    world.gate.set_session_lifetimes(cookie=4)  # the panel's cookies die 4 s after they are issued
    gate_login, gate_password = world.credentials()["gate"]["login"], world.credentials()["gate"]["password"]
    daemon = start_daemon(world, tmp_path, gate_account=False, gate="session_refresh = 1")
    try:
        imported = itrader(daemon, "accounts", "import", "gate", "desk", str(GATE_COOKIES), "--login", gate_login)
        assert imported.returncode == 0, imported.stderr
        wait(daemon, lambda: account_row(daemon, "gate", "desk").get("healthy"), 15, "the session account to run")

        exported = {c["name"]: c["value"] for c in json.loads(GATE_COOKIES.read_text())}
        gate_me = world.urls["gate"] + "/auth/me"
        wait(daemon, lambda: requests.get(gate_me, cookies=exported, timeout=5).status_code == 401, 15,
             "the imported cookies to expire")
        time.sleep(2)  # and then some more renewals

        payout = world.create_payout(Decimal("4300"), "sbp", "vtb", persona="honest")
        done = wait(daemon, lambda: (d := deal_of(daemon, payout["id"])) and d["state"] in (
            "COMPLETED", "MANUAL_REVIEW", "ERROR") and d, 120, "the deal on the renewed session")
        assert done["state"] == "COMPLETED", done["reason"]
        assert done["gate_account"] == "desk"

        # What is stored: the renewed session, encrypted; never what was imported, never in plain text.
        db = open_database(daemon.data_dir / "itrader.db")
        try:
            store = Store(db, SecretBox(TEST_ENCRYPTION_KEY))
            account = store.accounts.find("gate", "desk")
            stored = {c["name"]: c["value"] for c in store.accounts.secret(account.id).reveal()["cookies"]}
            with db.connection() as conn:
                raw = conn.execute_sql("SELECT secret FROM accounts WHERE id = ?", (account.id,)).fetchone()[0]
        finally:
            db.close()
        assert stored["sid"] != exported["sid"] and account.revision == 1  # saved by the daemon, no restart
        assert raw.startswith("v1.") and all(value not in raw for value in (*stored.values(), *exported.values()))
        assert "session" not in raw and "cookie" not in raw.lower()
        assert actor_node(daemon, "gate:desk")["restarts"] == 0

        # The panel ends the session: no password is stored, so the account is unhealthy and waits.
        assert requests.post(world.urls["sandbox"] + "/gate/sessions/expire", json={"login": gate_login},
                             timeout=5).json()["expired"] >= 1
        wait(daemon, lambda: events(daemon, "account_unhealthy"), 10, "the operator event")
        row = account_row(daemon, "gate", "desk")
        assert row["healthy"] is False and "no password" in row["problem"]
        waiting = world.create_payout(Decimal("5300"), "sbp", "vtb", persona="honest")
        time.sleep(5)  # five refresh intervals
        assert deal_of(daemon, waiting["id"]) is None  # not taken: nothing to poll with
        assert len(events(daemon, "account_unhealthy")) == 1
        node = actor_node(daemon, "gate:desk")
        assert (node["state"], node["restarts"]) == ("running", 0)  # no crash loop

        # The operator stores the password: the account restarts, logs in and takes the waiting payout.
        fixed = itrader(daemon, "accounts", "add", "gate", "desk", "--login", gate_login, "--update",
                        env={"ITRADER_ACCOUNT_SECRET": gate_password})
        assert fixed.returncode == 0, fixed.stderr
        done = wait(daemon, lambda: (d := deal_of(daemon, waiting["id"])) and d["state"] in (
            "COMPLETED", "MANUAL_REVIEW", "ERROR") and d, 120, "the waiting payout's deal")
        assert done["state"] == "COMPLETED", done["reason"]

        # With a password the next expiry is a login, not an incident.
        logins = len([r for r in world.gate.request_log(gate_login) if r.path.endswith("/auth/basic/login")])
        requests.post(world.urls["sandbox"] + "/gate/sessions/expire", json={"login": gate_login}, timeout=5)
        wait(daemon, lambda: len([r for r in world.gate.request_log(gate_login)
                                  if r.path.endswith("/auth/basic/login")]) > logins, 15, "a new login")
        assert len(events(daemon, "account_unhealthy")) == 1
        assert account_row(daemon, "gate", "desk")["healthy"] is True

        listed = itrader(daemon, "accounts", "list")
        assert listed.returncode == 0, listed.stderr
        assert re.search(r"^gate\s+desk\s+\S+\s+yes\s+password, session \(2 cookie\(s\)", listed.stdout, re.M), \
            listed.stdout
        log = daemon.tail(100_000)
        accounts_view = json.dumps(api(daemon, "/api/v1/accounts"))
        secrets = [gate_password, TEST_ENCRYPTION_KEY, *exported.values(), *stored.values(),
                   *(b["api_secret"] for b in world.credentials()["bybit"])]
        for text in (log, listed.stdout, listed.stderr, accounts_view):
            assert not [s for s in secrets if s in text]
    finally:
        daemon.terminate()

from __future__ import annotations

import base64
import logging

import pytest

from itrader.store import (
    AccountExists, AccountNotFound, MissingEncryptionKey, SecretBox, SecretDecryptionError, Store,
    InvalidEncryptionKey, parse_encryption_key,
)

from .conftest import KEY

API_SECRET = "bybit-api-secret-VERY-PRIVATE-42"


def test_secret_is_encrypted_at_rest_and_decrypts_on_demand(store, db):
    account = store.accounts.add("bybit", "main", {"api_secret": API_SECRET}, settings={"api_key": "pubkey"})

    with db.connection() as conn:
        raw = conn.execute_sql("SELECT secret, settings FROM accounts WHERE id = %s" % int(account.id)).fetchone()
    assert API_SECRET not in raw[0] and API_SECRET[:12] not in raw[0]
    assert "pubkey" in raw[1]  # settings are not secret and stay readable
    assert store.accounts.secret(account.id).reveal() == {"api_secret": API_SECRET}


def test_sqlite_file_bytes_never_contain_the_secret(tmp_path):
    from itrader.store import migrate, open_database

    path = tmp_path / "itrader.sqlite3"
    db = open_database(path)
    try:
        migrate(db)
        Store(db, SecretBox(KEY)).accounts.add("gate", "desk", {"password": API_SECRET})
    finally:
        db.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("itrader.sqlite3"))
    assert API_SECRET.encode() not in on_disk
    assert b"desk" in on_disk  # the row is there, just not its secret


def test_wrong_key_gives_a_clear_error_without_leaking(store, db):
    account = store.accounts.add("mailbox", "receipts", API_SECRET)
    other_key = "f" * 64
    intruder = Store(db, SecretBox(other_key))
    with pytest.raises(SecretDecryptionError, match="wrong ENCRYPTION_KEY") as caught:
        intruder.accounts.secret(account.id)
    message = str(caught.value)
    assert "mailbox/receipts" in message
    assert API_SECRET not in message and KEY not in message and other_key not in message


def test_a_ciphertext_moved_to_another_account_does_not_decrypt(store, db):
    victim = store.accounts.add("bybit", "victim", API_SECRET)
    thief = store.accounts.add("bybit", "thief", "mine")
    with db.transaction() as conn:
        conn.execute_sql(
            "UPDATE accounts SET secret = (SELECT secret FROM accounts WHERE id = %d) WHERE id = %d"
            % (victim.id, thief.id))
    with pytest.raises(SecretDecryptionError):
        store.accounts.secret(thief.id)


def test_secret_never_shows_in_repr_str_or_logs(store, caplog):
    caplog.set_level(logging.DEBUG)  # peewee logs every query at DEBUG
    account = store.accounts.add("gate", "desk", [{"name": "sid", "value": API_SECRET}])
    secret = store.accounts.secret(account.id)
    store.accounts.replace_secret(account.id, [{"name": "sid", "value": API_SECRET + "-refreshed"}])
    shown = " ".join([repr(secret), str(secret), f"{secret}", repr(account), repr(store), repr(store.secret_box)])
    assert API_SECRET not in shown and KEY not in shown
    assert API_SECRET not in caplog.text
    assert store.accounts.secret(account.id).reveal()[0]["value"] == API_SECRET + "-refreshed"


def test_list_get_disable_enable(store):
    gate = store.accounts.add("gate", "desk", "pw")
    bybit_b = store.accounts.add("bybit", "b", "s2")
    bybit_a = store.accounts.add("bybit", "a", "s1")
    assert [a.label for a in store.accounts.list()] == ["bybit/a", "bybit/b", "gate/desk"]
    assert [a.name for a in store.accounts.list(kind="bybit")] == ["a", "b"]

    assert store.accounts.disable(bybit_a.id).enabled is False
    assert [a.label for a in store.accounts.list(enabled_only=True)] == ["bybit/b", "gate/desk"]
    assert store.accounts.enable(bybit_a.id).enabled is True
    assert store.accounts.get(gate.id).name == "desk"
    assert store.accounts.find("bybit", "b") == store.accounts.get(bybit_b.id)
    assert store.accounts.find("bybit", "zzz") is None
    with pytest.raises(AccountNotFound):
        store.accounts.get(999_999)
    with pytest.raises(AccountNotFound):
        store.accounts.disable(999_999)


def test_duplicate_account_and_bad_kind_are_refused(store):
    store.accounts.add("bybit", "main", "s")
    with pytest.raises(AccountExists, match="bybit/main"):
        store.accounts.add("bybit", "main", "other")
    with pytest.raises(ValueError, match="kind"):
        store.accounts.add("binance", "main", "s")


def test_without_a_key_accounts_list_but_secrets_are_refused(store, db):
    account = store.accounts.add("gate", "desk", "pw")
    keyless = Store(db)
    assert [a.id for a in keyless.accounts.list()] == [account.id]
    with pytest.raises(MissingEncryptionKey, match="ENCRYPTION_KEY is not set"):
        keyless.accounts.secret(account.id)
    with pytest.raises(MissingEncryptionKey):
        keyless.accounts.add("gate", "other", "pw")


def test_the_three_key_spellings_are_the_same_key():
    raw = KEY.encode("ascii")
    spellings = [KEY, raw.hex(), base64.urlsafe_b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    assert {parse_encryption_key(s) for s in spellings} == {raw}
    sealed = SecretBox(spellings[0]).encrypt("x", "account gate/a")
    for spelling in spellings[1:]:
        assert SecretBox(spelling).decrypt(sealed, "account gate/a").reveal() == "x"


@pytest.mark.parametrize("bad", ["short", "x" * 33, "g" * 64, "", "é" * 32])
def test_bad_keys_are_refused_without_echoing_them(bad):
    with pytest.raises(InvalidEncryptionKey, match="32 bytes") as caught:
        SecretBox(bad)
    if bad:
        assert bad not in str(caught.value)


def test_an_operators_change_bumps_the_revision_a_saved_session_does_not(store):
    account = store.accounts.add("gate", "desk", {"password": "pw-1"})
    assert account.revision == 1
    assert store.accounts.disable(account.id).revision == 1  # enabled is followed on its own
    assert store.accounts.enable(account.id).revision == 1
    changed = store.accounts.replace_secret(account.id, {"password": "pw-2"}, settings={"login": "d@x.test"})
    assert changed.revision == 2 and changed.settings == {"login": "d@x.test"}

    # The daemon renews the session under the revision it started the account with …
    assert store.accounts.save_session(account.id, 2, {"password": "pw-2", "cookies": [{"name": "sid"}]})
    assert store.accounts.get(account.id).revision == 2
    # … and never over an operator's newer secret.
    store.accounts.replace_secret(account.id, {"password": "pw-3"})
    assert not store.accounts.save_session(account.id, 2, {"password": "pw-2", "cookies": []})
    assert store.accounts.secret(account.id).reveal() == {"password": "pw-3"}


def test_remove_deletes_an_unused_account_and_keeps_one_deals_name_without_its_secret(store, db):
    unused = store.accounts.add("bybit", "spare", {"api_secret": API_SECRET})
    assert store.accounts.remove(unused.id) is True
    assert store.accounts.find("bybit", "spare") is None

    used = store.accounts.add("bybit", "main", {"api_secret": API_SECRET})
    deal, _ = store.deals.create_deal("payout-1", 5000, bybit_account_id=used.id)
    assert store.accounts.live_deals(used.id, ["COMPLETED"]) == 1
    assert store.accounts.remove(used.id) is False
    kept = store.accounts.find("bybit", "main")
    assert kept.removed and not kept.enabled and kept.revision == 2
    assert [a.name for a in store.accounts.list(include_removed=False)] == []
    with pytest.raises(SecretDecryptionError, match="erased"):
        store.accounts.secret(kept.id)
    with db.connection() as conn:
        raw = conn.execute_sql("SELECT secret FROM accounts WHERE id = %d" % int(kept.id)).fetchone()[0]
    assert raw == ""  # not even the ciphertext stays
    with pytest.raises(AccountNotFound, match="removed"):
        store.accounts.enable(kept.id)

    revived = store.accounts.add("bybit", "main", {"api_secret": "new-secret"}, settings={"login": "K2"})
    assert revived.id == kept.id and revived.enabled and not revived.removed and revived.revision == 3
    assert store.deals.get(deal.id).bybit_account_id == kept.id  # the deal still names it

"""Accounts a config file declares, imported into the encrypted store when the daemon starts.

The daemon drives the accounts in the database (`itrader accounts ...` manages them); a config file may
still declare Gate and Bybit accounts and the receipt mailbox. Their secrets come from a file
(`password_file`, `api_secret_file`, `cookies_file`, `email.password_file`), an environment variable
(`password_env`, `api_secret_env`, `EMAIL_PASSWORD`) or, discouraged, the file itself. The import is
idempotent: each declared account carries a fingerprint of what was declared (an HMAC under the
encryption key, so it reveals nothing), and an account is written again only when its declaration
changed — so a Gate session the daemon renewed since is not overwritten by the stale export at every
start, and an account the operator disabled stays disabled.

ENCRYPTION_KEY: required once there is an account to keep. The sandbox profile and an external sandbox
(`[sandbox] external = true`) generate one into the data directory when none is set (DATA_DIR/
encryption-key, mode 0600): their credentials are published anyway, and `make run` needs no setup.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from itrader import sandbox_wall
from itrader.config import Config, ConfigError
from itrader.credentials import CredentialFileError, gate_secret, published_fields, read_cookie_file
from itrader.store import AccountStore, parse_encryption_key

KEY_FILE = "encryption-key"
DECLARED = "declared"  # the settings entry holding the declaration's fingerprint


@dataclass(frozen=True)
class DeclaredAccount:
    kind: str
    name: str
    settings: dict[str, Any]
    secret: Any = field(repr=False)
    key: str = ""  # where it was declared, for errors (e.g. "gate.accounts[0]")

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def declared_accounts(config: Config, env: Mapping[str, str] | None = None) -> list[DeclaredAccount]:
    """The accounts the config declares, secrets read; every unreadable secret is one ConfigError line."""
    env = os.environ if env is None else env
    problems: list[tuple[str, str]] = []
    found: list[DeclaredAccount] = []
    for i, account in enumerate(config.gate.accounts):
        key = f"gate.accounts[{i}]"
        password = _secret(account.password, account.password_file, account.password_env, f"{key}.password",
                           env, problems)
        cookies: list[dict[str, Any]] = []
        if account.cookies_file:
            try:
                cookies = read_cookie_file(account.cookies_file)
            except CredentialFileError as exc:
                problems.append((f"{key}.cookies_file", str(exc)))
        found.append(DeclaredAccount("gate", account.account_name, {"login": account.login},
                                     gate_secret(password, cookies), key))
    for i, account in enumerate(config.bybit.accounts):
        key = f"bybit.accounts[{i}]"
        api_secret = _secret(account.api_secret, account.api_secret_file, account.api_secret_env,
                             f"{key}.api_secret", env, problems)
        found.append(DeclaredAccount("bybit", account.account_name, {"login": account.api_key},
                                     {"api_secret": api_secret}, key))
    email = config.email
    if email.imap_host and not email.address:
        problems.append(("email.address", "is required with email.imap_host (the mailbox's login)"))
    elif email.imap_host:
        password = _secret(email.password, email.password_file, "", "email.password", env, problems)
        found.append(DeclaredAccount("mailbox", email.address, mailbox_settings(email.address, email.imap_host,
                                                                                email.imap_port, email.imap_ssl,
                                                                                email.folder),
                                     {"password": password}, "email"))
    if not config.trusts_sandbox:
        problems += [(f"{account.key}", f"its {what} is a sandbox credential published in this repository; "
                                        f"{sandbox_wall.ONLY_IN_SANDBOX}")
                     for account in found
                     for what in published_fields(str(account.settings.get("login", "")), account.secret)]
    if problems:
        raise ConfigError.of(problems)
    return found


def mailbox_settings(address: str, host: str, port: int, ssl: bool, folder: str = "INBOX") -> dict[str, Any]:
    return {"login": address, "host": host, "port": int(port), "ssl": bool(ssl), "folder": folder}


def _secret(inline: str, path: str, variable: str, key: str, env: Mapping[str, str],
            problems: list[tuple[str, str]]) -> str:
    if inline:
        return inline
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append((f"{key}_file", f"cannot read {path} ({type(exc).__name__})"))
            return ""
        if not value:
            problems.append((f"{key}_file", f"{path} is empty"))
        return value
    if variable:
        value = env.get(variable, "").strip()
        if not value:
            problems.append((f"{key}_env", f"the environment variable {variable} is not set"))
        return value
    return ""


# --- the key ------------------------------------------------------------------------------------


def encryption_key(config: Config, data_dir: Path) -> str:
    """The configured ENCRYPTION_KEY; in the sandbox (profile or external) one kept in the data directory."""
    if config.security.encryption_key:
        return config.security.encryption_key
    if not config.trusts_sandbox:
        return ""
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def require_key(key: str, declared: list[DeclaredAccount]) -> None:
    if declared and not key:
        raise ConfigError("security.encryption_key",
                          "is required: the declared accounts are kept in the database with their secrets "
                          "encrypted (set ENCRYPTION_KEY: 64 hex digits, e.g. from `openssl rand -hex 32`)")


# --- the import ---------------------------------------------------------------------------------


def fingerprint(key: str, account: DeclaredAccount) -> str:
    payload = json.dumps([account.kind, account.name, account.settings, account.secret], sort_keys=True)
    return hmac.new(parse_encryption_key(key), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def import_declared(accounts: AccountStore, declared: list[DeclaredAccount], key: str) -> list[str]:
    """Write the declared accounts whose declaration is new or changed; their labels. Idempotent."""
    written: list[str] = []
    for account in declared:
        mark = fingerprint(key, account)
        settings = {**account.settings, DECLARED: mark}
        stored = accounts.find(account.kind, account.name)
        if stored is not None and stored.settings.get(DECLARED) == mark:
            continue  # as declared last time: what the store holds now (a renewed session) stands
        if stored is None or stored.removed:
            accounts.add(account.kind, account.name, account.secret, settings=settings)
        else:
            accounts.replace_secret(stored.id, account.secret, settings={**stored.settings, **settings})
        written.append(account.label)
    return written

"""`itrader accounts add|list|enable|disable|remove|import`: the accounts in the database.

These write the accounts table directly (never through a daemon), and a running daemon follows the table
within `daemon.accounts_poll` seconds (actors/account_group.py): an added or enabled account starts, a
disabled one winds down (a Bybit account's un-taken ads move to other accounts) and stops, a new secret
restarts the account. Secrets are read from a file, ITRADER_ACCOUNT_SECRET or a prompt, stored encrypted
under ENCRYPTION_KEY, and never printed: `list` says what is stored, not its value.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from itrader.credentials import (
    KINDS, CredentialFileError, cookies_of, describe, gate_secret, password_of, read_bybit_file, read_cookie_file,
    unusable_reason,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
ENDED_STATES = ("COMPLETED", "CANCELLED", "REJECTED_BUYER", "BLACKLISTED", "MANUAL_REVIEW", "DISPUTE", "ERROR")
SECRET_LABEL = {"gate": "Gate password", "bybit": "Bybit API secret", "mailbox": "mailbox password"}


def add_arguments(accounts: argparse.ArgumentParser) -> None:
    """The actions; the parser already takes --config and --data-dir (itrader.cli)."""
    acc = accounts.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = acc.add_parser("add", help="add an account (the secret from --secret-file, ITRADER_ACCOUNT_SECRET or "
                                     "a prompt)")
    add.add_argument("kind", choices=KINDS)
    add.add_argument("name", help="a short name for the account")
    add.add_argument("--login", required=True, help="Gate e-mail, Bybit API key or mailbox address")
    add.add_argument("--host", default="", help="IMAP HOST:PORT (mailbox only)")
    add.add_argument("--no-tls", action="store_true", help="plain IMAP (mailbox on loopback only)")
    add.add_argument("--secret-file", default="", help="read the secret from this file")
    add.add_argument("--update", action="store_true",
                     help="replace the secret of an existing account (a Gate account keeps its session)")
    add.set_defaults(action_handler=cmd_add)
    lst = acc.add_parser("list", help="list accounts and what is stored for them (never the secrets)")
    lst.set_defaults(action_handler=cmd_list)
    for action, what in (("enable", "enable an account (a running daemon starts it)"),
                         ("disable", "disable an account (a running daemon winds it down and stops it)"),
                         ("remove", "remove an account and its secret (kept as a record while deals name it)")):
        sub = acc.add_parser(action, help=what)
        sub.add_argument("kind", choices=KINDS)
        sub.add_argument("name")
        sub.set_defaults(action_handler=cmd_change)
    imp = acc.add_parser("import", help="import a Gate session (cookie export) or Bybit API credentials from a file")
    imp.add_argument("kind", choices=("gate", "bybit"))
    imp.add_argument("name", help="the account's name (created, or its secret replaced)")
    imp.add_argument("file", help="gate: a cookie export like gate_cookie.json; bybit: {\"key\", \"secret\"} "
                                  "like bybit_creditials.json")
    imp.add_argument("--login", default="", help="gate: the account's e-mail (default: the name)")
    imp.set_defaults(action_handler=cmd_import)
    for parser in acc.choices.values():  # after the action too: `itrader accounts list --config FILE`
        parser.add_argument("--config", default=argparse.SUPPRESS, help="TOML config file")
        parser.add_argument("--data-dir", default=argparse.SUPPRESS, help="SQLite file, receipts, logs")


def run(args: argparse.Namespace) -> int:
    from itrader.store import MissingEncryptionKey, SecretDecryptionError

    try:
        return args.action_handler(args)
    except MissingEncryptionKey:
        return _fail("ENCRYPTION_KEY must be set to store account secrets", EXIT_USAGE)
    except SecretDecryptionError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except CredentialFileError as exc:
        return _fail(str(exc), EXIT_USAGE)


def _fail(message: str, code: int) -> int:
    print(f"itrader: {message}", file=sys.stderr)
    return code


def _open(args: argparse.Namespace):
    """(config, account store): the database migrated, the secret box when a key is known."""
    from itrader.account_import import encryption_key
    from itrader.store import AccountStore, SecretBox

    config, db = args.open_store(args)  # itrader.cli's: the config with the flags, the database migrated
    key = encryption_key(config, Path(config.daemon.data_dir))
    return config, AccountStore(db, SecretBox(key) if key else None)


def _refused(config: Any, login: str, secret: Any) -> int | None:
    """The sandbox wall (itrader.sandbox_wall) for what an operator stores: exit 2 with why."""
    reason = unusable_reason(login, secret, config.trusts_sandbox)
    return None if reason is None else _fail(f"refused: {reason}", EXIT_USAGE)


def _read_secret(args: argparse.Namespace) -> str:
    if args.secret_file:
        try:
            return Path(args.secret_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialFileError(f"cannot read {args.secret_file} ({type(exc).__name__})") from None
    secret = os.environ.get("ITRADER_ACCOUNT_SECRET", "")
    if secret:
        return secret
    if not sys.stdin.isatty():
        raise CredentialFileError("give the secret with --secret-file, ITRADER_ACCOUNT_SECRET or in a terminal")
    return getpass.getpass(f"{SECRET_LABEL[args.kind]}: ")


def cmd_add(args: argparse.Namespace) -> int:
    from itrader.account_import import mailbox_settings
    from itrader.config import ConfigError, parse_address

    config, accounts = _open(args)
    if not accounts.can_decrypt:
        return _fail("ENCRYPTION_KEY must be set to store account secrets", EXIT_USAGE)
    settings: dict[str, Any] = {"login": args.login}
    if args.kind == "mailbox":
        if not args.host:
            return _fail("a mailbox needs --host HOST:PORT (its IMAP server)", EXIT_USAGE)
        try:
            host, port = parse_address(args.host, "--host")
        except ConfigError as exc:
            return _fail(exc.problem, EXIT_USAGE)
        settings = mailbox_settings(args.login, host, port or 993, not args.no_tls)
    value = _read_secret(args)
    if not value:
        return _fail("the secret must not be empty", EXIT_USAGE)
    existing = accounts.find(args.kind, args.name)
    if args.kind == "gate":
        secret: Any = gate_secret(value, cookies_of(accounts.secret(existing.id).reveal())
                                  if existing is not None and args.update and not existing.removed else None)
    else:
        secret = {"api_secret": value} if args.kind == "bybit" else {"password": value}
    refusal = _refused(config, args.login, secret)
    if refusal is not None:
        return refusal
    if existing is not None and not existing.removed:
        if not args.update:
            return _fail(f"a {args.kind} account named {args.name} already exists (--update replaces its secret)",
                         EXIT_FAILURE)
        accounts.replace_secret(existing.id, secret, settings={**existing.settings, **settings})
        print(f"updated {args.kind} account {args.name}; a running daemon restarts it with the new secret")
        return EXIT_OK
    accounts.add(args.kind, args.name, secret, settings=settings)
    print(f"added {args.kind} account {args.name}; a running daemon starts it within a few seconds")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    config, accounts = _open(args)
    if not accounts.can_decrypt:
        return _fail("ENCRYPTION_KEY must be set to store account secrets", EXIT_USAGE)
    existing = accounts.find(args.kind, args.name)
    live = existing if existing is not None and not existing.removed else None
    if args.kind == "gate":
        cookies = read_cookie_file(args.file)
        login = args.login or (str(live.settings.get("login") or "") if live else "") or args.name
        password = password_of(accounts.secret(live.id).reveal()) if live is not None else ""
        secret: Any = gate_secret(password, cookies)
        what = f"a session of {len(cookies)} cookie(s)"
    else:
        login, api_secret = read_bybit_file(args.file)
        secret = {"api_secret": api_secret}
        what = "API credentials"
    refusal = _refused(config, login, secret)
    if refusal is not None:
        return refusal
    settings = {**(live.settings if live else {}), "login": login}
    if live is not None:
        accounts.replace_secret(live.id, secret, settings=settings)
        print(f"imported {what} into {args.kind} account {args.name}; a running daemon restarts it with them")
    else:
        accounts.add(args.kind, args.name, secret, settings=settings)
        print(f"imported {what} as {args.kind} account {args.name}; a running daemon starts it within a few seconds")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from itrader.store import StoreError

    _config, accounts = _open(args)
    print(f"{'KIND':<8} {'NAME':<20} {'LOGIN':<32} {'ENABLED':<8} STORED")
    for row in accounts.list():
        if row.removed:
            stored = "removed (kept for the deals that name it; secret erased)"
        elif not accounts.can_decrypt:
            stored = "encrypted (no ENCRYPTION_KEY to say more)"
        else:
            try:
                stored = describe(row.kind, accounts.secret(row.id).reveal())
            except StoreError:
                stored = "unreadable with this ENCRYPTION_KEY"
        login = str(row.settings.get("login", ""))
        if row.kind == "bybit" and len(login) > 8:
            login = login[:6] + "…"  # the API key names the account; no need to print it whole
        print(f"{row.kind:<8} {row.name:<20} {login:<32} {'yes' if row.enabled else 'no':<8} {stored}")
    return EXIT_OK


def cmd_change(args: argparse.Namespace) -> int:
    _config, accounts = _open(args)
    account = accounts.find(args.kind, args.name)
    if account is None or account.removed:
        return _fail(f"no {args.kind} account named {args.name}", EXIT_FAILURE)
    if args.action == "enable":
        accounts.enable(account.id)
        print(f"enabled {args.kind} account {args.name}; a running daemon starts it within a few seconds")
    elif args.action == "disable":
        accounts.disable(account.id)
        print(f"disabled {args.kind} account {args.name}; a running daemon finishes its live deals on it, "
              "moves its un-taken ads and stops it")
    elif accounts.live_deals(account.id, ENDED_STATES):
        return _fail(f"{args.kind} account {args.name} still has live deals: disable it, let them finish, then "
                     "remove it", EXIT_FAILURE)
    elif accounts.remove(account.id):
        print(f"removed {args.kind} account {args.name} and its secret")
    else:
        print(f"removed {args.kind} account {args.name}: its secret is erased, the record stays for the "
              f"{accounts.deals_naming(account.id)} deal(s) that name it")
    return EXIT_OK

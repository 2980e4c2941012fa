"""`itrader` command line.

gevent is patched before anything else is imported: every later import
(pykka, requests, redis, bottle, imapclient) must see cooperative sockets and
threads. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from itrader import __version__  # noqa: E402
from itrader.config import Config, ConfigError, load, parse_address  # noqa: E402
from itrader.deal.resolve import ACTIONS as RESOLVE_ACTIONS, REASON_KINDS  # noqa: E402

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
TOKEN_FILE = "api-token"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except ConfigError as exc:
        for line in exc.lines():
            print(f"itrader: config error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="itrader", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"itrader {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon (sandbox profile when no config is given)")
    _add_common(run)
    run.add_argument("--sandbox-listen", default=None,
                     help="sandbox profile: the in-process sandbox's HTTP address (default 127.0.0.1:8081)")
    run.add_argument("--sandbox-imap", default=None,
                     help="sandbox profile: the in-process sandbox's IMAP address (default 127.0.0.1:1143)")
    run.add_argument("--log-level", default=None, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                     help="log from this level up (default: daemon.log_level, INFO)")
    run.add_argument("--log-format", default=None, choices=("text", "json"),
                     help="text lines, or one JSON object per line (default: daemon.log_format, text)")
    run.add_argument("--log-file", default=None,
                     help="append the log to this file, reopened when rotated (default: stderr)")
    run.set_defaults(handler=cmd_run)

    sandbox = sub.add_parser("sandbox", help="serve the simulated Gate, Bybit, bank, mail and LLM")
    _lazy(sandbox, "itrader.sandbox.command")

    status = sub.add_parser("status", help="print a running daemon's actor tree")
    _add_client(status)
    status.set_defaults(handler=cmd_status)

    deals = sub.add_parser("deals", help="list a running daemon's deals")
    _add_client(deals)
    deals.add_argument("--all", action="store_true", help="include finished deals")
    deals.set_defaults(handler=cmd_deals)

    confirm = sub.add_parser("confirm", help="confirm a deal's pending money step (manual mode)")
    _add_client(confirm)
    confirm.add_argument("deal", help="deal id")
    confirm.set_defaults(handler=cmd_confirm)

    pause = sub.add_parser("pause", help="stop taking new payouts; live deals go on (kept across restarts)")
    _add_client(pause)
    pause.add_argument("--reason", default=None, help="why (shown on the status page)")
    pause.set_defaults(handler=cmd_pause)

    resume = sub.add_parser("resume", help="take new payouts again after a pause")
    _add_client(resume)
    resume.set_defaults(handler=cmd_resume)

    review = sub.add_parser("review", help="the review queue: deals in MANUAL_REVIEW or DISPUTE, with why")
    _add_client(review)
    review.set_defaults(handler=cmd_review)

    resolve = sub.add_parser("resolve", help="resolve a deal in review (journaled, platforms read back first)")
    _add_client(resolve)
    resolve.add_argument("deal", help="deal id")
    resolve.add_argument("action", choices=RESOLVE_ACTIONS)
    resolve.add_argument("--reason", required=True, help="why, in words (journaled)")
    resolve.add_argument("--kind", required=True, choices=REASON_KINDS, help="the reason's kind")
    resolve.add_argument("--amount", help="approve_release: the payout's RUB amount, retyped exactly")
    resolve.add_argument("--return-payout", action="store_true", help="cancel: give the payout back to Gate")
    resolve.add_argument("--operator", default=os.environ.get("USER") or "cli", help="who acts (default $USER)")
    resolve.set_defaults(handler=cmd_resolve)

    accounts = sub.add_parser("accounts", help="manage the Gate, Bybit and mailbox accounts in the database")
    _add_common(accounts, listen=False)
    accounts.set_defaults(open_store=_open_store)
    _lazy(accounts, "itrader.accounts_cli")

    receipt = sub.add_parser("receipt", help="read a bank receipt (PDF or image) and optionally verify it")
    _lazy(receipt, "itrader.receipts.command")

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    _add_common(migrate, listen=False)
    migrate.set_defaults(handler=cmd_migrate)
    return parser


def _add_common(parser: argparse.ArgumentParser, listen: bool = True) -> None:
    parser.add_argument("--config", default=os.environ.get("ITRADER_CONFIG"),
                        help="TOML config file (default: $ITRADER_CONFIG; none = sandbox profile)")
    parser.add_argument("--data-dir", default=None, help="SQLite file, receipts, logs (default ./var)")
    parser.add_argument("--env-file", default=None,
                        help="read NAME=VALUE lines (secrets such as ENCRYPTION_KEY) into the environment first")
    if listen:
        parser.add_argument("--listen", default=None, help="HTTP endpoint HOST:PORT (default 127.0.0.1:8080)")


def _add_client(parser: argparse.ArgumentParser) -> None:
    _add_common(parser, listen=False)
    parser.add_argument("--url", default=os.environ.get("ITRADER_URL"),
                        help="the daemon's address, e.g. http://127.0.0.1:8080 (default: $ITRADER_URL, "
                             "else daemon.listen of --config)")
    parser.add_argument("--listen", default=None, help=argparse.SUPPRESS)  # before --url; still accepted
    parser.add_argument("--token", default=None, help="API token (default: $ITRADER_API_TOKEN or the sandbox token file)")
    parser.add_argument("--json", action="store_true", help="print raw JSON")


def _lazy(parser: argparse.ArgumentParser, module: str) -> None:
    """Subcommands whose arguments live beside their code."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise

        def unavailable(args: argparse.Namespace) -> int:
            print(f"itrader: this build lacks {module}", file=sys.stderr)
            return EXIT_USAGE

        parser.set_defaults(handler=unavailable)
        return
    mod.add_arguments(parser)
    parser.set_defaults(handler=mod.run)


def load_config(args: argparse.Namespace) -> Config:
    """The config file (or the sandbox profile) with the command line's flags on top, validated
    as one: a flag is checked by the same rules as the setting it replaces."""
    if getattr(args, "env_file", None):
        from itrader import env_file

        env_file.load_into(args.env_file)
    overrides = {}
    for flag, key in (("listen", "daemon.listen"), ("sandbox_listen", "sandbox.listen"),
                      ("sandbox_imap", "sandbox.imap_listen")):
        value = getattr(args, flag, None)
        if value:
            parse_address(value, "--" + flag.replace("_", "-"))
            overrides[key] = value
    for flag in ("log_level", "log_format", "log_file"):
        if getattr(args, flag, None):
            overrides[f"daemon.{flag}"] = getattr(args, flag)
    if getattr(args, "data_dir", None):
        overrides["daemon.data_dir"] = args.data_dir
    return load(args.config, overrides=overrides)


# --- run ---------------------------------------------------------------------


DAEMON_ENTRY_GROUP = "itrader.daemon"  # setup.cfg names actors.daemon:run_daemon here


def daemon_runner():
    """The actor shell's `run_daemon(config) -> exit code`, found through the package's entry
    points: actors import itrader, never the reverse, so the library cannot import it by name."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=DAEMON_ENTRY_GROUP, name="run"):
        return entry.load()
    return None


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args)
    run_daemon = daemon_runner()
    if run_daemon is None:
        print(f"itrader: no daemon installed (entry point group {DAEMON_ENTRY_GROUP}): "
              "reinstall the package (make install)", file=sys.stderr)
        return EXIT_USAGE
    return run_daemon(config)


# --- talking to a running daemon ---------------------------------------------


def _api(args: argparse.Namespace, method: str, path: str, body: Any = None, timeout: float = 10):
    import requests

    config = load_config(args)
    base = _daemon_url(args, config)
    token = args.token or config.daemon.api_token or _read_token_file(config)
    if not token:
        print("itrader: no API token: pass --token or set ITRADER_API_TOKEN", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    try:
        response = requests.request(method, base + path, headers={"Authorization": f"Bearer {token}"}, json=body,
                                    timeout=timeout)
    except requests.RequestException as exc:
        print(f"itrader: daemon not reachable at {base}: {type(exc).__name__}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    if response.status_code == 401:
        print("itrader: the daemon refused the API token", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:200]}
    if response.status_code >= 400:
        print(f"itrader: {response.status_code}: {body.get('error', body)}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE)
    return body


def _daemon_url(args: argparse.Namespace, config: Config) -> str:
    """--url / $ITRADER_URL, else the address the config makes the daemon listen on."""
    if args.url:
        from urllib.parse import urlsplit

        parts = urlsplit(args.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("--url", f"expected http://HOST:PORT or https://HOST:PORT, got {args.url!r}")
        return args.url.rstrip("/")
    host, port = parse_address(config.daemon.listen)
    return f"http://{host}:{port}"


def _read_token_file(config: Config) -> str:
    path = Path(config.daemon.data_dir) / TOKEN_FILE
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def cmd_status(args: argparse.Namespace) -> int:
    body = _api(args, "GET", "/api/v1/status")
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"iTrader {body.get('version', '?')} — {body.get('profile', '?')}, mode {body.get('mode', '?')}")
    _print_tree(body.get("tree", {}), 0)
    return EXIT_OK


def _print_tree(node: dict, depth: int) -> None:
    if not node:
        return
    line = f"{'  ' * depth}{node.get('id')} [{node.get('kind')}] {node.get('state')} restarts={node.get('restarts', 0)}"
    if node.get("last_failure"):
        line += f" last_failure={node['last_failure']}"
    print(line)
    for child in node.get("children", []):
        _print_tree(child, depth + 1)


def cmd_deals(args: argparse.Namespace) -> int:
    body = _api(args, "GET", "/api/v1/deals" + ("?all=1" if args.all else ""))
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return EXIT_OK
    deals = body.get("deals", [])
    print(f"{'DEAL':<8} {'STATE':<16} {'ACCOUNT (GATE/BYBIT)':<34} {'AMOUNT RUB':>12}  REASON")
    for deal in deals:
        accounts = f"{deal.get('gate_account') or '-'}/{deal.get('bybit_account') or '-'}"
        print(f"{deal['id']:<8} {deal['state']:<16} {accounts:<34} "
              f"{str(deal.get('amount') or '-'):>12}  {deal.get('reason') or ''}")
    print(f"{len(deals)} deal(s)")
    return EXIT_OK


def cmd_confirm(args: argparse.Namespace) -> int:
    body = _api(args, "POST", f"/api/v1/deals/{args.deal}/confirm")
    print(body.get("message", "confirmed"))
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    body = _api(args, "POST", "/api/v1/pause", {"reason": args.reason} if args.reason else None)
    print(json.dumps(body, indent=2, ensure_ascii=False) if args.json else body.get("message", "paused"))
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    body = _api(args, "POST", "/api/v1/resume")
    print(json.dumps(body, indent=2, ensure_ascii=False) if args.json else body.get("message", "resumed"))
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    body = _api(args, "GET", "/api/v1/review")
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return EXIT_OK
    deals = body.get("deals", [])
    for deal in deals:
        print(f"{deal['id']:<8} {deal['state']:<14} {str(deal.get('amount') or '-'):>12} RUB  "
              f"order {deal.get('order_id') or '-'}  {deal.get('reason') or ''}")
    print(f"{len(deals)} deal(s) need an operator" + (f": itrader resolve ID ACTION --reason ... --kind ..."
                                                       if deals else ""))
    return EXIT_OK


def cmd_resolve(args: argparse.Namespace) -> int:
    request = {"action": args.action, "reason": args.reason, "reason_kind": args.kind, "operator": args.operator}
    if args.amount is not None:
        request["amount"] = args.amount
    if args.return_payout:
        request["return_payout"] = True
    body = _api(args, "POST", f"/api/v1/deals/{args.deal}/resolve", body=request, timeout=40)
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        print(f"deal {body.get('deal_id')}: {body.get('action')} {body.get('outcome')}: {body.get('message')} "
              f"(now {body.get('state')})")
    return EXIT_OK


# --- local database commands ---------------------------------------------------


def _open_store(args: argparse.Namespace):
    from itrader.store import migrate, open_database

    config = load_config(args)
    Path(config.daemon.data_dir).mkdir(parents=True, exist_ok=True)
    db = open_database(config.database_url)
    migrate(db)
    return config, db


def cmd_migrate(args: argparse.Namespace) -> int:
    from itrader.store import LATEST_VERSION, migrate, open_database

    config = load_config(args)
    Path(config.daemon.data_dir).mkdir(parents=True, exist_ok=True)
    db = open_database(config.database_url)
    applied = migrate(db)
    print(f"schema at version {LATEST_VERSION} ({len(applied)} migration(s) applied now)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

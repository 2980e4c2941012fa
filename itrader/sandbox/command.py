"""`itrader sandbox`: serve the simulated world standalone until Ctrl-C / SIGTERM.

Kept light at import time (the CLI imports it to build its parser); the world is imported in run().
"""
from __future__ import annotations

import argparse
import json
import signal
import sys

from .server import DEFAULT_IMAP, DEFAULT_LISTEN, parse_address


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"HTTP address for Gate, Bybit, the LLM and the control API (default {DEFAULT_LISTEN})")
    parser.add_argument("--imap", default=DEFAULT_IMAP, metavar="HOST:PORT",
                        help=f"IMAP address of the receipt mailbox (default {DEFAULT_IMAP}); 'off' for none")
    parser.add_argument("--stream", type=float, default=0.0, metavar="N",
                        help="create N payouts a minute with a mix of buyer personas (default: none)")
    parser.add_argument("--maildir", default=None, metavar="DIR",
                        help="where the mailbox lives (default: a temporary directory)")
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="seed for reproducible runs")
    parser.add_argument("--speed", type=float, default=1.0, metavar="F",
                        help="buyers' human delays are multiplied by F (0 = none; default 1)")
    parser.add_argument("--json", action="store_true", help="print the addresses and credentials as JSON")


def _check(args: argparse.Namespace) -> str | None:
    try:
        parse_address(args.listen)
        if args.imap != "off":
            parse_address(args.imap)
    except ValueError as exc:
        return str(exc)
    if args.stream < 0:
        return "--stream must be >= 0"
    if args.speed < 0:
        return "--speed must be >= 0"
    return None


def describe(world) -> str:
    urls, creds = world.urls, world.credentials()
    lines = [
        "iTrader sandbox running — simulated Gate, Bybit P2P, bank, mailbox and LLM (nothing here is real)",
        f"  Gate API     {urls['gate']}",
        f"  Bybit API    {urls['bybit']}",
        f"  LLM (OpenAI) {urls['llm']}",
        f"  control API  {urls['sandbox']}",
        f"  IMAP         {urls.get('imap', 'off')}",
        f"  Gate login   {creds['gate']['login']} / {creds['gate']['password']}",
    ]
    for account in creds["bybit"]:
        lines.append(f"  Bybit {account['uid']}  key {account['api_key']}  secret {account['api_secret']}")
    mailbox = creds["mailbox"]
    lines.append(f"  mailbox      {mailbox['login']} / {mailbox['password']}")
    lines.append(f"  stream       {world.stream_per_minute:g} payouts/min" if world.stream_per_minute
                 else "  stream       off (create payouts with POST /sandbox/payouts)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem:
        print(f"itrader sandbox: {problem}", file=sys.stderr)
        return 2
    import gevent
    from gevent.event import Event

    from .world import World

    stopping = Event()  # handlers first: a SIGTERM right after the banner must still stop cleanly
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stopping.set)
    world = World(seed=args.seed, maildir=args.maildir, speed=args.speed)
    try:
        world.start(listen=args.listen, imap=None if args.imap == "off" else args.imap,
                    stream_per_minute=args.stream)
    except OSError as exc:
        print(f"itrader sandbox: cannot listen: {exc}", file=sys.stderr)
        world.stop()
        return 1
    if args.json:
        print(json.dumps({"urls": world.urls, "credentials": world.credentials()}), flush=True)
    else:
        print(describe(world), flush=True)
    try:
        stopping.wait()
    finally:
        world.stop()
    return 0

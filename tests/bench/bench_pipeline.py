"""The whole pipeline under load: `python tests/bench/bench_pipeline.py [--deals 100] [--load steady|burst]`.

A sandbox World in this process (buyers at full speed, receipts mailed through a real Dovecot), the
daemon in this process wired to it like an operator's config would be, 3 Bybit accounts, N honest
deals. Everything is counted on the sandbox side: every HTTP request that reached the Gate panel, Bybit
and the LLM, the Bybit per-account read/write log, the sandbox ledger's timestamps and each order's chat.

Two loads:
* steady (the default): payouts appear evenly over --arrival seconds and each buyer comes along
  --market-wait seconds after its payout (then acts at once, no human pauses). With the defaults all
  N deals are live at the same time (the peak is measured and printed), and the accounts' writes stay
  below Bybit's 5/s: the latencies are the daemon's own.
* burst: all N payouts at the same instant and every buyer already waiting. Each deal costs about five
  Bybit writes (ad, greeting, requisites, release, closing message), so 100 at once is 500 writes
  queued on 3 accounts allowed 5/s each: ~33 s of writing however it is ordered, and the hundredth ad
  cannot be online before 100 / 15 = 6.7 s. A stress figure, printed with that floor.
"""
from gevent import monkey

monkey.patch_all()  # as in production: before pykka, requests, bottle

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.bench.common import (  # noqa: E402
    BenchDaemon, Platforms, Row, Tuning, config_text, fmt_s, max_in_window, percentile, print_table,
    summary_line,
)
from itrader.sandbox import personas  # noqa: E402
from itrader.sandbox.world import (  # noqa: E402
    MAILBOX_LOGIN, MAILBOX_PASSWORD, PAYOUT_BANKS, World,
)
from tests.pipeline.harness import TERMINAL  # noqa: E402

API_CALLS_TARGET = 25
READS_TARGET, WRITES_TARGET = 10, 5
AD_ONLINE_TARGET, RELEASE_TARGET, REPLY_TARGET = 2.0, 3.0, 1.0


@dataclass
class Run:
    world: World
    started: float  # daemon start (wall clock)
    finished: float
    states: dict[str, int]
    completed: int
    boot_seconds: float
    peak_live: int  # the most deals live (not finished) at once, sampled every 0.2 s


def platforms(world: World, imap: tuple[str, int, str, str] | None = None) -> Platforms:
    creds = world.credentials()
    if imap is None:
        host, port = world.imap_address
        imap = (host, port, MAILBOX_LOGIN, MAILBOX_PASSWORD)
    return Platforms(
        gate_url=world.urls["gate"], gate_login=creds["gate"]["login"], gate_password=creds["gate"]["password"],
        bybit_url=world.urls["bybit"], bybit=[(b["nickname"], b["api_key"], b["api_secret"]) for b in creds["bybit"]],
        llm_url=world.urls["llm"], imap=imap)


@dataclass(frozen=True)
class Load:
    deals: int
    arrival: float  # payouts appear evenly over this many seconds (0: all at once)
    market_wait: float  # each buyer comes along this long after its payout appeared


def offer_payouts(world: World, load: Load) -> None:
    """Payouts on their schedule, each with an honest buyer who turns up `market_wait` s later."""
    script = personas.PERSONAS["honest"]
    script = [{"open_order": {"timeout": 1800, "after": load.market_wait}}] + script[1:] if load.market_wait > 0 else script
    began = time.monotonic()
    for i in range(load.deals):
        due = began + (load.arrival * i / load.deals)
        gevent.sleep(max(0.0, due - time.monotonic()))
        # Unique amounts: a sandbox buyer opens an order on any online ad of its payout's amount, so
        # equal amounts would swap buyers between deals and blur the per-deal timings.
        world.create_payout(Decimal(2000 + 137 * i), ("sbp", "sbp", "card")[i % 3],
                            PAYOUT_BANKS[i % len(PAYOUT_BANKS)], script=script)


def run_deals(world: World, tuning: Tuning, load: Load, data_dir: Path, timeout: float,
              imap: tuple[str, int, str, str] | None = None) -> Run:
    started = time.time()
    daemon = BenchDaemon(config_text(platforms(world, imap), data_dir, tuning), data_dir)
    boot = time.time() - started
    offering = gevent.spawn(offer_payouts, world, load)
    peak_live = 0
    try:
        deadline, last_report = time.monotonic() + timeout, 0.0
        while time.monotonic() < deadline:
            rows = daemon.deals()
            done = sum(1 for d in rows if d.state in TERMINAL)
            peak_live = max(peak_live, len(rows) - done)
            if done >= load.deals:
                break
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                print(f"  … {time.time() - started:5.0f} s: {len(rows)} deals, {len(rows) - done} live, "
                      f"{done} finished", file=sys.stderr, flush=True)
            gevent.sleep(0.2)
        finished = time.time()
        states: dict[str, int] = defaultdict(int)
        for row in daemon.deals():
            states[row.state] += 1
    finally:
        offering.kill()
        daemon.stop()
    return Run(world, started, finished, dict(states), states.get("COMPLETED", 0), boot, peak_live)


# --- what the sandbox saw --------------------------------------------------------------------------


def calls_by_platform(world: World, since: float, until: float) -> dict[str, int]:
    within = lambda ts: since <= ts <= until  # noqa: E731
    return {
        "gate": sum(1 for r in world.gate.request_log() if within(r.ts)),
        "bybit": sum(1 for e in world.bybit.http_log() if within(e["ts"])),
        "llm": len(world.llm.requests()),  # a fresh World: every LLM request is this run's
    }


def calls_by_path(world: World, since: float, until: float) -> list[tuple[str, int]]:
    """("Gate <path>" or "Bybit <path>", count), most called first."""
    counts: dict[str, int] = defaultdict(int)
    for entry in world.bybit.http_log():
        if since <= entry["ts"] <= until:
            counts["Bybit " + entry["path"].rsplit("/v5/p2p/", 1)[-1]] += 1
    for record in world.gate.request_log():
        if since <= record.ts <= until:
            counts["Gate " + re.sub(r"/\d+", "/{id}", record.path.rsplit("/api/v1/", 1)[-1])] += 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def peak_rates(world: World, since: float, until: float) -> dict[str, tuple[int, int, int]]:
    """Per Bybit account: the most reads and writes in any 1-s window, and the sandbox's 10006 rejections."""
    peaks = {}
    for uid in world.accounts_view()["bybit"]:
        log = [(ts, kind) for ts, kind, _ in world.bybit.request_log(uid["uid"]) if since <= ts <= until]
        peaks[uid["uid"]] = (max_in_window(ts for ts, k in log if k == "read"),
                             max_in_window(ts for ts, k in log if k == "write"),
                             world.bybit.rate_rejections(uid["uid"]))
    return peaks


def stage_delays(world: World, start_kind: str, end_kind: str) -> list[float]:
    """Seconds from a payout's first `start_kind` ledger entry to its first `end_kind` one."""
    def first(kind: str) -> dict:
        seen: dict = {}
        for entry in world.ledger.entries(kind):
            seen.setdefault(entry["payout_id"], entry["ts"])
        return seen
    starts, ends = first(start_kind), first(end_kind)
    return [ends[p] - starts[p] for p in ends if p in starts]


def latencies(world: World) -> tuple[list[float], list[float], list[float]]:
    """(payout offered → our ad online, receipt mailed → USDT released, buyer message → our next message)."""
    ledger = world.ledger
    created = {e["payout_id"]: e["ts"] for e in ledger.entries("payout_created")}
    ad_online = {e["item_id"]: e["ts"] for e in ledger.entries("bybit_ad_create")}
    orders = {e["order_id"]: e for e in ledger.entries("bybit_order")}
    released = {e["order_id"]: e["ts"] for e in ledger.entries("bybit_release")}
    to_ad, to_release, to_reply = [], [], []
    for link in ledger.entries("buyer_order"):
        order = orders.get(link["order_id"])
        if order is not None and link["payout_id"] in created and order["item_id"] in ad_online:
            to_ad.append(ad_online[order["item_id"]] - created[link["payout_id"]])
    for sent in ledger.entries("receipt_sent"):
        if sent["order_id"] in released:
            to_release.append(released[sent["order_id"]] - sent["ts"])
    for order_id, order in orders.items():
        to_reply.extend(reply_delays(world.bybit.messages(order_id), order["buyer_uid"], order["uid"]))
    return to_ad, to_release, to_reply


def reply_delays(messages: list[dict], buyer_uid: str, seller_uid: str) -> list[float]:
    """For each buyer message: seconds until our next message in the chat (none if we never wrote again)."""
    ordered = sorted(messages, key=lambda m: (int(m["createDate"]), int(m["id"])))
    delays = []
    for i, message in enumerate(ordered):
        if message["userId"] != buyer_uid or message["roleType"] == "sys":
            continue
        ours = next((m for m in ordered[i + 1:] if m["userId"] == seller_uid), None)
        if ours is not None:
            delays.append((int(ours["createDate"]) - int(message["createDate"])) / 1000)
    return delays


# --- the report ------------------------------------------------------------------------------------


def report(run: Run, tuning: Tuning, load: Load, accounts: int) -> list[Row]:
    deals = load.deals
    world = run.world
    releases = [e["ts"] for e in world.ledger.entries("bybit_release")]
    last_release = max(releases, default=run.finished)
    calls = calls_by_platform(world, run.started, last_release)
    total = sum(calls.values())
    per_deal = total / run.completed if run.completed else float("inf")
    peaks = peak_rates(world, run.started, run.finished)
    max_reads = max(p[0] for p in peaks.values())
    max_writes = max(p[1] for p in peaks.values())
    rejections = sum(p[2] for p in peaks.values())
    to_ad, to_release, to_reply = latencies(world)
    minutes = (last_release - run.started) / 60
    taking = stage_delays(world, "payout_created", "gate_take")
    approving = stage_delays(world, "receipt_sent", "gate_approve")
    ad95, rel95, rep95 = percentile(to_ad, 95), percentile(to_release, 95), percentile(to_reply, 95)
    rows = [
        Row("deals completed / offered", f"{run.completed}/{deals}", f"{deals}/{deals}", run.completed == deals),
        Row("most deals live at once (sampled every 0.2 s)", str(run.peak_live), f"(load: {deals} deals)"),
        Row("external API calls per completed deal (until the last release)", f"{per_deal:.1f}", f"≤ {API_CALLS_TARGET}",
            per_deal <= API_CALLS_TARGET),
        Row("  of which Gate / Bybit / LLM (total calls)",
            f"{calls['gate']} / {calls['bybit']} / {calls['llm']}", "(peer: ~1,900 per deal)"),
        *(Row(f"    {path}, per deal", f"{count / max(run.completed, 1):.2f}")
          for path, count in calls_by_path(world, run.started, last_release)),
        Row("max Bybit reads in any 1 s, any account", f"{max_reads}/s", f"≤ {READS_TARGET}/s",
            max_reads <= READS_TARGET),
        Row("max Bybit writes in any 1 s, any account", f"{max_writes}/s", f"≤ {WRITES_TARGET}/s",
            max_writes <= WRITES_TARGET),
        Row("  Bybit 10006 rate rejections (all accounts)", str(rejections), "0", rejections == 0),
        Row(f"payout offered → ad online p95 (n={len(to_ad)})", fmt_s(ad95), f"≤ {AD_ONLINE_TARGET:g} s",
            ad95 <= AD_ONLINE_TARGET),
        Row("  … median / max", f"{fmt_s(percentile(to_ad, 50))} / {fmt_s(max(to_ad, default=float('nan')))}"),
    ]
    if load.arrival == 0:  # the physical floor of a burst: every ad is a write, 5 writes/s per account
        floor = percentile([(i + 1) / (accounts * WRITES_TARGET) for i in range(deals)], 95)
        rows.append(Row("  floor for a burst: p95 of the ads' write slots at 5 writes/s per account",
                        fmt_s(floor)))
    rows += [
        Row("  stage: payout offered → taken on Gate, median / p95",
            f"{fmt_s(percentile(taking, 50))} / {fmt_s(percentile(taking, 95))}"),
        Row(f"receipt mailed → USDT released p95 (n={len(to_release)})", fmt_s(rel95), f"≤ {RELEASE_TARGET:g} s",
            rel95 <= RELEASE_TARGET),
        Row("  … median / max",
            f"{fmt_s(percentile(to_release, 50))} / {fmt_s(max(to_release, default=float('nan')))}"),
        Row("  stage: receipt mailed → approved on Gate, median / p95",
            f"{fmt_s(percentile(approving, 50))} / {fmt_s(percentile(approving, 95))}"),
        Row(f"buyer message → our reply p95 (n={len(to_reply)})", fmt_s(rep95), f"≤ {REPLY_TARGET:g} s",
            rep95 <= REPLY_TARGET),
        Row("  … median / max", f"{fmt_s(percentile(to_reply, 50))} / {fmt_s(max(to_reply, default=float('nan')))}"),
        Row("completed deals per minute (daemon start → last release)",
            f"{run.completed / minutes:.1f}" if minutes else "n/a", "(throughput, no target)"),
        Row("wall time (daemon start → every deal finished or timeout)", f"{run.finished - run.started:.1f} s"),
        Row("daemon start-up (tree built, web bound)", f"{run.boot_seconds:.2f} s"),
    ]
    if any(state != "COMPLETED" for state in run.states):
        rows.append(Row("  deal end states", ", ".join(f"{k}={v}" for k, v in sorted(run.states.items()))))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100)
    parser.add_argument("--load", choices=("steady", "burst"), default="steady",
                        help="steady: payouts spread over --arrival s, buyers --market-wait s later; burst: all at once")
    parser.add_argument("--arrival", type=float, default=None,
                        help="steady load: payouts appear evenly over this many seconds (default: 0.8 s per deal)")
    parser.add_argument("--market-wait", type=float, default=None,
                        help="steady load: a buyer comes along this long after its payout (default: = --arrival)")
    parser.add_argument("--imap", choices=("dovecot", "pymap"), default="dovecot",
                        help="the IMAP server the bank's receipts go through")
    parser.add_argument("--gate-poll", type=float, default=1.0, help="gate.poll_interval (s)")
    parser.add_argument("--bybit-poll", type=float, default=0.5, help="bybit.poll_interval (s)")
    parser.add_argument("--bybit-quiet-poll", type=float, default=1.0,
                        help="bybit.quiet_poll_interval (s): while an account has no open order")
    parser.add_argument("--buyer-poll", type=float, default=0.1, help="how often simulated buyers look (s)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up waiting after this many seconds (default: the load's length + 120 s)")
    args = parser.parse_args()
    if args.load == "burst":
        load = Load(args.deals, 0.0, 0.0)
    else:
        arrival = 0.8 * args.deals if args.arrival is None else args.arrival
        load = Load(args.deals, arrival, arrival if args.market_wait is None else args.market_wait)
    timeout = args.timeout if args.timeout is not None else load.arrival + load.market_wait + 120
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    bybit_accounts = 3
    max_ads = -(-args.deals // bybit_accounts) + 2  # every deal can have its ad up at once, with a little slack
    tuning = Tuning(gate_poll=args.gate_poll, bybit_poll=args.bybit_poll, bybit_quiet_poll=args.bybit_quiet_poll,
                    max_ads_per_account=max_ads)
    shape = ("all offered at once, every buyer waiting" if load.arrival == 0 else
             f"payouts appear evenly over {load.arrival:g} s, each buyer comes along {load.market_wait:g} s "
             f"after its payout")
    print(f"bench_pipeline: {args.deals} honest deals, {shape}; {bybit_accounts} Bybit accounts, "
          f"max_ads_per_account = {max_ads}; gate.poll_interval = {tuning.gate_poll:g} s, "
          f"bybit.poll_interval = {tuning.bybit_poll:g} s (quiet: {tuning.bybit_quiet_poll:g} s), mail over IMAP IDLE ({args.imap}; "
          f"re-fetch at least every {tuning.email_poll:g} s), reply delay 0, buyers at speed 0 polling every "
          f"{args.buyer_poll:g} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="itrader-bench-") as tmp:
        dovecot_base = mailbox = None
        if args.imap == "dovecot":
            # The bank's mail goes into a real Dovecot (what production mail servers are like: it
            # announces a delivery at once); pymap, the sandbox's own server, notices new files late.
            from tests.servers.dovecot import start_dovecot, stop_dovecot

            dovecot_base = Path(tempfile.mkdtemp(prefix="itrader-bench-dovecot-"))  # the mail user must reach it
            mailbox = start_dovecot(dovecot_base).new_mailbox()
        world = World(seed=7, speed=0, poll_interval=args.buyer_poll, maildir=Path(tmp) / "world-mail",
                      mail_deliver=mailbox.deliver if mailbox else None, bybit_options={"item_side_limit": None})
        world.start(listen="127.0.0.1:0", imap=None if mailbox else "127.0.0.1:0")
        imap = (mailbox.host, mailbox.port, mailbox.user, mailbox.password) if mailbox else None
        try:
            run = run_deals(world, tuning, load, Path(tmp) / "daemon", timeout, imap)
            rows = report(run, tuning, load, bybit_accounts)
            violations = world.audit()
        finally:
            world.stop()
            if dovecot_base is not None:
                stop_dovecot(dovecot_base)
    rows.append(Row("money audit violations", str(len(violations)), "0", not violations))
    print_table(f"pipeline: {args.deals} honest deals over the sandbox, {args.load} load", rows)
    print(summary_line("bench_pipeline", rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

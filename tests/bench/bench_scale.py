"""One process, many actors: `python tests/bench/bench_scale.py [--ladder 100:500,300:1500,1000:5000]`.

Each step runs in a fresh process (so its RSS is its own): a sandbox World with A Bybit accounts and one
Gate account serves from a separate process (tests/bench/scale_world.py), the daemon in the step's
process is configured with all A accounts, D payouts without buyers are offered, and once every deal is
live (AD_ONLINE, or WAITING_ACCOUNT when every account's ad slots are full) the step reads its VmRSS
and times GET /api/v1/status. Targets apply at 1,000 accounts / 5,000 deals; smaller steps show the
trend (and where it breaks, if it does).
"""
from gevent import monkey

monkey.patch_all()  # as in production: before pykka, requests, bottle

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

import requests  # noqa: E402

from tests.bench.common import (  # noqa: E402
    API_TOKEN, BenchDaemon, Platforms, Row, Tuning, config_text, percentile, print_table, rss_mb,
    summary_line,
)
from tests.bench.scale_world import bybit_account  # noqa: E402

RSS_TARGET_MB, STATUS_P99_TARGET_MS = 400, 100
TARGET_SCALE = (1000, 5000)
LIVE_STATES = {"AD_ONLINE", "WAITING_ACCOUNT"}
BYBIT_IP_LIMIT_PER_S = 600 / 5  # bybit-p2p-api.md: 600 requests per 5 s per IP
AMOUNTS = (1500, 3000, 4013, 5000, 7000, 12437, 15000, 20001, 28500, 38400)
RESULT_TAG = "SCALE-RESULT "


# --- one step (child process) -----------------------------------------------------------------------


def start_world(accounts: int) -> tuple[subprocess.Popen, dict]:
    argv = [sys.executable, os.path.join(HERE, "scale_world.py"), "--accounts", str(accounts)]
    world = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = world.stdout.readline()
    if not line:
        raise RuntimeError("the scale World did not start")
    return world, json.loads(line)


def offer_payouts(control: str, count: int, parallel: int = 20) -> None:
    """Create `count` payouts through the control API, `parallel` connections at a time."""
    import gevent.pool

    def offer(i: int) -> None:
        with requests.Session() as session:
            for n in range(i, count, parallel):
                response = session.post(f"{control}/payouts", json={
                    "amount": AMOUNTS[n % len(AMOUNTS)], "method": "sbp", "bank": "sberbank", "expires_in": 7200})
                response.raise_for_status()

    gevent.pool.Pool(parallel).map(offer, range(parallel))


def bybit_calls() -> float:
    from prometheus_client import REGISTRY

    return sum(sample.value for metric in REGISTRY.collect() if metric.name == "itrader_external_calls"
               for sample in metric.samples
               if sample.name.endswith("_total") and sample.labels.get("platform") == "bybit")


def twin_ip_windows(control: str) -> dict:
    """The most requests the Bybit twin saw from one IP in any 1 s and any 5 s of the step (start-up included):
    {"max_1s": n, "max_5s": n} — Bybit bans an IP above 600 in 5 s."""
    answer = requests.get(f"{control}/bybit/ip_windows", timeout=30)
    answer.raise_for_status()
    windows = answer.json()
    return {"max_1s": windows["max_1s"], "max_5s": windows["max_5s"]}


def time_status(base: str, requests_count: int) -> list[float]:
    samples = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {API_TOKEN}"
        for _ in range(requests_count):
            started = time.perf_counter()
            response = session.get(f"{base}/api/v1/status", timeout=30)
            response.raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def run_step(accounts: int, deals: int, tuning: Tuning, live_timeout: float, status_requests: int,
             startup_timeout: float) -> dict:
    import pykka

    import actors.tree  # noqa: F401 — the daemon's code is loaded before the baseline is read

    result: dict = {"accounts": accounts, "deals": deals, "baseline_rss_mb": rss_mb()}
    world, info = start_world(accounts)
    urls = info["urls"]
    platforms = Platforms(
        gate_url=urls["gate"], gate_login=info["gate"]["login"], gate_password=info["gate"]["password"],
        bybit_url=urls["bybit"], bybit=[(nick, key, secret) for _, key, secret, nick in map(bybit_account,
                                                                                            range(accounts))],
        llm_url=urls["llm"])
    daemon = None
    try:
        with tempfile.TemporaryDirectory(prefix="itrader-bench-scale-") as tmp:
            started = time.monotonic()
            daemon = BenchDaemon(config_text(platforms, Path(tmp), tuning), Path(tmp), wait_web=0)
            if not daemon.system.web_bound.wait(startup_timeout):  # the web starts after every account
                booted = len(daemon.system.directory.names("bybit:"))
                result["error"] = (f"start-up unfinished after {startup_timeout:.0f} s: {booted}/{accounts} Bybit "
                                   f"account actors started (≈{startup_timeout / max(booted, 1):.2f} s each, "
                                   f"≈{startup_timeout / max(booted, 1) * accounts:.0f} s for all); "
                                   f"RSS {rss_mb():.0f} MB")
                return result
            result["startup_s"] = time.monotonic() - started
            offered = time.monotonic()
            offer_payouts(urls["sandbox"], deals)
            result["offer_s"] = time.monotonic() - offered
            states: Counter = Counter()
            while time.monotonic() - offered < live_timeout:
                states = Counter(d.state for d in daemon.store.deals.non_terminal_deals())
                if sum(states[s] for s in LIVE_STATES) >= deals:
                    break
                gevent.sleep(1.0)
            result["live_s"] = time.monotonic() - offered
            result["all_live"] = sum(states[s] for s in LIVE_STATES) >= deals
            result["states"] = dict(states)
            result["actors"] = len(pykka.ActorRegistry.get_all())
            calls_before, window_start = bybit_calls(), time.monotonic()
            gevent.sleep(5.0)
            result["bybit_calls_per_s"] = (bybit_calls() - calls_before) / (time.monotonic() - window_start)
            result["bybit_ip_windows"] = twin_ip_windows(urls["sandbox"])
            result["rss_mb"] = rss_mb()
            samples = time_status(daemon.base, status_requests)
            result["status_ms"] = {"p50": percentile(samples, 50), "p99": percentile(samples, 99),
                                   "max": max(samples), "n": len(samples)}
            result["rss_after_status_mb"] = rss_mb()
            stopping = time.monotonic()
            with gevent.Timeout(60, False):
                daemon.stop()
            result["stop_s"] = time.monotonic() - stopping
    finally:
        world.stdin.close()
        try:
            world.wait(30)
        except subprocess.TimeoutExpired:
            world.kill()
    return result


# --- the ladder (parent process) -----------------------------------------------------------------------


def run_child(accounts: int, deals: int, args: argparse.Namespace) -> dict:
    argv = [sys.executable, os.path.abspath(__file__), "--step", f"{accounts}:{deals}",
            "--bybit-poll", str(args.bybit_poll), "--gate-poll", str(args.gate_poll),
            "--live-timeout", str(args.live_timeout), "--status-requests", str(args.status_requests),
            "--startup-timeout", str(args.startup_timeout)]
    started = time.monotonic()
    limit = args.startup_timeout + args.live_timeout + 120
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"accounts": accounts, "deals": deals, "error": f"step did not finish in {limit:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG):])
            result["wall_s"] = time.monotonic() - started
            return result
    return {"accounts": accounts, "deals": deals, "error": f"step exited {done.returncode} without a result"}


def step_rows(r: dict) -> list[Row]:
    at_target = (r["accounts"], r["deals"]) == TARGET_SCALE
    if "error" in r:
        return [Row("step failed", r["error"], "", False if at_target else None)]
    live = sum(r["states"].get(s, 0) for s in LIVE_STATES)
    status = r["status_ms"]
    rss_met = r["rss_mb"] <= RSS_TARGET_MB if at_target else None
    p99_met = status["p99"] <= STATUS_P99_TARGET_MS if at_target else None
    rows = [
        Row("deals live (AD_ONLINE + WAITING_ACCOUNT)", f"{live}/{r['deals']}", f"{r['deals']}/{r['deals']}",
            r["all_live"] if at_target else None),
        Row("  states", ", ".join(f"{k}={v}" for k, v in sorted(r["states"].items()))),
        Row("actors running", str(r["actors"])),
        Row("RSS (VmRSS) with all deals live", f"{r['rss_mb']:.0f} MB", f"≤ {RSS_TARGET_MB} MB", rss_met),
        Row("  RSS before the daemon started (imports)", f"{r['baseline_rss_mb']:.0f} MB"),
        Row(f"GET /api/v1/status p99 (n={status['n']})", f"{status['p99']:.1f} ms", f"≤ {STATUS_P99_TARGET_MS} ms",
            p99_met),
        Row("  … p50 / max", f"{status['p50']:.1f} / {status['max']:.1f} ms"),
        Row("daemon start-up (tree built, web bound)", f"{r['startup_s']:.1f} s"),
        Row("payouts offered (sandbox control API)", f"{r['offer_s']:.1f} s"),
        Row("offered → all deals live", f"{r['live_s']:.1f} s"),
        Row("Bybit requests/s, all accounts (one IP)", f"{r['bybit_calls_per_s']:.0f}/s",
            f"(Bybit per-IP limit {BYBIT_IP_LIMIT_PER_S:.0f}/s)"),
        Row("graceful stop", f"{r['stop_s']:.1f} s"),
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ladder", default="100:500,300:1500,1000:5000", help="accounts:deals steps")
    parser.add_argument("--step", help="run one accounts:deals step in this process (internal)")
    parser.add_argument("--bybit-poll", type=float, default=2.0, help="bybit.poll_interval (s)")
    parser.add_argument("--gate-poll", type=float, default=1.0, help="gate.poll_interval (s)")
    parser.add_argument("--live-timeout", type=float, default=240.0, help="max wait for all deals to be live (s)")
    parser.add_argument("--status-requests", type=int, default=200)
    parser.add_argument("--startup-timeout", type=float, default=150.0, help="max wait for the tree to start (s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    tuning = Tuning(gate_poll=args.gate_poll, bybit_poll=args.bybit_poll, max_ads_per_account=2,
                    log_level="ERROR")
    if args.step:
        accounts, deals = map(int, args.step.split(":"))
        result = run_step(accounts, deals, tuning, args.live_timeout, args.status_requests,
                          args.startup_timeout)
        print(RESULT_TAG + json.dumps(result), flush=True)
        os._exit(0)  # an unfinished start-up leaves actors behind: do not wait for them

    steps = [tuple(map(int, s.split(":"))) for s in args.ladder.split(",")]
    print(f"bench_scale: steps {', '.join(f'{a} accounts/{d} deals' for a, d in steps)}; bybit.poll_interval = "
          f"{tuning.bybit_poll:g} s, gate.poll_interval = {tuning.gate_poll:g} s, max_ads_per_account = "
          f"{tuning.max_ads_per_account}; payouts without buyers; targets judged at "
          f"{TARGET_SCALE[0]}/{TARGET_SCALE[1]}", flush=True)
    all_rows: list[Row] = []
    for accounts, deals in steps:
        print(f"  … step {accounts} accounts / {deals} deals", file=sys.stderr, flush=True)
        result = run_child(accounts, deals, args)
        rows = step_rows(result)
        print_table(f"scale: {accounts} Bybit accounts, {deals} live deals, one process", rows)
        all_rows.extend(rows)
    print(summary_line("bench_scale", all_rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One process, many actors: `python tests/bench/bench_scale.py [--ladder 100:500,...,1000:5000] [--runs 3]`.

Each step runs in a fresh process (so its RSS is its own): a sandbox World with A Bybit accounts and one
Gate account serves from a separate process (tests/bench/scale_world.py), the daemon in the step's
process is configured with all A accounts, D payouts without buyers are offered, and once every deal is
live (AD_ONLINE, or WAITING_ACCOUNT when every account's ad slots are full) the step reads its VmRSS,
then stops the daemon as a SIGTERM would (drain, then the tree) and checks the Gate balance is 0 and
that nothing was taken after the signal. GET /api/v1/status is timed from a separate process
(tests/bench/status_probe.py) the whole time: while the payouts are being absorbed (intake) and at rest.

Targets apply at 1,000 accounts / 5,000 deals, a step that runs `--runs` times (3): each figure shows
min / median / max over the runs and counts as met only when every run meets it. Smaller steps show the
trend (and where it bends). `--profile DIR` writes yappi profiles of the intake and the stop (pstat).
"""
from gevent import monkey

monkey.patch_all()  # as in production: before pykka, requests, bottle

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

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
BYBIT_IP_LIMIT_PER_5S = 600  # bybit-p2p-api.md: 600 requests per 5 s per IP (a 10-minute ban above it)
SHUTDOWN_BUDGET = 20.0  # daemon.shutdown_budget in tests/bench/common.py's config
# The Gate floor of intake: one payout needs a list entry (a page holds GATE_PAGE of them) and two calls
# to take it (/show, then the re-read of the taken payout: actors/gate_account.py). Gate documents no
# limit (gate-api.md §10; the originals' client allowed itself 4/s); `--gate-rate` is the one assumed.
GATE_PAGE, GATE_CALLS_PER_TAKE = 30, 2
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


def external_calls(platform: str) -> float:
    """The daemon's count of calls to one platform (its own counter only: collecting the whole registry
    every quarter second cost the daemon a few percent)."""
    from itrader.metrics import EXTERNAL_CALLS

    return sum(sample.value for metric in EXTERNAL_CALLS.collect() for sample in metric.samples
               if sample.name.endswith("_total") and sample.labels.get("platform") == platform)


def twin_ip_windows(control: str) -> dict:
    """The most requests the Bybit twin saw from one IP in any 1 s and any 5 s of the step (start-up included):
    {"max_1s": n, "max_5s": n} — Bybit bans an IP above 600 in 5 s."""
    answer = requests.get(f"{control}/bybit/ip_windows", timeout=30)
    answer.raise_for_status()
    windows = answer.json()
    return {"max_1s": windows["max_1s"], "max_5s": windows["max_5s"]}


def live_deals_gauge() -> float:
    """Deals live by the daemon's gauge: cheap to read often (a read of every deal row blocks the loop)."""
    from itrader.metrics import DEALS_BY_STATE

    return sum(sample.value for metric in DEALS_BY_STATE.collect() for sample in metric.samples
               if sample.labels.get("state") in LIVE_STATES)


class CallSampler:
    """The daemon's own count of Bybit and Gate calls, read every `every` seconds, for window maxima.

    The source of the per-IP figure: the daemon's counter. A World that counts requests per IP can
    replace `window_max` (same shape) with its own count."""

    def __init__(self, every: float = 0.25) -> None:
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, bybit total, gate total)
        self._greenlet = gevent.spawn(self._run, every)

    def _run(self, every: float) -> None:
        while True:
            self.samples.append((time.monotonic(), external_calls("bybit"), external_calls("gate")))
            gevent.sleep(every)

    def stop(self) -> None:
        self._greenlet.kill()

    def between(self, start: float, end: float, column: int) -> float:
        inside = [s for s in self.samples if start <= s[0] <= end]
        return inside[-1][column] - inside[0][column] if len(inside) > 1 else 0.0

    def window_max(self, window: float, column: int = 1) -> float:
        """The most calls counted within any `window` seconds (between two samples at most that far apart)."""
        best, first = 0.0, 0
        for sample in self.samples:
            while sample[0] - self.samples[first][0] > window:
                first += 1
            best = max(best, sample[column] - self.samples[first][column])
        return best


class StatusProbe:
    """tests/bench/status_probe.py, running in its own process until `finish()`."""

    def __init__(self, base: str) -> None:
        self._process = subprocess.Popen([sys.executable, os.path.join(HERE, "status_probe.py"), base],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._process.stdin.write(API_TOKEN + "\n")
        self._process.stdin.flush()

    def finish(self) -> list[tuple[float, float]]:
        out, _ = self._process.communicate(timeout=60)
        return [(wall, ms) for wall, ms in json.loads(out or "[]")]


def status_figures(samples: list[tuple[float, float]], start: float, end: float) -> dict:
    inside = [ms for wall, ms in samples if start <= wall <= end]
    answered = [ms for ms in inside if ms == ms]  # NaN: no answer
    return {"p50": percentile(answered, 50), "p99": percentile(answered, 99),
            "max": max(answered, default=float("nan")), "n": len(inside), "failed": len(inside) - len(answered)}


def gate_view(control: str) -> tuple[list[str], set[int]]:
    """The World's Gate: every account's balance, and the payouts taken by some account."""
    balances = [g["balance"] for g in requests.get(f"{control}/accounts", timeout=60).json()["gate"]]
    payouts = requests.get(f"{control}/payouts", timeout=120).json()["payouts"]
    return balances, {p["id"] for p in payouts if p.get("account")}


class Profiler:
    """yappi, wall clock: self time per function, blocking calls (a commit's fsync) included; off without
    a directory. One thread runs every greenlet, so self times are right and nesting is not (yappi's
    greenlet backend slowed the daemon too much to reach the 1,000/5,000 step's intake)."""

    def __init__(self, directory: str | None) -> None:
        self._dir = directory
        if directory:
            import yappi

            os.makedirs(directory, exist_ok=True)
            yappi.set_clock_type("wall")

    def start(self) -> None:
        if self._dir:
            import yappi

            yappi.clear_stats()
            yappi.start(builtins=False)

    def save(self, name: str) -> None:
        if self._dir:
            import yappi

            yappi.stop()
            yappi.get_func_stats().save(os.path.join(self._dir, f"{name}.pstat"), type="pstat")


def gate_floor(deals: int, gate_rate: float, gate_poll: float, bybit_poll: float) -> dict:
    """The least time Gate lets 5,000 payouts be taken, and the margin the bench allows over it: a
    payout is seen within one Gate poll and its ad shows online within one Bybit poll (both at the
    end of the intake), and a tenth of the floor for the pages read again while takes go on."""
    calls = deals * GATE_CALLS_PER_TAKE + math.ceil(deals / GATE_PAGE)
    floor = calls / gate_rate
    margin = 0.1 * floor + gate_poll + bybit_poll
    return {"calls": calls, "rate": gate_rate, "floor_s": floor, "margin_s": margin, "limit_s": floor + margin}


def run_step(accounts: int, deals: int, tuning: Tuning, args: argparse.Namespace) -> dict:
    import pykka

    import actors.tree  # noqa: F401 — the daemon's code is loaded before the baseline is read

    result: dict = {"accounts": accounts, "deals": deals, "baseline_rss_mb": rss_mb(),
                    "gate_floor": gate_floor(deals, args.gate_rate, tuning.gate_poll, tuning.bybit_poll)}
    world, info = start_world(accounts)
    urls = info["urls"]
    platforms = Platforms(
        gate_url=urls["gate"], gate_login=info["gate"]["login"], gate_password=info["gate"]["password"],
        bybit_url=urls["bybit"], bybit=[(nick, key, secret) for _, key, secret, nick in map(bybit_account,
                                                                                            range(accounts))],
        llm_url=urls["llm"])
    profiler = Profiler(args.profile)
    try:
        with tempfile.TemporaryDirectory(prefix="itrader-bench-scale-") as tmp:
            started = time.monotonic()
            daemon = BenchDaemon(config_text(platforms, Path(tmp), tuning), Path(tmp), wait_web=0)
            if not daemon.system.web_bound.wait(args.startup_timeout):  # the web starts after every account
                booted = len(daemon.system.directory.names("bybit:"))
                result["error"] = (f"start-up unfinished after {args.startup_timeout:.0f} s: {booted}/{accounts} "
                                   f"Bybit account actors started; RSS {rss_mb():.0f} MB")
                return result
            result["startup_s"] = time.monotonic() - started
            probe, sampler = StatusProbe(daemon.base), CallSampler()
            gevent.sleep(1.0)  # the prober's first request is out before the intake starts
            profiler.start()
            intake_wall, offered = time.time(), time.monotonic()
            offer_payouts(urls["sandbox"], deals)
            result["offer_s"] = time.monotonic() - offered
            states: Counter = Counter()
            while time.monotonic() - offered < args.live_timeout:
                if live_deals_gauge() >= deals:  # the store confirms what the gauge says
                    states = Counter(d.state for d in daemon.store.deals.non_terminal_deals())
                    if sum(states[s] for s in LIVE_STATES) >= deals:
                        break
                gevent.sleep(0.25)
            else:
                states = Counter(d.state for d in daemon.store.deals.non_terminal_deals())
            live_at, rest_wall = time.monotonic(), time.time()
            profiler.save("intake")
            result["live_s"] = live_at - offered
            result["all_live"] = sum(states[s] for s in LIVE_STATES) >= deals
            result["states"] = dict(states)
            result["actors"] = len(pykka.ActorRegistry.get_all())
            result["gate_calls_intake"] = sampler.between(offered, live_at, 2)
            gevent.sleep(args.rest_seconds)  # at rest: the ads wait for buyers, the accounts poll
            result["bybit_calls_per_s"] = sampler.between(live_at, time.monotonic(), 1) / (time.monotonic() - live_at)
            result["rss_mb"] = rss_mb()
            samples = probe.finish()
            result["status_intake_ms"] = status_figures(samples, intake_wall, rest_wall)
            result["status_rest_ms"] = status_figures(samples, rest_wall, time.time())
            sampler.stop()
            result["bybit_window_max"] = {"1s": sampler.window_max(1.0), "5s": sampler.window_max(5.0)}
            result["bybit_ip_windows"] = twin_ip_windows(urls["sandbox"])  # Bybit's side: start-up included
            result.update(stop_daemon(daemon, urls["sandbox"], profiler))
    finally:
        world.stdin.close()
        try:
            world.wait(30)
        except subprocess.TimeoutExpired:
            world.kill()
    return result


def stop_daemon(daemon: BenchDaemon, control: str, profiler: Profiler) -> dict:
    """As `itrader run` on SIGTERM (actors/daemon.py): drain at the signal, then stop the tree."""
    _, taken_before = gate_view(control)
    profiler.start()
    stopping = time.monotonic()
    daemon.system.intake.drain()
    finished = True
    try:
        daemon.system.root.stop(block=True, timeout=SHUTDOWN_BUDGET * 3)
    except pykka_timeout():
        finished = False
    stop_s = time.monotonic() - stopping
    profiler.save("stop")
    balances, taken_after = gate_view(control)
    daemon.stop()  # whatever is left (the harness's own clean-up)
    return {"stop_s": stop_s, "stop_finished": finished, "gate_balances_after": balances,
            "taken_after_signal": len(taken_after - taken_before)}


def pykka_timeout() -> type:
    import pykka

    return pykka.Timeout


# --- the ladder (parent process) -----------------------------------------------------------------------


def run_child(accounts: int, deals: int, args: argparse.Namespace) -> dict:
    argv = [sys.executable, os.path.abspath(__file__), "--step", f"{accounts}:{deals}",
            "--bybit-poll", str(args.bybit_poll), "--gate-poll", str(args.gate_poll),
            "--live-timeout", str(args.live_timeout), "--rest-seconds", str(args.rest_seconds),
            "--startup-timeout", str(args.startup_timeout), "--gate-rate", str(args.gate_rate)]
    if args.profile:
        argv += ["--profile", os.path.join(args.profile, f"{accounts}-{deals}")]
    started = time.monotonic()
    limit = args.startup_timeout + args.live_timeout + args.rest_seconds + 4 * SHUTDOWN_BUDGET + 120
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


@dataclass(frozen=True)
class Figure:
    """One row of a step's table: a number per run, how to show it, and its target (if judged)."""

    name: str
    value: Callable[[dict], float]
    unit: str = ""
    digits: int = 1
    target: str = ""
    met: Callable[[dict], bool] | None = None  # judged at the target scale only


def live_count(r: dict) -> float:
    return sum(r["states"].get(s, 0) for s in LIVE_STATES)


FIGURES = [
    Figure("deals live (AD_ONLINE + WAITING_ACCOUNT)", live_count, "", 0, "all", lambda r: r["all_live"]),
    Figure("offered → all deals live", lambda r: r["live_s"], " s", 1, "≤ Gate floor + margin",
           lambda r: r["all_live"] and r["live_s"] <= r["gate_floor"]["limit_s"]),
    Figure("  Gate floor (calls needed / Gate rate)", lambda r: r["gate_floor"]["floor_s"], " s"),
    Figure("  … + margin (0.1 × floor + Gate poll + Bybit poll)", lambda r: r["gate_floor"]["limit_s"], " s"),
    Figure("  Gate calls during the intake", lambda r: r["gate_calls_intake"], "", 0),
    Figure("  Gate calls/s during the intake", lambda r: r["gate_calls_intake"] / max(r["live_s"], 1e-9), "/s"),
    Figure("GET /api/v1/status p99 during the intake", lambda r: r["status_intake_ms"]["p99"], " ms", 1,
           f"≤ {STATUS_P99_TARGET_MS} ms", lambda r: r["status_intake_ms"]["p99"] <= STATUS_P99_TARGET_MS
           and not r["status_intake_ms"]["failed"]),
    Figure("  … p50 during the intake", lambda r: r["status_intake_ms"]["p50"], " ms"),
    Figure("  … max during the intake", lambda r: r["status_intake_ms"]["max"], " ms"),
    Figure("  … requests during the intake", lambda r: r["status_intake_ms"]["n"], "", 0),
    Figure("GET /api/v1/status p99 at rest", lambda r: r["status_rest_ms"]["p99"], " ms", 1,
           f"≤ {STATUS_P99_TARGET_MS} ms", lambda r: r["status_rest_ms"]["p99"] <= STATUS_P99_TARGET_MS
           and not r["status_rest_ms"]["failed"]),
    # As Bybit counts them (the twin, per source IP, start-up included); the daemon's own count beside it.
    Figure("Bybit requests, most in any 5 s (one IP, the twin's count)", lambda r: r["bybit_ip_windows"]["max_5s"],
           "", 0, f"≤ {BYBIT_IP_LIMIT_PER_5S}",
           lambda r: r["bybit_ip_windows"]["max_5s"] <= BYBIT_IP_LIMIT_PER_5S),
    Figure("  … most in any 1 s (the twin's count)", lambda r: r["bybit_ip_windows"]["max_1s"], "", 0,
           f"≤ {BYBIT_IP_LIMIT_PER_5S // 5}", lambda r: r["bybit_ip_windows"]["max_1s"] <= BYBIT_IP_LIMIT_PER_5S // 5),
    Figure("  … most in any 5 s, the daemon's count after start-up", lambda r: r["bybit_window_max"]["5s"], "", 0),
    Figure("  … per second at rest (mean)", lambda r: r["bybit_calls_per_s"], "/s"),
    Figure("graceful stop, all deals live", lambda r: r["stop_s"], " s", 1, f"≤ {SHUTDOWN_BUDGET:g} s budget",
           lambda r: r["stop_finished"] and r["stop_s"] <= SHUTDOWN_BUDGET),
    Figure("  Gate balances not 0 after the stop",
           lambda r: sum(1 for b in r["gate_balances_after"] if float(b) != 0), "", 0, "0",
           lambda r: all(float(b) == 0 for b in r["gate_balances_after"])),
    Figure("  payouts taken after the signal", lambda r: r["taken_after_signal"], "", 0, "0",
           lambda r: r["taken_after_signal"] == 0),
    Figure("RSS (VmRSS) with all deals live", lambda r: r["rss_mb"], " MB", 0, f"≤ {RSS_TARGET_MB} MB",
           lambda r: r["rss_mb"] <= RSS_TARGET_MB),
    Figure("  RSS before the daemon started (imports)", lambda r: r["baseline_rss_mb"], " MB", 0),
    Figure("actors running", lambda r: r["actors"], "", 0),
    Figure("daemon start-up (tree built, web bound)", lambda r: r["startup_s"], " s"),
    Figure("payouts offered (sandbox control API)", lambda r: r["offer_s"], " s"),
]


def step_rows(runs: list[dict]) -> list[Row]:
    """One row per figure: its value (min / median / max over several runs); met only if every run met it."""
    at_target = (runs[0]["accounts"], runs[0]["deals"]) == TARGET_SCALE
    rows = [Row(f"run {i + 1} failed", r["error"], "", False if at_target else None)
            for i, r in enumerate(runs) if "error" in r]
    done = [r for r in runs if "error" not in r]
    if not done:
        return rows
    for figure in FIGURES:
        values = [figure.value(r) for r in done]
        shown = " / ".join(f"{v:.{figure.digits}f}" for v in (min(values), statistics.median(values), max(values))) \
            if len(values) > 1 else f"{values[0]:.{figure.digits}f}"
        met = None
        if at_target and figure.met is not None:
            met = len(done) == len(runs) and all(figure.met(r) for r in done)
        rows.append(Row(figure.name, shown + figure.unit, figure.target, met))
    if len(done) > 1:
        states = [", ".join(f"{k}={v}" for k, v in sorted(r["states"].items())) for r in done]
        rows.append(Row("  states per run", " | ".join(states)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ladder", default="100:500,250:1250,500:2500,750:3750,1000:5000", help="accounts:deals")
    parser.add_argument("--runs", type=int, default=3, help="runs of the target step (1000:5000)")
    parser.add_argument("--step", help="run one accounts:deals step in this process (internal)")
    parser.add_argument("--bybit-poll", type=float, default=2.0, help="bybit.poll_interval (s)")
    parser.add_argument("--gate-poll", type=float, default=1.0, help="gate.poll_interval (s)")
    parser.add_argument("--gate-rate", type=float, default=100.0,
                        help="Gate calls/s assumed allowed for the one Gate account (the floor of the intake)")
    parser.add_argument("--live-timeout", type=float, default=240.0, help="max wait for all deals to be live (s)")
    parser.add_argument("--rest-seconds", type=float, default=10.0, help="status and Bybit rate at rest (s)")
    parser.add_argument("--startup-timeout", type=float, default=150.0, help="max wait for the tree to start (s)")
    parser.add_argument("--profile", help="directory for yappi profiles (intake.pstat, stop.pstat) per step")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    tuning = Tuning(gate_poll=args.gate_poll, bybit_poll=args.bybit_poll, max_ads_per_account=2,
                    log_level="ERROR")
    if args.step:
        accounts, deals = map(int, args.step.split(":"))
        result = run_step(accounts, deals, tuning, args)
        print(RESULT_TAG + json.dumps(result), flush=True)
        os._exit(0)  # an unfinished start-up leaves actors behind: do not wait for them

    steps = [tuple(map(int, s.split(":"))) for s in args.ladder.split(",")]
    print(f"bench_scale: steps {', '.join(f'{a} accounts/{d} deals' for a, d in steps)}; bybit.poll_interval = "
          f"{tuning.bybit_poll:g} s, gate.poll_interval = {tuning.gate_poll:g} s, max_ads_per_account = "
          f"{tuning.max_ads_per_account}; payouts without buyers; Gate rate assumed {args.gate_rate:g}/s; "
          f"targets judged at {TARGET_SCALE[0]}/{TARGET_SCALE[1]} over {args.runs} run(s), min / median / max",
          flush=True)
    all_rows: list[Row] = []
    for accounts, deals in steps:
        count = args.runs if (accounts, deals) == TARGET_SCALE else 1
        runs = []
        for run in range(count):
            print(f"  … step {accounts} accounts / {deals} deals, run {run + 1}/{count}", file=sys.stderr, flush=True)
            runs.append(run_child(accounts, deals, args))
        rows = step_rows(runs)
        print_table(f"scale: {accounts} Bybit accounts, {deals} live deals, one process"
                    + (f" ({count} runs: min / median / max)" if count > 1 else ""), rows)
        all_rows.extend(rows)
    print(summary_line("bench_scale", all_rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

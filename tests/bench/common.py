"""Shared parts of the pipeline benchmarks: the daemon's config, an in-process daemon, statistics, tables.

Import this only after `gevent.monkey.patch_all()` (each bench script patches first, as production does).
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.pipeline.harness import InProcessDaemon  # noqa: E402

API_TOKEN = "bench-token-0123456789"


@dataclass(frozen=True)
class Platforms:
    """Where the daemon trades and with which credentials (all in the sandbox World)."""

    gate_url: str
    gate_login: str
    gate_password: str
    bybit_url: str
    bybit: Sequence[tuple[str, str, str]]  # (name, api key, api secret)
    llm_url: str
    imap: tuple[str, int, str, str] | None = None  # host, port, login, password


@dataclass(frozen=True)
class Tuning:
    """The knobs a benchmark chooses (printed with its results)."""

    gate_poll: float = 1.0
    bybit_poll: float = 0.5
    bybit_quiet_poll: float = 1.0  # while an account has no open order (only ads waiting for buyers)
    max_ads_per_account: int = 2
    ad_side_limit: int = 100  # the benchmarks' sandboxes have no per-side ad limit (item_side_limit=None)
    email_poll: float = 30.0
    log_level: str = "WARNING"
    gate_balance: str = "1000000000"  # the working balance the daemon keeps on Gate: room for every deal


def config_text(p: Platforms, data_dir: Path, t: Tuning) -> str:
    accounts = "".join(f'[[bybit.accounts]]\nname = "{name}"\napi_key = "{key}"\napi_secret = "{secret}"\n'
                       for name, key, secret in p.bybit)
    email = ""
    if p.imap:
        host, port, user, password = p.imap
        email = (f'[email]\nimap_host = "{host}"\nimap_port = {port}\nimap_ssl = false\naddress = "{user}"\n'
                 f'password = "{password}"\ndkim_key_source = "sandbox"\npoll_interval = {t.email_poll}\n')
    return f"""
[sandbox]
external = true  # the World's published credentials, on loopback
[daemon]
listen = "127.0.0.1:0"
data_dir = "{data_dir}"
api_token = "{API_TOKEN}"
mode = "auto"
shutdown_budget = 20
log_level = "{t.log_level}"
[gate]
base_url = "{p.gate_url}"
poll_interval = {t.gate_poll}
min_order_amount = "100"
target_balance = "{t.gate_balance}"
[[gate.accounts]]
login = "{p.gate_login}"
password = "{p.gate_password}"
[bybit]
base_url = "{p.bybit_url}"
poll_interval = {t.bybit_poll}
quiet_poll_interval = {t.bybit_quiet_poll}
max_ads_per_account = {t.max_ads_per_account}
ad_side_limit = {t.ad_side_limit}
{accounts}
{email}
[assistant]
base_url = "{p.llm_url}"
api_key = "sandbox-llm-key"
timeout = 2
[timeouts]
reply_delay_min = 0
reply_delay_max = 0
"""


class BenchDaemon(InProcessDaemon):
    """The scenario harness's in-process daemon, configured from a benchmark's own TOML."""

    def __init__(self, text: str, data_dir: Path, wait_web: float = 120.0) -> None:  # noqa: own config
        self._start(text, data_dir, wait_web)


# --- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def max_in_window(timestamps: Iterable[float], window: float = 1.0) -> int:
    """The most events in any sliding window of `window` seconds."""
    ordered = sorted(timestamps)
    best, start = 0, 0
    for end, ts in enumerate(ordered):
        while ordered[start] <= ts - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


# --- output --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target (context)


def verdict(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "NO")


def print_table(title: str, rows: Sequence[Row]) -> None:
    headers = ("measurement", "value", "target", "met?")
    cells = [(r.name, r.value, r.target, verdict(r.met)) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n== {title} ==")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for c in cells:
        print("  ".join([c[0].ljust(widths[0]), c[1].rjust(widths[1]), c[2].ljust(widths[2]), c[3]]))
    print(line, flush=True)


def summary_line(bench: str, rows: Sequence[Row]) -> str:
    """One machine-readable line the runner collects for its summary."""
    judged = [r for r in rows if r.met is not None]
    failed = [r.name for r in judged if not r.met]
    return f"BENCH-SUMMARY {bench}: {len(judged) - len(failed)}/{len(judged)} targets met" + (
        f"; missed: {', '.join(failed)}" if failed else "")


def fmt_s(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds:.2f} s"


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))

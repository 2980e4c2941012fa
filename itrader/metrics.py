"""Prometheus metric definitions, in one place so names and labels stay consistent.

Conventions: prefix `itrader_`, base units (seconds, bytes), `_total` for
counters, and bounded labels only (kind, account, platform, outcome, step,
state, reason) — never a deal id or anything else that grows without limit.
"""
from prometheus_client import Counter, Gauge, Histogram, Info

from itrader import __version__

BUILD_INFO = Info("itrader_build", "Version of the running iTrader daemon")
BUILD_INFO.info({"version": __version__})

ACTOR_RESTARTS = Counter(
    "itrader_actor_restarts_total", "Restarts of supervised actors", ["kind"]
)
ACTORS_ALIVE = Gauge("itrader_actors_alive", "Supervised actors currently running", ["kind"])

EXTERNAL_CALLS = Counter(
    "itrader_external_calls_total",
    "Calls to external platforms by outcome",
    ["platform", "outcome"],
)
DEALS_BY_STATE = Gauge("itrader_deals", "Live deals by state", ["state"])
DEALS_FINISHED = Counter(
    "itrader_deals_finished_total", "Deals that reached a terminal state", ["state", "reason"]
)
STEP_LATENCY = Histogram(
    "itrader_step_latency_seconds",
    "Latency of deal steps (payout seen to ad online, receipt to release, …)",
    ["step"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300),
)
RECEIPTS = Counter("itrader_receipts_total", "Receipts checked, by verdict", ["verdict"])

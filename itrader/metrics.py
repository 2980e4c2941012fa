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

# Per account (a bounded label: the accounts an operator added). Set by each account's actor on its
# ticks and removed when the actor stops, so a removed account leaves no stale series.
ACCOUNT_HEALTHY = Gauge("itrader_account_healthy", "1 while the account can work (session, API key, not banned)",
                        ["platform", "account"])
ACCOUNT_LEASE_HELD = Gauge("itrader_account_lease_held", "1 while this process holds the account's lease",
                           ["platform", "account"])
ACCOUNT_ADS_ONLINE = Gauge("itrader_account_ads_online", "Ads of ours online on the Bybit account", ["account"])
ACCOUNT_USDT = Gauge("itrader_account_usdt", "USDT in the Bybit account's funding account (read once a minute)",
                     ["account"])
ACCOUNT_BUDGET_TOKENS = Counter("itrader_account_budget_tokens_total",
                                "Tokens taken from the account's request budget (calls made or paid for)",
                                ["platform", "account", "kind"])
ACCOUNT_BUDGET_RATE = Gauge("itrader_account_budget_per_second",
                            "The account's request budget: tokens per second; use = rate(tokens) / this",
                            ["platform", "account", "kind"])
READY = Gauge("itrader_ready", "1 while the daemon is ready (GET /api/v1/ready answers 200)")
LOW_USDT_THRESHOLD = Gauge("itrader_low_usdt_threshold",
                           "alerts.low_usdt from the config: the USDT level the low-USDT alert rule uses (0 = off)")
PAUSED = Gauge("itrader_paused", "1 while the intake is paused or draining (no new payout is taken), else 0")


def preset(platforms: tuple[str, ...], outcomes: tuple[str, ...], states: tuple[str, ...],
           verdicts: tuple[str, ...]) -> None:
    """Every known label value's series from the start, at 0: `increase()` and `rate()` need a sample
    before the first event, or the first restart, 429 or rejected receipt goes unseen."""
    for platform in platforms:
        for outcome in outcomes:
            EXTERNAL_CALLS.labels(platform=platform, outcome=outcome)
    for state in states:
        DEALS_BY_STATE.labels(state=state)
    for verdict in verdicts:
        RECEIPTS.labels(verdict=verdict)


def follow_intake(refusal) -> None:
    """`itrader_paused` reads the intake at each scrape: a pause set by another daemon on the same database
    shows here too, with no actor having to remember to set it."""
    PAUSED.set_function(lambda: 0 if refusal() is None else 1)


def account_gauges(platform: str, account: str, healthy: bool, lease_held: bool, ads: int | None = None) -> None:
    ACCOUNT_HEALTHY.labels(platform=platform, account=account).set(1 if healthy else 0)
    ACCOUNT_LEASE_HELD.labels(platform=platform, account=account).set(1 if lease_held else 0)
    if ads is not None:
        ACCOUNT_ADS_ONLINE.labels(account=account).set(ads)


def account_usdt(account: str, amount) -> None:
    ACCOUNT_USDT.labels(account=account).set(float(amount))


def forget_account(platform: str, account: str) -> None:
    """An account's actor stopped: its series go with it."""
    removals = [(ACCOUNT_HEALTHY, (platform, account)), (ACCOUNT_LEASE_HELD, (platform, account))]
    removals += [(ACCOUNT_BUDGET_TOKENS, (platform, account, kind)) for kind in ("read", "write")]
    removals += [(ACCOUNT_BUDGET_RATE, (platform, account, kind)) for kind in ("read", "write")]
    if platform == "bybit":
        removals += [(ACCOUNT_ADS_ONLINE, (account,)), (ACCOUNT_USDT, (account,))]
    for metric, labels in removals:
        try:
            metric.remove(*labels)
        except KeyError:
            pass

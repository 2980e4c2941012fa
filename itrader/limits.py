"""Rate budgets as token buckets, shared across processes through Redis.

A bucket holds at most `burst` tokens and refills at `rate_per_second`; each
call takes one token. Over any window of W seconds a bucket grants at most
`burst + rate_per_second * W` calls, which is how a client stays inside a
platform's per-second limit.

With a Redis URL the bucket lives in Redis and is updated by one Lua script
(atomic, using Redis' own clock), so every process driving the same account
draws from the same budget. Without one, buckets live in this process.
Waiting is cooperative (gevent.sleep) and short: a caller that would wait
longer than `max_wait` (DEFAULT_MAX_WAIT, 2 s, far below any lease's ttl/3)
gets RateBudgetExhausted at once instead, carrying the wait as `retry_after`,
so an actor puts the request off instead of sleeping in its handler. Callers
with a mailbox wait nowhere at all: `try_acquire` takes a token or says when.

One call may spend from several buckets at once (`Spend`: the account's budget and the IP's), all or
none, in one step (one Lua call in Redis): a call refused by one bucket takes nothing from the others.
A spend may keep a `floor` of tokens in its bucket (what a lower-priority call leaves to others), cost
more than one token, and — with `within` > 0 — take tokens that refill only later (a reservation: the
caller is told when its turn comes and must not call before; callers are served in the order they asked).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import gevent

from itrader import errors as meaning

MAX_COUNTED_WINDOW = 60  # seconds of grants CountedLimiter remembers per budget
DEFAULT_MAX_WAIT = 2.0  # the longest wait inside a call; longer waits are the caller's to schedule
REDIS_KEY_PREFIX = "itrader:ratelimit:"


class RateBudgetExhausted(meaning.RetryLater):
    """Waiting for a token would take longer than the caller allows. The call was never sent; a token is
    due in `retry_after` seconds."""

    def __init__(self, key: str, needed_wait: float, max_wait: float, retry_after: float | None = None) -> None:
        super().__init__(
            f"rate budget {key!r}: next token in {needed_wait:.2f}s exceeds the allowed wait of {max_wait:.2f}s"
        )
        self.key = key
        self.needed_wait = needed_wait
        self.max_wait = max_wait
        self.retry_after = needed_wait if retry_after is None else retry_after


@dataclass(frozen=True)
class Bucket:
    tokens: float
    updated_at: float


def take_token(bucket: Bucket | None, now: float, rate_per_second: float, burst: float) -> tuple[Bucket, float]:
    """Refill the bucket up to `now` and try to take one token.

    Returns the new bucket and the wait in seconds (0.0 when a token was taken;
    otherwise the time until one token will have refilled, and nothing is taken).
    """
    (new,), taken, wait = take_tokens([bucket], now, [Spend("", rate_per_second, burst)])
    return new, 0.0 if taken else wait


@dataclass(frozen=True)
class Spend:
    """What one call takes from one bucket: `cost` tokens, leaving at least `floor` behind."""

    key: str
    rate_per_second: float
    burst: float
    floor: float = 0.0
    cost: float = 1.0

    def __post_init__(self) -> None:
        if self.rate_per_second <= 0 or self.burst < 1 or self.floor < 0 or self.cost <= 0:
            raise ValueError("rate_per_second must be > 0, burst >= 1, floor >= 0 and cost > 0")


def take_tokens(buckets: list[Bucket | None], now: float, spends: list[Spend],
                within: float = 0.0) -> tuple[list[Bucket], bool, float]:
    """Refill every bucket up to `now` and take each spend's tokens from its bucket — from all or from none.

    Returns the new buckets, whether the tokens were taken, and the wait: the time until every bucket
    holds its spend's cost above its floor. Tokens are taken when that wait is at most `within` (0: only
    now); with a wait > 0 the buckets go below their floor (into debt) and the caller's turn is that late.
    """
    refilled = []
    wait = 0.0
    for bucket, spend in zip(buckets, spends):
        if bucket is None:
            tokens = float(spend.burst)
        else:
            tokens = min(float(spend.burst), bucket.tokens + max(0.0, now - bucket.updated_at) * spend.rate_per_second)
        refilled.append(tokens)
        wait = max(wait, (spend.cost + spend.floor - tokens) / spend.rate_per_second)
    taken = wait <= within
    if taken:
        refilled = [tokens - spend.cost for tokens, spend in zip(refilled, spends)]
    return [Bucket(tokens, now) for tokens in refilled], taken, max(0.0, wait)


class Limiter:
    """Token buckets by key; subclasses decide where the buckets live."""

    def granted(self, key: str, window: float) -> int | None:
        """Tokens this process took from `key` in the last `window` seconds; None: not counted here."""
        return None

    def take(self, spends: list[Spend], within: float = 0.0) -> tuple[bool, float]:
        """take_tokens on the buckets of `spends` (atomically): (taken, wait)."""
        raise NotImplementedError

    def try_acquire(self, key: str, rate_per_second: float, burst: float) -> float:
        """Take a token if one is available: 0.0, else the seconds to wait before trying again."""
        return self.try_acquire_all([Spend(key, rate_per_second, burst)])

    def try_acquire_all(self, spends: list[Spend]) -> float:
        """Take every spend's tokens now if all are there: 0.0, else the seconds to wait (nothing taken)."""
        taken, wait = self.take(spends)
        return 0.0 if taken else max(wait, 1e-6)

    def acquire(
        self, key: str, rate_per_second: float, burst: float = 1, max_wait: float = DEFAULT_MAX_WAIT
    ) -> float:
        """Wait cooperatively until a token is taken; returns the seconds spent waiting (0.0 if none)."""
        return self.acquire_all([Spend(key, rate_per_second, burst)], max_wait)

    def acquire_all(self, spends: list[Spend], max_wait: float = DEFAULT_MAX_WAIT) -> float:
        """acquire over several buckets at once (try_acquire_all until it takes, at most `max_wait`)."""
        started = time.monotonic()
        slept = False
        while True:
            wait = self.try_acquire_all(spends)
            if wait <= 0:
                return time.monotonic() - started if slept else 0.0
            waited = time.monotonic() - started
            if waited + wait > max_wait:
                raise RateBudgetExhausted("+".join(s.key for s in spends), waited + wait, max_wait,
                                          retry_after=wait)
            gevent.sleep(wait)
            slept = True


class LocalLimiter(Limiter):
    """Buckets in this process only (no Redis configured)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def take(self, spends: list[Spend], within: float = 0.0) -> tuple[bool, float]:
        with self._lock:
            buckets, taken, wait = take_tokens([self._buckets.get(s.key) for s in spends], self._clock(), spends,
                                               within)
            self._buckets.update((s.key, bucket) for s, bucket in zip(spends, buckets))
            return taken, wait

    def __repr__(self) -> str:
        return f"LocalLimiter(buckets={len(self._buckets)})"


# The same arithmetic as take_tokens, run atomically inside Redis on Redis' clock
# so that processes on different machines agree on "now".
_TAKE_TOKENS_LUA = """
local within = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i - 1])
  local floor, cost = tonumber(ARGV[4 * i]), tonumber(ARGV[4 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local have, ts = tonumber(state[1]), tonumber(state[2])
  if have == nil or ts == nil then
    have = burst
  else
    have = math.min(burst, have + math.max(0, now - ts) * rate)
  end
  tokens[i] = have
  wait = math.max(wait, (cost + floor - have) / rate)
end
local taken = 0
if wait <= within then taken = 1 end
for i, key in ipairs(KEYS) do
  local rate, burst, cost = tonumber(ARGV[4 * i - 2]), tonumber(ARGV[4 * i - 1]), tonumber(ARGV[4 * i + 1])
  local have = tokens[i]
  if taken == 1 then have = have - cost end
  redis.call('HSET', key, 'tokens', string.format('%.9f', have), 'ts', string.format('%.6f', now))
  redis.call('PEXPIRE', key, math.ceil((burst - have) / rate * 1000) + 1000)
end
return {taken, string.format('%.6f', math.max(0, wait))}
"""


class RedisLimiter(Limiter):
    """Buckets in Redis, shared by every process using the same Redis and key."""

    def __init__(self, redis_url: str) -> None:
        import redis  # imported here so the in-process limiter needs no Redis client

        self._redis = redis.Redis.from_url(redis_url)
        self._script = self._redis.register_script(_TAKE_TOKENS_LUA)
        self._where = _redact_url(redis_url)

    def take(self, spends: list[Spend], within: float = 0.0) -> tuple[bool, float]:
        args = [repr(float(within))]
        for spend in spends:
            args += [repr(float(v)) for v in (spend.rate_per_second, spend.burst, spend.floor, spend.cost)]
        taken, wait = self._script(keys=[REDIS_KEY_PREFIX + s.key for s in spends], args=args)
        return bool(int(taken)), float(wait)

    def __repr__(self) -> str:
        return f"RedisLimiter({self._where})"


def _redact_url(url: str) -> str:
    """Drop credentials from a Redis URL before it appears in a repr or log."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest


class CountedLimiter(Limiter):
    """Another limiter, counting the tokens it grants per budget for the metrics (the account's budget use:
    rate(itrader_account_budget_tokens_total) / itrader_account_budget_per_second). Keys read
    `platform:account:kind`; another shape is counted under platform "other"."""

    def __init__(self, inner: Limiter, clock=time.monotonic) -> None:
        self.inner = inner
        self._clock = clock
        # Per budget, the grants of each recent second ([second, count], oldest first): the budget use the
        # status page shows (itrader.account_figures.budget_use) needs no Prometheus to compute a rate.
        self._recent: dict[str, deque[list[int]]] = {}

    def take(self, spends: list[Spend], within: float = 0.0) -> tuple[bool, float]:
        from itrader.metrics import ACCOUNT_BUDGET_RATE, ACCOUNT_BUDGET_TOKENS

        taken, wait = self.inner.take(spends, within)
        for spend in spends:
            platform, _, rest = spend.key.partition(":")
            account, _, kind = rest.rpartition(":")
            labels = (platform, account, kind) if account else ("other", spend.key, "")
            ACCOUNT_BUDGET_RATE.labels(*labels).set(spend.rate_per_second)
            if taken:
                ACCOUNT_BUDGET_TOKENS.labels(*labels).inc(spend.cost)
                self._count(spend.key, spend.cost)
        return taken, wait

    def _count(self, key: str, tokens: float = 1) -> None:
        second = int(self._clock())
        seconds = self._recent.setdefault(key, deque())
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += tokens
        else:
            seconds.append([second, tokens])
        while seconds[0][0] <= second - MAX_COUNTED_WINDOW:
            seconds.popleft()

    def granted(self, key: str, window: float) -> int:
        """Tokens granted for `key` in the last `window` seconds (whole seconds; at most MAX_COUNTED_WINDOW)."""
        since = int(self._clock()) - min(window, MAX_COUNTED_WINDOW)
        return sum(count for second, count in list(self._recent.get(key, ())) if second > since)

    def __repr__(self) -> str:
        return f"CountedLimiter({self.inner!r})"


def make_limiter(redis_url: str | None) -> Limiter:
    """A Redis-backed limiter when a URL is configured, else an in-process one; its grants counted."""
    return CountedLimiter(RedisLimiter(redis_url) if redis_url else LocalLimiter())

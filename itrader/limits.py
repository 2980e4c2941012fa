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
    if rate_per_second <= 0 or burst < 1:
        raise ValueError("rate_per_second must be > 0 and burst >= 1")
    if bucket is None:
        tokens = float(burst)
    else:
        elapsed = max(0.0, now - bucket.updated_at)
        tokens = min(float(burst), bucket.tokens + elapsed * rate_per_second)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, now), 0.0
    return Bucket(tokens, now), (1.0 - tokens) / rate_per_second


class Limiter:
    """Token buckets by key; subclasses decide where the buckets live."""

    def granted(self, key: str, window: float) -> int | None:
        """Tokens this process took from `key` in the last `window` seconds; None: not counted here."""
        return None

    def try_acquire(self, key: str, rate_per_second: float, burst: float) -> float:
        """Take a token if one is available: 0.0, else the seconds to wait before trying again."""
        raise NotImplementedError

    def acquire(
        self, key: str, rate_per_second: float, burst: float = 1, max_wait: float = DEFAULT_MAX_WAIT
    ) -> float:
        """Wait cooperatively until a token is taken; returns the seconds spent waiting (0.0 if none)."""
        started = time.monotonic()
        slept = False
        while True:
            wait = self.try_acquire(key, rate_per_second, burst)
            if wait <= 0:
                return time.monotonic() - started if slept else 0.0
            waited = time.monotonic() - started
            if waited + wait > max_wait:
                raise RateBudgetExhausted(key, waited + wait, max_wait, retry_after=wait)
            gevent.sleep(wait)
            slept = True


class LocalLimiter(Limiter):
    """Buckets in this process only (no Redis configured)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def try_acquire(self, key: str, rate_per_second: float, burst: float) -> float:
        with self._lock:
            bucket, wait = take_token(self._buckets.get(key), self._clock(), rate_per_second, burst)
            self._buckets[key] = bucket
            return wait

    def __repr__(self) -> str:
        return f"LocalLimiter(buckets={len(self._buckets)})"


# The same arithmetic as take_token, run atomically inside Redis on Redis' clock
# so that processes on different machines agree on "now".
_TAKE_TOKEN_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens), 'ts', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""


class RedisLimiter(Limiter):
    """Buckets in Redis, shared by every process using the same Redis and key."""

    def __init__(self, redis_url: str) -> None:
        import redis  # imported here so the in-process limiter needs no Redis client

        self._redis = redis.Redis.from_url(redis_url)
        self._script = self._redis.register_script(_TAKE_TOKEN_LUA)
        self._where = _redact_url(redis_url)

    def try_acquire(self, key: str, rate_per_second: float, burst: float) -> float:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be > 0 and burst >= 1")
        reply = self._script(keys=[REDIS_KEY_PREFIX + key], args=[repr(float(rate_per_second)), repr(float(burst))])
        return float(reply)

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

    def try_acquire(self, key: str, rate_per_second: float, burst: float) -> float:
        from itrader.metrics import ACCOUNT_BUDGET_RATE, ACCOUNT_BUDGET_TOKENS

        wait = self.inner.try_acquire(key, rate_per_second, burst)
        platform, _, rest = key.partition(":")
        account, _, kind = rest.rpartition(":")
        labels = (platform, account, kind) if account else ("other", key, "")
        ACCOUNT_BUDGET_RATE.labels(*labels).set(rate_per_second)
        if wait <= 0:
            ACCOUNT_BUDGET_TOKENS.labels(*labels).inc()
            self._count(key)
        return wait

    def _count(self, key: str) -> None:
        second = int(self._clock())
        seconds = self._recent.setdefault(key, deque())
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += 1
        else:
            seconds.append([second, 1])
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

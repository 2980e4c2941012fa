"""Account leases in Redis, so several daemons can share one database (DESIGN §9).

Each Bybit or Gate account is driven by exactly one process: the one holding
the account's lease, a Redis key whose value is the holder's owner id and
which expires `ttl` seconds after its last renewal. The holder renews it
often; a process that dies stops renewing, the key expires, and another
process acquires it and resumes the account's deals from the database.

* acquire: SET key owner NX PX ttl and INCR of the key's epoch counter, in
  one Lua script (or, when the key already names us — an actor restarted
  inside the same process — a renewal that keeps the epoch);
* renew:   compare-and-PEXPIRE in one Lua script (only while the key is ours);
* release: compare-and-DEL in one Lua script (graceful stop).

Fencing: every acquire gets a new epoch, higher than any before it for the
key (the counter `itrader:lease-epoch:<platform>:<account>` never expires;
the caller passes the highest epoch its store has seen as a floor, so a
Redis that lost its data cannot hand out an old number again). The holder
records its epoch in the store when it takes the lease and with every money
step's intent; the store refuses an intent under an older epoch than the
newest it has seen for the key, so a holder that was paused past its ttl
(SIGSTOP, a long GC, a VM freeze) cannot journal a money step after another
process took the account over (`Fence`, itrader.store.fences).

The holder trusts its lease only until `last successful renew + ttl − margin`
(`lease_is_safe`), measured from the moment the renew was *sent*, so a slow
or unreachable Redis makes it stop acting before the key can expire and be
taken by someone else. Without Redis there are no leases: one process holds
every account (`AccountLease.always_held`).
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from itrader import errors as meaning

log = logging.getLogger("itrader.leases")

KEY_PREFIX = "itrader:lease:"
EPOCH_PREFIX = "itrader:lease-epoch:"
DEFAULT_TTL = 30.0
RETRY_CEILING = 5.0  # a standby account tries to take its lease at least this often


# --- pure rules ------------------------------------------------------------------


def lease_key(platform: str, account: str) -> str:
    """`itrader:lease:bybit:<name>` or `itrader:lease:gate:<login>`."""
    return f"{KEY_PREFIX}{platform}:{account}"


def epoch_key(key: str) -> str:
    """The never-expiring counter of a lease key's epochs: `itrader:lease-epoch:<platform>:<account>`."""
    return EPOCH_PREFIX + key.removeprefix(KEY_PREFIX)


@dataclass(frozen=True)
class Fence:
    """A lease as the store sees it: its key and the epoch it was acquired under."""

    key: str
    epoch: int


class LeaseLost(meaning.FencedOff):
    """This process does not (safely) hold the account's lease now: the call or intent was stopped."""


def new_owner_id() -> str:
    """This process as a lease holder: hostname:pid:random (random, so a reused pid is a new owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def safety_margin(ttl: float) -> float:
    """How long before the key's expiry the holder stops trusting it: a third of the ttl, which also
    covers clock drift between Redis and us and a renew reply that took a while."""
    return ttl / 3


def renew_interval(ttl: float) -> float:
    """The longest gap between renewals: a third of the ttl, so one lost renew still leaves time."""
    return ttl / 3


def retry_interval(ttl: float) -> float:
    """How often a standby account tries to take its lease over."""
    return min(RETRY_CEILING, ttl / 3)


def lease_is_safe(renewed_at: float | None, ttl: float, now: float, margin: float | None = None) -> bool:
    """Is my lease still safely mine? Yes while last successful renew + ttl − margin > now
    (`renewed_at` is when that renew was sent, on a monotonic clock; None: not held)."""
    if renewed_at is None:
        return False
    return renewed_at + ttl - (safety_margin(ttl) if margin is None else margin) > now


# --- Redis -----------------------------------------------------------------------

# Take the key if it is free and give this holding a new epoch above `floor`; a key already ours is
# renewed and keeps its epoch (unless the counter fell below the floor: Redis lost it). 0: not ours.
_ACQUIRE_LUA = """
local floor = tonumber(ARGV[3])
local epoch
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  epoch = redis.call('INCR', KEYS[2])
  if epoch <= floor then epoch = floor + 1 end
elseif redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  epoch = tonumber(redis.call('GET', KEYS[2]) or '0')
  if epoch < floor or epoch < 1 then epoch = math.max(floor, 0) + 1 end
else
  return 0
end
redis.call('SET', KEYS[2], epoch)
return epoch
"""

# Renew only while the key is still ours: a lease that expired and was taken by
# another process must not be extended by its former holder.
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseStore:
    """The Redis side: acquire, renew, release and read leases as one owner.

    Every method answers False/None when Redis cannot be reached (logged once per
    call); the caller's safety rule then decides how long an unconfirmed lease holds.
    """

    def __init__(self, redis_url: str, owner: str, ttl: float = DEFAULT_TTL) -> None:
        import redis  # imported here: a daemon without Redis needs no Redis client

        if ttl <= 0:
            raise ValueError("lease ttl must be greater than 0")
        self.owner = owner
        self.ttl = ttl
        # A Redis that hangs must not hold an actor longer than its lease can be trusted.
        timeout = max(0.2, min(2.0, safety_margin(ttl) / 2))
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._acquire = self._redis.register_script(_ACQUIRE_LUA)
        self._renew = self._redis.register_script(_RENEW_LUA)
        self._release = self._redis.register_script(_RELEASE_LUA)
        self._errors = (redis.RedisError, OSError)

    @property
    def ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def acquire(self, key: str, floor: int = 0) -> int:
        """The epoch of our holding (≥ 1, above `floor`), or 0 when the key is someone else's or Redis
        did not answer. A key already ours is renewed and keeps its epoch."""
        try:
            return int(self._acquire(keys=[key, epoch_key(key)], args=[self.owner, self.ttl_ms, int(floor)]))
        except self._errors as exc:
            log.warning("lease %s: acquire failed: %s", key, type(exc).__name__)
            return 0

    def renew(self, key: str) -> bool | None:
        """True: renewed. False: the key is gone or someone else's. None: Redis did not answer."""
        try:
            return bool(self._renew(keys=[key], args=[self.owner, self.ttl_ms]))
        except self._errors as exc:
            log.warning("lease %s: renew failed: %s", key, type(exc).__name__)
            return None

    def release(self, key: str) -> bool:
        try:
            return bool(self._release(keys=[key], args=[self.owner]))
        except self._errors as exc:
            log.warning("lease %s: release failed: %s", key, type(exc).__name__)
            return False

    def holder(self, key: str) -> str | None:
        """The owner id holding the key now (None: free, or Redis unreachable)."""
        try:
            value = self._redis.get(key)
        except self._errors:
            return None
        return value.decode() if isinstance(value, bytes) else value

    def __repr__(self) -> str:
        return f"LeaseStore(owner={self.owner!r}, ttl={self.ttl})"


# --- one account's lease, as its actor sees it --------------------------------------


@dataclass
class AccountLease:
    """The lease of one account: what the account actor asks before it acts.

    `store` None means no Redis is configured: the lease is always held and
    every call is a no-op, so a single daemon behaves exactly as without leases.
    """

    platform: str
    account: str
    store: LeaseStore | None = None
    clock: Callable[[], float] = time.monotonic
    renewed_at: float | None = field(default=None, init=False)
    holding: bool = field(default=False, init=False)  # the account actor drives the account
    epoch: int | None = field(default=None, init=False)  # of the current holding (None: not held, no Redis)

    def __post_init__(self) -> None:
        self.holding = self.store is None

    @classmethod
    def always_held(cls, platform: str, account: str) -> "AccountLease":
        return cls(platform, account, None)

    @property
    def active(self) -> bool:
        """Are leases in force at all (Redis configured)?"""
        return self.store is not None

    @property
    def key(self) -> str:
        return lease_key(self.platform, self.account)

    @property
    def ttl(self) -> float:
        return self.store.ttl if self.store is not None else DEFAULT_TTL

    @property
    def owner(self) -> str | None:
        return self.store.owner if self.store is not None else None

    def safe(self) -> bool:
        """May the account act now (money steps, writes)?"""
        if self.store is None:
            return True
        return lease_is_safe(self.renewed_at, self.store.ttl, self.clock())

    def acquire(self, floor: int = 0) -> bool:
        """Take the lease; `floor` is the highest epoch the store has seen for it (the new one is above)."""
        if self.store is None:
            return True
        sent_at = self.clock()
        epoch = self.store.acquire(self.key, floor)
        if epoch:
            self.renewed_at, self.holding, self.epoch = sent_at, True, epoch
            return True
        self.renewed_at, self.epoch = None, None
        return False

    def fence(self) -> Fence | None:
        """What a money step's intent is journaled under: None without Redis (nothing to fence); raises
        LeaseLost unless the lease is held and still safe (a holder paused past its ttl finds out here)."""
        if self.store is None:
            return None
        if not self.holding or self.epoch is None or not self.safe():
            raise LeaseLost(f"{self.key}: not safely held by this process; nothing done")
        return Fence(self.key, self.epoch)

    def lost_now(self) -> bool:
        """Held until now but no longer safe: True once, and from then on the lease is not held (the
        actor stops acting and goes back to standby)."""
        if self.holding and not self.safe():
            self.holding = False
            return True
        return False

    def lapsed(self, renew_first: bool = False) -> bool:
        """True once, when the lease has just stopped being safe (the caller stops acting); with
        `renew_first` a held lease is renewed before the check, so the key outlives the call to come."""
        if renew_first and self.holding:
            self.renew()
        return self.lost_now()

    def renew(self) -> bool:
        """True while the key is ours. A reply saying it is gone or someone else's ends the lease at
        once; an unreachable Redis leaves the last confirmed renewal to run out (`safe`)."""
        if self.store is None:
            return True
        sent_at = self.clock()
        renewed = self.store.renew(self.key)
        if renewed:
            self.renewed_at = sent_at
            return True
        if renewed is False:
            self.renewed_at = None  # expired, or taken over by another process: stop now
        return self.safe()

    def release(self) -> None:
        if self.store is None:
            return
        if self.renewed_at is not None:
            self.store.release(self.key)
        self.renewed_at, self.holding, self.epoch = None, False, None

    def holder(self) -> str | None:
        return self.store.holder(self.key) if self.store is not None else None

    def view(self) -> dict[str, object]:
        """For the status page and events: state and holder (owner ids only, never secrets)."""
        if self.store is None:
            return {"state": "held", "leases": "off"}
        held = self.safe()
        view: dict[str, object] = {"state": "held" if held else "standby", "owner": self.store.owner,
                                   "holder": self.store.owner if held else self.holder(), "ttl": self.store.ttl}
        if held:
            view["epoch"] = self.epoch
        return view


class LeaseBook:
    """This process's account leases by (platform, account name as the actors call it): where a Deal
    finds the fence of the account a money step runs on. An account actor adds its lease as it starts."""

    def __init__(self) -> None:
        self._leases: dict[tuple[str, str], AccountLease] = {}

    def add(self, name: str, lease: AccountLease) -> AccountLease:
        self._leases[(lease.platform, name)] = lease
        return lease

    def fence(self, platform: str, name: str) -> Fence | None:
        """None: no leases (no Redis) or no such account here; LeaseLost: not safely held now."""
        lease = self._leases.get((platform, name))
        return lease.fence() if lease is not None else None

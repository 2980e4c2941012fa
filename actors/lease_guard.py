"""One lease guard for every leased actor (DESIGN §9): Gate and Bybit accounts, mailboxes.

The actor asks the guard before it acts; the guard owns the standby → held → lost
transitions and says so once: an event, a log line and (for accounts) LeaseChanged
to "deals", which runs an account's deals only where its lease is held. What the
actor must drop when the lease is lost, and what it does next, are its two hooks.

Fencing (accounts with money steps): a lease taken is recorded with its epoch in the
store (`fences`) before the account acts, so from then on the store refuses an intent
of the previous holder; and `before_write` is the clients' hook before every HTTP
attempt of a write, so a retry inside a client never goes out after the lease was lost.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from actors.messages import LeaseChanged
from itrader import errors
from itrader.leases import AccountLease, LeaseLost

log = logging.getLogger(__name__)

DEALS = "deals"
NOT_RENEWED = "the lease was not renewed in time"
EXPIRED = "the lease expired or was taken by another process"


def _nothing() -> None:
    return None


class LeaseGuard:
    """`directory` None: nobody hears LeaseChanged (a mailbox has no deals). `forget` runs first when
    the lease is lost (drop in-memory work), `after_loss` last (health, the standby timer). `fences`
    (itrader.store.FenceStore; None: a mailbox, no money steps) records each epoch taken."""

    def __init__(self, lease: AccountLease, platform: str, account: str, events: Any, directory: Any = None,
                 *, forget: Callable[[], None] = _nothing, after_loss: Callable[[], None] = _nothing,
                 release_on_loss: bool = True, fences: Any = None) -> None:
        self.lease = lease
        self.platform = platform
        self.account = account
        self.events = events
        self.directory = directory
        self.forget = forget
        self.after_loss = after_loss
        self.release_on_loss = release_on_loss
        self.fences = fences
        self.standby_told = False

    @property
    def holding(self) -> bool:
        return self.lease.holding

    @property
    def active(self) -> bool:
        return self.lease.active

    @property
    def ttl(self) -> float:
        return self.lease.ttl

    def view(self) -> dict[str, object]:
        return self.lease.view()

    def may_act(self, before_write: bool = False) -> bool:
        """May we touch the account now? Before a write the lease is renewed first, so the key outlives
        the call that follows; a lease that has just stopped being safe is lost here."""
        if self.lease.lapsed(renew_first=before_write):
            self.lose(NOT_RENEWED)
        return self.lease.holding

    def before_write(self) -> None:
        """The clients' hook before every HTTP attempt of a write (take, approve, balance; ads, releases,
        chat): the lease renewed and checked right then; LeaseLost stops the attempt unsent."""
        if not self.may_act(before_write=True):
            raise LeaseLost(f"{self.platform} {self.account}: the lease is not ours now; the call was not sent")

    def renewed(self) -> bool:
        """Renew the lease we hold; a renewal that fails for good loses it."""
        if self.lease.renew():
            return True
        self.lose(EXPIRED)
        return False

    def take(self) -> bool:
        """In standby: try to take the lease over; False leaves the account in standby (told once). A
        lease taken is fenced first: its epoch recorded in the store before the account acts."""
        if not self._acquire_fenced():
            self.say_standby()
            return False
        self.standby_told = False
        if self.lease.active:
            log.warning("%s %s: lease acquired; driving the account", self.platform, self.account)
            self.events.publish("lease_acquired", platform=self.platform, account=self.account,
                                owner=self.lease.owner, epoch=self.lease.epoch)
            self._tell_deals(True)
        return True

    def _acquire_fenced(self) -> bool:
        if self.fences is None or not self.lease.active:
            return self.lease.acquire()
        try:
            if not self.lease.acquire(floor=self.fences.newest(self.lease.key)):
                return False
            self.fences.advance(self.lease.fence())
        except errors.FencedOff as exc:
            log.error("%s %s: lease not taken: %s", self.platform, self.account, exc)
        except Exception as exc:  # noqa: BLE001 — the store is away: no epoch recorded, so no acting
            log.warning("%s %s: lease epoch not recorded (%s); standby", self.platform, self.account,
                        type(exc).__name__)
        else:
            return True
        self.lease.release()  # a no-op unless the key was ours
        return False

    def tend(self) -> bool:
        """On a tick: renew the lease we hold, or try to take it over in standby."""
        return self.renewed() if self.lease.holding else self.take()

    def say_standby(self) -> None:
        """Once per standby spell: deals of this account still running here (an earlier life of this
        actor held the lease, then restarted too late to keep it) must stop."""
        if not self.standby_told:
            self.standby_told = self._tell_deals(False)

    def announce(self) -> None:
        """AnnounceLease: "deals" asks who drives the account."""
        if self.lease.holding:
            self._tell_deals(True)

    def lose(self, reason: str) -> None:
        """Stop acting at once: the actor forgets its work (another process rebuilds it from the platform
        and the store) and waits in standby until the lease is ours again."""
        self.forget()
        if self.release_on_loss:
            self.lease.release()  # a no-op unless the key is still ours
        holder = self.lease.holder()
        log.error("%s %s: lease lost (%s); standby (holder now: %s)", self.platform, self.account, reason,
                  holder or "nobody")
        self.events.publish("lease_lost", platform=self.platform, account=self.account, owner=self.lease.owner,
                            holder=holder, reason=reason)
        self.standby_told = self._tell_deals(False)
        self.after_loss()

    def _tell_deals(self, holding: bool) -> bool:
        if self.directory is None:
            return False
        return bool(self.directory.tell(DEALS, LeaseChanged(self.platform, self.account, holding)))

"""What every collaborator of one Bybit account shares: its client, store, directory, events and
settings, what the account told us about itself at start, the counted call, the deal messenger, and
four hooks back into the actor (boot, health, schedule, later)."""
from __future__ import annotations

import logging
from dataclasses import KW_ONLY, dataclass
from typing import Any, Callable

from actors.base import tell_quietly
from actors.directory import Directory
from itrader.bybit import AccessDenied, AuthError, BybitClient, BybitError, TimestampError
from itrader.call_outcomes import call_outcome  # noqa: F401 — also imported from here by older callers
from itrader.config import BybitConfig
from itrader.events import EventLog
from itrader.limits import RateBudgetExhausted
from itrader.metrics import EXTERNAL_CALLS

# One logger for the account and its collaborators, as when they were one module.
log = logging.getLogger("actors.bybit_account")

CALL_ERRORS = (BybitError, RateBudgetExhausted)


def _nothing(*_args: Any, **_kwargs: Any) -> Any:
    return None


@dataclass(eq=False, repr=False)
class AccountLink:
    """One account's dependencies, and what the account told us about itself in this life."""

    name: str
    client: BybitClient
    store: Any
    directory: Directory
    events: EventLog
    settings: BybitConfig
    _: KW_ONLY
    boot: Callable[[], bool] = lambda: True
    send_health: Callable[..., None] = _nothing
    schedule: Callable[[], None] = _nothing
    # later(message, wait): the actor is told `message` again after `wait` s; False: put off too often
    later: Callable[[Any, float], bool] = lambda _message, _wait: False

    def __post_init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """What the account told us about itself: unknown at start and after a lost lease."""
        self.user_id = ""
        self.payment_ids: dict[str, str] = {}
        self.auth_failed = False
        self.boot_error: str | None = None
        self.denied: AccessDenied | None = None  # the last call refused for this host's IP or region

    def api(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One client call, counted in EXTERNAL_CALLS; auth trouble and bans mark the account unhealthy."""
        try:
            result = call(*args, **kwargs)
        except CALL_ERRORS as exc:
            EXTERNAL_CALLS.labels("bybit", call_outcome(exc)).inc()
            if isinstance(exc, AuthError) and not isinstance(exc, TimestampError):
                self.auth_failed = True
            if isinstance(exc, AccessDenied):
                self.denied = exc
            raise
        EXTERNAL_CALLS.labels("bybit", "ok").inc()
        self.auth_failed = False
        return result

    def read_pages(self, call: Callable[..., Any], size: int, max_pages: int) -> list:
        """The items of a paged list, `size` a read, until its count is covered (at most `max_pages` reads)."""
        items: list = []
        for page in range(1, max_pages + 1):
            listing = self.api(call, page=page, size=size)
            items.extend(listing.items)
            if not listing.items or page * size >= listing.count:
                break
        return items

    def tell_deal(self, deal_id: int, message: Any, reply_to: Any = None, *, reply: bool = False) -> bool:
        """Replies go to `reply_to` first (the protocol); news to the deal's current name first
        (its ref changes when it restarts). Either way the other is the fallback."""
        name = f"deal:{deal_id}"
        if reply and reply_to is not None and tell_quietly(reply_to, message):
            return True
        if self.directory.tell(name, message):
            return True
        if not reply and reply_to is not None:
            return bool(tell_quietly(reply_to, message))
        return False

    def publish(self, kind: str, **fields: Any) -> None:
        self.events.publish(kind, account=self.name, **fields)

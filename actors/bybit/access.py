"""A Bybit key refused for where the daemon calls from (issue 12, item 9): 10010, the key bound to other
IPs, or a 403 page refusing the region. Neither passes by itself, so it is not retried as a ban: the
account is marked unhealthy with one operator event saying what to fix, the allocator is told AccountDown
(the account's un-taken ads move to other accounts), the account stops writing, and it is checked again
only every `bybit.access_recheck_interval` seconds (a fresh start-up, the probe) until the key works."""
from __future__ import annotations

import time

from actors.bybit.link import AccountLink, log
from actors.messages import AccountDown, AccountUp


class AccessWatch:
    def __init__(self, link: AccountLink) -> None:
        self.link = link
        self.problem: str | None = None  # what refuses the key, and the fix; None while it works
        self._next_check = 0.0  # monotonic: no call to Bybit before this while the key is refused

    def may_call(self) -> bool:
        """False while the key is refused and the next recheck is not due (lease renewals tick more often)."""
        return self.problem is None or time.monotonic() >= self._next_check

    def check(self, ad_ids: list[str]) -> bool:
        """After a tick: True when a call was refused for access since the last check (the account must
        start up again, the probe, before it calls Bybit for anything else). `ad_ids`: the account's ads,
        which stay online on Bybit (we cannot cancel them with a refused key) until closed by hand."""
        exc, self.link.denied = self.link.denied, None
        if exc is None:
            return False
        self._next_check = time.monotonic() + self.link.settings.access_recheck_interval
        if self.problem is None:
            self.problem = f"{' '.join(str(exc).split())[:200]}; fix: {exc.fix}"
            log.error("bybit %s: the API key is refused for this host; the account is unhealthy and checked "
                      "again every %gs: %s", self.link.name, self.retry_delay(0), self.problem)
            self.link.publish("account_unhealthy", platform="bybit", reason=self.problem, fix=exc.fix,
                              ads_to_close=sorted(ad_ids))
            self.link.directory.tell("allocator", AccountDown(self.link.name))
        return True

    def recovered(self, draining: bool) -> None:
        """The key works again (a start-up went through)."""
        if self.problem is None:
            return
        log.info("bybit %s: the API key works again; the account is healthy", self.link.name)
        self.problem = None
        self.link.publish("account_healthy", platform="bybit")
        if not draining:  # a disabled account stays down for the allocator
            self.link.directory.tell("allocator", AccountUp(self.link.name))

    def retry_delay(self, otherwise: float) -> float:
        return self.link.settings.access_recheck_interval if self.problem is not None else otherwise

"""The desk's intake switch, shared by the actors that open work (not an actor: like the directory).

The Gate accounts ask it before offering or taking a payout and when they set their working balance; the
Deals supervisor before it opens a deal; the allocator before it lets a deal post an ad. The pause lives in
the store (itrader.store.switches): read again at most every REFRESH seconds, so a pause given to another
daemon on the same database holds here too; the drain is this process's own.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable

import gevent

from itrader.intake import IntakeState, refusal
from itrader.store.switches import PAUSE

log = logging.getLogger("itrader.intake")

REFRESH = 1.0


class Intake:
    def __init__(self, store=None, events=None, clock: Callable[[], float] = time.monotonic) -> None:
        self._switches = store.switches if store is not None else None  # None: always open (tests)
        self._events = events
        self._clock = clock
        self._state = IntakeState()
        self._read_at: float | None = None
        self._refreshing = False  # a background read for known() is under way

    def state(self) -> IntakeState:
        if self._switches is not None and (self._read_at is None or self._clock() - self._read_at >= REFRESH):
            self._read_at = self._clock()
            try:
                stored = IntakeState.from_stored(self._switches.get(PAUSE))
            except Exception as exc:  # noqa: BLE001 — a database hiccup keeps the last known state
                log.warning("the pause switch could not be read (%s); keeping %s", type(exc).__name__,
                            "paused" if self._state.paused else "open")
                return self._state
            if stored.paused != self._state.paused:
                log.warning("intake %s (set in the store)", "paused" if stored.paused else "resumed")
            self._state = replace(stored, draining=self._state.draining)
        return self._state

    def known(self) -> IntakeState:
        """For the status page: the state as last read, without waiting behind the deals' writes for the
        store; a stale one is read again in the background (the page after next shows it). Read at once
        only when nothing was read yet."""
        if self._switches is None or self._read_at is None:
            return self.state()
        if self._clock() - self._read_at >= REFRESH and not self._refreshing:
            self._refreshing = True
            gevent.spawn(self._refresh)
        return self._state

    def _refresh(self) -> None:
        try:
            self.state()
        finally:
            self._refreshing = False

    def refusal(self) -> str | None:
        return refusal(self.state())

    def pause(self, reason: str | None, by: str) -> IntakeState:
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return self._switch(IntakeState(paused=True, reason=reason, since=since, by=by))

    def resume(self, by: str) -> IntakeState:
        return self._switch(IntakeState(by=by))

    def drain(self) -> None:
        """From now on nothing new is taken or posted here (a stop is coming)."""
        self._state = replace(self.state(), draining=True)
        self._read_at = self._clock()
        log.info("draining: no new payout is taken and no new ad posted from now on")

    def _switch(self, new: IntakeState) -> IntakeState:
        if self._switches is not None:
            self._switches.set(PAUSE, new.stored())  # raises: the operator hears it did not work
        self._state = replace(new, draining=self._state.draining)
        self._read_at = self._clock()
        if new.paused:
            log.warning("intake paused by %s%s: no new payout is taken; live deals go on", new.by,
                        f" ({new.reason})" if new.reason else "")
        else:
            log.warning("intake resumed by %s: taking new payouts again", new.by)
        if self._events is not None:
            self._events.publish("intake", state="paused" if new.paused else "open", reason=new.reason, by=new.by)
        return self._state

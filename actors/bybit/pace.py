"""The account's turn among the polls from this host's IP (BybitClient.pace_poll, itrader.bybit.client's
IpBudget): a tick that would call Bybit asks for its turn once and, when the turn is later, is deferred
to it — the tick comes back then, never waits in the handler — so when the IP budget binds, every
account's polls slow down alike (turns are handed out in the order asked) and none bursts."""
from __future__ import annotations

import time

TURN_EARLY = 0.005  # a timer firing this close to the turn counts as on time


class PollPace:
    def __init__(self, pace_poll) -> None:
        self._pace_poll = pace_poll  # (cost) -> (taken, wait): BybitClient.pace_poll
        self.turn_at: float | None = None  # monotonic time of our next turn, or of asking again
        self._held = False  # the turn at turn_at is ours (taken); else we ask again then
        self.deferred = 0  # ticks put off to a later turn (stats)

    def my_turn(self, cost: int = 1) -> bool:
        """True: poll now (the turn was taken). False: not yet; `wait_left()` says until when."""
        now = time.monotonic()
        if self.turn_at is not None:
            if now + TURN_EARLY < self.turn_at:
                return False
            held, self.turn_at = self._held, None
            if held:
                return True
        taken, wait = self._pace_poll(cost)
        if taken and wait <= 0:
            return True
        self.turn_at, self._held = now + wait, taken
        self.deferred += 1
        return False

    def wait_left(self) -> float | None:
        """Seconds until the pending turn (None: no turn pending)."""
        return None if self.turn_at is None else max(0.0, self.turn_at - time.monotonic())

    def forget(self) -> None:
        """A lost lease: the turn is dropped (its token stays spent: the budget errs on the safe side)."""
        self.turn_at, self._held = None, False

"""Requests an actor puts off instead of sleeping in its handler (DESIGN §2: timers, never sleeps), and
the steps it drops because its lease went meanwhile.

A client that is told to wait (a 429's Retry-After, our own rate budget) raises a RetryLater carrying
the wait. The actor hands the request to `PutOff.later`: a timer tells it the same message again,
wrapped in `Again`, once the wait is over, and the actor answers other messages meanwhile — its lease
renewals among them. A request put off too often is failed by the caller like any temporary error.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import gevent
import pykka

from actors.base import tell_quietly
from itrader import errors

log = logging.getLogger(__name__)

MAX_PUT_OFFS = 5  # then the request fails as temporary; its sender decides (the deal retries, bounded)


@dataclass(frozen=True)
class Again:
    """To the actor itself: a request it put off, due now; `attempt` counts its put-offs."""

    message: Any
    attempt: int


class PutOff:
    """One actor's put-off requests. `open` each received message first: it unwraps `Again` and
    remembers how often the message in hand was put off, for `later`."""

    def __init__(self, limit: int = MAX_PUT_OFFS) -> None:
        self.limit = limit
        self.attempt = 0  # of the message being handled
        self._timers: set[gevent.Greenlet] = set()

    def deliver(self, message: Any, dispatch: Callable[[Any], Any], who: str) -> Any:
        """The actor's on_receive: `message` (an Again unwrapped) to `dispatch`. A step stopped because the
        lease went meanwhile (FencedOff: nothing was sent) ends here; the guard has put the actor in
        standby already."""
        try:
            return dispatch(self.open(message))
        except errors.FencedOff as exc:
            log.warning("%s: %s not done: %s", who, type(message).__name__, exc)
            return None

    def open(self, message: Any) -> Any:
        if isinstance(message, Again):
            self.attempt = message.attempt
            return message.message
        self.attempt = 0
        return message

    def later(self, ref: pykka.ActorRef[Any], message: Any, wait: float) -> bool:
        """Tell `message` to `ref` again after `wait` seconds; False (nothing scheduled) when it was put
        off `limit` times already."""
        if self.attempt >= self.limit:
            return False
        timer = gevent.spawn_later(max(0.0, wait), tell_quietly, ref, Again(message, self.attempt + 1))
        self._timers.add(timer)
        timer.link(self._timers.discard)
        return True

    def cancel_all(self) -> None:
        """A lost lease or a stop: what was put off is not ours to do any more."""
        for timer in list(self._timers):
            timer.kill(block=False)
        self._timers.clear()

    def __len__(self) -> int:
        return len(self._timers)

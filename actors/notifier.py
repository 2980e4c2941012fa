"""The Notifier: alerts an operator through Telegram and a signed webhook (issue 13, item 3).

Thin: a reader greenlet follows the live events (itrader.events) and hands each batch to the actor; the
actor asks itrader.alerts which need a person and whether the throttle lets them out (dedup, rate
limit), then queues each for every channel. Each channel has its own sender greenlet and a bounded queue;
a send has a hard timeout. Nobody waits for a send: a deal publishes its event and goes on; a channel
that hangs or fails only backs up its own queue, and an alert that finds it full is dropped and counted. Failures are logged by the
channel's name and what went wrong — never the URL or the secret.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Sequence

import gevent
from gevent.queue import Full, Queue

from actors.base import SupervisedActor, tell_quietly
from itrader.alerts import Alert, Throttle, alert_for
from itrader.events import EventLog
from itrader.notify import Channel, ChannelError

log = logging.getLogger("itrader.notifier")

QUEUED_PER_CHANNEL = 50  # alerts waiting for one channel; beyond that a dead channel loses alerts, not memory
WAIT_AT_STOP = 2.0  # the "stopping" alert gets this long to leave


@dataclass(frozen=True)
class _Events:
    batch: tuple[dict[str, Any], ...]


class NotifierActor(SupervisedActor):
    def __init__(self, events: EventLog, channels: Sequence[Channel], throttle: Throttle, timeout: float,
                 low_usdt: Decimal = Decimal(0), clock: Callable[[], float] = time.monotonic,
                 context: Any = None) -> None:
        super().__init__(context=context)
        self._events = events
        self._channels = list(channels)
        self._queues = {channel.name: Queue(QUEUED_PER_CHANNEL) for channel in self._channels}
        self._senders: list[gevent.Greenlet] = []
        self._busy: set[str] = set()  # channels with a send under way
        self._throttle = throttle
        self._timeout = timeout
        self._low_usdt = low_usdt
        self._clock = clock
        self._after = 0
        self._reader: gevent.Greenlet | None = None
        self.counts: dict[str, int] = {}  # sent:<channel>, failed:<channel>, dropped:<channel>, duplicate, ...

    def on_start(self) -> None:
        # From now on: a restarted notifier does not send the old feed again.
        self._after = max((int(e["seq"]) for e in self._events.since(0)), default=0)
        self._reader = gevent.spawn(self._follow, self._after)
        self._senders = [gevent.spawn(self._sender, channel) for channel in self._channels]

    def on_stop(self) -> None:
        if self._reader is not None:
            self._reader.kill(block=False)
        self._on_events(tuple(self._events.since(self._after)))  # the "stopping" alert, say
        deadline = time.monotonic() + WAIT_AT_STOP
        while time.monotonic() < deadline and (self._busy or any(q.qsize() for q in self._queues.values())):
            gevent.sleep(0.02)
        self._end_greenlets()

    def on_failure(self, *_exc_info: Any) -> None:
        self._end_greenlets()

    def _end_greenlets(self) -> None:
        for greenlet in [self._reader, *self._senders]:
            if greenlet is not None:
                greenlet.kill(block=False)

    def _follow(self, after: int) -> None:
        while True:
            batch = self._events.since(after, timeout=15.0)
            if batch:
                after = max(int(e["seq"]) for e in batch)
                if not tell_quietly(self.actor_ref, _Events(tuple(batch))):
                    return

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Events):
            return self._on_events(message.batch)
        return super().on_receive(message)

    def stats(self) -> dict[str, int]:
        return dict(self.counts)

    def _on_events(self, batch: tuple[dict[str, Any], ...]) -> None:
        for event in batch:
            seq = int(event.get("seq", 0))
            if seq <= self._after:
                continue
            self._after = seq
            alert = alert_for(event, self._low_usdt)
            if alert is None:
                continue
            why_not = self._throttle.admit(alert, self._clock())
            if why_not is not None:
                self._count(why_not)
                continue
            self._send(self._throttle.note(alert))

    def _send(self, alert: Alert) -> None:
        for channel in self._channels:
            try:
                self._queues[channel.name].put_nowait(alert)
            except Full:
                self._count(f"dropped:{channel.name}")
                log.warning("alert %s not sent on %s: %d alerts already wait for it", alert.kind, channel.name,
                            QUEUED_PER_CHANNEL)

    def _sender(self, channel: Channel) -> None:
        queue = self._queues[channel.name]
        while True:
            alert = queue.get()
            self._busy.add(channel.name)
            try:
                self._deliver(channel, alert)
            finally:
                self._busy.discard(channel.name)

    def _deliver(self, channel: Channel, alert: Alert) -> None:
        try:
            with gevent.Timeout(self._timeout, ChannelError(f"{channel.name}: no answer in {self._timeout:g}s")):
                channel.send(alert)
        except Exception as exc:  # noqa: BLE001 — a channel's failure stays in its greenlet
            self._count(f"failed:{channel.name}")
            why = str(exc) if isinstance(exc, ChannelError) else f"{channel.name}: {type(exc).__name__}"
            log.warning("alert %s (%s) not delivered: %s", alert.kind, alert.key, why)
            return
        self._count(f"sent:{channel.name}")
        log.info("alert %s (%s) sent on %s", alert.kind, alert.key, channel.name)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

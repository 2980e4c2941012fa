"""The account's write queue: ads, cancels, releases and chat texts share the write budget (5/s on
Bybit), so they wait here and go out one per DrainWrites message to the actor, most urgent first
(itrader.bybit_rules.next_write). A write waits for its token outside the call (try_reserve), so
polls and chat reads go on meanwhile and the job is chosen again when the token is there."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from actors.messages import SendChat
from itrader.bybit_rules import OutgoingChat, QueuedWrite, next_write


@dataclass(frozen=True)
class DrainWrites:
    """To the actor itself: do the most urgent queued write (one per message, so news can overtake)."""


class WriteQueue:
    """`reserve()` asks the write budget for a token (seconds to wait, 0: taken); `nudge(delay)` has
    the actor get DrainWrites after `delay` seconds."""

    def __init__(self, seq: Iterator[int], reserve: Callable[[], float], nudge: Callable[[float], None]) -> None:
        self._seq = seq  # kept across lives of the actor's memory: the order of writes stays total
        self._reserve = reserve
        self._nudge = nudge
        self.writes: list[QueuedWrite] = []  # releases, ads and cancels waiting for the write budget
        self.outbox: list[OutgoingChat] = []
        self.drain_told = False

    def queue(self, kind: str, message: Any) -> None:
        self.writes.append(QueuedWrite(kind, next(self._seq), message))
        self.kick()

    def queue_chat(self, message: SendChat) -> None:
        self.outbox.append(OutgoingChat(message.deal_id, message.order_id, message.text, uuid.uuid4().hex,
                                        purpose=message.purpose, seq=next(self._seq)))
        self.kick()

    def kick(self) -> None:
        """Ask for a drain once more, unless a request is already in the actor's mailbox."""
        if self.drain_told or next_write(self.writes, self.outbox) is None:
            return
        self.drain_told = True
        self._nudge(0.0)

    def take(self) -> QueuedWrite | OutgoingChat | None:
        """On DrainWrites: the write to make now, its token taken (a queued write leaves the queue; a
        text stays in the outbox until it is sent). None: nothing ready, or a drain comes later."""
        self.drain_told = False
        job = next_write(self.writes, self.outbox)
        if job is None:
            return None
        wait = self._reserve()
        if wait > 0:
            self.drain_told = True
            self._nudge(wait)
            return None
        if isinstance(job, QueuedWrite):
            self.writes.remove(job)
        return job

    def refused(self) -> None:
        """A DrainWrites that was not acted on (standby): the next kick may ask again."""
        self.drain_told = False

    def retry_texts(self) -> None:
        """What failed last time is tried again, in the queue's order."""
        for item in self.outbox:
            item.ready = True

    def queued_cancels(self) -> set[str]:
        return {job.message.ad_id for job in self.writes if job.kind == "cancel"}

    def pending(self) -> bool:
        return bool(self.writes or self.outbox)

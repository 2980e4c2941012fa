"""Live events for the operator (`/api/v1/events`): a bounded in-process log.

Events are notifications, never the only copy of anything: the journal in the
database is the record. Waiters block cooperatively on a gevent Event.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any

import gevent.event


class EventLog:
    def __init__(self, capacity: int = 10_000) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._seq = 0
        self._changed = gevent.event.Event()

    def publish(self, type_: str, **data: Any) -> int:
        self._seq += 1
        self._events.append({"seq": self._seq, "ts": time.time(), "type": type_, **data})
        self._changed.set()
        self._changed.clear()
        return self._seq

    def since(self, after: int, timeout: float = 0.0) -> list[dict[str, Any]]:
        if self._seq <= after and timeout > 0:
            self._changed.wait(timeout)
        return [dict(e) for e in self._events if e["seq"] > after]

"""Where to find the current ref of a named actor.

Refs change when a supervisor restarts an actor, so actors address each other
by name ("gate:desk1", "bybit:acc1", "deal:42", "allocator", "desk",
"assistant", "deals") and look the ref up at send time. A message to an actor
that is down is dropped with False returned: the sender's timers retry, and
every handler is idempotent.
"""
from __future__ import annotations

from typing import Any

import pykka


class Directory:
    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef] = {}

    def register(self, name: str, ref: pykka.ActorRef) -> None:
        self._refs[name] = ref

    def unregister(self, name: str, ref: pykka.ActorRef | None = None) -> None:
        # Only the registrant may remove itself: a restarted actor may already have replaced it.
        if ref is None or self._refs.get(name) is ref:
            self._refs.pop(name, None)

    def get(self, name: str) -> pykka.ActorRef | None:
        ref = self._refs.get(name)
        return ref if ref is not None and ref.is_alive() else None

    def tell(self, name: str, message: Any) -> bool:
        ref = self.get(name)
        if ref is None:
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            return False
        return True

    def names(self, prefix: str = "") -> list[str]:
        return sorted(name for name in self._refs if name.startswith(prefix))

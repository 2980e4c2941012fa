"""The sandbox ledger: every money movement and money step, in order.

Platforms record what they did (a bank transfer, a Gate approval, a Bybit
release, an ad, a take); the audit (sandbox/audit.py) reads it back to check
the money-safety invariants after each scenario.
"""
from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any


class Ledger:
    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one entry; money values should be Decimal or str, never float."""
        with self._lock:
            entry = {"seq": len(self._entries) + 1, "ts": time.time(), "kind": kind}
            entry.update({k: str(v) if isinstance(v, Decimal) else v for k, v in fields.items()})
            self._entries.append(entry)
            return dict(entry)

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries if kind is None or e["kind"] == kind]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

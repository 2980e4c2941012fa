"""Running CPU-heavy receipt work off the gevent hub.

PDFium is not thread-safe, so every PDFium call (text, rendering) holds one native lock; the work
itself runs in the hub's threadpool so the daemon keeps answering meanwhile. The lock is a real OS
lock (never a gevent one): only pool threads ever wait on it, never the hub.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import gevent
from gevent import monkey

T = TypeVar("T")

pdfium_lock = monkey.get_original("threading", "Lock")()


def off_hub(fn: Callable[..., T], *args) -> T:
    """Run fn(*args) in the gevent hub's threadpool and return its result (exceptions propagate)."""
    return gevent.get_hub().threadpool.apply(fn, args)

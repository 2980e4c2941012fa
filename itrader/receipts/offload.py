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


class _Failed:
    def __init__(self, error: Exception):
        self.error = error


def _captured(fn: Callable[..., T], args: tuple):
    try:
        return fn(*args)
    except Exception as error:  # handed back to the caller; gevent would print it as a crash
        return _Failed(error)


def off_hub(fn: Callable[..., T], *args) -> T:
    """Run fn(*args) in the gevent hub's threadpool and return its result; its exception is
    raised here, in the caller."""
    outcome = gevent.get_hub().threadpool.apply(_captured, (fn, args))
    if isinstance(outcome, _Failed):
        raise outcome.error
    return outcome

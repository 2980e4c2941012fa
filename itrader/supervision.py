"""The rules of OTP-style supervision (DESIGN §3) — pure, no actors, no clocks, no randomness.

actors/supervisor.py runs children by these rules:

* restart types: permanent always, transient after an abnormal end only, temporary never;
* restart intensity: at most `intensity` restarts within a sliding window of `period` seconds,
  one more and the supervisor escalates;
* backoff: exponential with "equal jitter" between a child's consecutive failed runs; a child that
  had been running for a whole period starts counting again;
* a child's states, which of them are live or finished, and where an end leads;
* the status rows an operator sees, with the quiet majority summed up when there are thousands.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any, Sequence


class Restart(str, Enum):
    PERMANENT = "permanent"  # always restarted
    TRANSIENT = "transient"  # restarted only after an abnormal end
    TEMPORARY = "temporary"  # never restarted


class ChildState(str, Enum):
    STARTING = "starting"  # factory called, waiting for the start ping
    RUNNING = "running"
    RESTARTING = "restarting"  # ended, waiting out the backoff before the next start
    STOPPING = "stopping"  # asked to stop, waiting up to its shutdown timeout
    STOPPED = "stopped"  # ended normally or on request (or not started yet)
    FAILED = "failed"  # ended abnormally and will not be restarted
    ABANDONED = "abandoned"  # did not stop within its shutdown timeout


FINISHED_STATES = frozenset({ChildState.STOPPED, ChildState.FAILED, ChildState.ABANDONED})
LIVE_STATES = frozenset({ChildState.STARTING, ChildState.RUNNING})


def should_restart(restart: Restart, normal: bool) -> bool:
    if restart is Restart.PERMANENT:
        return True
    if restart is Restart.TRANSIENT:
        return not normal
    return False


def state_after_end(normal: bool) -> ChildState:
    """Where a child that ended and is not restarted rests."""
    return ChildState.STOPPED if normal else ChildState.FAILED


def backoff_delay(attempt: int, base: float, cap: float, rand: float) -> float:
    """Seconds to wait before restart number `attempt` (1, 2, …) of a child.

    Doubles per attempt up to `cap`; `rand` in [0, 1) takes up to half off
    ("equal jitter"), so children that fail together do not retry in step,
    yet each delay stays at least as long as the one before until the cap.
    """
    exponent = min(max(attempt, 1) - 1, 62)
    ceiling = min(cap, base * 2.0**exponent)
    return ceiling * (0.5 + 0.5 * rand)


def record_restart(times: deque[float], now: float, period: float) -> int:
    """Add a restart at `now` to the sliding window; return how many restarts
    fall within the last `period` seconds, this one included."""
    while times and now - times[0] >= period:
        times.popleft()
    times.append(now)
    return len(times)


@dataclass(frozen=True)
class RestartPolicy:
    """How often and how soon a supervisor restarts its children."""

    intensity: int = 5
    period: float = 10.0
    backoff_base: float = 0.05
    backoff_max: float = 5.0

    def __post_init__(self) -> None:
        if self.intensity < 0 or self.period <= 0 or self.backoff_base <= 0 or self.backoff_max < self.backoff_base:
            raise ValueError("need intensity >= 0, period > 0 and 0 < backoff_base <= backoff_max")

    def failures_in_a_row(self, previous: int, running_since: float | None, now: float) -> int:
        """A child's consecutive failures with this one: the count starts again after a healthy period."""
        if running_since is not None and now - running_since >= self.period:
            previous = 0
        return previous + 1

    def exceeded(self, window: deque[float], now: float) -> bool:
        """Record a restart at `now`; True when that is one more than the intensity allows."""
        return record_restart(window, now, self.period) > self.intensity

    def delay(self, failures_in_a_row: int, rand: float) -> float:
        return backoff_delay(failures_in_a_row, self.backoff_base, self.backoff_max, rand)

    def describe_escalation(self, child_id: str, reason: str) -> str:
        return f"{child_id} needed more than {self.intensity} restarts in {self.period:g}s (last: {reason})"


def child_node(child_id: str, kind: str, state: ChildState, restarts: int, last_failure: str | None,
               subtree: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One child's row in a supervisor's status."""
    return {
        "id": child_id,
        "kind": kind,
        "state": state.value,
        "restarts": restarts,
        "last_failure": last_failure,
        "children": list(subtree),
    }


def is_quiet(state: ChildState, restarts: int, subtree: Sequence[Any]) -> bool:
    """Simply running: nothing an operator needs to look at."""
    return state is ChildState.RUNNING and not restarts and not subtree


def summary_node(quiet_kinds: Sequence[str]) -> dict[str, Any]:
    """The row that stands for the quiet children left out of a long status list."""
    return {"id": f"{len(quiet_kinds)} more running", "kind": ",".join(sorted(set(quiet_kinds))),
            "state": "running", "restarts": 0, "last_failure": None, "children": [],
            "count": len(quiet_kinds)}

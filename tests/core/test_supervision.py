"""The pure rules of supervision (itrader.supervision): restart types, the intensity window, backoff
with jitter, a child's states and the status rows. The supervisor actor that follows them is tested
in tests/actors/test_supervisor.py."""
from __future__ import annotations

from collections import deque

import pytest

from itrader.supervision import (
    FINISHED_STATES, LIVE_STATES, ChildState, Restart, RestartPolicy, backoff_delay, child_node, is_quiet,
    record_restart, should_restart, state_after_end, summary_node,
)


@pytest.mark.parametrize(
    ("restart", "normal", "expected"),
    [
        (Restart.PERMANENT, True, True),
        (Restart.PERMANENT, False, True),
        (Restart.TRANSIENT, True, False),
        (Restart.TRANSIENT, False, True),
        (Restart.TEMPORARY, True, False),
        (Restart.TEMPORARY, False, False),
    ],
)
def test_should_restart(restart, normal, expected):
    assert should_restart(restart, normal) is expected


def test_backoff_doubles_with_jitter_up_to_the_cap():
    for rand in (0.0, 0.37, 0.999):
        delays = [backoff_delay(n, 0.05, 5.0, rand) for n in range(1, 12)]
        assert delays == sorted(delays)  # never shorter than the previous one
        assert all(0.025 <= d <= 5.0 for d in delays)
    assert backoff_delay(1, 0.05, 5.0, 0.999) < backoff_delay(2, 0.05, 5.0, 0.0) + 1e-9
    assert backoff_delay(10_000, 0.05, 5.0, 0.999) <= 5.0  # huge attempt numbers are fine
    assert backoff_delay(3, 0.05, 5.0, 0.0) == pytest.approx(0.1)  # half of 0.2 at most off


def test_restart_window_slides():
    window: deque[float] = deque()
    assert [record_restart(window, t, 10.0) for t in (0.0, 1.0, 2.0)] == [1, 2, 3]
    assert record_restart(window, 10.5, 10.0) == 3  # the restart at 0.0 has left the window
    assert record_restart(window, 30.0, 10.0) == 1


@pytest.mark.parametrize("options", [
    dict(intensity=-1), dict(period=0), dict(backoff_base=0), dict(backoff_base=1.0, backoff_max=0.5),
])
def test_a_restart_policy_refuses_nonsense(options):
    with pytest.raises(ValueError, match="need intensity >= 0"):
        RestartPolicy(**options)


def test_the_policy_escalates_on_one_restart_more_than_the_intensity_within_the_period():
    policy, window = RestartPolicy(intensity=2, period=10.0), deque()
    assert [policy.exceeded(window, t) for t in (0.0, 1.0, 2.0)] == [False, False, True]
    assert not policy.exceeded(deque([0.0, 1.0]), 12.0)  # both earlier restarts left the window
    assert policy.describe_escalation("gate:a", "boom") == "gate:a needed more than 2 restarts in 10s (last: boom)"


def test_failures_in_a_row_start_again_after_a_healthy_period():
    policy = RestartPolicy(period=10.0)
    assert policy.failures_in_a_row(0, None, 5.0) == 1  # never ran
    assert policy.failures_in_a_row(3, running_since=100.0, now=105.0) == 4  # failed again soon
    assert policy.failures_in_a_row(3, running_since=100.0, now=110.0) == 1  # had been healthy a period
    assert policy.delay(1, 0.0) == pytest.approx(policy.backoff_base / 2)
    assert policy.delay(99, 0.999) <= policy.backoff_max


def test_child_states():
    assert state_after_end(normal=True) is ChildState.STOPPED
    assert state_after_end(normal=False) is ChildState.FAILED
    assert LIVE_STATES == {ChildState.STARTING, ChildState.RUNNING}
    assert FINISHED_STATES.isdisjoint(LIVE_STATES)
    assert ChildState.RESTARTING not in FINISHED_STATES | LIVE_STATES  # waiting out its backoff


def test_status_rows():
    row = child_node("deal:1", "Deal", ChildState.FAILED, 2, "boom", ())
    assert row == {"id": "deal:1", "kind": "Deal", "state": "failed", "restarts": 2, "last_failure": "boom",
                   "children": []}
    assert is_quiet(ChildState.RUNNING, 0, [])
    assert not is_quiet(ChildState.RUNNING, 1, [])  # restarted: worth a look
    assert not is_quiet(ChildState.RUNNING, 0, [row])  # a sub-supervisor shows its children
    assert not is_quiet(ChildState.RESTARTING, 0, [])
    assert summary_node(["Deal", "Deal", "Bybit"]) == {
        "id": "3 more running", "kind": "Bybit,Deal", "state": "running", "restarts": 0, "last_failure": None,
        "children": [], "count": 3}

"""The Erlang/OTP supervisor test matrix, ported to real pykka actors on gevent.

Children are real `SupervisedActor`s that write their life into a journal;
tests wait for outcomes (states in `status()`, journal entries, log lines)
with a deadline and never assert on timings.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import pykka
import pytest
from prometheus_client import REGISTRY

from actors.supervisor import (
    ChildContext,
    ChildSpec,
    Restart,
    SupervisedActor,
    Supervisor,
    supervisor_spec,
)

# Tiny backoff so restarts are quick; roomy intensity unless a test is about it.
FAST: dict[str, Any] = {"backoff_base": 0.002, "backoff_max": 0.01, "period": 5.0, "intensity": 20}


class Worker(SupervisedActor):
    """A test child: journals its start and stop, and obeys told commands."""

    def __init__(
        self,
        name: str,
        journal: list[str],
        fail_on_start: bool = False,
        start_gate: gevent.event.Event | None = None,
        context: ChildContext | None = None,
    ) -> None:
        super().__init__(context)
        self.name = name
        self.journal = journal
        self.fail_on_start = fail_on_start
        self.start_gate = start_gate
        self.handled = 0

    def on_start(self) -> None:
        self.journal.append(f"{self.name}:starting")
        if self.start_gate is not None:
            self.start_gate.wait()
        gevent.sleep(0.005)  # yield: a sibling started too early would show up in between
        if self.fail_on_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.journal.append(f"{self.name}:started")

    def on_stop(self) -> None:
        self.journal.append(f"{self.name}:stopped")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError(f"crash requested in {self.name}")
        if message == "finish":
            self.stop()
        elif message == "give up":
            self.stop_with_failure("gave up on purpose")
        elif message == "count":
            self.handled += 1
        elif isinstance(message, tuple) and message[0] == "hold":
            message[1].wait()  # busy until the test opens the gate: ignores stop meanwhile
        elif isinstance(message, tuple) and message[0] == "crash with":
            raise RuntimeError(message[1])
        else:
            return super().on_receive(message)
        return None

    def handled_count(self) -> int:
        return self.handled


class PlainWorker(pykka.ThreadingActor):
    """A child that is not a SupervisedActor: it never reports its end."""

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("plain crash")
        return None


def worker(
    child_id: str, journal: list[str], restart: Restart = Restart.PERMANENT, **options: Any
) -> ChildSpec:
    timeouts = {k: options.pop(k) for k in ("start_timeout", "shutdown_timeout") if k in options}
    return ChildSpec(
        id=child_id,
        kind="Worker",
        factory=lambda: Worker.start(child_id, journal, **options),
        restart=restart,
        **timeouts,
    )


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        gevent.sleep(0.005)


def status(sup: pykka.ActorRef[Any]) -> dict[str, Any]:
    return sup.proxy().status().get(timeout=1)


def node(sup: pykka.ActorRef[Any], child_id: str) -> dict[str, Any]:
    return next(c for c in status(sup)["children"] if c["id"] == child_id)


def live_ref(sup: pykka.ActorRef[Any], child_id: str) -> pykka.ActorRef[Any] | None:
    info = next(c for c in sup.proxy().which_children().get(timeout=1) if c.id == child_id)
    return info.ref


def wait_running(sup: pykka.ActorRef[Any], child_id: str, restarts: int = 0) -> pykka.ActorRef[Any]:
    def running() -> bool:
        n = node(sup, child_id)
        return n["state"] == "running" and n["restarts"] == restarts

    wait_until(running, f"{child_id} running after {restarts} restarts")
    ref = live_ref(sup, child_id)
    assert ref is not None
    return ref


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "itrader.supervisor"]


@pytest.fixture(autouse=True)
def supervisor_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="itrader.supervisor")


# --- start and stop order ----------------------------------------------------------


def test_children_start_in_order_each_after_the_previous_answered(journal):
    specs = [worker(name, journal) for name in ("a", "b", "c")]
    sup = Supervisor.start(children=specs, name="Ordered", kind="Ordered")

    wait_until(lambda: status(sup)["state"] == "running", "supervisor running")
    assert journal == [
        "a:starting", "a:started", "b:starting", "b:started", "c:starting", "c:started",
    ]
    assert [n["state"] for n in status(sup)["children"]] == ["running"] * 3


def test_next_sibling_of_a_sub_supervisor_waits_until_its_children_started(journal):
    accounts = supervisor_spec("Accounts", [worker("acc1", journal), worker("acc2", journal)])
    root = Supervisor.start(children=[accounts, worker("deals", journal)], name="Root")

    wait_running(root, "deals")
    assert journal.index("acc2:started") < journal.index("deals:starting")


def test_supervisor_answers_and_stops_while_a_child_hangs_in_on_start(journal, gates):
    gate = gates()
    spec = worker("hung", journal, start_gate=gate, start_timeout=30, shutdown_timeout=0.1)
    sup = Supervisor.start(children=[spec, worker("later", journal)], name="Hung", **FAST)
    wait_until(lambda: "hung:starting" in journal, "hung child starting")

    tree = status(sup)

    assert tree["state"] == "starting"
    assert [(n["id"], n["state"]) for n in tree["children"]] == [
        ("hung", "starting"), ("later", "stopped"),
    ]
    assert sup.stop(timeout=5) is True
    assert "later:starting" not in journal


def test_stop_goes_in_reverse_order_and_is_logged(journal, caplog):
    specs = [worker(name, journal) for name in ("a", "b", "c")]
    sup = Supervisor.start(children=specs, name="Ordered", kind="Ordered")
    wait_until(lambda: status(sup)["state"] == "running", "supervisor running")

    assert sup.stop(timeout=5) is True

    assert [e for e in journal if e.endswith(":stopped")] == ["c:stopped", "b:stopped", "a:stopped"]
    stopping = [line for line in log_lines(caplog) if line.startswith("stopping Ordered/")]
    assert stopping == ["stopping Ordered/c", "stopping Ordered/b", "stopping Ordered/a"]


# --- restart type x normal / abnormal exit -----------------------------------------

MATRIX = [
    (Restart.PERMANENT, "finish", True),
    (Restart.PERMANENT, "crash", True),
    (Restart.PERMANENT, "give up", True),
    (Restart.TRANSIENT, "finish", False),
    (Restart.TRANSIENT, "crash", True),
    (Restart.TRANSIENT, "give up", True),
    (Restart.TEMPORARY, "finish", False),
    (Restart.TEMPORARY, "crash", False),
    (Restart.TEMPORARY, "give up", False),
]


@pytest.mark.parametrize(("restart", "exit_by", "restarted"), MATRIX)
def test_restart_type_decides_what_follows_an_exit(journal, restart, exit_by, restarted):
    sup = Supervisor.start(children=[worker("w", journal, restart)], name="Matrix", **FAST)
    first = wait_running(sup, "w")
    abnormal = exit_by != "finish"

    first.tell(exit_by)

    if restarted:
        second = wait_running(sup, "w", restarts=1)
        assert second.actor_urn != first.actor_urn
        assert journal.count("w:started") == 2
    else:
        final = "failed" if abnormal else "stopped"
        wait_until(lambda: node(sup, "w")["state"] == final, f"w {final}")
        assert node(sup, "w")["restarts"] == 0
        assert live_ref(sup, "w") is None
        assert journal.count("w:starting") == 1
    last_failure = node(sup, "w")["last_failure"]
    if exit_by == "crash":
        assert "crash requested in w" in last_failure
    elif exit_by == "give up":
        assert last_failure == "gave up on purpose"
    else:
        assert last_failure is None


def test_temporary_child_that_fails_to_start_is_not_retried(journal):
    spec = worker("t", journal, Restart.TEMPORARY, fail_on_start=True)
    sup = Supervisor.start(children=[spec, worker("after", journal)], name="Temp", **FAST)

    wait_running(sup, "after")
    assert node(sup, "t")["state"] == "failed"
    assert node(sup, "t")["restarts"] == 0
    assert journal.count("t:starting") == 1
    assert "t cannot start" in node(sup, "t")["last_failure"]


# --- one_for_one ---------------------------------------------------------------------


def test_one_for_one_restarts_only_the_failed_child(journal):
    specs = [worker(name, journal) for name in ("a", "b", "c")]
    sup = Supervisor.start(children=specs, name="Isolated", **FAST)
    a, b, c = (wait_running(sup, name) for name in ("a", "b", "c"))
    for sibling in (a, c):
        for _ in range(3):
            sibling.tell("count")

    b.tell("crash")

    new_b = wait_running(sup, "b", restarts=1)
    assert new_b.actor_urn != b.actor_urn
    assert live_ref(sup, "a").actor_urn == a.actor_urn
    assert live_ref(sup, "c").actor_urn == c.actor_urn
    assert a.proxy().handled_count().get(timeout=1) == 3  # the siblings kept their state
    assert c.proxy().handled_count().get(timeout=1) == 3
    assert [node(sup, n)["restarts"] for n in ("a", "b", "c")] == [0, 1, 0]
    assert "a:stopped" not in journal and "c:stopped" not in journal


# --- intensity and escalation --------------------------------------------------------


def crash_and_wait_restart(sup: pykka.ActorRef[Any], child_id: str, restarts: int) -> None:
    live_ref(sup, child_id).tell("crash")
    wait_running(sup, child_id, restarts=restarts)


def test_root_escalates_when_intensity_is_exceeded(journal, caplog):
    escalations: list[str] = []
    specs = [worker("sibling", journal), worker("w", journal)]
    options = {**FAST, "intensity": 2, "period": 30.0}
    sup = Supervisor.start(children=specs, name="Root", on_escalate=escalations.append, **options)
    wait_running(sup, "w")
    crash_and_wait_restart(sup, "w", 1)
    crash_and_wait_restart(sup, "w", 2)

    live_ref(sup, "w").tell("crash")

    wait_until(lambda: escalations, "escalation callback")
    assert "w needed more than 2 restarts" in escalations[0]
    wait_until(lambda: not sup.is_alive(), "root supervisor stopped")
    assert "sibling:stopped" in journal  # children are stopped before the callback
    assert any("escalating" in line for line in log_lines(caplog))


def test_restarts_spaced_under_the_limit_keep_the_supervisor_alive(journal):
    escalations: list[str] = []
    options = {**FAST, "intensity": 1, "period": 0.1}
    sup = Supervisor.start(
        children=[worker("w", journal)], name="Spaced", on_escalate=escalations.append, **options
    )
    wait_running(sup, "w")

    for restarts in range(1, 5):
        gevent.sleep(0.15)  # longer than the period: the previous restart has left the window
        crash_and_wait_restart(sup, "w", restarts)

    assert escalations == []
    assert status(sup)["state"] == "running"
    assert node(sup, "w")["restarts"] == 4


def test_sub_supervisor_escalates_to_its_parent_which_restarts_it(journal):
    escalations: list[str] = []
    accounts = supervisor_spec(
        "Accounts",
        [worker("acc1", journal), worker("acc2", journal)],
        **{**FAST, "intensity": 1, "period": 30.0},
    )
    root = Supervisor.start(
        children=[worker("gate", journal), accounts],
        name="Root",
        on_escalate=escalations.append,
        **FAST,
    )
    wait_running(root, "Accounts")
    sub = live_ref(root, "Accounts")
    wait_running(sub, "acc1")
    crash_and_wait_restart(sub, "acc1", 1)

    live_ref(sub, "acc1").tell("crash")  # a second restart within the period: too many

    wait_running(root, "Accounts", restarts=1)
    accounts_node = node(root, "Accounts")
    assert "escalated: acc1 needed more than 1 restarts" in accounts_node["last_failure"]
    new_sub = live_ref(root, "Accounts")
    assert new_sub.actor_urn != sub.actor_urn
    wait_running(new_sub, "acc1")
    assert journal.count("acc2:started") == 2  # the whole subtree started afresh
    assert node(root, "gate")["restarts"] == 0  # the parent's other child is untouched
    assert escalations == []


def test_escalation_climbs_to_the_root_callback(journal):
    escalations: list[str] = []
    accounts = supervisor_spec("Accounts", [worker("acc1", journal)], **{**FAST, "intensity": 0})
    root = Supervisor.start(
        children=[worker("gate", journal), accounts],
        name="Root",
        on_escalate=escalations.append,
        **{**FAST, "intensity": 0},
    )
    sub = wait_running(root, "Accounts")
    wait_running(sub, "acc1")

    live_ref(sub, "acc1").tell("crash")

    wait_until(lambda: escalations, "root escalation")
    assert "Accounts needed more than 0 restarts" in escalations[0]
    assert "acc1" in escalations[0]
    wait_until(lambda: not root.is_alive(), "root stopped")
    assert "gate:stopped" in journal and "acc1:stopped" not in journal  # acc1 had crashed


# --- shutdown timeouts ----------------------------------------------------------------


def test_child_ignoring_stop_is_abandoned_and_shutdown_completes(journal, gates, caplog):
    gate = gates()
    specs = [
        worker("a", journal),
        worker("stuck", journal, shutdown_timeout=0.1),
        worker("c", journal),
    ]
    sup = Supervisor.start(children=specs, name="Shutdown", **FAST)
    stuck = wait_running(sup, "stuck")
    wait_running(sup, "c")
    stuck.tell(("hold", gate))

    assert sup.stop(timeout=5) is True

    assert [e for e in journal if e.endswith(":stopped")] == ["c:stopped", "a:stopped"]
    lines = log_lines(caplog)
    assert "abandoned Shutdown/stuck: it did not stop within 0.1s" in lines
    assert lines.index("stopping Shutdown/stuck") < lines.index("stopping Shutdown/a")
    gate.set()
    wait_until(lambda: "stuck:stopped" in journal, "the abandoned child to finish at last")


def test_terminate_child_that_ignores_stop_marks_it_abandoned(journal, gates):
    gate = gates()
    sup = Supervisor.start(
        children=[worker("stuck", journal, shutdown_timeout=0.1)], name="Term", **FAST
    )
    wait_running(sup, "stuck").tell(("hold", gate))

    sup.proxy().terminate_child("stuck").get(timeout=1)

    wait_until(lambda: node(sup, "stuck")["state"] == "abandoned", "stuck abandoned")
    assert node(sup, "stuck")["restarts"] == 0


# --- failing starts -------------------------------------------------------------------


def test_child_failing_in_on_start_is_retried_with_backoff_while_supervisor_answers(
    journal, caplog
):
    attempts: list[int] = []

    def flaky_factory() -> pykka.ActorRef[Any]:
        attempts.append(1)
        return Worker.start("flaky", journal, fail_on_start=True)

    specs = [ChildSpec(id="flaky", kind="Worker", factory=flaky_factory), worker("ok", journal)]
    options = {**FAST, "intensity": 10_000, "backoff_max": 0.02}
    sup = Supervisor.start(children=specs, name="Flaky", **options)

    wait_until(lambda: len(attempts) >= 6, "several start attempts")
    wait_running(sup, "ok")  # the next sibling started although flaky never did
    flaky = node(sup, "flaky")
    assert flaky["state"] in ("restarting", "starting")
    assert flaky["restarts"] >= 5
    assert "flaky cannot start" in flaky["last_failure"]
    assert any(line.startswith("restarting Flaky/flaky in ") for line in log_lines(caplog))

    assert sup.stop(timeout=5) is True
    tried = len(attempts)
    gevent.sleep(0.1)  # several backoff periods: a leftover timer would start it again
    assert len(attempts) == tried
    assert "ok:stopped" in journal


def test_child_too_slow_to_start_is_replaced_after_its_start_timeout(journal, gates):
    gate = gates()
    spec = worker("slow", journal, start_gate=gate, start_timeout=0.05, shutdown_timeout=0.05)
    sup = Supervisor.start(children=[spec, worker("next", journal)], name="Slow", **FAST)

    wait_until(lambda: node(sup, "slow")["restarts"] >= 1, "slow child restarted")
    assert "did not finish starting within 0.05s" in node(sup, "slow")["last_failure"]
    wait_running(sup, "next")
    assert status(sup)["state"] == "running"


def test_factory_that_raises_is_retried(journal):
    calls: list[int] = []

    def factory() -> pykka.ActorRef[Any]:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("exchange unreachable")
        return Worker.start("w", journal)

    sup = Supervisor.start(children=[ChildSpec("w", "Worker", factory)], name="Factory", **FAST)

    wait_running(sup, "w", restarts=2)
    assert "factory failed: ConnectionError: exchange unreachable" in node(sup, "w")["last_failure"]


# --- stopped from outside -------------------------------------------------------------


def test_child_stopped_from_outside_is_not_restarted(journal):
    sup = Supervisor.start(children=[worker("w", journal)], name="Outside", **FAST)

    wait_running(sup, "w").stop(timeout=5)

    wait_until(lambda: node(sup, "w")["state"] == "stopped", "w stopped")
    assert node(sup, "w")["restarts"] == 0
    assert journal.count("w:starting") == 1


def test_registry_stop_all_leaves_no_actor_behind_and_does_not_escalate(journal):
    escalations: list[str] = []
    accounts = supervisor_spec(
        "Accounts", [worker("acc1", journal), worker("acc2", journal)], **FAST
    )
    root = Supervisor.start(
        children=[worker("gate", journal), accounts],
        name="Root",
        on_escalate=escalations.append,
        **{**FAST, "intensity": 0},
    )
    wait_running(wait_running(root, "Accounts"), "acc2")

    pykka.ActorRegistry.stop_all(block=True, timeout=5)  # youngest first: children before parents

    gevent.sleep(0.05)  # several backoff periods: a restart would have happened by now
    assert pykka.ActorRegistry.get_all() == []
    assert escalations == []
    assert sorted(e for e in journal if e.endswith(":stopped")) == [
        "acc1:stopped", "acc2:stopped", "gate:stopped",
    ]


# --- children that are plain pykka actors ---------------------------------------------


def test_plain_pykka_actor_that_dies_is_noticed_and_restarted():
    sup = Supervisor.start(
        children=[ChildSpec(id="plain", kind="Plain", factory=PlainWorker.start)],
        name="PlainSup",
        **FAST,
    )
    first = wait_running(sup, "plain")

    first.tell("crash")

    second = wait_running(sup, "plain", restarts=1)
    assert second.actor_urn != first.actor_urn


# --- dynamic children (start_child, terminate_child, restart_child, ...) --------------


def test_children_can_be_added_terminated_restarted_and_deleted(journal):
    sup = Supervisor.start(children=[], name="Dynamic", **FAST)
    proxy = sup.proxy()

    proxy.start_child(worker("x", journal, Restart.TRANSIENT)).get(timeout=1)
    wait_running(sup, "x")
    with pytest.raises(ValueError, match="already running"):
        proxy.start_child(worker("x", journal)).get(timeout=1)

    proxy.terminate_child("x").get(timeout=1)
    wait_until(lambda: node(sup, "x")["state"] == "stopped", "x stopped")
    assert journal.count("x:stopped") == 1
    assert node(sup, "x")["restarts"] == 0

    proxy.restart_child("x").get(timeout=1)
    wait_running(sup, "x")
    first = live_ref(sup, "x")
    proxy.restart_child("x").get(timeout=1)  # a live child is stopped and started again
    wait_until(lambda: (live_ref(sup, "x") or first).actor_urn != first.actor_urn, "new x")
    assert journal.count("x:started") == 3

    infos = proxy.which_children().get(timeout=1)
    assert [(i.id, i.kind) for i in infos] == [("x", "Worker")]
    with pytest.raises(ValueError, match="terminate it first"):
        proxy.delete_child("x").get(timeout=1)
    proxy.terminate_child("x").get(timeout=1)
    wait_until(lambda: node(sup, "x")["state"] == "stopped", "x stopped again")
    proxy.delete_child("x").get(timeout=1)
    assert status(sup)["children"] == []
    with pytest.raises(KeyError):
        proxy.terminate_child("nobody").get(timeout=1)


def test_finished_children_are_forgotten_when_asked(journal):
    sup = Supervisor.start(children=[], name="Deals", forget_finished=True, **FAST)
    sup.proxy().start_child(worker("deal-1", journal, Restart.TRANSIENT)).get(timeout=1)
    wait_running(sup, "deal-1").tell("finish")

    wait_until(lambda: status(sup)["children"] == [], "finished deal forgotten")


def test_child_given_its_context_by_the_factory(journal):
    contexts: list[ChildContext] = []

    def factory(context: ChildContext) -> pykka.ActorRef[Any]:
        contexts.append(context)
        return Worker.start("w", journal, context=context)

    sup = Supervisor.start(children=[ChildSpec("w", "Worker", factory)], name="Ctx", **FAST)
    first = wait_running(sup, "w")
    assert (contexts[0].id, contexts[0].kind) == ("w", "Worker")

    first.tell("crash")

    wait_running(sup, "w", restarts=1)


# --- status, failure text, metrics --------------------------------------------------


def test_status_nests_sub_supervisors(journal):
    accounts = supervisor_spec("Accounts", [worker("bybit:acc1", journal)], **FAST)
    root = Supervisor.start(
        children=[worker("gate:1", journal), accounts], name="Root", kind="Root", **FAST
    )
    wait_running(root, "Accounts")

    def tree_complete() -> dict[str, Any] | None:
        tree = status(root)
        subtree = tree["children"][1]["children"]
        return tree if subtree and subtree[0]["state"] == "running" else None

    tree = wait_until(tree_complete, "the nested status to arrive")
    keys = {"id", "kind", "state", "restarts", "last_failure", "children"}
    assert set(tree) == keys
    assert (tree["id"], tree["kind"], tree["state"]) == ("Root", "Root", "running")
    gate_node, accounts_node = tree["children"]
    assert set(gate_node) == keys and gate_node["children"] == []
    assert (accounts_node["id"], accounts_node["kind"]) == ("Accounts", "Accounts")
    assert accounts_node["children"] == [
        {
            "id": "bybit:acc1",
            "kind": "Worker",
            "state": "running",
            "restarts": 0,
            "last_failure": None,
            "children": [],
        }
    ]


def test_last_failure_hides_secret_looking_text(journal):
    sup = Supervisor.start(children=[worker("w", journal)], name="Secrets", **FAST)
    secret = "sk_live_4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
    wait_running(sup, "w").tell(("crash with", f"bad signature for key {secret}"))

    wait_running(sup, "w", restarts=1)
    last_failure = node(sup, "w")["last_failure"]
    assert secret not in last_failure
    assert last_failure == "RuntimeError: bad signature for key [redacted]"


def test_restarts_and_live_actors_are_exported_to_prometheus(journal):
    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"kind": "MetricsProbe"}) or 0.0

    restarts_before = sample("itrader_actor_restarts_total")
    alive_before = sample("itrader_actors_alive")
    spec = ChildSpec(
        id="probe", kind="MetricsProbe", factory=lambda: Worker.start("probe", journal)
    )
    sup = Supervisor.start(children=[spec], name="Metrics", **FAST)
    wait_running(sup, "probe")
    assert sample("itrader_actors_alive") == alive_before + 1

    crash_and_wait_restart(sup, "probe", 1)
    crash_and_wait_restart(sup, "probe", 2)
    assert sample("itrader_actor_restarts_total") == restarts_before + 2

    sup.stop(timeout=5)
    assert sample("itrader_actors_alive") == alive_before


# --- the pure decisions ---------------------------------------------------------------


# The pure rules (should_restart, backoff, the restart window) are tested in tests/core/test_supervision.py.


def test_child_spec_validates_its_fields():
    with pytest.raises(ValueError):
        ChildSpec(id="", kind="Worker", factory=Worker.start)
    with pytest.raises(ValueError):
        ChildSpec(id="w", kind="Worker", factory=Worker.start, shutdown_timeout=0)
    assert ChildSpec(id="w", kind="W", factory=Worker.start, restart="transient").restart is (
        Restart.TRANSIENT
    )


def test_a_large_supervisor_lists_its_troubled_children_and_sums_up_the_rest() -> None:
    class Quiet(SupervisedActor):
        pass

    specs = [ChildSpec(id=f"c{i}", kind="Quiet", factory=Quiet.start) for i in range(30)]
    sup = Supervisor.start(children=specs, name="big", kind="Big", list_children_up_to=10)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = sup.proxy().status().get(timeout=2)
            if status["children"] and status["children"][-1].get("count") == 30:
                break
            time.sleep(0.02)
        assert status["children"] == [{"id": "30 more running", "kind": "Quiet", "state": "running", "restarts": 0,
                                       "last_failure": None, "children": [], "count": 30}]
        sup.proxy().terminate_child("c7").get(timeout=2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = sup.proxy().status().get(timeout=2)
            if any(node["id"] == "c7" and node["state"] == "stopped" for node in status["children"]):
                break
            time.sleep(0.02)
        ids = [node["id"] for node in status["children"]]
        assert ids == ["c7", "29 more running"]
        assert status["children"][0]["state"] == "stopped"
    finally:
        sup.stop(timeout=10)


def test_peers_that_stop_together_finish_in_the_time_of_the_slowest(journal, gates):
    # Each peer is busy until its gate opens; stopping one after another would wait for every busy
    # peer in turn (and abandon the ones behind the first after its timeout had run out for them).
    held = [gates() for _ in range(3)]
    specs = [worker(f"deal:{n}", journal, shutdown_timeout=5.0) for n in range(3)]
    sup = Supervisor.start(children=specs, name="Deals", stop_together=True, **FAST)
    refs = [wait_running(sup, f"deal:{n}") for n in range(3)]
    for ref, gate in zip(refs, held):
        ref.tell(("hold", gate))
    stopping = gevent.spawn(sup.stop, timeout=10)
    # every peer has been asked to stop while all of them are still busy: the stops were not queued
    wait_until(lambda: all(not ref.actor_inbox.empty() for ref in refs), "every peer to be asked to stop")
    assert [e for e in journal if e.endswith(":stopped")] == []
    for gate in reversed(held):
        gate.set()
    assert stopping.get(timeout=10) is True
    assert sorted(e for e in journal if e.endswith(":stopped")) == [f"deal:{n}:stopped" for n in range(3)]


def test_root_publishes_its_tree_to_on_status(journal):
    published: list[dict[str, Any]] = []
    accounts = supervisor_spec("Accounts", [worker("bybit:acc1", journal)], **FAST)
    root = Supervisor.start(children=[worker("gate:1", journal), accounts], name="Root", kind="Root",
                            on_status=published.append, **FAST)

    def nested_running() -> bool:
        tree = published[-1] if published else None
        return bool(tree and tree["state"] == "running" and tree["children"][1]["children"]
                    and tree["children"][1]["children"][0]["state"] == "running")

    wait_until(nested_running, "the root to publish the nested tree")
    assert published[-1] == status(root)
    wait_running(root, "gate:1").tell("crash")
    wait_until(lambda: published[-1]["children"][0]["restarts"] == 1, "the restart to be published")
    root.stop(timeout=5)
    assert published[-1]["state"] == "stopped"

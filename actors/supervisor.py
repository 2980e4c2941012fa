"""OTP-style supervision for pykka actors running on gevent (DESIGN §3).

A `Supervisor` is an actor that owns an ordered list of children, each
described by a `ChildSpec`:

* start: children start in list order; after each start the supervisor pings
  the child (an ask answered once `on_start` is done) and starts the next one
  only when the ping is answered, failed or timed out. The ping is awaited by a
  helper greenlet that reports back by `tell`, so the supervisor's mailbox
  stays free: it answers `status()` and can be stopped while a child is slow
  or keeps failing to start.
* strategy one_for_one: only the child that ended is restarted, per its
  restart type — permanent always, transient after an abnormal end only,
  temporary never. A child that fails to start counts as an abnormal end.
* restarts wait an exponential backoff with jitter (`backoff_delay`), and at
  most `intensity` restarts may happen within `period` seconds. One more and
  the supervisor escalates: it stops all its children and then ends
  abnormally itself — its own supervisor sees a failed child, and a root
  supervisor calls `on_escalate(reason)` (the daemon exits non-zero there).
* stop: children stop in reverse order, each given its `shutdown_timeout`;
  a child that does not stop in time is abandoned and the shutdown goes on.
  A supervisor of peers (`stop_together`: deals, accounts) asks all of them
  to stop at once and then waits for each: thousands of children stop in
  about the time of the slowest, not the sum of all.

pykka has no links: a `SupervisedActor` (actors/base.py) tells its supervisor
when it is gone, and whether it ended normally, failed, or was stopped from
outside (`ref.stop()` by someone else, e.g. `ActorRegistry.stop_all()`, which
stops the youngest actors first) — the last is never restarted. A plain pykka
actor can be supervised too; a watcher greenlet notices its end but cannot
tell why, so every end of a plain actor counts as abnormal.

Sub-supervisors nest: a supervisor that is itself a child sends its subtree
(debounced) to its parent, so the root's `status()` shows the whole tree
without any actor asking another. The root hands the same tree, debounced, to
`on_status`: the web answers from that snapshot instead of asking the root.

The rules themselves (restart types, intensity window, backoff, child states,
status rows) are pure functions in itrader.supervision; this module runs them.
"""
from __future__ import annotations

import inspect
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import gevent
import pykka
from pykka.messages import ProxyCall, ProxyGetAttr

from actors.base import (
    CONTEXT_FOR_NEW_ACTORS,
    ChildContext,
    ChildExited,
    SupervisedActor,
    describe_failure,
    tell_quietly,
)
from itrader.metrics import ACTOR_RESTARTS, ACTORS_ALIVE
# The rules (restart types, intensity window, backoff, child states, status rows) are pure and live in
# itrader.supervision; re-exported here, where the actors have always imported them from.
from itrader.supervision import (  # noqa: F401
    FINISHED_STATES, LIVE_STATES, ChildState, Restart, RestartPolicy, backoff_delay, child_node, is_quiet,
    record_restart, should_restart, state_after_end, summary_node,
)

__all__ = [
    "ChildContext", "ChildInfo", "ChildSpec", "ChildState", "Restart", "SupervisedActor", "Supervisor",
    "backoff_delay", "record_restart", "should_restart", "supervisor_spec",
]

log = logging.getLogger("itrader.supervisor")

# Sub-supervisors batch status changes for this long before telling the parent.
STATUS_PUBLISH_DELAY = 0.05


@dataclass(frozen=True)
class ChildSpec:
    """How to run one child.

    `factory` returns a started `ActorRef`; it is called with no argument, or
    with a `ChildContext` if it takes one positional argument.
    """

    id: str
    kind: str
    factory: Callable[..., pykka.ActorRef[Any]]
    restart: Restart = Restart.PERMANENT
    start_timeout: float = 5.0
    shutdown_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("child spec needs a non-empty id")
        if not callable(self.factory):
            raise ValueError(f"child {self.id!r}: factory must be callable")
        if self.start_timeout <= 0 or self.shutdown_timeout <= 0:
            raise ValueError(f"child {self.id!r}: timeouts must be positive")
        object.__setattr__(self, "restart", Restart(self.restart))


@dataclass(frozen=True)
class ChildInfo:
    """One row of `Supervisor.which_children()`."""

    id: str
    kind: str
    state: str
    restarts: int
    ref: pykka.ActorRef[Any] | None


def supervisor_spec(
    id: str,
    children: Iterable[ChildSpec],
    *,
    kind: str | None = None,
    restart: Restart = Restart.PERMANENT,
    shutdown_timeout: float | None = None,
    **supervisor_options: Any,
) -> ChildSpec:
    """A child spec that runs a nested `Supervisor` named `id`.

    It is ready once its initial children have started, so its start timeout
    is the sum of theirs plus a second; likewise its shutdown timeout defaults
    to the sum of its children's plus a second, so the parent does not abandon
    it while it stops them one by one.
    """
    children = list(children)
    if shutdown_timeout is None:
        shutdown_timeout = sum(spec.shutdown_timeout for spec in children) + 1.0

    start_timeout = sum(spec.start_timeout for spec in children) + 1.0

    def start_supervisor(context: ChildContext) -> pykka.ActorRef[Any]:
        return Supervisor.start(
            children=children, name=id, kind=kind or id, parent=context, **supervisor_options
        )

    return ChildSpec(
        id=id,
        kind=kind or id,
        factory=start_supervisor,
        restart=restart,
        start_timeout=start_timeout,
        shutdown_timeout=shutdown_timeout,
    )


# --- messages the supervisor tells itself ------------------------------------


@dataclass(frozen=True)
class _StartResult:
    urn: str
    error: str | None


@dataclass(frozen=True)
class _RestartDue:
    child_id: str
    token: int


@dataclass(frozen=True)
class _StopFinished:
    urn: str
    abandoned: bool


@dataclass(frozen=True)
class _PlainChildDown:
    urn: str


@dataclass(frozen=True)
class _SubtreeStatus:
    urn: str
    children: list[dict[str, Any]]


@dataclass(frozen=True)
class _PublishStatus:
    pass


# --- helper greenlets (they only wait, then tell) ----------------------------


def _await_start(ping: pykka.Future[Any], urn: str, timeout: float, supervisor: pykka.ActorRef[Any]) -> None:
    deadline = time.monotonic() + timeout
    error: str | None = None
    try:
        answer = ping.get(timeout=timeout)
        if isinstance(answer, pykka.Future):  # SupervisedActor.readiness(): ready later
            answer.get(timeout=max(0.0, deadline - time.monotonic()))
    except pykka.Timeout:
        error = f"did not finish starting within {timeout:g}s"
    except pykka.ActorDeadError:
        error = "died while starting"
    except Exception as exc:  # the ping itself failed inside the child
        error = describe_failure(exc)
    tell_quietly(supervisor, _StartResult(urn=urn, error=error))


def _stop_child(ref: pykka.ActorRef[Any], timeout: float, supervisor: pykka.ActorRef[Any]) -> bool:
    """Stop `ref` and wait up to `timeout`; return True if it had to be abandoned."""
    try:
        ref.stop(block=True, timeout=timeout)
        abandoned = False
    except pykka.Timeout:
        abandoned = True
    tell_quietly(supervisor, _StopFinished(urn=ref.actor_urn, abandoned=abandoned))
    return abandoned


def _watch_plain_actor(ref: pykka.ActorRef[Any], supervisor: pykka.ActorRef[Any]) -> None:
    ref.actor_stopped.wait()
    tell_quietly(supervisor, _PlainChildDown(urn=ref.actor_urn))


def _takes_context(factory: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in positional and p.default is p.empty for p in parameters)


def _start_ping(ref: pykka.ActorRef[Any]) -> Any:
    """The ask answered once the child has started: a SupervisedActor's readiness (which may come
    later than on_start), or any attribute of a plain actor (answered after its on_start)."""
    if issubclass(ref.actor_class, SupervisedActor):
        return ProxyCall(attr_path=("readiness",), args=(), kwargs={})
    return ProxyGetAttr(attr_path=("actor_urn",))


def _kill(greenlet: gevent.Greenlet | None) -> None:
    if greenlet is not None and not greenlet.dead:
        greenlet.kill(block=False)


def _stoppable(child: "_Child") -> bool:
    return child.state in LIVE_STATES and child.ref is not None and child.ref.is_alive()


def _hand_over(on_status: Callable[[dict[str, Any]], None], tree: dict[str, Any], name: str) -> None:
    try:
        on_status(tree)
    except Exception:  # noqa: BLE001 — a reader's problem must not take the root down
        log.exception("on_status of %s failed", name)


@dataclass
class _Child:
    """The supervisor's record of one child across its restarts."""

    spec: ChildSpec
    state: ChildState = ChildState.STOPPED
    ref: pykka.ActorRef[Any] | None = None
    restarts: int = 0
    last_failure: str | None = None
    consecutive_failures: int = 0
    running_since: float | None = None
    restart_token: int = 0
    restart_timer: gevent.Greenlet | None = None
    stopper: gevent.Greenlet | None = None
    watcher: gevent.Greenlet | None = None
    restart_after_stop: bool = False
    subtree: list[dict[str, Any]] = field(default_factory=list)

    @property
    def urn(self) -> str | None:
        return self.ref.actor_urn if self.ref is not None else None

    @property
    def quiet(self) -> bool:
        return is_quiet(self.state, self.restarts, self.subtree)

    def info(self) -> ChildInfo:
        live_ref = self.ref if self.state in LIVE_STATES else None
        return ChildInfo(id=self.spec.id, kind=self.spec.kind, state=self.state.value, restarts=self.restarts,
                         ref=live_ref)

    def node(self) -> dict[str, Any]:
        return child_node(self.spec.id, self.spec.kind, self.state, self.restarts, self.last_failure, self.subtree)


class Supervisor(SupervisedActor):
    """Runs children by their specs; see the module docstring.

    Public (proxy) methods: `status`, `which_children`, `start_child`,
    `terminate_child`, `restart_child`, `delete_child`.
    """

    def __init__(
        self,
        children: Iterable[ChildSpec] = (),
        name: str | None = None,
        kind: str = "Supervisor",
        intensity: int = 5,
        period: float = 10.0,
        backoff_base: float = 0.05,
        backoff_max: float = 5.0,
        parent: ChildContext | pykka.ActorRef[Any] | None = None,
        on_escalate: Callable[[str], None] | None = None,
        forget_finished: bool = False,
        list_children_up_to: int | None = None,
        stop_together: bool = False,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self._policy = RestartPolicy(intensity, period, backoff_base, backoff_max)
        specs = list(children)
        ids = [spec.id for spec in specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate child ids in {ids}")
        self._name = name or (self._supervision.id if self._supervision else kind)
        self._kind = kind
        self._on_escalate = on_escalate
        self._forget_finished = forget_finished  # for churning children such as deals
        # With thousands of children (deals), the status lists the ones that are not simply
        # running and sums up the rest: the operator's page stays fast and shows what is wrong.
        self._list_children_up_to = list_children_up_to
        self._stop_together = stop_together  # children that do not depend on each other (see the docstring)
        self._on_status = on_status  # a root's published tree (a sub-supervisor tells its parent instead)
        self._children: dict[str, _Child] = {spec.id: _Child(spec) for spec in specs}
        self._child_id_by_urn: dict[str, str] = {}
        self._booted: pykka.Future[None] = pykka.ThreadingFuture()
        self._boot_done = False
        self._boot_queue: list[str] = ids
        self._booting: _Child | None = None
        self._restart_times: deque[float] = deque()
        self._escalation: str | None = None
        self._state = "starting"
        self._publish_pending = False

    # --- lifecycle hooks ---------------------------------------------------

    def on_start(self) -> None:
        log.info("starting supervisor %s (%d children)", self._name, len(self._children))
        self._continue_boot()

    def on_stop(self) -> None:
        self._wind_up()

    def on_failure(self, *_exc_info: Any) -> None:
        log.error("supervisor %s crashed: %s", self._name, self._failure)
        self._wind_up()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            self._on_child_exited(
                message.urn, message.normal, message.reason, message.stopped_from_outside
            )
        elif isinstance(message, _PlainChildDown):
            self._on_child_exited(message.urn, False, "stopped (a plain pykka actor cannot say why)")
        elif isinstance(message, _StartResult):
            self._on_start_result(message)
        elif isinstance(message, _RestartDue):
            self._on_restart_due(message)
        elif isinstance(message, _StopFinished):
            self._on_stop_finished(message)
        elif isinstance(message, _SubtreeStatus):
            self._on_subtree_status(message)
        elif isinstance(message, _PublishStatus):
            self._publish_status()
        else:
            return super().on_receive(message)
        self._continue_boot()
        return None

    # --- public API (call through a proxy, with a timeout) ------------------

    def readiness(self) -> pykka.Future[None]:
        return self._booted

    def status(self) -> dict[str, Any]:
        # a supervisor's own restarts are counted by its parent
        return {"id": self._name, "kind": self._kind, "state": self._state, "restarts": 0,
                "last_failure": self._escalation, "children": self._child_nodes()}

    def which_children(self) -> list[ChildInfo]:
        return [child.info() for child in self._children.values()]

    def start_child(self, spec: ChildSpec) -> None:
        """Add a child and start it (a finished child with the same id is replaced)."""
        existing = self._children.get(spec.id)
        if existing is not None and existing.state not in FINISHED_STATES:
            raise ValueError(f"child {spec.id!r} is already {existing.state.value}")
        if self._escalation is not None:
            raise RuntimeError(f"supervisor {self._name} is shutting down")
        child = _Child(spec)
        self._children[spec.id] = child
        self._launch(child)

    def terminate_child(self, child_id: str) -> None:
        """Stop a child without restarting it; its spec stays (see restart_child)."""
        child = self._child(child_id)
        child.restart_after_stop = False
        if child_id in self._boot_queue:
            self._boot_queue.remove(child_id)
        if child.state in LIVE_STATES:
            self._begin_stop(child)
        elif child.state is ChildState.RESTARTING:
            self._cancel_restart(child)
            self._set_state(child, ChildState.STOPPED)

    def restart_child(self, child_id: str) -> None:
        """Start a finished child again, or stop a live one and start it again.
        An operator's restart: it does not count toward the restart intensity."""
        child = self._child(child_id)
        log.info("restarting %s on request", self._path(child))
        if child.state in LIVE_STATES:
            child.restart_after_stop = True
            self._begin_stop(child)
        elif child.state is ChildState.STOPPING:
            child.restart_after_stop = True
        else:
            self._cancel_restart(child)
            self._launch(child)

    def delete_child(self, child_id: str) -> None:
        """Forget a finished child's spec."""
        child = self._child(child_id)
        if child.state not in FINISHED_STATES:
            raise ValueError(f"child {child_id!r} is {child.state.value}; terminate it first")
        self._forget(child)

    # --- starting ------------------------------------------------------------

    def _continue_boot(self) -> None:
        """Start the initial children one after another, each after the
        previous one has answered its ping (or failed to)."""
        while self._escalation is None and (
            self._booting is None or self._booting.state is not ChildState.STARTING
        ):
            if not self._boot_queue:
                self._booting = None
                if not self._boot_done:
                    self._boot_done = True
                    self._state = "running"
                    log.info("supervisor %s started", self._name)
                    self._booted.set(None)
                    self._status_changed()
                return
            child = self._children.get(self._boot_queue.pop(0))
            if child is not None and child.state is ChildState.STOPPED:
                self._booting = child
                self._launch(child)

    def _launch(self, child: _Child) -> None:
        spec = child.spec
        ACTOR_RESTARTS.labels(kind=spec.kind)  # the kind's series exists at 0 before its first restart
        log.info("starting %s", self._path(child))
        self._set_state(child, ChildState.STARTING)
        child.subtree = []
        context = ChildContext(supervisor=self.actor_ref, id=spec.id, kind=spec.kind)
        token = CONTEXT_FOR_NEW_ACTORS.set(context)
        try:
            ref = spec.factory(context) if _takes_context(spec.factory) else spec.factory()
            if not isinstance(ref, pykka.ActorRef):
                raise TypeError(f"factory returned {type(ref).__name__}, not an ActorRef")
        except Exception as exc:
            child.ref = None
            self._child_ended(child, normal=False, reason=f"factory failed: {describe_failure(exc)}")
            return
        finally:
            CONTEXT_FOR_NEW_ACTORS.reset(token)
        if child.ref is not None:
            self._child_id_by_urn.pop(child.ref.actor_urn, None)
        child.ref = ref
        self._child_id_by_urn[ref.actor_urn] = spec.id
        if not issubclass(ref.actor_class, SupervisedActor):
            child.watcher = gevent.spawn(_watch_plain_actor, ref, self.actor_ref)
        answer = ref.ask(_start_ping(ref), block=False)
        gevent.spawn(_await_start, answer, ref.actor_urn, spec.start_timeout, self.actor_ref)

    def _on_start_result(self, result: _StartResult) -> None:
        child = self._child_by_urn(result.urn)
        if child is None or child.state is not ChildState.STARTING:
            return  # the child ended before its ping came back; already handled
        if result.error is None:
            log.info("started %s", self._path(child))
            self._set_state(child, ChildState.RUNNING)
            return
        assert child.ref is not None
        if child.ref.is_alive():
            child.ref.stop(block=False)  # too slow to start: let it go, start a fresh one
        self._child_ended(child, normal=False, reason=result.error)

    # --- ends and restarts ---------------------------------------------------

    def _on_child_exited(
        self, urn: str, normal: bool, reason: str, stopped_from_outside: bool = False
    ) -> None:
        child = self._child_by_urn(urn)
        if child is None or child.state not in LIVE_STATES:
            return  # an instance we already stopped, replaced or gave up on
        if child.state is ChildState.STARTING:
            reason = f"died while starting: {reason}"
        self._child_ended(child, normal, reason, stopped_from_outside)

    def _child_ended(
        self, child: _Child, normal: bool, reason: str, stopped_from_outside: bool = False
    ) -> None:
        path = self._path(child)
        if stopped_from_outside:
            log.info("%s was stopped from outside its supervisor; not restarting it", path)
        elif normal:
            log.info("%s exited normally", path)
        else:
            log.warning("%s failed: %s", path, reason)
            child.last_failure = reason
        _kill(child.watcher)
        child.watcher = None
        child.subtree = []
        restart = not stopped_from_outside and should_restart(child.spec.restart, normal)
        if self._escalation is None and restart:
            self._schedule_restart(child, reason)
            return
        self._set_state(child, state_after_end(normal))
        if self._forget_finished and self._escalation is None:
            self._forget(child)

    def _schedule_restart(self, child: _Child, reason: str) -> None:
        now, policy = time.monotonic(), self._policy
        child.consecutive_failures = policy.failures_in_a_row(child.consecutive_failures, child.running_since, now)
        if policy.exceeded(self._restart_times, now):
            self._set_state(child, ChildState.FAILED)
            self._escalate(policy.describe_escalation(child.spec.id, reason))
            return
        delay = policy.delay(child.consecutive_failures, random.random())
        child.restarts += 1
        ACTOR_RESTARTS.labels(kind=child.spec.kind).inc()
        self._set_state(child, ChildState.RESTARTING)
        log.warning(
            "restarting %s in %.3fs (restart %d): %s", self._path(child), delay, child.restarts, reason
        )
        child.restart_token += 1
        due = _RestartDue(child_id=child.spec.id, token=child.restart_token)
        child.restart_timer = gevent.spawn_later(delay, tell_quietly, self.actor_ref, due)

    def _on_restart_due(self, due: _RestartDue) -> None:
        child = self._children.get(due.child_id)
        if child is None or child.state is not ChildState.RESTARTING or child.restart_token != due.token:
            return
        child.restart_timer = None
        self._launch(child)

    def _cancel_restart(self, child: _Child) -> None:
        child.restart_token += 1
        _kill(child.restart_timer)
        child.restart_timer = None

    def _escalate(self, reason: str) -> None:
        if self._escalation is not None:
            return
        self._escalation = reason
        log.error("supervisor %s escalating: %s", self._name, reason)
        self.stop_with_failure(f"escalated: {reason}")

    # --- stopping ------------------------------------------------------------

    def _begin_stop(self, child: _Child) -> None:
        assert child.ref is not None
        log.info("stopping %s", self._path(child))
        self._set_state(child, ChildState.STOPPING)
        child.stopper = gevent.spawn(_stop_child, child.ref, child.spec.shutdown_timeout, self.actor_ref)

    def _on_stop_finished(self, finished: _StopFinished) -> None:
        child = self._child_by_urn(finished.urn)
        if child is not None and child.state is ChildState.STOPPING:
            self._finish_stop(child, finished.abandoned)

    def _finish_stop(self, child: _Child, abandoned: bool) -> None:
        child.stopper = None
        _kill(child.watcher)
        child.watcher = None
        child.subtree = []
        if abandoned:
            log.warning("abandoned %s: it did not stop within %gs", self._path(child), child.spec.shutdown_timeout)
            self._set_state(child, ChildState.ABANDONED)
        else:
            log.info("stopped %s", self._path(child))
            self._set_state(child, ChildState.STOPPED)
        if child.restart_after_stop and self._escalation is None and self._state != "stopping":
            child.restart_after_stop = False
            self._launch(child)

    def _wind_up(self) -> None:
        """Stop every child in reverse start order, then tell whoever must know."""
        self._state = "stopping"
        log.info("stopping supervisor %s", self._name)
        self._publish_status()  # synchronously: no message is read while winding up
        for child in self._children.values():
            self._cancel_restart(child)
            child.restart_after_stop = False
            if child.state is ChildState.RESTARTING:
                self._set_state(child, ChildState.STOPPED)
        in_stop_order = list(reversed(list(self._children.values())))
        for child in in_stop_order if self._stop_together else ():
            if _stoppable(child):
                self._begin_stop(child)
        for child in in_stop_order:
            if _stoppable(child):
                self._begin_stop(child)
            if child.stopper is not None:
                # _stop_child is bounded by the child's shutdown timeout.
                self._finish_stop(child, abandoned=child.stopper.get())
            elif child.state in LIVE_STATES:
                self._set_state(child, ChildState.STOPPED)
            _kill(child.watcher)
        self._state = "stopped"
        log.info("supervisor %s stopped", self._name)
        self._publish_status()
        if not self._boot_done:  # a parent may be waiting for our readiness
            self._boot_done = True
            self._booted.set_exception((RuntimeError, RuntimeError("stopped while starting"), None))
        if self._failure is not None and self._on_escalate is not None:
            try:
                self._on_escalate(self._failure)
            except Exception:
                log.exception("on_escalate callback of %s failed", self._name)

    # --- status --------------------------------------------------------------

    def _child_nodes(self) -> list[dict[str, Any]]:
        children = list(self._children.values())
        limit = self._list_children_up_to
        if limit is None or len(children) <= limit:
            return [child.node() for child in children]
        quiet = [c for c in children if c.quiet]
        nodes = [child.node() for child in children if not child.quiet][:limit]
        return [*nodes, summary_node([c.spec.kind for c in quiet])]

    def _on_subtree_status(self, update: _SubtreeStatus) -> None:
        child = self._child_by_urn(update.urn)
        if child is not None and child.state in LIVE_STATES:
            child.subtree = update.children
            self._status_changed()

    def _status_changed(self) -> None:
        """Tell the parent supervisor (or a root's on_status) our subtree soon, once per burst of changes."""
        if (self._supervision is None and self._on_status is None) or self._publish_pending:
            return
        self._publish_pending = True
        gevent.spawn_later(STATUS_PUBLISH_DELAY, tell_quietly, self.actor_ref, _PublishStatus())

    def _publish_status(self) -> None:
        self._publish_pending = False
        if self._supervision is not None:
            update = _SubtreeStatus(urn=self.actor_urn, children=self._child_nodes())
            tell_quietly(self._supervision.supervisor, update)
        elif self._on_status is not None:
            _hand_over(self._on_status, self.status(), self._name)

    # --- small helpers -------------------------------------------------------

    def _set_state(self, child: _Child, state: ChildState) -> None:
        previous, child.state = child.state, state
        if previous is state:
            return
        if previous is ChildState.RUNNING:
            ACTORS_ALIVE.labels(kind=child.spec.kind).dec()
        if state is ChildState.RUNNING:
            ACTORS_ALIVE.labels(kind=child.spec.kind).inc()
            child.running_since = time.monotonic()
        self._status_changed()

    def _child(self, child_id: str) -> _Child:
        try:
            return self._children[child_id]
        except KeyError:
            raise KeyError(f"supervisor {self._name} has no child {child_id!r}") from None

    def _child_by_urn(self, urn: str) -> _Child | None:
        child = self._children.get(self._child_id_by_urn.get(urn, ""))
        return child if child is not None and child.urn == urn else None

    def _forget(self, child: _Child) -> None:
        if child.ref is not None:
            self._child_id_by_urn.pop(child.ref.actor_urn, None)
        del self._children[child.spec.id]
        self._status_changed()

    def _path(self, child: _Child) -> str:
        return f"{self._name}/{child.spec.id}"

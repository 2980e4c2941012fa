"""The base class for actors that run under an `actors.supervisor.Supervisor`.

pykka has no links or monitors, so a supervisor cannot see a child die. A
`SupervisedActor` tells its supervisor once it is completely gone — after
`on_stop` or `on_failure` has finished — whether it ended normally (its own
`self.stop()`) or abnormally (an exception in `on_start`, in a told message or
in `on_stop`, or `stop_with_failure`). A child that someone else stops with
`ref.stop()` (pykka's `ActorRegistry.stop_all()` at shutdown does this) is not
restarted; to restart a child, ask its supervisor (`restart_child`). Subclasses override pykka's hooks as usual and need not
call `super()` for the report to happen.

How a child learns its supervisor: the supervisor passes a `ChildContext` to a
factory that takes one argument (hand it on as `context=`), and it also sets
`CONTEXT_FOR_NEW_ACTORS` while any factory runs, so a `SupervisedActor` built
by a zero-argument factory finds its supervisor by itself.
"""
from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka

FAILURE_TEXT_LIMIT = 200

# Long unbroken runs of token characters look like keys, signatures or cookies:
# they never belong in a status page or a log line.
_SECRET_LOOKING = re.compile(r"[A-Za-z0-9+/=_\-]{24,}")


@dataclass(frozen=True)
class ChildContext:
    """What a supervised child knows about its place in the tree."""

    supervisor: pykka.ActorRef[Any]
    id: str
    kind: str


@dataclass(frozen=True)
class ChildExited:
    """A supervised actor has stopped for good (told to its supervisor)."""

    urn: str
    normal: bool
    reason: str
    # Stopped normally by someone other than itself — not by its own
    # `self.stop()`, and the supervisor knows when it asked. At shutdown
    # pykka's ActorRegistry.stop_all() stops the youngest actors first; a
    # supervisor must not restart children that are being stopped that way.
    stopped_from_outside: bool = False


@dataclass(frozen=True)
class Crash:
    """Told to an actor to make it fail on purpose (drills, chaos tests)."""

    reason: str = "killed on request"


class ActorKilled(Exception):
    """Raised by an actor that was told `Crash`."""

    drill = True  # logged in one line (itrader.logs.DrillKills): a kill asked for is no error


CONTEXT_FOR_NEW_ACTORS: contextvars.ContextVar[ChildContext | None] = contextvars.ContextVar(
    "itrader_supervision_context", default=None
)


def describe_failure(exc: BaseException | None) -> str:
    """A short, single-line, secret-free description of an exception."""
    if exc is None:
        return "unknown failure"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    text = _SECRET_LOOKING.sub("[redacted]", text)
    if len(text) > FAILURE_TEXT_LIMIT:
        text = text[: FAILURE_TEXT_LIMIT - 1] + "…"
    return text


def tell_quietly(ref: pykka.ActorRef[Any], message: Any) -> bool:
    """Tell `message`; an actor that has already stopped (a supervisor shutting
    down, a child being replaced) simply does not get it."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        return False
    return True


def as_context(parent: ChildContext | pykka.ActorRef[Any] | None, kind: str) -> ChildContext | None:
    """Accept a parent given as a context or as a bare supervisor ref."""
    if parent is None or isinstance(parent, ChildContext):
        return parent
    return ChildContext(supervisor=parent, id=kind, kind=kind)


class SupervisedActor(pykka.ThreadingActor):
    """A pykka actor that reports its own end to its supervisor."""

    def __init__(self, context: ChildContext | pykka.ActorRef[Any] | None = None) -> None:
        super().__init__()
        self._supervision: ChildContext | None = (
            as_context(context, type(self).__name__) or CONTEXT_FOR_NEW_ACTORS.get()
        )
        self._failure: str | None = None
        self._stopped_itself = False
        self._directory_entry: tuple[Any, str] | None = None

    def register_as(self, directory: Any, name: str) -> None:
        """Be found under `name` in the Directory. The base takes the name back when the actor ends,
        however it ends (stop, failure, a failed start), so no actor spells that out itself."""
        self._directory_entry = (directory, name)
        directory.register(name, self.actor_ref)

    def readiness(self) -> pykka.Future[Any] | None:
        """Answer to the supervisor's start ping, asked once `on_start` is done.

        None means ready now. A child that is ready only after more work (a
        supervisor starting its own children) returns a future it sets then;
        the supervisor waits for it within the child's start timeout and starts
        the next sibling only after that.
        """
        return None

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise ActorKilled(message.reason)
        return super().on_receive(message)

    def stop(self) -> None:
        self._stopped_itself = True
        super().stop()

    def stop_with_failure(self, reason: str) -> None:
        """Stop after the current message and count it as a failure, so a
        permanent or transient child is restarted."""
        self._failure = reason
        self.stop()

    # The two overrides below use pykka 4 internals (setup.cfg pins pykka<5):
    # `_handle_failure` sees every unhandled exception (on_start, told
    # messages, on_stop) and `_actor_loop` returns once the actor is gone.
    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._failure is None:
            self._failure = describe_failure(exception_value)
        super()._handle_failure(exception_type, exception_value, traceback)

    def _actor_loop(self) -> None:
        try:
            super()._actor_loop()
        finally:
            self._leave_directory()
            self._report_exit()

    def _leave_directory(self) -> None:
        if self._directory_entry is not None:
            directory, name = self._directory_entry
            directory.unregister(name, self.actor_ref)  # only if the name is still ours

    def _report_exit(self) -> None:
        if self._supervision is None:
            return
        normal = self._failure is None
        report = ChildExited(
            urn=self.actor_urn,
            normal=normal,
            reason=self._failure or ("stopped" if self._stopped_itself else "stopped from outside"),
            stopped_from_outside=normal and not self._stopped_itself,
        )
        tell_quietly(self._supervision.supervisor, report)

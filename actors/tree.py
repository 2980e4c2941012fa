"""The actor tree of DESIGN.md §3, assembled in start order.

Start order is dependency order; the root supervisor stops children in
reverse, so the Web endpoint goes first and the integrations last.
"""
from __future__ import annotations

from typing import Callable

from actors.status import SystemStatus
from actors.supervisor import ChildSpec, Restart, Supervisor, supervisor_spec
from actors.web import WebActor

# Restart intensity: a child may restart this often within the window before
# its supervisor gives up and escalates (at the root: exit 1, supervisord restarts).
ROOT_INTENSITY, ROOT_PERIOD = 10, 60.0
BRANCH_INTENSITY, BRANCH_PERIOD = 20, 60.0


def build_root(system, on_escalate: Callable[[str], None]) -> None:
    children = [
        supervisor_spec("Accounts", [], kind="Accounts", intensity=BRANCH_INTENSITY, period=BRANCH_PERIOD),
        supervisor_spec("Deals", [], kind="Deals", intensity=BRANCH_INTENSITY, period=BRANCH_PERIOD,
                        forget_finished=True),
        web_spec(system),
    ]
    system.root = Supervisor.start(children=children, name="root", kind="Root", intensity=ROOT_INTENSITY,
                                   period=ROOT_PERIOD, on_escalate=on_escalate)


def web_spec(system) -> ChildSpec:
    source = SystemStatus(system)

    def bound(host: str, port: int) -> None:
        system.web_address = (host, port)
        system.web_bound.set()

    return ChildSpec(
        id="Web", kind="Web", restart=Restart.PERMANENT,
        factory=lambda ctx: WebActor.start(system.config.daemon.listen, system.config.daemon.api_token,
                                           source, on_bound=bound, context=ctx),
    )

"""What a running daemon does when the accounts table changes (pure: compares two views).

`wanted` is what the store says should run — each enabled, usable account by name, with its revision
(bumped by every operator change). `running` is what runs, with the revision each actor was started
with; `draining` are the running ones already told to wind down.

* start   — wanted, not running;
* restart — running at an older revision: the operator gave it a new secret or settings;
* retire  — running, no longer wanted (disabled, removed, unusable): wind down, then stop;
* revive  — winding down, wanted again (enabled again): started afresh.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping


@dataclass(frozen=True)
class SyncPlan:
    start: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    retire: tuple[str, ...] = ()
    revive: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.start or self.restart or self.retire or self.revive)


def plan(wanted: Mapping[str, int], running: Mapping[str, int], draining: Collection[str]) -> SyncPlan:
    draining = set(draining)
    start = [name for name in wanted if name not in running]
    revive = [name for name in wanted if name in running and name in draining]
    restart = [name for name in wanted
               if name in running and name not in draining and running[name] != wanted[name]]
    retire = [name for name in running if name not in wanted and name not in draining]
    return SyncPlan(tuple(sorted(start)), tuple(sorted(restart)), tuple(sorted(retire)), tuple(sorted(revive)))

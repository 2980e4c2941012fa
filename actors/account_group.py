"""AccountGroup: a supervisor whose children follow the accounts table, one group per kind of account.

The daemon drives the accounts the store holds (itrader.store.accounts; `itrader accounts ...` changes
them, from any process, while the daemon runs). Every `daemon.accounts_poll` seconds (2) each group reads
its enabled accounts and compares them with what runs (itrader.account_sync):

* a new or re-enabled account: its actor starts;
* an account the operator changed (a new secret, new cookies: its revision went up): restarted, and the
  actor reads the store afresh as it starts — so does a restart after a crash, which is how a renewed
  Gate session survives one;
* a disabled or removed account: wound down, then stopped. A Bybit or Gate actor is told Drain (the
  allocator, AccountDown: the account's un-taken ads move to other accounts) and finishes what still runs
  on the account before it tells the group Drained; a mailbox just stops.

Why a poll and not a notification: the table is the one place every daemon and every `itrader accounts`
command shares (SQLite or PostgreSQL, Redis optional), a poll misses nothing (a notification sent while a
daemon restarts is lost; the table still says what is wanted), and one indexed read of a small table
every two seconds costs nothing. An operator's change shows within one poll.

An account the daemon must not run — its secret does not decrypt (a wrong ENCRYPTION_KEY), or it holds a
sandbox credential outside the sandbox — is not started: one `account_unusable` event and an error in the
log per revision, never a crash loop.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import gevent
import pykka

from actors.base import tell_quietly
from actors.messages import Drain, Drained, SyncAccounts, Tick
from actors.supervisor import ChildSpec, Supervisor
from itrader import account_sync
from itrader.credentials import unusable_reason
from itrader.events import EventLog
from itrader.store import Account, Store, StoreError
from itrader.supervision import FINISHED_STATES, ChildState

log = logging.getLogger("itrader.accounts")

SYNC_TICK = Tick("accounts:sync")


@dataclass(frozen=True)
class Roster:
    """One kind of account as a group runs it (composed in actors/tree.py)."""

    kind: str  # "gate" | "bybit" | "mailbox"
    spec: Callable[[Account], ChildSpec]  # whose factory reads the account from the store as it starts
    drains: bool = False  # its actors finish their work when disabled (Drain → Drained)
    on_retire: Callable[[str], None] | None = None  # e.g. the allocator's AccountDown
    on_revive: Callable[[str], None] | None = None


class StoreAccounts:
    """The enabled accounts of one kind that may run here, read from the store."""

    def __init__(self, kind: str, store: Store, events: EventLog, trusts_sandbox: bool) -> None:
        self.kind = kind
        self._store = store
        self._events = events
        self._trusts_sandbox = trusts_sandbox
        self._verdicts: dict[tuple[int, int], str | None] = {}  # (id, revision) -> why unusable

    def wanted(self) -> dict[str, Account]:
        accounts = self._store.accounts.list(self.kind, enabled_only=True, include_removed=False)
        return {a.name: a for a in accounts if self._problem(a) is None}

    def _problem(self, account: Account) -> str | None:
        key = (account.id, account.revision)
        if key not in self._verdicts:
            try:
                secret = self._store.accounts.secret(account.id).reveal()
            except StoreError as exc:
                problem: str | None = str(exc)
            else:
                problem = unusable_reason(str(account.settings.get("login", "")), secret, self._trusts_sandbox)
            if problem is not None:
                log.error("account %s is not started: %s", account.label, problem)
                self._events.publish("account_unusable", platform=self.kind, account=account.name, reason=problem)
            self._verdicts[key] = problem
        return self._verdicts[key]


class AccountGroup(Supervisor):
    """Registered as "accounts:<kind>". Handles SyncAccounts (read the table now) and Drained."""

    def __init__(self, roster: Roster, accounts: StoreAccounts, events: EventLog, poll: float,
                 directory: Any = None, **options: Any) -> None:
        initial = accounts.wanted()
        super().__init__(children=[roster.spec(a) for a in initial.values()], **options)
        self._roster = roster
        self._accounts = accounts
        self._events = events
        self._poll = poll
        self._directory = directory
        self._running: dict[str, int] = {name: a.revision for name, a in initial.items()}
        self._draining: dict[str, float] = {}
        self._timer: gevent.Greenlet | None = None

    def child_id(self, name: str) -> str:
        return f"{self._roster.kind}:{name}"

    # --- life cycle

    def on_start(self) -> None:
        super().on_start()
        if self._directory is not None:
            self.register_as(self._directory, f"accounts:{self._roster.kind}")
        self._schedule()

    def on_stop(self) -> None:
        self._cancel_timer()
        super().on_stop()

    def on_failure(self, *exc_info: Any) -> None:
        self._cancel_timer()
        super().on_failure(*exc_info)

    def on_receive(self, message: Any) -> Any:
        if message == SYNC_TICK:
            self._sync()
            self._schedule()
            return None
        if isinstance(message, SyncAccounts):
            self._sync()
            return None
        if isinstance(message, Drained):
            return self._on_drained(message)
        return super().on_receive(message)

    def draining(self) -> list[str]:
        """For the status page (asked, with a timeout)."""
        return sorted(self._draining)

    def _schedule(self) -> None:
        self._cancel_timer()
        self._timer = gevent.spawn_later(self._poll, tell_quietly, self.actor_ref, SYNC_TICK)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.kill(block=False)
            self._timer = None

    # --- following the table

    def _sync(self) -> None:
        if not self._boot_done or self._escalation is not None or self._state == "stopping":
            return  # the initial accounts are still starting, or the group is going away
        try:
            wanted = self._accounts.wanted()
        except Exception as exc:  # noqa: BLE001 — a database hiccup: the next poll reads again
            log.warning("accounts %s: could not read the accounts table: %s", self._roster.kind, type(exc).__name__)
            return
        plan = account_sync.plan({name: a.revision for name, a in wanted.items()}, self._running, self._draining)
        for name in plan.start:
            self._start_account(wanted[name])
        for name in plan.restart + plan.revive:
            self._restart_account(wanted[name], revived=name in plan.revive)
        for name in plan.retire:
            self._retire_account(name)
        for name in self._draining:
            self._tell_child(name, Drain(self.actor_ref))  # again: an actor restarted meanwhile forgot it
        self._forget_stopped()

    def _start_account(self, account: Account) -> None:
        existing = self._children.get(self.child_id(account.name))
        if existing is not None and existing.state not in FINISHED_STATES:
            return  # still stopping from an earlier disable: started on a later poll
        log.info("account %s enabled: starting its actor", account.label)
        self.start_child(self._roster.spec(account))
        self._running[account.name] = account.revision
        self._events.publish("account_started", platform=self._roster.kind, account=account.name)

    def _restart_account(self, account: Account, revived: bool) -> None:
        if revived:
            self._draining.pop(account.name, None)
            if self._roster.on_revive is not None:
                self._roster.on_revive(account.name)
        log.info("account %s %s: restarting its actor", account.label, "enabled again" if revived else "changed")
        self.restart_child(self.child_id(account.name))
        self._running[account.name] = account.revision
        self._events.publish("account_restarted", platform=self._roster.kind, account=account.name,
                             reason="enabled again" if revived else "changed by an operator")

    def _retire_account(self, name: str) -> None:
        if self._roster.on_retire is not None:
            self._roster.on_retire(name)
        child = self._children.get(self.child_id(name))
        if self._roster.drains and child is not None and child.ref is not None \
                and child.state in (ChildState.STARTING, ChildState.RUNNING):
            log.warning("account %s/%s disabled: finishing what runs on it, then stopping", self._roster.kind, name)
            self._draining[name] = time.monotonic()
            self._events.publish("account_draining", platform=self._roster.kind, account=name)
            return
        self._stop_account(name)

    def _on_drained(self, message: Drained) -> None:
        if message.account not in self._draining:
            return  # enabled again meanwhile, or already stopped
        if message.note:
            self._events.publish("account_note", platform=self._roster.kind, account=message.account,
                                 note=message.note)
        self._stop_account(message.account)

    def _stop_account(self, name: str) -> None:
        self._draining.pop(name, None)
        self._running.pop(name, None)
        child_id = self.child_id(name)
        if child_id in self._children:
            self.terminate_child(child_id)
        log.info("account %s/%s stopped", self._roster.kind, name)
        self._events.publish("account_stopped", platform=self._roster.kind, account=name)

    def _forget_stopped(self) -> None:
        for child_id, child in list(self._children.items()):
            name = child_id.split(":", 1)[1]
            if name not in self._running and child.state in FINISHED_STATES:
                self.delete_child(child_id)

    def _tell_child(self, name: str, message: Any) -> None:
        child = self._children.get(self.child_id(name))
        if child is not None and child.ref is not None:
            try:
                child.ref.tell(message)
            except pykka.ActorDeadError:
                pass

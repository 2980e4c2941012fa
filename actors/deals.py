"""The Deals supervisor: one transient Deal actor per live deal.

It owns the creation of deals — a payout offered by a GateAccount becomes a
deal row exactly once (the payout id is unique in the store, across
processes) — and at start it rebuilds a Deal actor for every deal the
database holds that has not finished; each reconciles with the platforms
before it acts.

With account leases (DESIGN §9, Redis configured) a deal runs only in the
process that holds its accounts: its Gate account, and its Bybit account once
one is assigned. The account actors tell "deals" LeaseChanged when they take
or lose a lease; on a take this supervisor starts the account's unfinished
deals that may now run here (a takeover is just that: each Deal reconciles on
start), on a loss it stops the deals of that account.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Callable

import gevent

from actors import messages as msg
from actors.directory import Directory
from actors.supervisor import ChildSpec, Restart, Supervisor
from itrader import deal
# Where a deal may run is decided in itrader.deal_placement; re-exported here for older callers.
from itrader.deal_placement import deal_accounts, may_run_here, touches  # noqa: F401
from itrader.store import Store
from itrader.supervision import ChildState

log = logging.getLogger("itrader.deals")

TERMINAL_STATES = frozenset(state.value for state in deal.TERMINAL)
RESUME_ATTEMPTS, RESUME_RETRY = 60, 0.5  # an ended deal's actor starting again: tell it for up to 30 s


def deal_child_id(deal_id: int) -> str:
    return f"deal:{deal_id}"


class DealsSupervisor(Supervisor):
    def __init__(self, store: Store, directory: Directory, deal_spec: Callable[[int], ChildSpec],
                 leased: bool = False, intake: Any = None, **options: Any) -> None:
        super().__init__(children=(), forget_finished=True, **options)
        self._store = store
        self._directory = directory
        self._deal_spec = deal_spec
        self._leased = leased  # deals run only where their accounts are leased
        self._held: set[tuple[str, str]] = set()  # (platform, account) leased by this process
        self._intake = intake  # actors.intake.Intake: paused or draining, no new deal is opened

    def on_start(self) -> None:
        super().on_start()
        self.register_as(self._directory, "deals")
        if self._leased:
            # Deals start as this process takes their accounts' leases; accounts that already
            # hold theirs (this supervisor restarted) say so again.
            for name in self._directory.names("gate:") + self._directory.names("bybit:"):
                self._directory.tell(name, msg.AnnounceLease())
            return
        live = self._store.deals.non_terminal_deals(TERMINAL_STATES)
        if live:
            log.info("resuming %d unfinished deal(s) from the database", len(live))
        for row in live:
            self._start_deal(row.id)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, msg.PayoutOffer):
            return self._on_offer(message)
        if isinstance(message, msg.LeaseChanged):
            return self._on_lease(message)
        if isinstance(message, msg.ResumeDeal):
            return self._on_resume(message)
        return super().on_receive(message)

    def _on_resume(self, request: msg.ResumeDeal) -> None:
        """Start an ended deal's actor again to hand it news (a receipt paid after the end). The actor
        registers itself as it starts and holds what arrives while it reconciles, so the news is told
        as soon as its name is known."""
        name = deal_child_id(request.deal_id)
        if self._directory.get(name) is None:
            self._start_deal(request.deal_id)
            child = self._children.get(name)
            if child is not None and child.ref is not None:
                # Straight into the new actor's mailbox: it is there before the read-backs its start asks
                # for, so the actor holds it and cannot finish (an ended deal) before it has heard it.
                child.ref.tell(request.message)
                return
        self._deliver(name, request.message, RESUME_ATTEMPTS)

    def _deliver(self, name: str, message: Any, attempts: int) -> None:
        if self._directory.tell(name, message):
            return
        if attempts > 1:
            gevent.spawn_later(RESUME_RETRY, self._deliver, name, message, attempts - 1)
        else:
            log.error("%s did not start: %s was not delivered", name, type(message).__name__)

    def _on_lease(self, change: msg.LeaseChanged) -> None:
        account = (change.platform, change.account)
        if change.held:
            self._held.add(account)
            resumed = 0
            for row in self._store.deals.non_terminal_deals(TERMINAL_STATES):
                if self._directory.get(deal_child_id(row.id)) is not None:
                    continue  # running here already
                gate, bybit = self._accounts_of(row.id)
                if touches(gate, bybit, *account) and may_run_here(gate, bybit, self._held):
                    self._start_deal(row.id)
                    resumed += 1
            if resumed:
                log.info("lease of %s:%s taken: resuming %d unfinished deal(s)", *account, resumed)
            return
        self._held.discard(account)
        for child in self.which_children():
            deal_id = int(child.id.split(":", 1)[1])
            # a deal waiting to restart (it crashed) must not come back here either
            stoppable = child.ref is not None or child.state == ChildState.RESTARTING.value
            if stoppable and touches(*self._accounts_of(deal_id), *account):
                log.warning("lease of %s:%s lost: deal %s stops here", *account, deal_id)
                self.terminate_child(child.id)

    def _accounts_of(self, deal_id: int) -> tuple[str | None, str | None]:
        return deal_accounts(self._store.deals.journal(deal_id))

    def _on_offer(self, offer: msg.PayoutOffer) -> None:
        closed = self._intake.refusal() if self._intake is not None else None
        if closed is not None and self._store.deals.by_payout(offer.payout_id) is None:
            log.info("payout %s not opened: %s", offer.payout_id, closed)  # offered again once open
            return
        fields: dict[str, Any] = {}
        if offer.method in ("sbp", "card"):
            fields["method"] = offer.method
        if offer.bank:
            fields["bank"] = offer.bank
        if offer.wallet:
            fields["wallet"] = offer.wallet
        if offer.gate_account_id is not None:
            fields["gate_account_id"] = offer.gate_account_id  # the deal records the account it runs on
        row, created = self._store.deals.create_deal(
            offer.payout_id, Decimal(0), state=deal.State.NEW.value,
            data={"gate_account": offer.gate_account,
                  "payout_created_at": offer.created_at.isoformat() if offer.created_at else None},
            **fields,
        )
        if created:
            log.info("deal %s opened for payout %s on gate:%s", row.id, offer.payout_id, offer.gate_account)
            self._start_deal(row.id)
        elif row.state not in TERMINAL_STATES and self._directory.get(deal_child_id(row.id)) is None:
            if not self._leased or may_run_here(*self._accounts_of(row.id), self._held):
                self._start_deal(row.id)

    def _start_deal(self, deal_id: int) -> None:
        try:
            self.start_child(self._deal_spec(deal_id))
        except ValueError:
            pass  # already running

"""The Deals supervisor: one transient Deal actor per live deal.

It owns the creation of deals — a payout offered by a GateAccount becomes a
deal row exactly once (the payout id is unique in the store, across
processes) — and at start it rebuilds a Deal actor for every deal the
database holds that has not finished; each reconciles with the platforms
before it acts.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Callable

from actors import messages as msg
from actors.directory import Directory
from actors.supervisor import ChildSpec, Restart, Supervisor
from itrader import deal
from itrader.store import Store

log = logging.getLogger("itrader.deals")

TERMINAL_STATES = frozenset(state.value for state in deal.TERMINAL)


def deal_child_id(deal_id: int) -> str:
    return f"deal:{deal_id}"


class DealsSupervisor(Supervisor):
    def __init__(self, store: Store, directory: Directory, deal_spec: Callable[[int], ChildSpec],
                 **options: Any) -> None:
        super().__init__(children=(), forget_finished=True, **options)
        self._store = store
        self._directory = directory
        self._deal_spec = deal_spec

    def on_start(self) -> None:
        super().on_start()
        self._directory.register("deals", self.actor_ref)
        live = self._store.deals.non_terminal_deals(TERMINAL_STATES)
        if live:
            log.info("resuming %d unfinished deal(s) from the database", len(live))
        for row in live:
            self._start_deal(row.id)

    def on_stop(self) -> None:
        self._directory.unregister("deals", self.actor_ref)
        super().on_stop()

    def on_failure(self, *exc_info: Any) -> None:
        self._directory.unregister("deals", self.actor_ref)
        super().on_failure(*exc_info)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, msg.PayoutOffer):
            return self._on_offer(message)
        return super().on_receive(message)

    def _on_offer(self, offer: msg.PayoutOffer) -> None:
        fields: dict[str, Any] = {}
        if offer.method in ("sbp", "card"):
            fields["method"] = offer.method
        if offer.bank:
            fields["bank"] = offer.bank
        if offer.wallet:
            fields["wallet"] = offer.wallet
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
            self._start_deal(row.id)

    def _start_deal(self, deal_id: int) -> None:
        try:
            self.start_child(self._deal_spec(deal_id))
        except ValueError:
            pass  # already running

"""Deals and their append-only event journal.

Every change to a deal appends a journal row in the same transaction. The
journal's per-deal sequence number comes from `deals.last_seq`, bumped by the
same UPDATE that changes the deal, so the deal's row lock orders concurrent
writers (PostgreSQL) and seq numbers have no gaps or duplicates.
"""
from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Collection, Iterator, Mapping

import peewee

from .database import Database
from .errors import DealNotFound, StaleTransition
from .fences import LeaseFence, advance_epoch
from .fields import utc_now
from .records import PAYMENT_METHODS, TERMINAL_STATES, Deal, EventKind, JournalEntry

# Columns a caller may change; state, ids, sequence and timestamps are the store's.
CHANGEABLE_FIELDS: frozenset[str] = frozenset({
    "gate_account_id", "bybit_account_id", "amount_rub", "price", "quantity", "ad_id", "order_id",
    "method", "bank", "wallet", "requisites_sent_at", "reason", "manual", "buyer_name",
})
CREATED_STEP = "created"


def _check_changes(changes: Mapping[str, Any]) -> None:
    unknown = set(changes) - CHANGEABLE_FIELDS
    if unknown:
        raise ValueError(f"deal fields not changeable: {sorted(unknown)}")
    method = changes.get("method")
    if method is not None and method not in PAYMENT_METHODS:
        raise ValueError(f"payment method must be one of {sorted(PAYMENT_METHODS)}, not {method!r}")


def open_intents(entries: list[JournalEntry]) -> list[JournalEntry]:
    """Intents with no outcome recorded after them for the same step, in journal order.

    On restart these are the external calls that may or may not have happened:
    reconcile them with the platform before acting again.
    """
    pending: dict[str, JournalEntry] = {}
    for entry in entries:
        if entry.kind == EventKind.INTENT:
            pending[entry.step] = entry
        elif entry.kind == EventKind.OUTCOME:
            pending.pop(entry.step, None)
    return sorted(pending.values(), key=lambda entry: entry.seq)


class DealStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock
        self._deals = db.tables.deal
        self._events = db.tables.deal_event
        self._epochs = db.tables.lease_epoch

    def __repr__(self) -> str:
        return f"DealStore({self._db!r})"

    # --- creating and reading deals ---

    def create_deal(
        self, payout_id: str | int, amount_rub: Decimal | int | str, *, state: str = "NEW",
        data: Mapping[str, Any] | None = None, **fields: Any,
    ) -> tuple[Deal, bool]:
        """Create the deal for a payout, or return the existing one: (deal, created).

        Idempotent per payout id, across processes (UNIQUE constraint). The
        first journal row is a transition from None into `state`.
        """
        _check_changes(fields)
        payout_key = str(payout_id)
        now = self._clock()
        try:
            with self._db.transaction():
                deal_id = self._deals.insert(
                    payout_id=payout_key, state=state, amount_rub=amount_rub, manual=bool(fields.pop("manual", False)),
                    last_seq=1, created_at=now, updated_at=now, **fields,
                ).execute()
                self._append(deal_id, 1, now, EventKind.TRANSITION, CREATED_STEP, dict(data or {}),
                             from_state=None, to_state=state)
        except peewee.IntegrityError:
            existing = self.by_payout(payout_key)
            if existing is None:  # the violation was something else (e.g. a bad account id)
                raise
            return existing, False
        return self.get(deal_id), True

    def get(self, deal_id: int) -> Deal:
        with self._db.connection():
            row = self._deals.get_or_none(self._deals.id == deal_id)
        if row is None:
            raise DealNotFound(f"no deal with id {deal_id}")
        return _deal(row)

    def by_payout(self, payout_id: str | int) -> Deal | None:
        with self._db.connection():
            row = self._deals.get_or_none(self._deals.payout_id == str(payout_id))
        return None if row is None else _deal(row)

    def list_deals(self, states: Collection[str] | None = None, limit: int = 100, offset: int = 0) -> list[Deal]:
        """Newest first."""
        query = self._deals.select().order_by(self._deals.id.desc()).limit(limit).offset(offset)
        if states is not None:
            query = query.where(self._deals.state.in_(list(states)))
        with self._db.connection():
            return [_deal(row) for row in query]

    def non_terminal_deals(self, terminal_states: Collection[str] = TERMINAL_STATES) -> list[Deal]:
        """Deals still to be driven or acted on, oldest first: rebuilt as actors at start."""
        query = (self._deals.select()
                 .where(self._deals.state.not_in(list(terminal_states)))
                 .order_by(self._deals.id))
        with self._db.connection():
            return [_deal(row) for row in query]

    def ended_since(self, states: Collection[str], since: datetime, limit: int = 500) -> list[Deal]:
        """Deals in `states` last changed at or after `since`, newest first (late receipts look here)."""
        query = (self._deals.select()
                 .where(self._deals.state.in_(list(states)) & (self._deals.updated_at >= since))
                 .order_by(self._deals.id.desc()).limit(limit))
        with self._db.connection():
            return [_deal(row) for row in query]

    def completed_since(self, since: datetime, notes: Collection[str] = (),
                        state: str = "COMPLETED") -> list[tuple[Deal, datetime, dict[str, Any]]]:
        """Deals whose move to `state` was journaled at or after `since`, oldest first: each with that move's
        time and the data of its latest note of each step in `notes`. Two queries for up to 500 deals."""
        deals, events = self._deals, self._events
        with self._db.connection():
            # A deal completed since then was changed since then: its row's updated_at bounds the search.
            rows = {row.id: row for row in deals.select().where((deals.state == state) & (deals.updated_at >= since))}
            found: dict[int, dict[str, Any]] = {}
            ids = list(rows)
            for start in range(0, len(ids), 500):  # SQLite's bound on one statement's parameters
                chunk = ids[start:start + 500]
                wanted = (events.to_state == state) & (events.ts >= since)
                if notes:
                    wanted |= (events.kind == EventKind.NOTE.value) & events.step.in_(list(notes))
                query = (events.select(events.deal_id, events.ts, events.step, events.to_state, events.data)
                         .where(events.deal_id.in_(chunk) & wanted).order_by(events.deal_id, events.seq))
                for event in query:
                    of_deal = found.setdefault(event.deal_id, {"notes": {}})
                    if event.to_state == state:
                        of_deal["completed_at"] = event.ts
                    else:
                        of_deal["notes"][event.step] = event.data
        ended = [(rows[deal_id], facts) for deal_id, facts in found.items() if "completed_at" in facts]
        ended.sort(key=lambda pair: (pair[1]["completed_at"], pair[0].id))
        return [(_deal(row), facts["completed_at"], facts["notes"]) for row, facts in ended]

    def live_to_recipient(self, wallet_suffix: str, states: Collection[str]) -> list[Deal]:
        """Deals in `states` whose wallet's digits may end with `wallet_suffix` (digits), oldest first.

        A coarse filter, in SQL on SQLite and PostgreSQL alike: the suffix's digits in order, anything
        between them ("+7 900 123-45-67" ends in 4567 too). The caller compares amount and recipient exactly.
        """
        if not (wallet_suffix.isascii() and wallet_suffix.isdigit()):
            raise ValueError(f"wallet suffix must be digits, not {wallet_suffix!r}")
        deals = self._deals
        pattern = f"%{'%'.join(wallet_suffix)}%"  # ** is LIKE on SQLite (peewee's % is GLOB there), ILIKE on PostgreSQL
        query = (deals.select()
                 .where(deals.state.in_(list(states)) & (deals.wallet ** pattern))
                 .order_by(deals.id))
        with self._db.connection():
            return [_deal(row) for row in query]

    # --- changing deals ---

    def transition(
        self, deal_id: int, from_state: str, to_state: str, event: str,
        data: Mapping[str, Any] | None = None, changes: Mapping[str, Any] | None = None,
    ) -> Deal:
        """Move the deal from `from_state` to `to_state`, optionally setting fields, and journal it.

        Refused with StaleTransition (nothing written) unless the deal is in
        `from_state` at that moment: optimistic concurrency.
        """
        changes = dict(changes or {})
        _check_changes(changes)
        now = self._clock()
        deals = self._deals
        with self._db.transaction():
            changed = (deals.update(state=to_state, last_seq=deals.last_seq + 1, updated_at=now, **changes)
                       .where((deals.id == deal_id) & (deals.state == from_state))
                       .execute())
            if changed == 0:
                current = deals.select(deals.state).where(deals.id == deal_id).scalar()
                if current is None:
                    raise DealNotFound(f"no deal with id {deal_id}")
                raise StaleTransition(deal_id, from_state, current)
            payload = dict(data or {})
            if changes:
                payload.setdefault("changes", changes)
            self._append(deal_id, self._seq(deal_id), now, EventKind.TRANSITION, event, payload,
                         from_state=from_state, to_state=to_state)
        return self.get(deal_id)

    def update_fields(self, deal_id: int, changes: Mapping[str, Any], step: str = "update") -> Deal:
        """Set fields without a state change; journaled as a note carrying the changes."""
        changes = dict(changes)
        _check_changes(changes)
        self._write_event(deal_id, EventKind.NOTE, step, {"changes": changes}, changes=changes)
        return self.get(deal_id)

    def record_intent(self, deal_id: int, step: str, data: Mapping[str, Any] | None = None, *,
                      fence: LeaseFence | None = None) -> JournalEntry:
        """Written BEFORE an external call (take, create ad, approve, release...).

        `fence`: the lease of the account the call runs on, with its epoch (None without leases). An
        intent under an older epoch than the newest recorded for that lease raises StaleLeaseEpoch and
        nothing is written; otherwise the epoch becomes the newest (itrader.store.fences)."""
        seq = self._write_event(deal_id, EventKind.INTENT, step, dict(data or {}), fence=fence)
        return self._entry_at(deal_id, seq)

    def record_outcome(self, deal_id: int, step: str, ok: bool, data: Mapping[str, Any] | None = None) -> JournalEntry:
        """Written AFTER the external call answered (or failed)."""
        seq = self._write_event(deal_id, EventKind.OUTCOME, step, dict(data or {}), ok=ok)
        return self._entry_at(deal_id, seq)

    def record_note(self, deal_id: int, step: str, data: Mapping[str, Any] | None = None) -> JournalEntry:
        return self._entry_at(deal_id, self._write_event(deal_id, EventKind.NOTE, step, dict(data or {})))

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Several writes as one: all of them or (on any exception) none. Nests (savepoints)."""
        with self._db.transaction():
            yield

    # --- the journal ---

    def journal(self, deal_id: int) -> list[JournalEntry]:
        """The deal's events in the order they happened (by seq)."""
        events = self._events
        query = events.select().where(events.deal_id == deal_id).order_by(events.seq)
        with self._db.connection():
            return [_entry(row) for row in query]

    def open_intents(self, deal_id: int) -> list[JournalEntry]:
        return open_intents(self.journal(deal_id))

    # --- internals ---

    def _write_event(self, deal_id: int, kind: EventKind, step: str, data: dict[str, Any], *,
                     ok: bool | None = None, changes: Mapping[str, Any] | None = None,
                     fence: LeaseFence | None = None) -> int:
        """Append one journal row (and apply `changes`) in one transaction; return its seq."""
        now = self._clock()
        deals = self._deals
        with self._db.transaction():
            if fence is not None:
                advance_epoch(self._epochs, fence, now)  # first: a stale epoch writes nothing
            changed = (deals.update(last_seq=deals.last_seq + 1, updated_at=now, **(changes or {}))
                       .where(deals.id == deal_id)
                       .execute())
            if changed == 0:
                raise DealNotFound(f"no deal with id {deal_id}")
            seq = self._seq(deal_id)
            self._append(deal_id, seq, now, kind, step, data, ok=ok, fence=fence)
        return seq

    def _entry_at(self, deal_id: int, seq: int) -> JournalEntry:
        events = self._events
        with self._db.connection():
            return _entry(events.get((events.deal_id == deal_id) & (events.seq == seq)))

    def _seq(self, deal_id: int) -> int:
        deals = self._deals
        return deals.select(deals.last_seq).where(deals.id == deal_id).scalar()

    def _append(self, deal_id: int, seq: int, ts: datetime, kind: EventKind, step: str, data: Any, *,
                from_state: str | None = None, to_state: str | None = None, ok: bool | None = None,
                fence: LeaseFence | None = None) -> None:
        self._events.insert(
            deal_id=deal_id, seq=seq, ts=ts, kind=kind.value, step=step,
            from_state=from_state, to_state=to_state, ok=ok, data=data,
            lease_key=fence.key if fence else None, lease_epoch=fence.epoch if fence else None,
        ).execute()


def _deal(row: peewee.Model) -> Deal:
    return Deal(
        id=row.id, payout_id=row.payout_id, state=row.state, amount_rub=row.amount_rub,
        gate_account_id=row.gate_account_id, bybit_account_id=row.bybit_account_id,
        price=row.price, quantity=row.quantity, ad_id=row.ad_id, order_id=row.order_id,
        method=row.method, bank=row.bank, wallet=row.wallet, requisites_sent_at=row.requisites_sent_at,
        reason=row.reason, manual=bool(row.manual), created_at=row.created_at, updated_at=row.updated_at,
        buyer_name=row.buyer_name,
    )


def _entry(row: peewee.Model) -> JournalEntry:
    return JournalEntry(
        deal_id=row.deal_id, seq=row.seq, ts=row.ts, kind=EventKind(row.kind), step=row.step,
        from_state=row.from_state, to_state=row.to_state, ok=None if row.ok is None else bool(row.ok),
        data=row.data, lease_key=row.lease_key, lease_epoch=row.lease_epoch,
    )


"""What the Deal actor uses that is not actor wiring: its named timers, the platform read-backs a reconcile
waits for, and the receipt files on disk. The decisions over its journal live in itrader.deal.journal."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import gevent

from actors import messages as msg
from itrader import deal
from itrader.store import Store
from itrader.store.deals import DealStore


class Timers:
    """Named one-shot timers; a timer that fires tells the actor Tick(name). Re-arming a name replaces it."""

    def __init__(self, tell: Callable[[Any], None]) -> None:
        self._tell = tell
        self._running: dict[str, gevent.Greenlet] = {}

    def start(self, name: str, seconds: float) -> None:
        self.cancel(name)
        self._running[name] = gevent.spawn_later(max(0.0, seconds), self._fire, name)

    def cancel(self, name: str) -> None:
        timer = self._running.pop(name, None)
        if timer is not None:
            timer.kill(block=False)

    def fired(self, name: str) -> None:
        self._running.pop(name, None)

    def cancel_all(self) -> None:
        for timer in self._running.values():
            timer.kill(block=False)
        self._running.clear()

    def _fire(self, name: str) -> None:
        try:
            self._tell(msg.Tick(name))
        except Exception:  # noqa: BLE001 — the actor has stopped; nothing to wake
            pass


class PlatformReads:
    """The two answers a reconcile waits for: Gate's PayoutRead and Bybit's OrderRead."""

    def __init__(self) -> None:
        self.gate: msg.PayoutRead | None = None
        self.bybit: msg.OrderRead | None = None

    def add(self, message: msg.PayoutRead | msg.OrderRead) -> None:
        if isinstance(message, msg.PayoutRead):
            self.gate = message
        else:
            self.bybit = message

    @property
    def complete(self) -> bool:
        return self.gate is not None and self.bybit is not None

    def view(self, sent_texts: tuple[str, ...] | None) -> deal.PlatformView:
        gate, bybit = self.gate, self.bybit
        amount = payout_amount(gate.raw) if gate.raw else None
        return deal.PlatformView(payout_status=gate.status, payout_amount=amount, ad_id=bybit.ad_id,
                                 ad_online=bybit.ad_online, order_id=bybit.order_id, order_status=bybit.order_status,
                                 sent_texts=sent_texts, buyer_name=bybit.buyer_name)

    def note(self) -> dict[str, Any]:
        """What the journal keeps of this reconcile."""
        return {"payout_status": self.gate.status, "ad_id": self.bybit.ad_id, "ad_online": self.bybit.ad_online,
                "order_id": self.bybit.order_id, "order_status": self.bybit.order_status}


def record_decision(deals: DealStore, deal_id: int, old: deal.DealFacts, new: deal.DealFacts, event_name: str,
                    reason: str | None, extra_changes: dict[str, Any] | None = None) -> None:
    """Journal an applied decision before its actions: the new facts, as a state change or a note, and the
    deal row's columns that follow them (plus `extra_changes`, e.g. the id of a newly assigned account)."""
    data = {"facts": new.to_dict(), "reason": reason}
    changes = {**deal.row_changes(old, new), **(extra_changes or {})}
    if old.state != new.state:
        deals.transition(deal_id, old.state.value, new.state.value, event_name, data=data, changes=changes)
        return
    if changes:
        deals.update_fields(deal_id, changes, step=event_name)
    deals.record_note(deal_id, event_name, data)


class AccountIds:
    """Account name -> the store's id, for the deal row's bybit_account_id (remembered once found)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: dict[tuple[str, str], int] = {}

    def of(self, kind: str, name: str) -> int | None:
        if (kind, name) not in self._known:
            account = self._store.accounts.find(kind, name)
            if account is None:
                return None  # not a stored account (a test's hand-made world): the row keeps no id
            self._known[(kind, name)] = account.id
        return self._known[(kind, name)]


def record_step(deals: DealStore, deal_id: int, old: deal.DealFacts, new: deal.DealFacts, event_name: str,
                reason: str | None, fence: Any = None, extra_changes: dict[str, Any] | None = None) -> None:
    """An applied decision and its money steps, all or nothing: an intent the store refuses as fenced
    off (StaleLeaseEpoch) leaves no trace of the decision either."""
    with deals.atomic():
        record_decision(deals, deal_id, old, new, event_name, reason, extra_changes)
        record_money_steps(deals, deal_id, old, new, fence)


def record_money_steps(deals: DealStore, deal_id: int, old: deal.DealFacts, new: deal.DealFacts,
                       fence: Any = None) -> None:
    """A money step's intent goes on disk before its call, under `fence` (the lease of the account it runs
    on, None without leases); its outcome once the facts settle it."""
    if new.pending_intent and new.pending_intent != old.pending_intent:
        deals.record_intent(deal_id, new.pending_intent, {"state": new.state.value}, fence=fence)
    if old.pending_intent and old.pending_intent != new.pending_intent:
        done = deal.step_done(old.pending_intent, new)
        deals.record_outcome(deal_id, old.pending_intent, done, {"state": new.state.value})


def receipt_file(store: Store, receipts_dir: Path, deal_id: int, receipt_id: str) -> Path | None:
    """The file of exactly the receipt this deal accepted: named by its sha256, and still holding those
    bytes. Never "the latest file noted" — a chat PDF may arrive while the approve waits."""
    accepted = next((r for r in store.receipts.for_deal(deal_id) if str(r.id) == str(receipt_id)), None)
    if accepted is None:
        return None
    for path in sorted(receipts_dir.glob(f"{accepted.sha256}.*")):
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == accepted.sha256:
            return path
    return None


def claimed_receipt(store: Store, receipts_dir: Path, deal_id: int) -> msg.DealNews | None:
    """The desk's verdict on the first accepted receipt it claimed for this deal whose file is there, as
    the desk would have told it (for a deal that died before it heard)."""
    for receipt in store.receipts.for_deal(deal_id):
        path = next(iter(sorted(receipts_dir.glob(f"{receipt.sha256}.*"))), None)
        if receipt.verdict == "accepted" and path is not None:
            email = receipt.source == deal.EMAIL
            checked = deal.ReceiptChecked(True, (), deal.EMAIL if email else deal.CHAT, str(receipt.id), email)
            return msg.DealNews(deal_id, checked, receipt_path=str(path))
    return None


def payout_amount(raw: dict) -> Any:
    """amount["643"] as Gate shows it (the RUB figure sits under amount["trader"] in the panel's JSON)."""
    from itrader.gate.models import Amount

    return Amount.parse(raw.get("amount")).rub


def jsonable(raw: Any) -> Any:
    return json.loads(json.dumps(raw, default=str))


RECEIPT_FILE_STEP = "receipt_file"  # the Deal's note of a receipt file the desk told it about


def operator_receipt(store: Store, receipts_dir: Path, deal_id: int, *, claim: bool) -> str | None:
    """The receipt an operator's approve sends to Gate: one already claimed for this deal, else the latest
    receipt file the desk told the deal about, a trusted e-mail's first (read again, and claimed for this
    deal only when `claim`; "unclaimed" stands for it before). None when there is no readable file. Raises DuplicateReceipt when
    another deal holds that receipt: a receipt serves one deal, ever (DESIGN §5.2)."""
    from itrader.receipts import read_receipt
    from itrader.receipts.parse import receipt_to_json

    for receipt in store.receipts.for_deal(deal_id):
        if receipt_file(store, receipts_dir, deal_id, str(receipt.id)) is not None:
            return str(receipt.id)
    # The bank's DKIM-verified mail first, then the latest chat file: the operator vouches for what Gate gets.
    noted = sorted(reversed(noted_receipt_files(store, receipts_dir, deal_id)), key=lambda item: not item[2])
    for path, _channel, _trusted in noted:
        content = path.read_bytes()
        try:
            parsed = read_receipt(content, file_name=path.name)
        except Exception:  # noqa: BLE001 — an unreadable file cannot be the approve's receipt
            continue
        if not claim:
            return "unclaimed"
        return str(store.receipts.claim_receipt(
            parsed.receipt_number, hashlib.sha256(content).hexdigest(), deal_id, source="operator",
            parsed=receipt_to_json(parsed), verdict="operator_accepted").id)
    return None


def noted_receipt_files(store: Store, receipts_dir: Path, deal_id: int) -> list[tuple[Path, str, bool]]:
    """The receipt files the desk told this deal about, oldest first, each once: (path, channel, trusted).
    Only the bank's DKIM-verified e-mail counts as trusted again; anything else is shown as a chat file."""
    seen: dict[Path, tuple[Path, str, bool]] = {}
    for entry in store.deals.journal(deal_id):
        data = entry.data if isinstance(entry.data, dict) else {}
        if entry.step != RECEIPT_FILE_STEP or not data.get("path"):
            continue
        path = Path(str(data["path"]))
        if path.resolve().parent != receipts_dir.resolve() or not path.is_file():
            continue
        email = data.get("channel") == deal.EMAIL and data.get("trusted") is True
        seen[path] = (path, deal.EMAIL if email else deal.CHAT, email)
    return list(seen.values())

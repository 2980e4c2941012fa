"""Money-safety audit over the sandbox ledger — a pure function.

Given every ledger entry and the facts about payouts (amount, wallet) and
which Bybit order belongs to which payout (the simulated buyer recorded it
when it opened the order), list every violation of the invariants in
DESIGN.md §5 that left a trace in money:

* release_without_transfer — USDT released but the payout's recipient never
  received the exact amount (each bank transfer backs at most one release);
* release_unlinked — a release of an order no simulated buyer opened;
* release_without_approve — a release before the Gate approval succeeded;
* double_release — the same order released twice;
* double_approve — the same payout approved twice;
* approve_without_receipt — a Gate approval with no attachment;
* approve_without_transfer — a payout confirmed as paid that nobody paid.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

VIOLATION_KINDS = (
    "release_without_transfer",
    "release_unlinked",
    "release_without_approve",
    "double_release",
    "double_approve",
    "approve_without_receipt",
    "approve_without_transfer",
)


@dataclass(frozen=True)
class PayoutFact:
    payout_id: int
    amount: Decimal
    wallet: str


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str
    payout_id: int | None = None
    order_id: str | None = None
    seq: int | None = None  # the ledger entry that broke the rule

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wallet_key(wallet: str | None) -> str:
    """Compare wallets as a bank would: digits only, phones by their last 10 digits."""
    digits = re.sub(r"\D", "", wallet or "")
    if len(digits) == 11 and digits[0] in "78":
        return digits[-10:]
    return digits


def money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def facts_from_ledger(entries: Iterable[Mapping[str, Any]]) -> tuple[dict[int, PayoutFact], dict[str, int]]:
    """Payout facts from "payout_created" entries and order links from "buyer_order" entries."""
    payouts: dict[int, PayoutFact] = {}
    order_payouts: dict[str, int] = {}
    for entry in entries:
        if entry["kind"] == "payout_created":
            pid = int(entry["payout_id"])
            payouts[pid] = PayoutFact(pid, money(entry["amount"]) or Decimal(0), str(entry["wallet"]))
        elif entry["kind"] == "buyer_order":
            order_payouts[str(entry["order_id"])] = int(entry["payout_id"])
    return payouts, order_payouts


def _pays(transfer: Mapping[str, Any], payout: PayoutFact) -> bool:
    return (
        wallet_key(transfer.get("wallet")) == wallet_key(payout.wallet)
        and money(transfer.get("amount")) == payout.amount
    )


class _TransferPool:
    """Bank transfers in ledger order; each can back one use (one approve, or one release)."""

    def __init__(self, transfers: list[Mapping[str, Any]]) -> None:
        self._transfers = transfers
        self._used: set[int] = set()

    def find(self, payout: PayoutFact, before_seq: int) -> int | None:
        for transfer in self._transfers:
            seq = transfer["seq"]
            if seq >= before_seq:
                break
            if seq not in self._used and _pays(transfer, payout):
                return seq
        return None

    def take(self, payout: PayoutFact, before_seq: int) -> bool:
        seq = self.find(payout, before_seq)
        if seq is not None:
            self._used.add(seq)
        return seq is not None


def _release_candidates(linked: int | None, amount: Decimal | None, payouts: Mapping[int, PayoutFact],
                        spent: set[int]) -> list[PayoutFact]:
    """Which payouts a release may be settling: the buyer's own first, then any other of the same amount.

    Two payouts of one amount have interchangeable ads: a buyer may take the other one's ad, read that
    deal's requisites and pay its recipient — money-wise that is a correct deal.
    """
    ordered = ([payouts[linked]] if linked in payouts else []) + [
        p for pid, p in sorted(payouts.items()) if pid != linked and amount is not None and p.amount == amount]
    return [p for p in ordered if p.payout_id not in spent]


def audit(
    entries: Iterable[Mapping[str, Any]],
    payouts: Mapping[int, PayoutFact] | None = None,
    order_payouts: Mapping[str, int] | None = None,
) -> list[Violation]:
    """Every money-safety violation in the ledger, in ledger order.

    `payouts` and `order_payouts` default to what the ledger itself recorded
    ("payout_created" and "buyer_order" entries).
    """
    entries = sorted(entries, key=lambda e: e["seq"])
    derived_payouts, derived_orders = facts_from_ledger(entries)
    payouts = derived_payouts if payouts is None else payouts
    order_payouts = derived_orders if order_payouts is None else order_payouts

    transfers = [e for e in entries if e["kind"] == "bank_transfer"]
    for_releases = _TransferPool(transfers)
    for_approvals = _TransferPool(transfers)
    approved_at: dict[int, int] = {}
    released: set[str] = set()
    settled: set[int] = set()  # payouts already backing a release
    violations: list[Violation] = []

    for entry in entries:
        seq = entry["seq"]
        if entry["kind"] == "gate_approve":
            pid = int(entry["payout_id"])
            if pid in approved_at:
                violations.append(Violation("double_approve", f"payout {pid} approved again", pid, None, seq))
                continue
            approved_at[pid] = seq
            if not int(entry.get("attachments") or 0):
                violations.append(Violation("approve_without_receipt", f"payout {pid} approved with no receipt attached", pid, None, seq))
            payout = payouts.get(pid)
            if payout is None or not for_approvals.take(payout, seq):
                violations.append(Violation(
                    "approve_without_transfer",
                    f"payout {pid} approved but its recipient was not paid the exact amount", pid, None, seq))
        elif entry["kind"] == "bybit_release":
            oid = str(entry["order_id"])
            if oid in released:
                violations.append(Violation("double_release", f"order {oid} released again", None, oid, seq))
                continue
            released.add(oid)
            linked = order_payouts.get(oid)
            if linked is None:
                violations.append(Violation("release_unlinked", f"order {oid} released but no payout's buyer opened it", None, oid, seq))
                continue
            candidates = _release_candidates(linked, money(entry.get("amount")), payouts, settled)
            paid = [p for p in candidates if for_releases.find(p, seq) is not None]
            approved = [p for p in paid if approved_at.get(p.payout_id, seq) < seq]
            if approved or paid:
                chosen = (approved or paid)[0]
                for_releases.take(chosen, seq)
                settled.add(chosen.payout_id)
                if not approved:
                    violations.append(Violation(
                        "release_without_approve",
                        f"order {oid} released before payout {chosen.payout_id} was approved", chosen.payout_id, oid, seq))
                continue
            wanted = payouts.get(linked)
            target = f"wallet {wanted.wallet} of payout {linked}" if wanted else f"the recipient of payout {linked}"
            violations.append(Violation(
                "release_without_transfer",
                f"order {oid} released but {entry.get('amount')} RUB never reached {target}", linked, oid, seq))
    return violations


def summarize(violations: list[Violation]) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for violation in violations:
        counts[violation.kind] += 1
    return {"clean": not violations, "counts": dict(counts), "violations": [v.as_dict() for v in violations]}

"""Which deal a receipt belongs to — a pure decision over the verifier's verdicts (DESIGN §5.2, §5.6).

A bank receipt proves that someone paid an amount to a recipient. It may settle a deal only when it
identifies that deal alone: exactly one live deal accepts it (amount, recipient, bank, time *and* the
sender is that order's buyer). The desk never picks "the first that fits":

* one live deal accepts it                 → bind it to that deal;
* several live deals accept it             → bind nothing, flag each (ambiguous_receipt);
* none accepts, but the money reached
  live deals' recipients (amount and
  recipient fit)                           → one: tell it why not (e.g. payer_mismatch); several: flag each;
* nothing live fits, but deals that ended
  CANCELLED/REJECTED_BUYER recently fit    → the buyer paid after the end: each goes to an operator
                                             (paid_after_cancel), if the receipt came from the bank;
* otherwise, a single live candidate       → tell it why not (wrong amount to its recipient, …);
* otherwise                                → unmatched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .verify import DUPLICATE_RECEIPT, Verdict

AMBIGUOUS_RECEIPT = "ambiguous_receipt"
PAID_AFTER_CANCEL = "paid_after_cancel"


@dataclass(frozen=True)
class Candidate:
    """A deal the receipt may be for, with the verifier's verdict for it."""

    deal_id: int
    verdict: Verdict
    fits: bool  # the receipt's amount and recipient are this deal's payout's


@dataclass(frozen=True)
class Binding:
    accept: int | None = None  # the one deal the receipt is bound to
    refuse: int | None = None  # the one deal told why the receipt does not serve it
    ambiguous: tuple[int, ...] = ()  # deals flagged for the operator: more than one fits
    late: tuple[int, ...] = ()  # ended deals the buyer paid after all

    @property
    def unmatched(self) -> bool:
        return self.accept is None and self.refuse is None and not self.ambiguous and not self.late


def bind(live: Sequence[Candidate], ended: Sequence[Candidate] = (), trusted: bool = True) -> Binding:
    """`live`: deals waiting for a receipt that it may be for; `ended`: recently cancelled/rejected deals;
    `trusted`: the receipt came from the bank's DKIM-verified e-mail (only then can it reopen a deal)."""
    accepted = [c.deal_id for c in live if c.verdict.accepted]
    if len(accepted) == 1:
        return Binding(accept=accepted[0])
    if accepted:
        return Binding(ambiguous=tuple(accepted))
    fitting = [c.deal_id for c in live if c.fits]
    if len(fitting) == 1:
        return Binding(refuse=fitting[0])
    if fitting:
        return Binding(ambiguous=tuple(fitting))
    late = tuple(c.deal_id for c in ended if c.fits and DUPLICATE_RECEIPT not in c.verdict.codes)
    if late and trusted:
        return Binding(late=late)
    if len(live) == 1:
        return Binding(refuse=live[0].deal_id)
    return Binding()

"""ReceiptDesk: every receipt file, from the bank's e-mail or a buyer's chat, is read, saved,
matched to a deal, verified and bound to that one deal (DESIGN §3, §5 invariants 1–3, 5).

    ReceiptDocument → read_receipt → save <sha256>.<ext> → candidate deals → verify each
                    → bind (itrader.receipts.binding: exactly one deal, never "the first that fits")
                    → claim for that deal → the verdict (a deal ReceiptChecked in DealNews) to "deal:<id>"

A receipt binds only to the deal whose buyer paid (the sender is the order's buyerRealName) and only
when no other deal fits; several fitting deals are each flagged for the operator. A bank receipt
that fits a deal which ended CANCELLED/REJECTED_BUYER within `receipts.late_window` reopens that
deal for an operator (paid_after_cancel): the buyer paid real money to our recipient.

Only a DKIM-verified e-mail from the bank is a trusted channel; a chat receipt is checked and
bound the same way but told with trusted=False, so the deal waits for an operator. A file the
desk cannot read or match never crashes it: the deal (when one is known) is told why and goes to
an operator.
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pykka

from actors.base import ChildContext, SupervisedActor
from actors.directory import Directory
from actors.messages import DealNews, ReceiptDocument, ResumeDeal
from itrader.deal import PAID_AFTER_ENDING, ReceiptChecked, State
from itrader.events import EventLog
from itrader.metrics import RECEIPTS
from itrader.receipts import read_receipt
from itrader.receipts.errors import ReceiptError
from itrader.receipts.extract import sha256_of
from itrader.receipts.parse import Receipt, receipt_to_json
from itrader.receipts.binding import AMBIGUOUS_RECEIPT, PAID_AFTER_CANCEL, Binding, Candidate, bind
# The desk's pure decisions live in itrader.receipts.matching; re-exported here for older callers.
from itrader.receipts.matching import (  # noqa: F401
    candidate_deals, file_extension, paid_to_wallet, payout_terms, summary_of,
)
from itrader.receipts.verify import DUPLICATE_RECEIPT, DealFacts, PayoutTerms, Verdict, fits, verify  # noqa: F401
from itrader.store import Deal, DealNotFound, DuplicateReceipt, Store

log = logging.getLogger(__name__)

NAME = "desk"
EMAIL = "email"
CHAT = "chat"
UNREADABLE = "unreadable"
UNTRUSTED_EMAIL = "untrusted_email"
# Every itrader_receipts_total{verdict} the desk counts (each series starts at 0: itrader.metrics.preset)
VERDICTS = ("accepted", "refused", "unmatched", "untrusted", "ambiguous", "paid_after_cancel", "duplicate", UNREADABLE)
# Deals that wait for a receipt (deal.py's names).
AWAITING_RECEIPT = (State.REQUISITES_SENT.value, State.PAID.value)
# Deals that ended with no money moved: a receipt that fits one means its buyer paid after the end.
ENDED_WITHOUT_MONEY = tuple(state.value for state in PAID_AFTER_ENDING)
DEFAULT_LATE_WINDOW = 24 * 3600.0
DEALS_PAGE = 500


def trusted_channel(document: ReceiptDocument) -> bool:
    """Only the bank's DKIM-verified e-mail is trusted."""
    return document.channel == EMAIL and document.trusted


def verdict_news(deal_id: int, document: ReceiptDocument, *, accepted: bool, reasons: tuple[str, ...],
                 receipt_id: int | None = None, path: Path | None = None, late: bool = False) -> DealNews:
    """The desk's verdict on `document` for one deal, as the deal core's ReceiptChecked."""
    checked = ReceiptChecked(accepted, tuple(reasons), EMAIL if document.channel == EMAIL else CHAT,
                             str(receipt_id or ""), trusted_channel(document), late)
    return DealNews(deal_id, checked, receipt_path=str(path) if path is not None else None)


# --- the actor ------------------------------------------------------------------------------------


class ReceiptDeskActor(SupervisedActor):
    """Registered as "desk". Handles `ReceiptDocument`; tells its verdict (`verdict_news`) to "deal:<id>"."""

    def __init__(self, store: Store, directory: Directory, events: EventLog, receipts_dir: Path,
                 clock: Callable[[], float] = time.time,
                 context: ChildContext | pykka.ActorRef | None = None,
                 late_window: float = DEFAULT_LATE_WINDOW) -> None:
        super().__init__(context)
        self._late_window = late_window
        self._store = store
        self._directory = directory
        self._events = events
        self._receipts_dir = Path(receipts_dir)
        self._clock = clock

    def on_start(self) -> None:
        self._receipts_dir.mkdir(parents=True, exist_ok=True)
        self.register_as(self._directory, NAME)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ReceiptDocument):
            return self._check(message)
        return super().on_receive(message)

    # --- handling one file ---

    def _check(self, document: ReceiptDocument) -> str:
        receipt = self._read(document)
        if receipt is None:
            return UNREADABLE
        path = self._save(document.content, receipt.sha256)
        live = [self._candidate(receipt, deal) for deal in self._candidates(receipt, document)]
        trusted = trusted_channel(document)
        ended = [self._candidate(receipt, deal) for deal in self._ended_deals(receipt, document)] if trusted else []
        verdicts = {c.deal_id: c.verdict for c in live + ended}
        binding = bind(live, ended, trusted=trusted)
        if document.channel == EMAIL and not document.trusted:
            return self._untrusted(document, receipt, binding, verdicts, path)
        if binding.accept is not None:
            return self._claim(document, receipt, binding.accept, path)
        if binding.refuse is not None:
            verdict = verdicts[binding.refuse]
            return self._tell(binding.refuse, document, receipt, path, "refused", accepted=False,
                              reasons=tuple(verdict.codes), verdict=verdict)
        if binding.ambiguous:
            return self._flag_ambiguous(document, receipt, binding.ambiguous, verdicts, path)
        if binding.late:
            return self._paid_after_end(document, receipt, binding.late, verdicts, path)
        self._publish("unmatched", document, receipt, path, candidates=len(live))
        log.warning("desk: unmatched receipt № %s (%s RUB) from %s %s: %d candidate deals",
                    receipt.receipt_number, receipt.amount, document.channel, document.source_id, len(live))
        return "unmatched"

    def _candidate(self, receipt: Receipt, deal: Deal) -> Candidate:
        terms = payout_terms(deal)
        return Candidate(deal.id, verify(receipt, terms, self._facts(deal)), fits(receipt, terms))

    def _read(self, document: ReceiptDocument) -> Receipt | None:
        try:
            return read_receipt(document.content, file_name=document.filename)
        except ReceiptError as error:
            problem = str(error)
        except Exception as error:  # a hostile file may trip the PDF/image libraries anywhere
            problem = f"file could not be read ({type(error).__name__})"
            log.exception("desk: unexpected failure reading %s file %s", document.channel, document.source_id)
        RECEIPTS.labels(verdict=UNREADABLE).inc()
        self._events.publish("receipt.unreadable", channel=document.channel, source_id=document.source_id,
                             deal_id=document.deal_id, problem=problem)
        log.warning("desk: unreadable %s file %r from %s: %s", document.channel, document.filename[:80],
                    document.source_id, problem)
        if document.deal_id is not None:
            self._directory.tell(f"deal:{document.deal_id}",
                                 verdict_news(document.deal_id, document, accepted=False, reasons=(UNREADABLE,)))
        return None

    def _candidates(self, receipt: Receipt, document: ReceiptDocument) -> list[Deal]:
        if document.deal_id is not None:  # a chat file belongs to the chat's deal
            try:
                return [self._store.deals.get(document.deal_id)]
            except DealNotFound:
                return []
        return candidate_deals(receipt, self._deals_awaiting_receipt())

    def _deals_awaiting_receipt(self) -> Iterator[Deal]:
        offset = 0
        while True:
            page = self._store.deals.list_deals(AWAITING_RECEIPT, limit=DEALS_PAGE, offset=offset)
            yield from page
            if len(page) < DEALS_PAGE:
                return
            offset += DEALS_PAGE

    def _ended_deals(self, receipt: Receipt, document: ReceiptDocument) -> list[Deal]:
        """Deals that ended without money within the late window and that the receipt may be for."""
        if document.deal_id is not None:
            return []
        since = datetime.fromtimestamp(self._clock() - self._late_window, tz=timezone.utc)
        return candidate_deals(receipt, self._store.deals.ended_since(ENDED_WITHOUT_MONEY, since))

    def _facts(self, deal: Deal) -> DealFacts:
        return DealFacts(now=datetime.fromtimestamp(self._clock(), tz=timezone.utc),
                         requisites_sent_at=deal.requisites_sent_at,
                         already_seen=self._used_by_another_deal(deal.id),
                         buyer_name=deal.buyer_name)

    def _used_by_another_deal(self, deal_id: int) -> Callable[[str, str], bool]:
        # The same receipt told twice to its own deal is a repeat, not a reuse (handlers are idempotent).
        def seen(receipt_number: str, sha256: str) -> bool:
            found = (self._store.receipts.find(receipt_number=receipt_number),
                     self._store.receipts.find(sha256=sha256))
            return any(receipt is not None and receipt.deal_id != deal_id for receipt in found)
        return seen

    def _untrusted(self, document: ReceiptDocument, receipt: Receipt, binding: Binding,
                   verdicts: dict[int, Verdict], path: Path) -> str:
        """Never accepted, never claimed (a forger must not use up the real receipt's number)."""
        deal_id = binding.accept if binding.accept is not None else binding.refuse
        if deal_id is None:
            self._publish("untrusted", document, receipt, path)
            log.warning("desk: receipt № %s from an untrusted e-mail %s matches no single deal",
                        receipt.receipt_number, document.source_id)
            return "untrusted"
        verdict = verdicts[deal_id]
        return self._tell(deal_id, document, receipt, path, "untrusted", accepted=False,
                          reasons=(UNTRUSTED_EMAIL, *verdict.codes), verdict=verdict)

    def _flag_ambiguous(self, document: ReceiptDocument, receipt: Receipt, deal_ids: tuple[int, ...],
                        verdicts: dict[int, Verdict], path: Path) -> str:
        """More than one deal fits: bind nothing, and every one of them goes to the operator."""
        log.warning("desk: receipt № %s fits %d deals (%s): none is chosen, each goes to an operator",
                    receipt.receipt_number, len(deal_ids), ", ".join(map(str, deal_ids)))
        for deal_id in deal_ids:
            others = ", ".join(str(other) for other in deal_ids if other != deal_id)
            self._tell(deal_id, document, receipt, path, "ambiguous", accepted=False,
                       reasons=(AMBIGUOUS_RECEIPT, *verdicts[deal_id].codes), verdict=verdicts[deal_id],
                       extra={"also_fits": others})
        return "ambiguous"

    def _paid_after_end(self, document: ReceiptDocument, receipt: Receipt, deal_ids: tuple[int, ...],
                        verdicts: dict[int, Verdict], path: Path) -> str:
        """The bank's receipt fits deals that ended without money: their buyer paid after all. The receipt is
        claimed (for the first; it can serve no other deal now) and each deal goes to an operator."""
        receipt_id = self._claim_for(receipt, deal_ids[0], document, verdict="late")
        for deal_id in deal_ids:
            verdict = verdicts[deal_id]
            reasons = (PAID_AFTER_CANCEL, *verdict.codes) + ((AMBIGUOUS_RECEIPT,) if len(deal_ids) > 1 else ())
            checked = verdict_news(deal_id, document, accepted=False, reasons=reasons, path=path, late=True,
                                   receipt_id=receipt_id if deal_id == deal_ids[0] else None)
            delivered = self._directory.tell(f"deal:{deal_id}", checked) or self._directory.tell(
                "deals", ResumeDeal(deal_id, checked))
            self._publish("paid_after_cancel", document, receipt, path, deal_id=deal_id, reasons=list(reasons),
                          trusted=True, delivered=delivered, summary=summary_of(receipt, document, verdict))
            log.warning("desk: receipt № %s fits deal %s, which had ended: the buyer paid after the cancel",
                        receipt.receipt_number, deal_id)
        return "paid_after_cancel"

    def _claim(self, document: ReceiptDocument, receipt: Receipt, deal_id: int, path: Path) -> str:
        try:
            receipt_id = self._claim_for(receipt, deal_id, document, verdict="accepted")
        except DuplicateReceipt:  # claimed meanwhile by another deal (or another process)
            return self._tell(deal_id, document, receipt, path, "duplicate", accepted=False,
                              reasons=(DUPLICATE_RECEIPT,))
        return self._tell(deal_id, document, receipt, path, "accepted", accepted=True, receipt_id=receipt_id)

    def _claim_for(self, receipt: Receipt, deal_id: int, document: ReceiptDocument, verdict: str) -> int | None:
        """Claim the receipt's number and file hash for `deal_id`; its id. Raises DuplicateReceipt when
        another deal holds it; the same deal's earlier claim is reused (handlers are idempotent)."""
        try:
            return self._store.receipts.claim_receipt(
                receipt.receipt_number, receipt.sha256, deal_id, source=document.channel,
                parsed=receipt_to_json(receipt), verdict=verdict).id
        except DuplicateReceipt as duplicate:
            if duplicate.existing_deal_id != deal_id:
                raise
            return self._existing_claim(receipt, deal_id)

    def _existing_claim(self, receipt: Receipt, deal_id: int) -> int | None:
        for existing in self._store.receipts.for_deal(deal_id):
            if existing.receipt_number == receipt.receipt_number or existing.sha256 == receipt.sha256:
                return existing.id
        return None

    def _tell(self, deal_id: int, document: ReceiptDocument, receipt: Receipt, path: Path, verdict_label: str,
              *, accepted: bool, reasons: tuple[str, ...] = (), receipt_id: int | None = None,
              verdict: Verdict | None = None, extra: dict[str, Any] | None = None) -> str:
        trusted = trusted_channel(document)
        delivered = self._directory.tell(f"deal:{deal_id}", verdict_news(
            deal_id, document, accepted=accepted, reasons=reasons, receipt_id=receipt_id, path=path))
        self._publish(verdict_label, document, receipt, path, deal_id=deal_id, reasons=list(reasons),
                      trusted=trusted, delivered=delivered, summary=summary_of(receipt, document, verdict),
                      **(extra or {}))
        log.info("desk: receipt № %s %s for deal %s (%s%s)%s", receipt.receipt_number, verdict_label, deal_id,
                 document.channel, ", trusted" if trusted else "", f": {', '.join(reasons)}" if reasons else "")
        return verdict_label

    def _publish(self, verdict_label: str, document: ReceiptDocument, receipt: Receipt, path: Path,
                 **data: Any) -> None:
        RECEIPTS.labels(verdict=verdict_label).inc()
        self._events.publish(f"receipt.{verdict_label}", channel=document.channel, source_id=document.source_id,
                             receipt_number=receipt.receipt_number, amount=str(receipt.amount),
                             path=str(path), **data)

    def _save(self, content: bytes, sha256: str) -> Path:
        """receipts_dir/<sha256>.<ext>; written once, atomically (the name is the content's hash)."""
        sha256 = sha256 or sha256_of(content)
        path = self._receipts_dir / f"{sha256}.{file_extension(content)}"
        if not path.exists():
            partial = path.with_name(f".{path.name}.{os.getpid()}.part")
            partial.write_bytes(content)
            os.replace(partial, path)
        return path

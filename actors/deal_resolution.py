"""A Deal's operator resolution, after its fresh read-back of Gate and Bybit (itrader.deal.resolve decides).

Journals who asked what and why (an "operator" note) with the verdict and what the platforms showed, hands
an allowed resolution to the deal as an `OperatorResolved` event (so its money steps go through the same
intent-before-call path as automatic ones), and answers the waiting request — a cancel that returns the
payout only once Gate's read-back after the return decided the deal's end (`answer_return`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from actors import messages as msg
from actors.deal_plumbing import noted_receipt_files, operator_receipt
from itrader import deal
from itrader.deal.resolve import APPROVE_RELEASE, CANCEL, CONFLICT, GO, RECHECK_RECEIPT, Verdict
from itrader.events import EventLog
from itrader.store import DuplicateReceipt, Store

log = logging.getLogger("itrader.deal")

OPERATOR_STEP = "operator"  # the journal note of an operator's resolution


def settle_resolution(request: msg.Resolve, view: deal.PlatformView, *, store: Store, receipts_dir: Path,
                      facts: Callable[[], deal.DealFacts], apply: Callable[[Any], None], events: EventLog,
                      send: Callable[[str, Any], Any]) -> dict | None:
    """The answer, or None when it waits for Gate's answer to a return of the payout (the caller holds the
    request and calls `answer_return`)."""
    res = request.resolution
    before = facts()
    receipt_id = None
    if res.action == APPROVE_RELEASE and before.state in deal.REVIEWABLE:
        receipt_id = operator_receipt(store, receipts_dir, request.deal_id, claim=False)
    verdict = deal.judge(before, res, view, receipt_id)
    if verdict.outcome == GO and receipt_id == "unclaimed":
        try:
            receipt_id = operator_receipt(store, receipts_dir, request.deal_id, claim=True)
        except DuplicateReceipt as exc:
            verdict = Verdict(CONFLICT, f"the receipt is already bound to deal {exc.existing_deal_id}; a receipt "
                                        "serves one deal, ever")
    read_back = {"payout_status": view.payout_status, "order_status": view.order_status, "ad_online": view.ad_online}
    store.deals.record_note(request.deal_id, OPERATOR_STEP, {**res.note(), "verdict": verdict.outcome,
                                                             "message": verdict.message, "read_back": read_back})
    if verdict.outcome == GO:
        apply(deal.OperatorResolved(res, view, receipt_id))
        if res.action == RECHECK_RECEIPT and facts().state == deal.State.PAID:
            _check_again(request.deal_id, store, receipts_dir, send)
    after = facts()
    if verdict.outcome == GO and after.pending_intent == deal.RETURN_PAYOUT:
        log.warning("deal %s: operator %s cancel (%s): returning payout %s to Gate", request.deal_id, res.operator,
                    res.reason_kind, after.payout_id)
        return None
    answer = {"deal_id": request.deal_id, "action": res.action, "outcome": verdict.outcome,
              "message": verdict.message, "field": verdict.field, "state": after.state.value}
    _publish_and_answer(request, answer, events)
    return answer


def answer_return(request: msg.Resolve, after: deal.DealFacts, events: EventLog) -> None:
    """The held cancel-and-return, answered with the end Gate's read-back gave the deal (the state change
    and its reason, the operator's words and Gate's status, are already in the journal)."""
    ended = after.state == deal.State.CANCELLED
    _publish_and_answer(request, {"deal_id": request.deal_id, "action": CANCEL, "outcome": GO if ended else CONFLICT,
                                  "message": after.reason or "", "field": None, "state": after.state.value}, events)


def refuse_while_returning(request: msg.Resolve, store: Store, state: str, events: EventLog) -> None:
    """Another resolution while the payout's return is under way: nothing is read or done until Gate answered."""
    answer = {"deal_id": request.deal_id, "action": request.resolution.action, "outcome": CONFLICT,
              "message": "the payout's return to Gate is under way; read the deal back in a moment", "field": None,
              "state": state}
    store.deals.record_note(request.deal_id, OPERATOR_STEP, {**request.resolution.note(), "verdict": CONFLICT,
                                                             "message": answer["message"], "read_back": None})
    _publish_and_answer(request, answer, events)


def _publish_and_answer(request: msg.Resolve, answer: dict, events: EventLog) -> None:
    res = request.resolution
    events.publish("operator_resolution", **answer, operator=res.operator, reason_kind=res.reason_kind)
    log.warning("deal %s: operator %s %s (%s): %s — %s", request.deal_id, res.operator, res.action,
                res.reason_kind, answer["outcome"], answer["message"])
    _answer(request, answer)


def _check_again(deal_id: int, store: Store, receipts_dir: Path, send: Callable[[str, Any], Any]) -> None:
    """The files the desk already saw for this deal go through its checks again, bound to this deal; new
    mail comes as usual. A pass puts the deal back on the automatic path; a failure back in review."""
    for path, channel, trusted in noted_receipt_files(store, receipts_dir, deal_id):
        send("desk", msg.ReceiptDocument(channel=channel, trusted=trusted, filename=path.name,
                                         content=path.read_bytes(), source_id=f"recheck of deal {deal_id}",
                                         deal_id=deal_id))


def _answer(request: msg.Resolve, answer: dict) -> None:
    try:
        request.reply.set(answer)
    except Exception:  # noqa: BLE001 — nobody waits any more (the request timed out)
        pass

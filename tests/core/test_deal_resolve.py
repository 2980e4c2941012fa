"""The operator's resolution, pure (itrader.deal.resolve): what a request must say, what the platforms'
read-back allows, and which money steps follow — each at most once."""
from dataclasses import replace
from decimal import Decimal

import pytest

from itrader import deal
from itrader.deal.resolve import BAD_INPUT, CONFLICT, DONE, GO, BadField, OperatorResolved, judge, parse_resolution

BASE = {"reason": "checked the statement", "reason_kind": "evidence_checked"}


def review_deal(state=deal.State.MANUAL_REVIEW, **changes) -> deal.DealFacts:
    facts = deal.DealFacts(payout_id="77", state=state, mode="manual", amount=Decimal("4100"), account="b1",
                           ad_id="ad1", ad_closed=True, order_id="o1", order_status=20, requisites_sent_at=5.0,
                           reason="receipt_refused (email): amount_mismatch")
    return replace(facts, **changes)


def view(payout=5, order=20, amount="4100", ad_online=False) -> deal.PlatformView:
    return deal.PlatformView(payout_status=payout, payout_amount=Decimal(amount), ad_id="ad1", ad_online=ad_online,
                             order_id="o1", order_status=order)


def request(**body):
    return parse_resolution({**BASE, **body}, operator="alice")


@pytest.mark.parametrize("body, field", [
    ({"action": "approve"}, "action"), ({"action": "cancel", "reason": "  "}, "reason"),
    ({"action": "cancel", "reason": "a\nforged log line"}, "reason"), ({"action": "cancel", "reason_kind": "x"}, "reason_kind"),
    ({"action": "approve_release"}, "amount"), ({"action": "approve_release", "amount": "-5"}, "amount"),
    ({"action": "approve_release", "amount": 4100}, "amount"), ({"action": "approve_release", "amount": "4e3"}, "amount"),
    ({"action": "cancel", "amount": "4100"}, "amount"), ({"action": "cancel", "return_payout": "yes"}, "return_payout"),
    ({"action": "resolved_outside", "return_payout": True}, "return_payout"), ({"action": "cancel", "extra": 1}, "extra"),
])
def test_a_bad_request_names_its_field(body, field):
    with pytest.raises(BadField) as error:
        parse_resolution({**BASE, **body}, operator="alice")
    assert error.value.field == field


def test_the_request_keeps_who_and_why():
    res = request(action="approve_release", amount="4100.00", operator="bob")
    assert res.amount == Decimal("4100") and res.operator == "bob" and res.note()["reason_kind"] == "evidence_checked"
    assert request(action="cancel").operator == "alice"


def test_approve_release_goes_back_on_the_money_path_with_both_steps_confirmed():
    facts = review_deal()
    event = OperatorResolved(request(action="approve_release", amount="4100"), view(), "12")
    decision = deal.step(facts, event, 100.0)
    assert decision.facts.state == deal.State.RECEIPT_OK and decision.facts.pending_intent == deal.APPROVE
    assert decision.actions == (deal.ApprovePayout("77", "12"),)  # no operator prompt: the operator just decided
    approved = deal.step(decision.facts, deal.ApproveSucceeded(), 101.0)
    assert approved.facts.state == deal.State.APPROVED and approved.actions == (deal.ReleaseOrder("b1", "o1"),)
    done = deal.step(approved.facts, deal.ReleaseSucceeded(), 102.0)
    assert done.facts.state == deal.State.COMPLETED
    # The same request again, now or after the end: done, nothing more moves.
    again = deal.step(done.facts, event, 103.0)
    assert again.ignored and not again.actions
    assert judge(approved.facts, event.resolution, view()).outcome == DONE


@pytest.mark.parametrize("payout, order, expected", [
    (5, 30, "appeal"), (5, 100, "appeal"), (5, 110, "appeal"), (5, 40, "cancelled"), (5, 80, "cancelled"),
    (5, 10, "not marked paid"), (8, 20, "no longer ours"), (4, 20, "no longer ours"), (None, 20, "Gate could not"),
    (5, None, "Bybit could not"),
])
def test_approve_release_is_refused_when_the_platforms_forbid_it(payout, order, expected):
    facts = review_deal(state=deal.State.DISPUTE)
    verdict = judge(facts, request(action="approve_release", amount="4100"), view(payout, order), "12")
    assert verdict.outcome == CONFLICT and expected in verdict.message
    decision = deal.step(facts, OperatorResolved(request(action="approve_release", amount="4100"),
                                                 view(payout, order), "12"), 1.0)
    assert decision.ignored and decision.facts == facts and not decision.actions


def test_a_wrong_amount_a_live_deal_or_an_unknown_outcome_moves_nothing():
    res = request(action="approve_release", amount="4010")
    assert judge(review_deal(), res, view(), "12").outcome == BAD_INPUT
    good = request(action="approve_release", amount="4100")
    assert judge(review_deal(), good, view(amount="4010"), "12").outcome == CONFLICT  # Gate shows another amount
    assert judge(review_deal(state=deal.State.PAID), good, view(), "12").outcome == CONFLICT
    assert judge(review_deal(pending_intent=deal.TAKE), good, view(), "12").outcome == CONFLICT


def test_a_step_left_open_when_the_deal_stopped_is_settled_by_the_read_back():
    """A release in flight when the appeal came: the deal is a DISPUTE with the release's intent open. While
    Bybit shows the appeal nothing goes; once the appeal ended, the read-back settles it and the operator may
    act — and an approve Gate already shows done is not done again."""
    good = request(action="approve_release", amount="4100")
    stuck = review_deal(state=deal.State.DISPUTE, pending_intent=deal.RELEASE, approved=True)
    assert "still unknown" in judge(stuck, good, view(7, 30), "12").message
    decision = deal.step(stuck, OperatorResolved(good, view(7, 20), "12"), 1.0)
    assert decision.facts.pending_intent == deal.RELEASE and decision.actions == (deal.ReleaseOrder("b1", "o1"),)
    open_approve = review_deal(pending_intent=deal.APPROVE)
    decision = deal.step(open_approve, OperatorResolved(good, view(7, 20), "12"), 1.0)
    assert decision.facts.approved and decision.actions == (deal.ReleaseOrder("b1", "o1"),)
    assert judge(review_deal(), good, view(), None).outcome == CONFLICT  # no receipt file for Gate's approve
    # A live deal is judged without a read-back (the actor never reconciles it for a request): refused.
    assert judge(review_deal(state=deal.State.APPROVED), good, deal.PlatformView()).outcome == CONFLICT
    assert judge(review_deal(), good, deal.PlatformView(), "12").outcome == CONFLICT


def test_what_is_already_done_on_the_platforms_is_not_done_again():
    res = request(action="approve_release", amount="4100")
    approved = deal.step(review_deal(), OperatorResolved(res, view(payout=7, order=20), "12"), 1.0)
    assert approved.facts.state == deal.State.APPROVED and approved.actions == (deal.ReleaseOrder("b1", "o1"),)
    both = deal.step(review_deal(), OperatorResolved(res, view(payout=7, order=50), "12"), 1.0)
    assert both.facts.state == deal.State.COMPLETED and not any(
        isinstance(a, deal.MONEY_ACTIONS) for a in both.actions)
    released = deal.step(review_deal(), OperatorResolved(res, view(payout=5, order=50), "12"), 1.0)
    assert released.actions == (deal.ApprovePayout("77", "12"),)
    finished = deal.step(released.facts, deal.ApproveSucceeded(), 2.0)
    assert finished.facts.state == deal.State.COMPLETED and not any(
        isinstance(a, deal.ReleaseOrder) for a in finished.actions)


def test_resolved_outside_records_the_end_the_platforms_show_and_never_writes():
    res = request(action="resolved_outside", reason_kind="fixed_outside")
    for payout, order, state in ((7, 50, deal.State.COMPLETED), (5, 40, deal.State.CANCELLED),
                                 (8, 80, deal.State.CANCELLED)):
        decision = deal.step(review_deal(), OperatorResolved(res, view(payout, order)), 1.0)
        assert decision.facts.state == state
        assert not any(isinstance(a, deal.MONEY_ACTIONS) for a in decision.actions)
    for payout, order in ((7, 20), (5, 20), (5, 30), (5, 50)):
        assert judge(review_deal(), res, view(payout, order)).outcome == CONFLICT


def test_cancel_only_when_no_money_moved_and_the_order_is_closed():
    res = request(action="cancel", reason_kind="buyer_gone")
    decision = deal.step(review_deal(ad_closed=False, order_id=None, order_status=None), OperatorResolved(
        res, deal.PlatformView(payout_status=5, ad_id="ad1", ad_online=True)), 1.0)
    assert decision.facts.state == deal.State.CANCELLED and deal.CancelAd("b1", "ad1") in decision.actions
    assert judge(review_deal(), res, view(5, 20)).outcome == CONFLICT  # a paid order stays open
    assert judge(review_deal(), res, view(7, 40)).outcome == CONFLICT  # the payout was approved: money moved
    assert judge(review_deal(), res, view(5, 40)).outcome == GO


def test_cancel_with_return_gives_the_payout_back_and_ends_only_on_gates_read_back():
    res = request(action="cancel", return_payout=True, reason="buyer walked away", reason_kind="buyer_gone")
    assert judge(review_deal(), res, view(5, 20)).outcome == CONFLICT  # the order is open
    assert judge(review_deal(), res, view(9, 40)).outcome == CONFLICT  # nothing in work to return
    assert judge(review_deal(), res, view(7, 40)).outcome == CONFLICT  # approved: money moved
    assert judge(review_deal(), res, view(5, 40)).outcome == GO
    sent = deal.step(review_deal(ad_closed=False, order_status=40), OperatorResolved(res, view(5, 40, ad_online=True)),
                     1.0)
    returning = sent.facts
    assert returning.state == deal.State.MANUAL_REVIEW and returning.pending_intent == deal.RETURN_PAYOUT
    assert sent.actions == (deal.CancelAd("b1", "ad1"), deal.ReturnPayout("77"))  # the ad first; nothing released
    assert not any(isinstance(a, deal.MONEY_ACTIONS) for a in sent.actions)

    ended = deal.step(returning, deal.PayoutReturnRead(9), 2.0).facts
    assert ended.state == deal.State.CANCELLED and ended.pending_intent is None and not ended.released
    assert "buyer walked away" in ended.reason and "returned to Gate (status 9)" in ended.reason
    assert deal.step_done(deal.RETURN_PAYOUT, ended)
    # Gate still shows it in work (the cancel was refused), or cannot be read: the deal stays in review, the
    # operator is told and may try again.
    for read in (deal.PayoutReturnRead(5, "IncorrectStatus: refused"), deal.PayoutReturnRead(None, "timeout")):
        kept = deal.step(returning, read, 2.0)
        assert kept.facts.state == deal.State.MANUAL_REVIEW and kept.facts.pending_intent is None
        assert kept.facts.resolution is None and any(isinstance(a, deal.Notify) for a in kept.actions)
        assert judge(kept.facts, res, view(5, 40)).outcome == GO
    assert deal.step(review_deal(), deal.PayoutReturnRead(9), 2.0).ignored  # no return under way
    # The actor stopped before Gate answered: the read-back on the next start settles the intent.
    assert deal.reconcile(returning, view(9, 40), 3.0).facts.pending_intent is None


def test_recheck_goes_back_to_waiting_for_the_receipt():
    res = request(action="recheck_receipt", reason_kind="mailbox_fixed")
    decision = deal.step(review_deal(), OperatorResolved(res, view(5, 20)), 50.0)
    assert decision.facts.state == deal.State.PAID and decision.facts.receipt is None
    assert decision.facts.deadline(deal.RECEIPT_TIMER) is not None
    assert judge(review_deal(requisites_sent_at=None), res, view(5, 20)).outcome == CONFLICT
    assert judge(review_deal(), res, view(5, 30)).outcome == CONFLICT

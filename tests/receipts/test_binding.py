"""Which deal a receipt binds to: exactly one, never "the first that fits" (DESIGN §5.2, §5.6)."""
from itrader.receipts.binding import Binding, Candidate, bind
from itrader.receipts.verify import Reason, Verdict

OK = Verdict(True)


def refused(*codes: str) -> Verdict:
    return Verdict(False, tuple(Reason(code, code) for code in codes))


def test_the_one_deal_that_accepts_gets_the_receipt_even_when_an_older_one_also_fits():
    # Two deals for one recipient and amount: the non-payer's (older) fails on the sender's name.
    older = Candidate(1, refused("payer_mismatch"), fits=True)
    payer = Candidate(2, OK, fits=True)
    assert bind([older, payer]) == Binding(accept=2)


def test_several_accepting_deals_bind_nothing_and_are_all_flagged():
    binding = bind([Candidate(1, OK, True), Candidate(2, OK, True), Candidate(3, refused("amount_mismatch"), False)])
    assert binding.accept is None and binding.refuse is None
    assert binding.ambiguous == (1, 2)


def test_a_payer_mismatch_is_told_to_the_deal_whose_recipient_got_the_money():
    other = Candidate(1, refused("recipient_mismatch"), fits=False)
    paid = Candidate(2, refused("payer_mismatch"), fits=True)
    assert bind([other, paid]) == Binding(refuse=2)


def test_two_fitting_deals_that_both_refuse_are_flagged_not_picked():
    binding = bind([Candidate(1, refused("payer_mismatch"), True), Candidate(2, refused("payer_unknown"), True)])
    assert binding == Binding(ambiguous=(1, 2))


def test_a_single_live_candidate_hears_why_when_nothing_fits():
    assert bind([Candidate(5, refused("amount_mismatch"), False)]) == Binding(refuse=5)


def test_several_candidates_none_fitting_is_unmatched():
    binding = bind([Candidate(1, refused("amount_mismatch"), False), Candidate(2, refused("recipient_mismatch"), False)])
    assert binding.unmatched


def test_a_bank_receipt_fitting_only_an_ended_deal_reopens_it():
    ended = [Candidate(7, refused("payer_mismatch"), True), Candidate(8, refused("amount_mismatch"), False)]
    assert bind([], ended) == Binding(late=(7,))
    # A live candidate that does not fit does not hide the late payment.
    assert bind([Candidate(3, refused("amount_mismatch"), False)], ended) == Binding(late=(7,))


def test_a_live_fitting_deal_wins_over_an_ended_one():
    assert bind([Candidate(3, OK, True)], [Candidate(7, OK, True)]) == Binding(accept=3)


def test_only_the_banks_own_receipt_reopens_an_ended_deal():
    assert bind([], [Candidate(7, OK, True)], trusted=False).unmatched


def test_an_already_used_receipt_reopens_nothing():
    assert bind([], [Candidate(7, refused("duplicate_receipt"), True)]).unmatched

"""Room for new ads on a Bybit account, and what a refusal of the account blocks (itrader.ad_limits)."""
import pytest

from itrader import ad_limits
from itrader.ad_limits import AD_LIMIT, PARAMETER_EXCEPTION, SECURITY_RISK, ad_room, block_after, recount_due
from itrader.allocator_rules import no_slot_reason


@pytest.mark.parametrize("configured, side_limit, taken, foreign, room", [
    (2, 3, 0, 0, 2),  # the configured number while the side limit allows it
    (2, 3, 2, 0, 1),  # taken ads are still online: they count against Bybit's limit
    (2, 3, 0, 2, 1),  # so do the ads posted by hand
    (2, 3, 1, 3, 0),
    (5, 3, 0, 0, 3),
])
def test_room_is_what_the_side_limit_leaves_at_most_the_configured_number(configured, side_limit, taken, foreign,
                                                                             room):
    assert ad_room(configured, side_limit, taken, foreign, untaken=0, block=None, now=0.0) == room


def test_a_blocked_account_offers_no_new_slot_until_the_block_ends():
    block = block_after(SECURITY_RISK, now=100.0)
    assert "Bybit app" in block.reason and block.until == 100.0 + ad_limits.BLOCK_SECONDS[SECURITY_RISK]
    assert ad_room(2, 3, 0, 0, untaken=1, block=block, now=101.0) == 1  # the ad it has, no more
    assert ad_room(2, 3, 0, 0, untaken=1, block=block, now=block.until) == 2
    assert "912000004" in block_after(PARAMETER_EXCEPTION, 0.0, "Parameter exception").reason


def test_hand_posted_ads_are_the_online_ones_that_are_not_ours():
    listed = [("a", True), ("b", True), ("c", False), ("mine", True)]
    assert ad_limits.foreign_online(listed, {"mine": object()}) == 2


def test_hand_posted_ads_are_counted_again_while_they_hold_slots_and_when_a_limit_block_ends():
    assert not recount_due(0, None, checked_at=0.0, now=1000.0)  # none known: the next refusal tells
    assert recount_due(1, None, checked_at=0.0, now=ad_limits.FOREIGN_RECOUNT_SECONDS)
    assert not recount_due(1, None, checked_at=0.0, now=1.0)
    block = block_after(AD_LIMIT, now=10.0)
    assert not recount_due(0, block, checked_at=10.0, now=11.0)
    assert recount_due(0, block, checked_at=10.0, now=block.until)
    assert not recount_due(0, block, checked_at=block.until, now=block.until + 1)


def test_no_slot_reason_names_the_accounts_bybit_refused():
    assert no_slot_reason("no slot", {"a": "", "b": ""}) == "no slot"
    assert no_slot_reason("no slot", {"b": "risk check", "a": "limit"}) == "no slot (a: limit; b: risk check)"

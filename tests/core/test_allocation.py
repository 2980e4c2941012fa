"""Account choice: free slot, least loaded, SBP/Tinkoff alternation, rebalancing off a dead account;
twins (same amount, same recipient) never online together."""
from decimal import Decimal
from itertools import permutations

from hypothesis import given, strategies as st

from itrader.allocation import (
    SBP,
    TINKOFF,
    AccountLoad,
    Allocation,
    LiveAd,
    Move,
    choose,
    rebalance,
    recipient_key,
    twin_of,
)


def acc(name, *ads, healthy=True, deals=None, max_ads=2, methods=(SBP, TINKOFF)):
    live = tuple(LiveAd(f"{name}-{i}", m, taken) for i, (m, taken) in enumerate(ads))
    return AccountLoad(name, healthy, live, len(live) if deals is None else deals, max_ads, frozenset(methods))


def test_no_accounts_or_all_full_gives_none():
    assert choose([]) is None
    assert choose([acc("a", (SBP, False), (TINKOFF, False)), acc("b", (TINKOFF, False), (SBP, False))]) is None


def test_unhealthy_accounts_are_never_chosen():
    assert choose([acc("a", healthy=False)]) is None
    assert choose([acc("a", healthy=False), acc("b", (SBP, False))]) == Allocation("b", TINKOFF)


def test_empty_account_starts_with_sbp():
    assert choose([acc("a")]) == Allocation("a", SBP)
    assert choose([acc("a")]).payment_type == 382


def test_account_with_one_ad_gets_the_opposite_method():
    assert choose([acc("a", (SBP, False))]) == Allocation("a", TINKOFF)
    assert choose([acc("a", (TINKOFF, False))]) == Allocation("a", SBP)
    assert choose([acc("a", (TINKOFF, False))]).payment_type == 382


def test_a_taken_ad_frees_its_method_and_slot():
    # the SBP ad has an order on it: SBP is free again, and the slot counts as free
    assert choose([acc("a", (SBP, True), (TINKOFF, False))]) == Allocation("a", SBP)


def test_least_loaded_account_wins_then_the_name():
    accounts = [acc("a", (SBP, True), deals=3), acc("b", (SBP, False), deals=1), acc("c", deals=1)]
    # b and c both have 1 open deal; c has fewer un-taken ads
    assert choose(accounts) == Allocation("c", TINKOFF)  # SBP is already used by b's un-taken ad
    assert choose([acc("x", deals=0), acc("y", deals=0)]).account == "x"
    assert choose([acc("y", deals=0), acc("x", deals=0)]).account == "x"


def test_equally_loaded_accounts_go_to_the_first_name_in_every_input_order():
    # The allocator's account list follows registration and report order; the choice must not.
    names = ["SandboxSeller2", "SandboxSeller10", "SandboxSeller1", "desk"]
    for deals, ads in ((0, ()), (1, ((SBP, False),))):  # idle, and equally busy
        for order in permutations(names):
            accounts = [acc(name, *ads, deals=deals) for name in order]
            assert choose(accounts).account == "SandboxSeller1", order  # plain string order: 1 < 10 < 2


def test_fewer_open_deals_then_fewer_untaken_ads_win_over_the_name_in_every_input_order():
    fewer_deals = [acc("a", deals=2), acc("b", deals=2), acc("z", deals=1)]
    fewer_untaken = [acc("a", (SBP, False), deals=1), acc("b", (TINKOFF, False), deals=1), acc("z", deals=1)]
    for accounts in (fewer_deals, fewer_untaken):
        for order in permutations(accounts):
            assert choose(list(order)).account == "z", order
    # open deals count before un-taken ads: z has fewer ads up but more deals
    for order in permutations([acc("a", (SBP, False), deals=0), acc("z", deals=1)]):
        assert choose(list(order)).account == "a"


def test_the_first_name_is_passed_over_only_when_it_cannot_take_the_ad():
    for order in permutations([acc("a", healthy=False), acc("b", max_ads=0), acc("c"), acc("d")]):
        assert choose(list(order)).account == "c"


def test_empty_account_gets_the_rarer_method_across_accounts():
    accounts = [acc("a", (SBP, False), deals=5), acc("b", deals=0)]
    assert choose(accounts) == Allocation("b", TINKOFF)


def test_prefer_breaks_ties_only():
    assert choose([acc("a")], prefer=TINKOFF) == Allocation("a", TINKOFF)
    assert choose([acc("a", (SBP, False))], prefer=SBP) == Allocation("a", TINKOFF)


def test_account_without_a_configured_method_only_offers_the_other():
    assert choose([acc("a", methods=(TINKOFF,))]) == Allocation("a", TINKOFF)
    assert choose([acc("a", (TINKOFF, False), methods=(TINKOFF,))]) is None


def test_max_ads_is_respected():
    assert choose([acc("a", (SBP, False), max_ads=1)]) is None
    assert choose([acc("a", max_ads=0)]) is None


def test_successive_ads_alternate_methods():
    accounts = [acc("a"), acc("b")]
    chosen = []
    for i in range(4):
        allocation = choose(accounts)
        chosen.append((allocation.account, allocation.method))
        accounts = [
            AccountLoad(a.name, True, a.ads + (LiveAd(f"n{i}", allocation.method),), a.open_deals + 1)
            if a.name == allocation.account else a
            for a in accounts
        ]
    assert chosen == [("a", SBP), ("b", TINKOFF), ("a", TINKOFF), ("b", SBP)]
    assert choose(accounts) is None


ads_strategy = st.lists(st.tuples(st.sampled_from([SBP, TINKOFF]), st.booleans()), max_size=3)


@given(st.lists(st.tuples(ads_strategy, st.booleans(), st.integers(0, 5)), max_size=5))
def test_choice_never_breaks_the_slot_or_method_rules(spec):
    accounts = [acc(f"a{i}", *ads, healthy=healthy, deals=deals) for i, (ads, healthy, deals) in enumerate(spec)]
    allocation = choose(accounts)
    if allocation is None:
        assert all(not a.healthy or not a.free_methods() for a in accounts)
        return
    account = next(a for a in accounts if a.name == allocation.account)
    assert account.healthy
    assert len(account.untaken) < account.max_ads
    assert allocation.method not in {ad.method for ad in account.untaken}


def test_rebalance_moves_untaken_ads_off_a_dead_account_keeping_methods():
    dead = acc("dead", (SBP, False), (TINKOFF, True), healthy=False)
    plan = rebalance([dead, acc("b"), acc("c", (SBP, False))])
    # the taken ad stays with its order; the un-taken SBP ad goes to the empty account b
    assert plan.moves == (Move("dead-0", "dead", "b", SBP),)
    assert plan.stranded == ()


def test_rebalance_spreads_ads_and_switches_method_when_needed():
    dead = acc("dead", (SBP, False), (TINKOFF, False), healthy=False)
    plan = rebalance([dead, acc("b", (SBP, False), deals=1), acc("c", (TINKOFF, False), deals=1)])
    # nobody can take SBP except c; then b can only take the Tinkoff ad
    assert plan.moves == (Move("dead-0", "dead", "c", SBP), Move("dead-1", "dead", "b", TINKOFF))
    assert plan.stranded == ()
    plan = rebalance([dead, acc("b", (SBP, False), deals=1)])
    # b has one SBP ad: the Tinkoff ad keeps its method there, and then b is full
    assert plan.moves == (Move("dead-1", "dead", "b", TINKOFF),)
    assert plan.stranded == ("dead-0",)
    plan = rebalance([acc("dead", (SBP, False), healthy=False), acc("b", (SBP, False), deals=1)])
    assert plan.moves == (Move("dead-0", "dead", "b", TINKOFF),)  # no SBP slot anywhere: switch


def test_rebalance_places_two_ads_on_two_accounts():
    dead = acc("dead", (SBP, False), (TINKOFF, False), healthy=False)
    for order in permutations([acc("b"), acc("c")]):  # the targets are picked by name, not by position
        plan = rebalance([dead, *order])
        assert plan.moves == (Move("dead-0", "dead", "b", SBP), Move("dead-1", "dead", "c", TINKOFF))


def test_rebalance_with_no_healthy_account_strands_everything():
    plan = rebalance([acc("a", (SBP, False), healthy=False), acc("b", (TINKOFF, False), healthy=False)])
    assert plan.moves == ()
    assert plan.stranded == ("a-0", "b-0")


def test_rebalance_of_healthy_accounts_is_empty():
    assert rebalance([acc("a", (SBP, False))]).moves == ()


# ------------------------------------------------------------------ twins


def test_a_phone_is_one_recipient_whatever_its_format():
    formats = ["79001234567", "+7 (900) 123-45-67", "89001234567", "9001234567", " +7 900 123 45 67 "]
    assert {recipient_key(wallet) for wallet in formats} == {"phone:9001234567"}
    assert recipient_key("79001234568") != recipient_key("79001234567")


def test_a_card_is_keyed_by_the_last_four_digits_a_receipt_shows():
    assert recipient_key("2200 7001 2345 6789") == recipient_key("2200700123456789") == "card:6789"
    assert recipient_key("4276 3800 0000 6789") == "card:6789"  # another card, but a receipt shows *6789 for both
    assert recipient_key("2200700123456780") == "card:6780"
    assert recipient_key("2200700123456789") != recipient_key("79001236789")  # a phone is never a card


def test_a_wallet_without_digits_has_no_key():
    assert recipient_key(None) is None
    assert recipient_key("") is None
    assert recipient_key("n/a") is None
    assert recipient_key("٧٩٠٠١٢٣٤٥٦٧") is None  # only ASCII digits count


def test_twin_of_finds_the_live_deal_with_the_same_amount_and_recipient():
    live = [(1, Decimal("5000"), "79001234567"), (2, Decimal("7000"), "+7 900 123-45-67"),
            (3, Decimal("5000.00"), "2200700123456789")]
    assert twin_of(Decimal("5000.0"), "+7 (900) 123-45-67", live) == 1
    assert twin_of(Decimal("7000"), "89001234567", live) == 2
    assert twin_of(Decimal("5000"), "2200 1111 2222 6789", live) == 3


def test_a_different_amount_or_recipient_is_no_twin():
    live = [(1, Decimal("5000"), "79001234567"), (2, None, "79001234567"), (3, Decimal("5000"), None)]
    assert twin_of(Decimal("5000.01"), "79001234567", live) is None
    assert twin_of(Decimal("5000"), "79001234568", live) is None
    assert twin_of(Decimal("5000"), "2200700123454567", live) is None  # a card ending like the phone
    assert twin_of(None, "79001234567", live) is None
    assert twin_of(Decimal("5000"), None, live) is None
    assert twin_of(Decimal("5000"), "79001234567", []) is None

"""The pure decisions of a Bybit account (itrader.bybit_rules): no I/O, no actor."""
from __future__ import annotations

from decimal import Decimal

from itrader.bybit import ChatMessage, OrderSummary, PaymentMethod
from itrader.bybit_rules import (
    MISSING_ORDER_REREAD_TICKS, DealWatch, LiveAd, OutgoingChat, QueuedWrite, chat_worth_reading,
    method_of, new_buyer_messages, next_write, order_for_watch, our_texts, payment_ids_by_method, poll_interval,
    reread_missing_order_now, watch_active,
)

US, BUYER = "100", "200"


def message(msg_id: str, user_id: str, created_ms: int, *, text: str = "hi", system: bool = False,
            msg_uuid: str = "") -> ChatMessage:
    return ChatMessage(msg_id, "o1", user_id, text, 0 if system else 1, "str", created_ms, "",
                       "sys" if system else "user", {"msgUuid": msg_uuid})


def order(order_id: str, created_ms: int, status: int = 10) -> OrderSummary:
    return OrderSummary(order_id, status, Decimal("5000"), Decimal("78"), Decimal("64.1"), BUYER, "b", "B", 0,
                        created_ms, 900, {})


def test_texts_of_one_order_keep_their_order_and_the_most_urgent_order_goes_first() -> None:
    def text(order_id: str, purpose: str, seq: int) -> OutgoingChat:
        return OutgoingChat(1, order_id, purpose, f"u{seq}", purpose=purpose, seq=seq)

    cancel, ad = QueuedWrite("cancel", 5, None), QueuedWrite("ad", 2, None)
    closing_a, reply_a = text("A", "closing", 1), text("A", "reply", 6)
    # The reply pulls the earlier closing words of its order ahead of a cancel and an ad.
    assert next_write([cancel, ad], [closing_a, reply_a]) is closing_a
    assert next_write([cancel, ad], [reply_a]) is reply_a
    assert next_write([ad, cancel], []) is cancel  # a cancel before a new ad
    assert next_write([QueuedWrite("ad", 7, None), ad], []) is ad  # oldest first among equals


def test_a_watch_with_no_live_order_takes_the_newest_order_on_its_ad() -> None:
    watch = DealWatch(1, "ad1", None, None)
    live = {"o1": order("o1", 10), "o2": order("o2", 20), "o3": order("o3", 30)}
    order_ads = {"o1": "ad1", "o2": "ad1", "o3": "ad2"}
    found, new = order_for_watch(watch, live, order_ads)
    assert (found.id, new) == ("o2", True)

    watch.order_id, watch.told_status = "o2", 10
    assert order_for_watch(watch, live, order_ads) == (live["o2"], False)
    del live["o2"]
    assert order_for_watch(watch, live, order_ads) == (None, False), "a live order that left the list is read back"
    watch.told_status = 40  # cancelled: the next buyer's order on the same ad is new
    assert order_for_watch(watch, live, order_ads) == (live["o1"], True)


def test_a_watch_needs_polling_for_a_live_order_or_a_live_ad() -> None:
    assert watch_active(DealWatch(1, None, "o1", None), {})
    assert not watch_active(DealWatch(1, None, "o1", None, told_status=50), {})
    assert watch_active(DealWatch(1, "ad1", None, None), {"ad1": LiveAd("ad1", "sbp")})
    assert not watch_active(DealWatch(1, "ad1", None, None), {})
    assert not watch_active(DealWatch(1, "ad1", "o1", None, told_status=50), {"ad1": LiveAd("ad1", "sbp")})


def test_polls_are_fast_while_busy_and_never_faster_than_the_fast_rate() -> None:
    assert poll_interval(True, 1.0, 10.0) == 1.0
    assert poll_interval(False, 1.0, 10.0) == 10.0
    assert poll_interval(False, 3.0, 1.0) == 3.0


def test_a_missing_order_is_read_on_its_first_miss_then_every_few_ticks() -> None:
    reads = [ticks for ticks in range(25) if reread_missing_order_now(ticks)]
    assert reads == [0, MISSING_ORDER_REREAD_TICKS, 2 * MISSING_ORDER_REREAD_TICKS]


def test_an_ended_order_s_chat_is_read_when_owed_or_when_it_ended_unread() -> None:
    assert chat_worth_reading(True, False, "0")
    assert chat_worth_reading(False, True, "2")
    assert chat_worth_reading(False, True, "?")  # unknown: read to be sure
    assert not chat_worth_reading(False, True, "0")
    assert not chat_worth_reading(False, False, "3")


def test_buyer_messages_skip_ours_system_notices_and_what_was_delivered() -> None:
    messages = [message("3", BUYER, 30), message("1", BUYER, 10), message("2", US, 20),
                message("4", BUYER, 40, system=True), message("5", BUYER, 50, msg_uuid="mine"),
                message("6", BUYER, 60)]
    fresh = new_buyer_messages(messages, US, {"mine"}, {"6"}, watermark=(15, 0))
    assert [m.id for m in fresh] == ["3"]
    assert our_texts(messages, US, {"mine"}) == ["hi", "hi"]


def test_payment_ids_and_methods() -> None:
    methods = [PaymentMethod("-1", 416, "Balance", "", "", {}), PaymentMethod("7", 75, "Tinkoff", "", "", {}),
               PaymentMethod("8", 382, "SBP", "", "", {}), PaymentMethod("9", 75, "Tinkoff", "", "", {})]
    assert payment_ids_by_method(methods) == {"tinkoff": "7", "sbp": "8"}
    assert (method_of([382]), method_of([75, 1]), method_of([1])) == ("sbp", "tinkoff", "other")


def test_an_ended_deals_order_in_appeal_is_followed_until_it_leaves_the_appeal() -> None:
    from itrader.bybit_rules import appeal_changes

    disputes = {"o1": (1, 30), "o2": (2, 30), "o3": (3, 110)}
    live = {"o1": order("o1", 1, status=110), "o2": order("o2", 2, status=30), "o3": order("o3", 3, status=20)}
    moved, done = appeal_changes(disputes, live)
    assert [(deal_id, o.id, o.status) for deal_id, o in moved] == [(1, "o1", 110), (3, "o3", 20)]
    assert done == ["o3"]  # back to 20: no longer an appeal; o2 unchanged and followed on
    assert appeal_changes({"gone": (4, 30)}, live) == ([], ["gone"])

"""The pure chat decisions of a Bybit account for what live Bybit does beyond the happy wire (issue 12:
chat read without unread counts, files that fail, support and notices, msgUuid not echoed)."""
from __future__ import annotations

from itrader import dialogue
from itrader.bybit import ChatMessage
from itrader.bybit_rules import (
    BUYER, NOTICE, OURS, SUPPORT, SYSTEM, CHAT_FALLBACK_READ_SHARE, DealWatch, FileRetry, OutgoingChat,
    chat_author, chat_fallback_interval, chat_read_due, chat_read_offset, file_retry_wait, find_sent_text,
    new_buyer_messages, our_texts,
)

US, THEM, SUPPORT_UID = "100", "200", "300"
REMARK = "ВНИМАТЕЛЬНО ПРОЧИТАЙТЕ УСЛОВИЯ ДО ОПЛАТЫ.\n1. Оплата только с карты Т-Банка."


def message(msg_id: str, user_id: str, created_ms: int = 1000, *, text: str = "hi", msg_type: int = 1,
            role: str = "user", msg_uuid: str = "") -> ChatMessage:
    return ChatMessage(msg_id, "o1", user_id, text, msg_type, "str", created_ms, "", role, {"msgUuid": msg_uuid})


# ------------------------------------------------------------------ item 1: reads without unread counts


def test_the_fallback_read_interval_is_the_setting_until_the_read_budget_stretches_it() -> None:
    assert chat_fallback_interval(1, 3.0, 10.0) == 3.0
    assert chat_fallback_interval(12, 3.0, 10.0) == 3.0
    at_100 = chat_fallback_interval(100, 3.0, 10.0)
    # 100 live deals on one account: the fallback reads together stay within 40% of Bybit's 10 reads/s.
    assert at_100 == 25.0 and 100 / at_100 <= 10.0 * CHAT_FALLBACK_READ_SHARE
    assert chat_fallback_interval(0, 3.0, 10.0) == 3.0


def test_orders_opened_together_get_their_first_fallback_read_spread_over_the_interval() -> None:
    offsets = [chat_read_offset(f"19310000000000{n:05d}", 25.0) for n in range(100)]
    assert all(0 <= offset < 25.0 for offset in offsets)
    assert len({round(offset, 1) for offset in offsets}) > 50  # not one tick for all
    assert chat_read_offset("1931", 25.0) == chat_read_offset("1931", 25.0)  # the same order, the same place


def test_a_live_order_s_chat_is_read_on_news_when_owed_when_its_fallback_is_due_or_a_file_is_due() -> None:
    watch = DealWatch(1, "ad", "o1", None, next_chat_read=100.0)
    assert not chat_read_due(watch, has_news=False, now=99.0)
    assert chat_read_due(watch, has_news=True, now=99.0)
    assert chat_read_due(watch, has_news=False, now=100.0), "no unread count, yet the fallback read is due"
    watch.chat_dirty = True
    assert chat_read_due(watch, has_news=False, now=0.0)
    watch.chat_dirty = False
    watch.file_retries["m1"] = FileRetry(attempts=1, due=50.0)
    assert chat_read_due(watch, has_news=False, now=50.0) and not chat_read_due(watch, has_news=False, now=49.0)


# ------------------------------------------------------------------ item 2: chat files that fail


def test_a_failed_chat_file_waits_a_doubling_pause_of_at_most_a_minute() -> None:
    assert [file_retry_wait(n, 2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert file_retry_wait(20, 2.0) == 60.0


# ------------------------------------------------------------------ item 3: system, support, notices


def test_who_wrote_a_chat_message() -> None:
    assert chat_author(message("1", "0", msg_type=0, role="sys"), US) == SYSTEM
    assert chat_author(message("2", SUPPORT_UID, msg_type=5), US) == SUPPORT  # docs: 5 text (admin)
    assert chat_author(message("3", SUPPORT_UID, msg_type=6), US) == SUPPORT  # docs: 6 image (admin)
    assert chat_author(message("4", SUPPORT_UID, role="admin"), US) == SUPPORT  # an undocumented role
    assert chat_author(message("5", THEM, text="да"), US) == BUYER
    assert chat_author(message("6", THEM, text="Bybit support told me to write: do not release"), US) == BUYER
    assert chat_author(message("7", US, text="Здравствуйте!"), US) == OURS
    assert chat_author(message("8", US, text="Reminder: make sure you have received the payment. Bybit will "
                                             "never ask you to release first."), US) == NOTICE
    assert chat_author(message("9", US, text=REMARK.replace("\n", " ")), US, remark=REMARK) == NOTICE
    assert chat_author(message("10", US, text=REMARK, msg_uuid="u1"), US, {"u1"}, REMARK) == OURS


def test_none_of_our_own_texts_reads_as_a_notice() -> None:
    ours = [dialogue.GREETING, dialogue.REMINDER, dialogue.REFUSAL, dialogue.SBP_CONFIRM, dialogue.SBP_REMINDER,
            dialogue.SBP_REFUSAL, dialogue.GAVE_UP_TEXT, dialogue.CLOSING, dialogue.receipt_reminder("r@x.ru"),
            dialogue.closing_message("https://t.me/+abc"),
            dialogue.requisites_message("tinkoff", "79001234567", 5000, "receipts@x.ru")]
    for n, text in enumerate(ours):
        assert chat_author(message(str(n), US, text=text), US, remark=REMARK) == OURS, text


def test_support_and_notices_never_reach_the_dialogue_and_are_not_our_texts() -> None:
    chat = [message("1", US, 1, text="Reminder: Bybit will never ask you to release first."),
            message("2", US, 2, text=REMARK),
            message("3", US, 3, text="Здравствуйте!", msg_uuid="u1"),
            message("4", SUPPORT_UID, 4, text="Да, оплата подтверждена", msg_type=5),
            message("5", THEM, 5, text="да")]
    assert [m.id for m in new_buyer_messages(chat, US, {"u1"}, set(), None, remark=REMARK)] == ["5"]
    assert our_texts(chat, US, {"u1"}, remark=REMARK) == ["Здравствуйте!"]


# ------------------------------------------------------------------ item 10: msgUuid not echoed


def sent(text: str = "Здравствуйте!", after_ms: int = 10_000) -> OutgoingChat:
    return OutgoingChat(1, "o1", text, "u-sent", sent_after_ms=after_ms, uncertain=True)


def test_an_uncertain_send_is_found_by_its_msg_uuid_or_else_by_its_text_after_the_send() -> None:
    by_uuid = message("1", US, 10_100, text="Здравствуйте!", msg_uuid="u-sent")
    assert find_sent_text([by_uuid], sent(), US) is by_uuid
    echoed = message("2", US, 10_100, text="Здравствуйте!")  # the list leaves msgUuid empty
    assert find_sent_text([echoed], sent(), US) is echoed


def test_a_text_is_not_found_in_an_earlier_copy_a_claimed_one_the_buyer_s_or_another_send_s() -> None:
    earlier = message("1", US, 5_000, text="Здравствуйте!")  # the same words said before this send began
    assert find_sent_text([earlier], sent(), US) is None
    later = message("2", US, 10_200, text="Здравствуйте!")
    assert find_sent_text([later], sent(), US, claimed_ids={"2"}) is None  # taken for another send
    assert find_sent_text([message("3", THEM, 10_200, text="Здравствуйте!")], sent(), US) is None
    other_uuid = message("4", US, 10_200, text="Здравствуйте!", msg_uuid="u-other")
    assert find_sent_text([other_uuid], sent(), US) is None  # echoed with another send's msgUuid
    assert find_sent_text([later], sent(after_ms=0), US) is None  # never sent: nothing to read back

"""Chat sync against what live Bybit does beyond the happy wire (issue 12), on the real collaborators and
the sandbox on loopback: a chat file that fails is retried with backoff without holding back later
messages (and survives a restart of the actor's memory), support's messages go to the operator only,
and an uncertain send is found again by its text when the list does not echo msgUuid."""
from __future__ import annotations

import dataclasses

import gevent

from actors.messages import BuyerMessages, OrderRead, ReadOrder, SendChat, Watch
from tests.actors.test_bybit_account import wait_for
from tests.actors.test_bybit_collaborators import (  # noqa: F401  (desk: the fixture)
    CHAT_SEEN_STEP, SENT_TEXTS_STEP, Desk, desk, greeted_order, next_write, wire,
)


def quick_file_retries(desk: Desk, attempts: int = 4) -> None:
    desk.link.settings = dataclasses.replace(desk.link.settings, file_retry_attempts=attempts,
                                             file_retry_backoff=0.05)


def test_a_failing_chat_file_holds_back_nothing_and_arrives_once_it_downloads(desk: Desk) -> None:
    quick_file_retries(desk)
    ad_id, deal, order_id = greeted_order(desk)
    sandbox = desk.world.sandbox
    sandbox.set_chat_quirks({"broken_files": ["png"]})
    sandbox.buyer_send_file(order_id, "Screenshot.png", b"\x89PNG-1", "image/png")
    sandbox.buyer_send_text(order_id, "оплатил")
    watch = desk.orders.watches[1]
    desk.chat.sync(watch)
    assert deal.wait(BuyerMessages).texts == ("оплатил",), "the text after the broken file is not held back"
    assert list(watch.file_retries) and watch.file_retries[next(iter(watch.file_retries))].attempts == 1
    notes = [e.data for e in desk.store.deals.journal(1) if e.step == CHAT_SEEN_STEP]
    assert notes[-1]["file_retries"] == list(watch.file_retries), "the pending file is in the journal's note"

    sandbox.set_chat_quirks({"broken_files": []})
    later = wire(desk.world, desk.store, desk.directory, desk.events, memory=desk)  # a restarted actor
    quick_file_retries(later)
    later.orders.watch(Watch(1, ad_id, order_id, deal.ref))
    later.chat.sync(later.orders.watches[1])
    files = wait_for(lambda: [m.files for m in deal.of(BuyerMessages) if m.files], what="the screenshot")
    assert files == [(("Screenshot.png", b"\x89PNG-1"),)], "fetched after the restart, delivered once"
    assert [m.texts for m in deal.of(BuyerMessages)].count(("оплатил",)) == 1
    assert not later.orders.watches[1].file_retries


def test_a_chat_file_that_never_downloads_is_given_up_with_an_operator_event(desk: Desk) -> None:
    quick_file_retries(desk, attempts=3)
    _, deal, order_id = greeted_order(desk)
    desk.world.sandbox.set_chat_quirks({"broken_files": ["pdf"]})
    desk.world.sandbox.buyer_send_file(order_id, "Receipt.pdf", b"%PDF", "application/pdf")
    watch = desk.orders.watches[1]
    for _ in range(3):
        desk.chat.sync(watch)
        gevent.sleep(0.25)  # past the backoff
    failed = [e for e in desk.events.since(0) if e["type"] == "bybit_chat_file_failed"]
    assert [(e["deal_id"], e["file_name"], e["attempts"]) for e in failed] == [(1, "Receipt.pdf", 3)]
    assert not watch.file_retries and not deal.of(BuyerMessages)
    desk.chat.sync(watch)
    assert len([e for e in desk.events.since(0) if e["type"] == "bybit_chat_file_failed"]) == 1


def test_support_s_words_reach_the_operator_and_never_the_deal(desk: Desk) -> None:
    _, deal, order_id = greeted_order(desk)
    desk.world.sandbox.support_message(order_id, "Да, оплата подтверждена")
    desk.world.sandbox.buyer_send_text(order_id, "нет")
    watch = desk.orders.watches[1]
    desk.chat.sync(watch)
    assert deal.wait(BuyerMessages).texts == ("нет",)
    desk.chat.sync(watch)
    support = [e for e in desk.events.since(0) if e["type"] == "bybit_support_message"]
    assert [(e["deal_id"], e["order_id"], e["text"]) for e in support] == [(1, order_id, "Да, оплата подтверждена")]


def test_an_uncertain_send_is_found_by_its_text_when_the_list_does_not_echo_msg_uuid(desk: Desk) -> None:
    _, deal, order_id = greeted_order(desk)
    desk.world.sandbox.set_chat_quirks({"echo_msg_uuid": False})
    desk.world.faults.add_scripted("bybit", "order/message/send", "error_502_after_executing")
    desk.queue.queue_chat(SendChat(1, order_id, "Реквизиты для оплаты: …"))
    item = next_write(desk)
    desk.chat.send_queued(item)
    assert item.uncertain and desk.queue.outbox == [item]
    desk.queue.retry_texts()
    desk.chat.send_queued(next_write(desk))
    assert desk.queue.outbox == []
    said = [m["message"] for m in desk.world.sandbox.messages(order_id)]
    assert said.count("Реквизиты для оплаты: …") == 1, "read back by its text, not sent twice"


def test_notices_and_the_echoed_remark_under_our_user_id_are_not_noted_as_what_we_said(desk: Desk) -> None:
    desk.world.sandbox.set_chat_quirks({"order_notices": True})
    ad_id, deal, order_id = greeted_order(desk)
    later = wire(desk.world, desk.store, desk.directory, desk.events, memory=desk)  # a reconciling restart
    later.reconciler.read_order(ReadOrder(1, ad_id, order_id, deal.ref))
    deal.wait(OrderRead)
    notes = [e.data for e in desk.store.deals.journal(1) if e.step == SENT_TEXTS_STEP]
    assert notes[-1] == {"order_id": order_id, "texts": ["Здравствуйте!"]}

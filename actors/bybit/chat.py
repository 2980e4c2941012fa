"""Chat sync of one Bybit account: read a deal's chat, deliver the buyer's new messages (files
downloaded) as BuyerMessages, keep the watermark of what the deal was told in its journal, send our
queued texts (checking the chat first when an earlier try may have delivered one), and note what we
said for a reconciling Deal."""
from __future__ import annotations

from actors.base import describe_failure
from actors.bybit.link import CALL_ERRORS, AccountLink, log
from actors.bybit.writes import WriteQueue
from actors.messages import BuyerMessages
from itrader import errors
from itrader.bybit import AuthError, ChatMessage
from itrader.bybit_rules import DealWatch, OutgoingChat, message_key, new_buyer_messages, our_texts

CHAT_SEEN_STEP = "bybit_chat_seen"
SENT_TEXTS_STEP = "bybit_sent_texts"  # our texts in an order's chat, noted for a reconciling Deal
MAX_CHAT_ATTEMPTS = 30
# Failures of a write that prove it was never performed (safe to repeat): the client's TemporaryError
# on a write (no connection, 429, our own rate budget), a block, and keys an operator must fix (the
# write waits for them rather than being given up). An outcome the client could not learn is
# errors.OutcomeUnknown, caught before these and read back.
NOT_PERFORMED = (errors.TemporaryError, errors.BlockedError, AuthError)


class ChatSync:
    def __init__(self, link: AccountLink, queue: WriteQueue, watches: dict[int, DealWatch]) -> None:
        self.link = link
        self.queue = queue
        self.watches = watches  # shared with the order router
        self.sent_uuids: set[str] = set()

    # ------------------------------------------------------------ in

    def watermark(self, deal_id: int, order_id: str) -> tuple[int, int] | None:
        """What an earlier life of this actor already delivered to the deal (journal note)."""
        store = self.link.store
        if store is None:
            return None
        try:
            entries = store.deals.journal(deal_id)
        except Exception as exc:  # no such deal (a test probe) or the database is away: deliver from scratch
            log.debug("bybit %s: no chat watermark for deal %s: %s", self.link.name, deal_id, describe_failure(exc))
            return None
        for entry in reversed(entries):
            data = entry.data if isinstance(entry.data, dict) else {}
            if entry.step == CHAT_SEEN_STEP and data.get("order_id") == order_id:
                return int(data.get("created_ms") or 0), int(data.get("message_id") or 0)
        return None

    def _remember(self, watch: DealWatch, last: ChatMessage) -> None:
        watch.watermark = message_key(last)
        if self.link.store is None:
            return
        try:
            self.link.store.deals.record_note(watch.deal_id, CHAT_SEEN_STEP, {
                "order_id": watch.order_id, "message_id": last.id, "created_ms": last.created_ms})
        except Exception as exc:  # the in-memory watermark still holds for this life
            log.debug("bybit %s: chat watermark not saved for deal %s: %s", self.link.name, watch.deal_id,
                      describe_failure(exc))

    def read(self, order_id: str) -> list[ChatMessage] | None:
        try:
            return self.link.api(self.link.client.chat_messages, order_id)
        except CALL_ERRORS as exc:
            log.info("bybit %s: chat of order %s not read: %s", self.link.name, order_id, describe_failure(exc))
            return None

    def sync(self, watch: DealWatch, messages: list[ChatMessage] | None = None) -> list[ChatMessage] | None:
        """Read the chat once (unless given) and deliver the buyer's new messages; returns all messages."""
        assert watch.order_id is not None
        if messages is None:
            messages = self.read(watch.order_id)
            if messages is None:
                watch.chat_dirty = True
                return None
        if not watch.watermark_loaded:
            watch.watermark = self.watermark(watch.deal_id, watch.order_id)
            watch.watermark_loaded = True
        watch.chat_dirty = False
        fresh = new_buyer_messages(messages, self.link.user_id, self.sent_uuids, watch.seen_ids, watch.watermark)
        texts: list[str] = []
        files: list[tuple[str, bytes]] = []
        delivered: list[ChatMessage] = []
        for message in fresh:
            if message.is_file:
                try:
                    files.append((message.file_name or message.text,
                                  self.link.api(self.link.client.download_file, message.text)))
                except CALL_ERRORS as exc:
                    log.info("bybit %s: chat file of order %s not fetched: %s", self.link.name, watch.order_id,
                             describe_failure(exc))
                    watch.chat_dirty = True
                    break  # deliver in order: this one and the later ones next tick
            elif message.text.strip():
                texts.append(message.text)
            delivered.append(message)
        if (texts or files) and not self.link.tell_deal(
                watch.deal_id, BuyerMessages(watch.deal_id, watch.order_id, tuple(texts), tuple(files)),
                watch.reply_to):
            watch.chat_dirty = True  # the deal is not up yet (restarting): deliver them next tick
            return messages
        if delivered:
            watch.seen_ids.update(m.id for m in delivered)
            self._remember(watch, delivered[-1])
        return messages

    # ------------------------------------------------------------ out

    def send_queued(self, item: OutgoingChat) -> None:
        """One text; a failed one holds back the later ones of its order until the next tick."""
        if self._deliver(item):
            self.queue.outbox.remove(item)
        else:
            item.ready = False
            self.link.schedule()

    def _deliver(self, item: OutgoingChat) -> bool:
        """True when the text is in the chat (or can never be: then it is reported, not dropped silently)."""
        if item.uncertain:
            messages = self._chat_for_check(item)
            if messages is None:
                return self._give_up_if_exhausted(item, "chat unreadable")
            if any(str(m.raw.get("msgUuid") or "") == item.msg_uuid for m in messages):
                self.sent_uuids.add(item.msg_uuid)
                return True
        item.attempts += 1
        self.sent_uuids.add(item.msg_uuid)  # before the call: its echo must never count as the buyer's
        try:
            self.link.api(self.link.client.send_text, item.order_id, item.text, item.msg_uuid)
            return True
        except errors.OutcomeUnknown as exc:
            item.uncertain = True  # it may have gone through: look in the chat before sending again
            reason = describe_failure(exc)
        except NOT_PERFORMED as exc:
            reason = describe_failure(exc)
        except errors.PermanentError as exc:
            self._report_lost(item, describe_failure(exc))
            return True
        log.info("bybit %s: chat to order %s not sent yet (attempt %d): %s", self.link.name, item.order_id,
                 item.attempts, reason)
        return self._give_up_if_exhausted(item, reason)

    def _chat_for_check(self, item: OutgoingChat) -> list[ChatMessage] | None:
        watch = self.watches.get(item.deal_id)
        if watch is not None and watch.order_id == item.order_id:
            return self.sync(watch)  # buyer messages in this read are delivered, not lost
        return self.read(item.order_id)

    def _give_up_if_exhausted(self, item: OutgoingChat, reason: str) -> bool:
        if item.attempts < MAX_CHAT_ATTEMPTS:
            return False
        self._report_lost(item, f"gave up after {item.attempts} attempts: {reason}")
        return True

    def _report_lost(self, item: OutgoingChat, reason: str) -> None:
        log.error("bybit %s: chat message to order %s (deal %s) not sent: %s", self.link.name, item.order_id,
                  item.deal_id, reason)
        self.link.publish("bybit_chat_failed", deal_id=item.deal_id, order_id=item.order_id, reason=reason)

    # ------------------------------------------------------------ for the reconciler

    def note_sent_texts(self, deal_id: int, order_id: str) -> None:
        """What we have said in the order's chat, for the Deal's reconcile (a text it persisted may have
        died in our outbox with the process): a journal note, read when OrderRead arrives."""
        if self.link.store is None or not self.link.boot() or not self.link.user_id:
            return
        messages = self.read(order_id)
        if messages is None:
            return
        ours = our_texts(messages, self.link.user_id, self.sent_uuids)
        try:
            self.link.store.deals.record_note(deal_id, SENT_TEXTS_STEP, {"order_id": order_id, "texts": ours})
        except Exception as exc:  # noqa: BLE001 — without it the Deal simply does not re-send
            log.debug("bybit %s: sent texts not noted for deal %s: %s", self.link.name, deal_id,
                      describe_failure(exc))

    def __repr__(self) -> str:
        return f"ChatSync({self.link.name!r})"

"""Chat sync of one Bybit account: read a deal's chat, deliver the buyer's new messages (files
downloaded; a file that fails is tried again with backoff and never holds back the later messages)
as BuyerMessages, tell the operator of support's messages (never the deal), keep the watermark of what
the deal was told in its journal, send our queued texts (checking the chat first when an earlier try
may have delivered one), and note what we said for a reconciling Deal."""
from __future__ import annotations

import time

from actors.base import describe_failure
from actors.bybit.link import CALL_ERRORS, AccountLink, log
from actors.bybit.writes import WriteQueue
from actors.messages import BuyerMessages
from itrader import errors
from itrader.bybit import AuthError, ChatMessage
from itrader.bybit_rules import (
    BUYER, SUPPORT, DealWatch, FileRetry, OutgoingChat, chat_author, file_retry_wait, find_sent_text,
    message_key, our_texts, unhandled_messages,
)

CHAT_SEEN_STEP = "bybit_chat_seen"
SENT_TEXTS_STEP = "bybit_sent_texts"  # our texts in an order's chat, noted for a reconciling Deal
MAX_CHAT_ATTEMPTS = 30
# Failures of a write that prove it was never performed (safe to repeat): the client's TemporaryError
# on a write (no connection, 429, our own rate budget), a block, and keys an operator must fix (the
# write waits for them rather than being given up). An outcome the client could not learn is
# errors.OutcomeUnknown, caught before these and read back.
NOT_PERFORMED = (errors.TemporaryError, errors.BlockedError, AuthError)


class ChatSync:
    def __init__(self, link: AccountLink, queue: WriteQueue, watches: dict[int, DealWatch], remark: str = "") -> None:
        self.link = link
        self.queue = queue
        self.watches = watches  # shared with the order router
        self.remark = remark  # our ads' remark: Bybit may echo it in the chat as our message
        self.sent_uuids: set[str] = set()
        self.claimed_ids: set[str] = set()  # chat messages found to be our uncertain sends (by text)

    # ------------------------------------------------------------ in

    def watermark(self, deal_id: int, order_id: str) -> tuple[int, int] | None:
        """What an earlier life of this actor already delivered to the deal (journal note)."""
        note = self._chat_note(deal_id, order_id)
        return None if note is None else (int(note.get("created_ms") or 0), int(note.get("message_id") or 0))

    def _chat_note(self, deal_id: int, order_id: str) -> dict | None:
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
                return data
        return None

    def _load_watermark(self, watch: DealWatch) -> None:
        assert watch.order_id is not None
        note = self._chat_note(watch.deal_id, watch.order_id)
        watch.watermark = None if note is None else (int(note.get("created_ms") or 0),
                                                     int(note.get("message_id") or 0))
        for message_id in (note or {}).get("file_retries") or ():  # files an earlier life had not fetched
            watch.file_retries.setdefault(str(message_id), FileRetry())
        watch.watermark_loaded = True

    def _remember(self, watch: DealWatch) -> None:
        if self.link.store is None or watch.watermark is None:
            return
        created_ms, message_id = watch.watermark
        try:
            self.link.store.deals.record_note(watch.deal_id, CHAT_SEEN_STEP, {
                "order_id": watch.order_id, "message_id": message_id, "created_ms": created_ms,
                "file_retries": sorted(watch.file_retries)})
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
            self._load_watermark(watch)
        watch.chat_dirty = False
        now = time.monotonic()
        handled = unhandled_messages(messages, watch.seen_ids, watch.watermark)
        texts: list[str] = []
        files: list[tuple[str, bytes]] = []
        support: list[ChatMessage] = []
        new_files = False
        for message in handled:
            author = chat_author(message, self.link.user_id, self.sent_uuids, self.remark)
            if author == SUPPORT:
                support.append(message)
            elif author != BUYER:
                continue
            elif message.is_file:
                new_files = True
                watch.file_retries.setdefault(message.id, FileRetry())
            elif message.text.strip():
                texts.append(message.text)
        retried = self._fetch_due_files(watch, messages, now, files)
        if (texts or files) and not self.link.tell_deal(
                watch.deal_id, BuyerMessages(watch.deal_id, watch.order_id, tuple(texts), tuple(files)),
                watch.reply_to):
            watch.chat_dirty = True  # the deal is not up yet (restarting): deliver them next tick
            return messages
        for message in support:
            self._report_support(watch, message)
        for message_id in retried:  # delivered, or given up on
            watch.file_retries.pop(message_id, None)
        watch.seen_ids.update(m.id for m in handled)
        if handled:
            watch.watermark = message_key(handled[-1])
        if texts or files or support or retried or new_files:
            self._remember(watch)  # only what reached the deal or the operator needs the journal's note
        return messages

    def _fetch_due_files(self, watch: DealWatch, messages: list[ChatMessage], now: float,
                         files: list[tuple[str, bytes]]) -> list[str]:
        """Download the buyer's files whose turn it is, oldest first; returns the ids done with (fetched,
        or given up after the configured attempts: the operator is told). A failure waits its backoff
        and holds back nothing else."""
        settings = self.link.settings
        done: list[str] = []
        for message in messages:
            retry = watch.file_retries.get(message.id)
            if retry is None or retry.due > now:
                continue
            if retry.attempts >= settings.file_retry_attempts:  # given up already; its drop was not saved
                done.append(message.id)
                continue
            try:
                content = self.link.api(self.link.client.download_file, message.text)
            except CALL_ERRORS as exc:
                retry.attempts += 1
                reason = describe_failure(exc)
                if retry.attempts >= settings.file_retry_attempts:
                    self._report_file_lost(watch, message, retry.attempts, reason)
                    done.append(message.id)
                else:
                    retry.due = now + file_retry_wait(retry.attempts, settings.file_retry_backoff)
                    log.info("bybit %s: chat file of order %s not fetched (attempt %d): %s", self.link.name,
                             watch.order_id, retry.attempts, reason)
                continue
            files.append((message.file_name or message.text, content))
            done.append(message.id)
        return done

    def _report_file_lost(self, watch: DealWatch, message: ChatMessage, attempts: int, reason: str) -> None:
        log.error("bybit %s: chat file %r of order %s (deal %s) given up after %d attempts: %s", self.link.name,
                  message.file_name, watch.order_id, watch.deal_id, attempts, reason)
        self.link.publish("bybit_chat_file_failed", deal_id=watch.deal_id, order_id=watch.order_id,
                          file_name=message.file_name, message_id=message.id, attempts=attempts, reason=reason)

    def _report_support(self, watch: DealWatch, message: ChatMessage) -> None:
        """Support's words (an appeal, a warning) are for the operator: never the dialogue's to answer."""
        log.warning("bybit %s: support wrote in the chat of order %s (deal %s)", self.link.name, watch.order_id,
                    watch.deal_id)
        self.link.publish("bybit_support_message", deal_id=watch.deal_id, order_id=watch.order_id,
                          message_id=message.id, text=message.text[:500], nickname=str(message.raw.get("nickName")
                                                                                      or ""))

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
            found = find_sent_text(messages, item, self.link.user_id, self.claimed_ids, self.remark)
            if found is not None:
                self.sent_uuids.add(item.msg_uuid)
                self.claimed_ids.add(found.id)
                return True
        item.attempts += 1
        self.sent_uuids.add(item.msg_uuid)  # before the call: its echo must never count as the buyer's
        if not item.sent_after_ms:
            item.sent_after_ms = self.link.client.now_ms()
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
        ours = our_texts(messages, self.link.user_id, self.sent_uuids, self.remark)
        try:
            self.link.store.deals.record_note(deal_id, SENT_TEXTS_STEP, {"order_id": order_id, "texts": ours})
        except Exception as exc:  # noqa: BLE001 — without it the Deal simply does not re-send
            log.debug("bybit %s: sent texts not noted for deal %s: %s", self.link.name, deal_id,
                      describe_failure(exc))

    def __repr__(self) -> str:
        return f"ChatSync({self.link.name!r})"

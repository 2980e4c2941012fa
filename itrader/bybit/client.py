"""Signed client for the Bybit P2P V5 API.

Each call takes a token from the account's read or write budget (itrader.limits)
before it goes out, signs the exact bytes it sends, and turns the answer into a
result or a typed error (itrader.bybit.errors). A write (WRITE budget: ads, chat,
uploads, release) that may have reached Bybit and got no usable answer — a read
timeout or a connection dropped after sending, a 5xx, 10016, an answer we cannot
read — raises OutcomeUnknown: the caller reads Bybit back. A write that provably
never left us (no connection, our own budget, 429/10006, 10002, a ban) raises
its TemporaryError or Blocked. Reads raise TemporaryError for all of these. Retries:
* 429 / 10006 — never waited out here: RateLimited goes to the caller with the
  wait Bybit asked for (Retry-After or the reset header); the account actor puts
  the request off instead of sleeping in its handler;
* 10002 — re-sync the clock from /v5/market/time once, then retry;
* network errors and 5xx — retried for reads only, after short pauses (at most
  MAX_RETRY_SLEEP seconds in all per call); a write's OutcomeUnknown, and its
  TemporaryError too, go to the caller (who knows whether to reconcile);
* 403 — never retried; the client refuses further calls until the ban is over,
  so a banned process does not keep the ban alive with a retry storm.
A token of the account's budget is waited for at most `max_budget_wait` (2 s by
default); a longer wait raises RateBudgetExhausted with its `retry_after`. With an
`ip_budget` every request (reads, writes, the clock, file downloads) also takes a
token of the budget of this host's IP, shared by all accounts through the limiter
(Redis: all daemons), in the same step as the account's token; see IpBudget.
Every attempt of a write first calls `before_write`, the actor's lease check, so
no try goes out after the account's lease was lost.
"""
from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

import gevent
import requests

from itrader.bybit import envelope, errors, signing
from itrader.bybit.models import (
    Ad, AdRequest, ChatMessage, OrderDetail, OrderSummary, Page, PaymentMethod, ServerTime, UploadedFile, dec,
)
from itrader.account_figures import budget_use
from itrader.limits import DEFAULT_MAX_WAIT, Limiter, LocalLimiter, Spend
from itrader.transport import never_sent

log = logging.getLogger(__name__)

READ, WRITE = "read", "write"
CHAT_PAGE_SIZE = 30  # the documented maximum of message/listpage
ORDER_PAGE_SIZE = 30
UPLOAD_BOUNDARY_PREFIX = "itrader-"
MAX_RETRY_SLEEP = 2.0  # seconds of backoff per read in all, far below a lease's ttl/3
UPLOAD_CONTENT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "pdf": "application/pdf",
                        "mp4": "video/mp4"}


@dataclass(frozen=True)
class RateBudget:
    per_second: float
    burst: float = 1


@dataclass(frozen=True)
class Budgets:
    """Client-side budgets, kept under Bybit's per-UID 10 reads/s and 5 writes/s (reference §8)
    with room for network jitter: a bucket allows burst + rate calls in any second."""

    read: RateBudget = field(default_factory=lambda: RateBudget(8.0, 1))
    write: RateBudget = field(default_factory=lambda: RateBudget(3.5, 1))


# Bybit counts at most 600 requests per IP in any 5 s (docs, P2P "Rate Limit": 403 "access too frequent",
# a ban of at least 10 min; older docs: 120/s). Of the configured budget R per second the IP bucket
# refills at 80 % and holds 10 % (at least 3 tokens; the rate is then R - 3 at most): at most 0.9 R grants
# in any 1 s (R at the smallest budgets) and 4.1 R in any 5 s; what is left absorbs what the network and
# our scheduler add between a grant and Bybit's count of the arrival.
IP_RATE_SHARE, IP_BURST_SHARE = 0.8, 0.1
# Writes have priority over reads: a read leaves this many tokens in the IP bucket, a write may take
# the last one, so a release or an ad goes out at once however many polls wait.
IP_WRITE_RESERVE = 2
# The accounts' polls (a boot, a poll of orders) take turns at this share of the IP rate: each asks for its
# turn once and is told when (the poll is deferred until then), so polling slows down evenly and the
# rest is left to the reads a poll calls for (chat, order info) and to writes.
IP_POLL_SHARE = 0.7
IP_POLL_MAX_DEFER = 30.0  # the furthest turn handed out; an account further back asks again later
IP_BUDGET_KEY = "bybit-ip"  # one budget for every account on this host (all daemons sharing the Redis)


@dataclass(frozen=True)
class IpBudget:
    """The host's share of Bybit's per-IP limit: `calls` for every request, `polls` for the turns of polls."""

    calls: RateBudget
    polls: RateBudget
    read_floor: float = IP_WRITE_RESERVE
    key: str = IP_BUDGET_KEY

    @classmethod
    def from_requests_per_second(cls, per_second: float, key: str = IP_BUDGET_KEY) -> "IpBudget":
        burst = max(IP_WRITE_RESERVE + 1.0, round(per_second * IP_BURST_SHARE))
        rate = max(0.1, min(per_second * IP_RATE_SHARE, per_second - burst))
        polls = rate * IP_POLL_SHARE
        return cls(RateBudget(rate, burst), RateBudget(polls, max(1.0, round(polls / 2))), key=key)


class BybitClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        account: str | None = None,
        limiter: Limiter | None = None,
        budgets: Budgets | None = None,
        recv_window: int = signing.DEFAULT_RECV_WINDOW,
        timeout: float = 10.0,
        max_retries: int = 3,
        max_budget_wait: float = DEFAULT_MAX_WAIT,
        auto_sync_clock: bool = True,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        before_write: Callable[[], None] | None = None,
        file_base_url: str | None = None,
        ip_budget: IpBudget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Chat files' relative URLs are served by a host Bybit does not document: configurable.
        self.file_base_url = (file_base_url or base_url).rstrip("/")
        self._api_key = api_key
        self._api_secret = api_secret
        self.account = account or "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:10]
        self.limiter = limiter or LocalLimiter()
        self.budgets = budgets or Budgets()
        self.ip_budget = ip_budget
        self.recv_window = recv_window
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_budget_wait = max_budget_wait
        self.auto_sync_clock = auto_sync_clock
        self.clock_offset_ms = 0
        self._session = session or requests.Session()
        self._clock = clock
        self._blocked_until = 0.0
        self._prepaid: dict[str, int] = {READ: 0, WRITE: 0}  # tokens taken by try_reserve, not yet spent
        self.before_write = before_write  # raises to stop a write unsent (the actor's lease check)

    def __repr__(self) -> str:
        return f"BybitClient(account={self.account!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------- transport

    def now_ms(self) -> int:
        """Our best estimate of Bybit's clock, in ms."""
        return int(self._clock() * 1000) + self.clock_offset_ms

    @property
    def blocked_for(self) -> float:
        """Seconds left of a known IP ban (0 when not blocked)."""
        return max(0.0, self._blocked_until - time.monotonic())

    def try_reserve(self, kind: str = WRITE) -> float:
        """Take a token of the `kind` budget now if there is one, without waiting: 0.0, and the next call
        of that kind is paid for; else the seconds until there will be one (nothing taken). Lets a caller
        that has other work (an actor with a mailbox) wait elsewhere than inside a call."""
        if self._prepaid[kind] > 0:
            return 0.0  # one unspent token at most: a job that made no call must not bank a burst
        wait = self.limiter.try_acquire_all(self._spends(kind))
        if wait <= 0:
            self._prepaid[kind] += 1
        return max(0.0, wait)

    def budget_use(self, window: float) -> dict[str, float] | None:
        """The share of the read and of the write budget this process spent over the last `window` seconds
        (itrader.account_figures.budget_use); None when the limiter does not count its grants."""
        uses: dict[str, float] = {}
        for kind, budget in ((READ, self.budgets.read), (WRITE, self.budgets.write)):
            granted = self.limiter.granted(self._budget_key(kind), window)
            if granted is None:
                return None
            uses[kind] = budget_use(granted, window, budget.per_second, budget.burst)
        return uses

    def pace_poll(self, cost: int = 1) -> tuple[bool, float]:
        """This account's turn among the polls from this IP (IpBudget.polls), `cost` reads long: (True, 0.0)
        poll now; (True, wait) the turn is `wait` s away (taken: poll then, not before); (False, wait) no
        turn handed out that far ahead, ask again in `wait` s. Without an IP budget: always now."""
        ip = self.ip_budget
        if ip is None:
            return True, 0.0
        spend = Spend(f"{ip.key}:polls", ip.polls.per_second, ip.polls.burst, cost=min(cost, ip.polls.burst))
        taken, wait = self.limiter.take([spend], within=IP_POLL_MAX_DEFER)
        return taken, wait if taken else wait - IP_POLL_MAX_DEFER

    def _budget_key(self, kind: str) -> str:
        return f"bybit:{self.account}:{kind}"

    def _spends(self, kind: str | None) -> list[Spend]:
        """The tokens one request takes: the account's `kind` budget (none for a public call), and the IP's."""
        spends = []
        if kind is not None:
            budget = self.budgets.read if kind == READ else self.budgets.write
            spends.append(Spend(self._budget_key(kind), budget.per_second, budget.burst))
        ip = self.ip_budget
        if ip is not None:
            spends.append(Spend(f"{ip.key}:calls", ip.calls.per_second, ip.calls.burst,
                                floor=0.0 if kind == WRITE else ip.read_floor))
        return spends

    def _call(self, method: str, path: str, kind: str, params: dict | None = None, *,
              raw_body: bytes | None = None, content_type: str = "application/json") -> Any:
        resynced = False
        attempt, slept = 0, 0.0
        while True:
            if self.blocked_for > 0:
                raise errors.Blocked("IP ban in force; not calling Bybit", retry_after=self.blocked_for,
                                     http_status=403, path=path)
            if kind == WRITE and self.before_write is not None:
                self.before_write()  # the lease, right before each try: a raise here sends nothing
            if attempt == 0 and not resynced and self._prepaid[kind] > 0:
                self._prepaid[kind] -= 1  # try_reserve took this call's token already
            else:
                self.limiter.acquire_all(self._spends(kind), self.max_budget_wait)
            try:
                return self._send(method, path, params, raw_body, content_type, write=kind == WRITE)
            except errors.Blocked as exc:
                self._blocked_until = time.monotonic() + exc.retry_after
                log.warning("bybit %s: IP blocked for %.0fs on %s", self.account, exc.retry_after, path)
                raise
            except errors.RateLimited as exc:  # the caller waits, not us (module docstring)
                log.info("bybit %s: rate limited on %s for %.2fs", self.account, path, exc.retry_after)
                raise
            except errors.TimestampError:
                if resynced or not self.auto_sync_clock:
                    raise
                self.sync_clock()
                resynced = True
                continue  # a re-sync is not a retry of a failure
            except errors.TemporaryError:
                delay = min(0.25 * 2 ** attempt, 4.0)
                if kind == WRITE or attempt >= self.max_retries or slept + delay > MAX_RETRY_SLEEP:
                    raise
                gevent.sleep(delay)
                slept += delay
            attempt += 1

    def _send(self, method: str, path: str, params: dict | None, raw_body: bytes | None,
              content_type: str, signed: bool = True, write: bool = False) -> Any:
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        if method == "GET":
            query = signing.canonical_query(params)
            payload = query.encode("utf-8")
            if query:
                url += "?" + query
            data = None
        else:
            payload = raw_body if raw_body is not None else signing.encode_body(params)
            data = payload
            headers["Content-Type"] = content_type
        if signed:
            headers.update(signing.auth_headers(self._api_key, self._api_secret, self.now_ms(), self.recv_window,
                                                payload))
        try:
            response = self._session.request(method, url, data=data, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            timed_out = isinstance(exc, requests.Timeout)
            what = "request timed out" if timed_out else f"connection failed ({type(exc).__name__})"
            if write and not never_sent(exc):
                raise errors.OutcomeUnknown(f"{what}; Bybit may have acted", path=path) from None
            raise errors.TemporaryError(what, path=path) from None
        try:
            return envelope.read_response(response.status_code, response.headers, response.content, path,
                                          self.now_ms() / 1000.0)
        except errors.TemporaryError as exc:
            if not write or isinstance(exc, errors.RateLimited):
                raise
            # A 5xx, 10016 or an unreadable answer: Bybit got the write and may have carried it out.
            raise errors.OutcomeUnknown(f"{exc.args[0]}; Bybit may have acted", code=exc.code,
                                        http_status=exc.http_status, path=path) from None

    # ------------------------------------------------------------ clock

    def server_time(self) -> ServerTime:
        if self.ip_budget is not None:
            self.limiter.acquire_all(self._spends(None), self.max_budget_wait)
        result = self._send("GET", "/v5/market/time", None, None, "", signed=False) or {}
        return ServerTime(seconds=int(result.get("timeSecond") or 0), nanos=int(result.get("timeNano") or 0))

    def sync_clock(self) -> int:
        """Set the offset between our clock and Bybit's; returns it in ms."""
        before = self._clock()
        server = self.server_time()
        after = self._clock()
        self.clock_offset_ms = server.ms - int((before + after) / 2 * 1000)
        log.info("bybit %s: clock offset %d ms", self.account, self.clock_offset_ms)
        return self.clock_offset_ms

    # ------------------------------------------------------------ account

    def account_info(self) -> dict:
        """Own P2P profile; `userId` tells our chat messages from the buyer's."""
        return self._call("POST", "/v5/p2p/user/personal/info", READ, {}) or {}

    def payment_methods(self, include_balance: bool = False) -> list[PaymentMethod]:
        methods = [PaymentMethod.from_api(d) for d in self._call("POST", "/v5/p2p/user/payment/list", READ, {}) or []
                   if isinstance(d, dict)]
        return methods if include_balance else [m for m in methods if not m.is_balance]

    def balance(self, coin: str = "USDT", account_type: str = "FUND") -> Decimal:
        result = self._call("GET", "/v5/asset/transfer/query-account-coins-balance", READ,
                            {"accountType": account_type, "coin": coin}) or {}
        for entry in result.get("balance") or []:
            if entry.get("coin") == coin:
                return dec(entry.get("transferBalance", entry.get("walletBalance")))
        return Decimal(0)

    # ------------------------------------------------------------ ads

    def create_ad(self, ad: AdRequest) -> str:
        """Post a sell ad; Bybit answers only the id, so the caller keeps `ad`."""
        result = self._call("POST", "/v5/p2p/item/create", WRITE, ad.body()) or {}
        item_id = str(result.get("itemId") or "") if isinstance(result, dict) else ""
        if not item_id and isinstance(result, dict) and result.get("needSecurityRisk") is True:
            # Bybit P2P docs, Post Ad: the answer may ask for a risk check instead of naming an ad.
            raise errors.SecurityRiskRequired("Bybit asks for a security check before this ad (needSecurityRisk)",
                                              path="/v5/p2p/item/create")
        if not item_id:  # Bybit said yes without naming the ad: it exists, the caller looks for it
            raise errors.OutcomeUnknown("ad created without an itemId in the answer", path="/v5/p2p/item/create")
        return item_id

    def update_ad(self, item_id: str, ad: AdRequest, action: str = "MODIFY") -> None:
        """MODIFY an online ad, or ACTIVE to put an offline ad back online (all fields required)."""
        if action not in ("MODIFY", "ACTIVE"):
            raise ValueError("action must be MODIFY or ACTIVE")
        body = {"id": str(item_id), **ad.body(), "actionType": action}
        for unsupported in ("tokenId", "currencyId", "side"):
            body.pop(unsupported)
        self._call("POST", "/v5/p2p/item/update", WRITE, body)

    def cancel_ad(self, item_id: str) -> None:
        self._call("POST", "/v5/p2p/item/cancel", WRITE, {"itemId": str(item_id)})

    def my_ads(self, page: int = 1, size: int = 10, status: int | None = None) -> Page:
        """Own ads (status filter: 1 sold out, 2 available)."""
        body = {"page": str(page), "size": str(size)}
        if status is not None:
            body["status"] = str(status)
        return Page.from_api(self._call("POST", "/v5/p2p/item/personal/list", READ, body), Ad.from_api)

    def ad_info(self, item_id: str) -> Ad:
        return Ad.from_api(envelope.unwrap_object(self._call("POST", "/v5/p2p/item/info", READ,
                                                             {"itemId": str(item_id)})) or {})

    def online_ads(self, side: int = 1, page: int = 1, size: int = 10, token: str = "USDT",
                   currency: str = "RUB") -> Page:
        """The public market (side 1 = makers selling USDT), used for pricing."""
        body = {"tokenId": token, "currencyId": currency, "side": str(side), "page": str(page), "size": str(size)}
        return Page.from_api(self._call("POST", "/v5/p2p/item/online", READ, body), Ad.from_api)

    # ------------------------------------------------------------ orders

    def orders(self, page: int = 1, size: int = ORDER_PAGE_SIZE, status: int | None = None,
               begin_ms: int | None = None, end_ms: int | None = None) -> Page:
        body: dict[str, Any] = {"page": page, "size": size}
        if status is not None:
            body["status"] = int(status)
        if begin_ms is not None:
            body["beginTime"] = str(begin_ms)
        if end_ms is not None:
            body["endTime"] = str(end_ms)
        return Page.from_api(self._call("POST", "/v5/p2p/order/simplifyList", READ, body), OrderSummary.from_api)

    def pending_orders(self, page: int = 1, size: int = ORDER_PAGE_SIZE) -> Page:
        """Orders needing action, with unread-message counts: one call per account per tick.

        Bybit has been seen answering count > 0 with no items here; then the
        same orders are read from simplifyList by status (10, 20, and the appeal's 30, 100, 110).
        """
        pending = Page.from_api(self._call("POST", "/v5/p2p/order/pending/simplifyList", READ,
                                           {"page": page, "size": size}), OrderSummary.from_api)
        if pending.count == 0 or pending.items:
            return pending
        log.info("bybit %s: pending list had count %d but no items; falling back", self.account, pending.count)
        items: dict[str, OrderSummary] = {}
        for status in (10, 20, 30, 100, 110):
            for order in self.orders(page=1, size=size, status=status).items:
                items[order.id] = order
        return Page(count=len(items), items=list(items.values()))

    def order_info(self, order_id: str) -> OrderDetail:
        result = self._call("POST", "/v5/p2p/order/info", READ, {"orderId": str(order_id)})
        return OrderDetail.from_api(envelope.unwrap_object(result) or {})

    def release(self, order_id: str) -> None:
        """Release the USDT (/order/finish). Irreversible; Bybit accepts it only in status 20."""
        self._call("POST", "/v5/p2p/order/finish", WRITE, {"orderId": str(order_id)})

    # ------------------------------------------------------------ chat

    def chat_messages(self, order_id: str, page_size: int = CHAT_PAGE_SIZE, max_pages: int = 20) -> list[ChatMessage]:
        """All messages of an order, oldest first (Bybit does not document the order, so we sort)."""
        seen: dict[str, ChatMessage] = {}
        for page in range(1, max_pages + 1):
            result = self._call("POST", "/v5/p2p/order/message/listpage", READ,
                                {"orderId": str(order_id), "size": str(page_size), "currentPage": str(page)})
            batch = [ChatMessage.from_api(d) for d in envelope.chat_items(result)]
            new = [m for m in batch if m.id not in seen]
            seen.update((m.id, m) for m in new)
            if len(batch) < page_size or not new:
                break
        return sorted(seen.values(), key=lambda m: (m.created_ms, int(m.id) if m.id.isdigit() else 0, m.id))

    def send_text(self, order_id: str, text: str, msg_uuid: str | None = None) -> str:
        """Send a chat text; returns the msgUuid (the send itself returns no message id)."""
        msg_uuid = msg_uuid or uuid.uuid4().hex
        self._call("POST", "/v5/p2p/order/message/send", WRITE,
                   {"message": text, "contentType": "str", "orderId": str(order_id), "msgUuid": msg_uuid})
        return msg_uuid

    def send_file(self, order_id: str, uploaded: UploadedFile, file_name: str, msg_uuid: str | None = None) -> str:
        """Post an uploaded file (see upload_file) into the order chat."""
        msg_uuid = msg_uuid or uuid.uuid4().hex
        ext = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
        content_type = {"pdf": "pdf", "mp4": "video"}.get(ext, uploaded.chat_content_type)
        self._call("POST", "/v5/p2p/order/message/send", WRITE,
                   {"message": uploaded.url, "contentType": content_type, "orderId": str(order_id),
                    "msgUuid": msg_uuid, "fileName": file_name})
        return msg_uuid

    def upload_file(self, filename: str, data: bytes, content_type: str | None = None) -> UploadedFile:
        """Upload jpg/png/jpeg/pdf/mp4; signed over the raw multipart bytes. After OutcomeUnknown an
        upload may be stored unseen; uploading again is harmless (nothing refers to the lost one)."""
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        content_type = content_type or UPLOAD_CONTENT_TYPES.get(ext, "application/octet-stream")
        boundary = UPLOAD_BOUNDARY_PREFIX + uuid.uuid4().hex
        body = signing.multipart_body("upload_file", filename, data, content_type, boundary)
        result = self._call("POST", "/v5/p2p/oss/upload_file", WRITE, raw_body=body,
                            content_type=f"multipart/form-data; boundary={boundary}") or {}
        return UploadedFile(url=str(result.get("url") or ""), type=str(result.get("type") or ""))

    def download_file(self, url: str) -> bytes:
        """Fetch a chat file by its relative URL (the real download host is unknown; see reference §6.4)."""
        if self.blocked_for > 0:
            raise errors.Blocked("IP ban in force; not calling Bybit", retry_after=self.blocked_for, http_status=403)
        self.limiter.acquire_all(self._spends(READ), self.max_budget_wait)
        try:
            response = self._session.get(self.file_base_url + url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise errors.TemporaryError(f"download failed ({type(exc).__name__})") from None
        if response.status_code != 200:
            envelope.read_response(response.status_code, response.headers, response.content, url, 0)
        return response.content

"""Simulated Bybit P2P (V5) for the sandbox world.

An independent twin of Bybit, written from reference/bybit-p2p-api.md: it
checks HMAC signatures over the raw query or raw body, the timestamp window,
per-UID read/write rates and the per-IP limit (403 ban), and answers with the
snake_case P2P envelope (V5 envelope for server time, balance and gateway-level
errors). Sellers use the HTTP API; simulated buyers call the buyer-side methods
in-process. Money steps are recorded in the shared Ledger.

Choices where the reference is silent (documented so the client does not lean
on them as facts):
* gateway errors (10002/10003/10004/10006) use the V5 envelope, business
  errors the snake_case one — a client must read both;
* the chat list is newest first; size > 30 is rejected with 10001;
* releasing an order that is not in status 20 answers ORDER_STATE_ERROR;
* `selfUnreadMsgCount` and `unreadMsgCount` both count the messages (system
  and buyer) the seller has not yet fetched with message/listpage.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from decimal import Decimal
from typing import Any, Callable

from itrader.sandbox.bybit_ads import BybitAds
from itrader.sandbox.bybit_chat_quirks import BybitChatQuirks, ChatQuirks
from itrader.sandbox.bybit_http import BybitHttp
from itrader.sandbox.bybit_live import BybitLive
from itrader.sandbox.bybit_orders import BybitOrders
# The records, codes and checks live in bybit_records; all re-exported here, where they always were.
from itrader.sandbox.bybit_records import IpWindows
from itrader.sandbox.bybit_records import (  # noqa: F401
    AD_CLOSED, AD_MODIFY_LIMIT, AD_MODIFY_MAX, AD_MODIFY_WINDOW, AD_OFFLINE, AD_ONLINE, AD_STATE_ERROR, Account,
    Ad, ApiError, BALANCE, CHAT_CONTENT_TYPES, CHAT_PAGE_MAX, CURRENCY_MAX_QUOTE, CURRENCY_MIN_QUOTE,
    HTTP_LOG_MAX, INSUFFICIENT_BALANCE, INVALID_KEY, MIN_ABOVE_TOTAL, MIN_AMOUNT_ERROR, MY_ADS_PAGE_MAX,
    Message, NOT_FOUND_ERROR, ONLINE_PAGE_MAX, ORDER_APPEAL, ORDER_CANCELLED, ORDER_FINISHED, ORDER_PAGE_MAX,
    ORDER_PAID, ORDER_STATE_ERROR, ORDER_UNPAID, Order, PARAM_ERROR, PAYMENT_NAMES, PAYMENT_NOT_FOUND,
    PAYMENT_PERIODS, PENDING_STATUSES, PRICE_BAND_PERCENT, PRICE_OUT_OF_RANGE, REFERENCE_PRICE, SBP, SIGN_ERROR,
    StoredFile, TIMESTAMP_ERROR, TINKOFF, TOO_MANY_VISITS, UPLOAD_TYPES, WRONG_PATHS_NOTE, _dec, _int, _money,
    _qty, _required, sign_payload,
)
from itrader.sandbox.bybit_ad_rules import DOCS_SIDE_LIMIT, BybitAdRules
from itrader.sandbox.faults import Faults
from itrader.sandbox.ledger import Ledger


class BybitSandbox(BybitHttp, BybitOrders, BybitAds, BybitAdRules, BybitLive, BybitChatQuirks):
    """Bybit P2P state plus a Bottle app whose routes are relative to the /bybit mount.

    Its parts: ads (bybit_ads), orders and chat (bybit_orders), the HTTP layer (bybit_http), live chat
    behaviours switched on by the control API (bybit_chat_quirks).
    """

    # ------------------------------------------------------------- state

    def __init__(
        self,
        ledger: Ledger,
        faults: Faults,
        clock: Callable[[], float] = time.time,
        *,
        chat_nesting: str = "nested",
        market_seed: int = 20240610,
        market_size: int = 90,  # enough SBP/Tinkoff sellers for the Spec's deepest page (5)
        ip_requests_per_window: int = 600,
        ip_window_seconds: float = 5.0,
        ip_ban_seconds: float = 600.0,
        default_balance: Decimal = Decimal("100000"),
        pending_list_drops_items: bool = False,
        item_side_limit: int | None = DOCS_SIDE_LIMIT,  # None: no per-side ad limit (benchmarks)
    ) -> None:
        if chat_nesting not in ("nested", "flat"):
            raise ValueError("chat_nesting must be 'nested' or 'flat'")
        self.ledger = ledger
        self.faults = faults
        self.clock = clock
        self.chat_nesting = chat_nesting
        self.market_seed = market_seed
        self.market_size = market_size
        self.ip_requests_per_window = ip_requests_per_window
        self.ip_window_seconds = ip_window_seconds
        self.ip_ban_seconds = ip_ban_seconds
        self.default_balance = Decimal(default_balance)
        # Reproduces what the TypeScript rewrite saw: count > 0 with an empty items array.
        self.pending_list_drops_items = pending_list_drops_items
        self.default_side_limit = item_side_limit
        self._lock = threading.RLock()
        self._reset_state()

    def _reset_state(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._by_key: dict[str, Account] = {}
        self._ads: dict[str, Ad] = {}
        self._orders: dict[str, Order] = {}
        self._files: dict[str, StoredFile] = {}
        self._request_log: dict[str, deque] = {}
        self._accepted: dict[tuple[str, str], deque] = {}
        self._rate_rejections: dict[str, int] = {}
        self._http_log: deque = deque(maxlen=HTTP_LOG_MAX)
        self._ip_hits: dict[str, deque] = {}
        self._ip_bans: dict[str, float] = {}
        self._ip_windows = IpWindows()
        self._ids = itertools.count(1)
        self._market = self._generate_market()
        self._reset_ad_rules()
        self._reset_live()
        self.chat_quirks = ChatQuirks()

    def reset(self) -> None:
        with self._lock:
            self._reset_state()

    def _next_id(self, base: int) -> str:
        return str(base + next(self._ids))

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --------------------------------------------------- control methods

    def add_account(
        self,
        uid: str,
        api_key: str,
        api_secret: str,
        nickname: str = "",
        read_per_second: float = 10,
        write_per_second: float = 5,
        balance: Decimal | None = None,
        real_name: str = "DEMO SELLER",
    ) -> None:
        """Register a seller with SBP (382) and Tinkoff (75) payment methods."""
        with self._lock:
            payments = []
            for ptype, account_no in ((SBP, "7900" + uid[-7:].rjust(7, "0")), (TINKOFF, "2200" + uid[-12:].rjust(12, "0"))):
                payments.append({"id": self._next_id(18000000), "paymentType": ptype, "accountNo": account_no,
                                 "realName": real_name})
            account = Account(
                uid=uid, api_key=api_key, api_secret=api_secret, nickname=nickname or f"Seller{uid}",
                read_per_second=read_per_second, write_per_second=write_per_second,
                account_id=str(int(uid) + 1) if uid.isdigit() else uid + "-acct",
                balance=self.default_balance if balance is None else Decimal(balance), payments=payments,
            )
            self._accounts[uid] = account
            self._by_key[api_key] = account

    def payment_methods(self, uid: str) -> list[dict]:
        with self._lock:
            return [dict(p) for p in self._accounts[uid].payments]

    def balance(self, uid: str) -> Decimal:
        with self._lock:
            return self._accounts[uid].balance

    def ban_ip(self, ip: str, seconds: float | None = None) -> None:
        with self._lock:
            self._ip_bans[ip] = self.clock() + (self.ip_ban_seconds if seconds is None else seconds)

    def lift_bans(self) -> None:
        with self._lock:
            self._ip_bans.clear()
            self._ip_hits.clear()

    def ip_windows(self) -> dict:
        """The most requests seen from each IP in any 1 s and any 5 s (and the most of any IP)."""
        with self._lock:
            return self._ip_windows.view()

    def reset_ip_windows(self) -> None:
        with self._lock:
            self._ip_windows = IpWindows()

    def request_log(self, uid: str) -> list[tuple[float, str, str]]:
        """Every authenticated request of the uid: (server time, "read"|"write", path)."""
        with self._lock:
            return list(self._request_log.get(uid, []))

    def rate_rejections(self, uid: str) -> int:
        with self._lock:
            return self._rate_rejections.get(uid, 0)

    def http_log(self) -> list[dict[str, Any]]:
        """Every HTTP request that reached the app, faulted ones too: ts, ip, method, path, status,
        retry_after, fault (the injected fault that answered it, else None)."""
        with self._lock:
            return [dict(e) for e in self._http_log]

    def file(self, url: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(url.split("?", 1)[0])

    # -------------------------------------------------- account handlers

    def _payment_json(self, payment: dict) -> dict:
        ptype = payment["paymentType"]
        return {
            "id": payment["id"], "realName": payment["realName"], "paymentType": ptype, "bankName": "",
            "branchName": "", "accountNo": payment["accountNo"], "qrcode": "", "online": "0", "visible": 1,
            "payMessage": "", "firstName": "", "lastName": "", "secondLastName": "", "clabe": "",
            "debitCardNumber": "", "mobile": "", "businessName": "", "concept": "", "countNo": "",
            "paymentTemplateVersion": 1, "hasPaymentTemplateChanged": False, "realNameVerified": True,
            "channel": "", "currencyBalance": [],
            "paymentConfigVo": {"paymentType": str(ptype), "checkType": 0, "sort": 0,
                                "paymentName": PAYMENT_NAMES.get(ptype, str(ptype)), "addTips": "", "itemTips": "",
                                "online": 0, "items": []},
        }

    def _h_personal_info(self, account: Account, params: dict) -> dict:
        return {
            "nickName": account.nickname, "defaultNickName": False, "isOnline": True, "kycLevel": "2",
            "email": "s****o@example.com", "mobile": "", "lastLogoutTime": "1718000000", "recentRate": "100",
            "totalFinishCount": 0, "totalFinishSellCount": 0, "totalFinishBuyCount": 0, "recentFinishCount": 0,
            "averageReleaseTime": "0", "averageTransferTime": "0", "accountCreateDays": 400,
            "firstTradeDays": 200, "realName": account.payments[0]["realName"], "recentTradeAmount": "0",
            "totalTradeAmount": "0", "registerTime": "1680000000", "authStatus": 2, "kycCountryCode": "RUS",
            "blocked": "", "goodAppraiseRate": "100", "goodAppraiseCount": 0, "badAppraiseCount": 0,
            "accountId": account.account_id, "paymentCount": len(account.payments), "contactCount": 0,
            "vipLevel": 1, "userCancelCountLimit": 1000, "paymentRealNameUneditable": True,
            "userId": account.uid, "realNameEn": account.payments[0]["realName"],
        }

    def _h_payment_list(self, account: Account, params: dict) -> list:
        balance = {"id": "-1", "realName": "", "paymentType": BALANCE, "accountNo": "", "online": "1",
                   "paymentConfigVo": {"paymentType": str(BALANCE), "paymentName": "Balance", "online": 1,
                                       "items": []}}
        return [balance] + [self._payment_json(p) for p in account.payments]

    def _h_balance(self, account: Account, params: dict) -> dict:
        if not params.get("accountType"):
            raise ApiError(PARAM_ERROR, "accountType is required")
        coins = [c for c in ("USDT",) if params.get("coin") in (None, "", c)]
        balance = account.balance if params["accountType"] == "FUND" else Decimal(0)
        available = self._available_balance(account) if params["accountType"] == "FUND" else Decimal(0)
        return {"memberId": account.uid, "accountType": params["accountType"],
                "balance": [{"coin": c, "walletBalance": _qty(balance), "transferBalance": _qty(available),
                             "bonus": "0"} for c in coins]}

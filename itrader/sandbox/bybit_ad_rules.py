"""What a live Bybit account does with ads beyond the happy wire (issue 12, items 5 and 12).

Ads (item 5) — checked on every /v5/p2p/item/create:
* the per-side ad limit: at most `item_side_limit` online ads of one account on one side, counting the
  ads its owner posted by hand in the app (`post_ad_by_hand`). Bybit P2P docs, Get Ads / Get My Ads:
  `symbolInfo.itemSideLimit` (the docs' example shows 3). Its error code is not documented: AD_SIDE_LIMIT
  is the sandbox's;
* the price-difference rule between one's own ads (`price_gap_percent`, off by default): a new ad's price
  must differ by at least that percentage from each of the account's online ads on the side. The
  TypeScript rewrite's notes state it with 5 %, no Bybit source confirms it (bybit-p2p-api.md §8); its
  code AD_PRICE_GAP is the sandbox's;
* `needSecurityRisk: true` (a switch per account): the answer is ret_code 0 with no itemId and a risk token,
  and no ad goes up until the owner passes the check in the app. Shape: Bybit P2P docs, Post Ad, response
  fields `itemId, securityRiskToken, riskTokenType, riskVersion, needSecurityRisk`;
* the generic `912000004` "Parameter exception" the TypeScript rewrite met on ad creation (bybit-p2p-api.md
  §7), a switch per account.

Market (item 12): /v5/p2p/item/online has no payment or amount filter and no documented order (Bybit P2P
docs, Get Ads: request `tokenId, currencyId, side, page, size` only): the list comes in an order that is
deterministic but not by price, with ads of every payment method, and `plant_market_outliers` adds
strangers' ads at a multiple of the usual price.
"""
from __future__ import annotations

import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

from itrader.sandbox.bybit_records import AD_ONLINE, REFERENCE_PRICE, SBP, TINKOFF, ApiError, _money

DOCS_SIDE_LIMIT = 3  # Bybit P2P docs' example symbolInfo: "itemSideLimit": 3
AD_SIDE_LIMIT = 912300904  # sandbox code: Bybit does not document the one for a full side
AD_PRICE_GAP = 912300905  # sandbox code: the rule itself is unverified
PARAMETER_EXCEPTION = 912000004  # met by the TypeScript rewrite on ad creation
RISK_TOKEN_TYPE = "challenge"
HAND_REMARK = "posted by hand in the Bybit app"
EVERY_ACCOUNT = "*"


class BybitAdRules:
    """A mixin of BybitSandbox: the live ad rules and the market's shape. Its state is reset with the
    sandbox's (`_reset_ad_rules`)."""

    def _reset_ad_rules(self) -> None:
        self.item_side_limit: int | None = self.default_side_limit
        self.price_gap_percent: Decimal | None = None
        self._security_risk: set[str] = set()  # uids (or EVERY_ACCOUNT) whose ad creation needs a risk check
        self._parameter_exception: set[str] = set()  # uids (or EVERY_ACCOUNT) answered 912000004
        self._outliers: list[dict] = []

    # ------------------------------------------------------------ control

    def set_ad_rules(self, *, side_limit: Any = ..., price_gap_percent: Any = ..., security_risk: bool | None = None,
                     parameter_exception: bool | None = None, uid: str | None = None) -> dict:
        """Change the rules; `uid` picks the account for the two switches (None: every account)."""
        with self._lock:
            if side_limit is not ...:
                if side_limit is not None and (isinstance(side_limit, bool) or not isinstance(side_limit, int)
                                               or not 1 <= side_limit <= 100):
                    raise ValueError("side_limit must be a whole number from 1 to 100, or null for no limit")
                self.item_side_limit = side_limit
            if price_gap_percent is not ...:
                gap = None if price_gap_percent is None else Decimal(str(price_gap_percent))
                if gap is not None and not (gap.is_finite() and 0 < gap <= 100):
                    raise ValueError("price_gap_percent must be a number above 0 and at most 100, or null")
                self.price_gap_percent = gap
            who = uid or EVERY_ACCOUNT
            if uid is not None and uid not in self._accounts:
                raise KeyError(uid)
            for switch, on in ((self._security_risk, security_risk), (self._parameter_exception, parameter_exception)):
                if on is True:
                    switch.add(who)
                elif on is False:
                    switch.clear() if who == EVERY_ACCOUNT else switch.discard(who)
            return self.ad_rules_view()

    def ad_rules_view(self) -> dict:
        with self._lock:
            return {"side_limit": self.item_side_limit,
                    "price_gap_percent": None if self.price_gap_percent is None else str(self.price_gap_percent),
                    "security_risk": sorted(self._security_risk),
                    "parameter_exception": sorted(self._parameter_exception),
                    "market_outliers": len(self._outliers)}

    def post_ad_by_hand(self, uid: str, price: Decimal = REFERENCE_PRICE + 2, amount: Decimal = Decimal(5000),
                        method: str = "sbp") -> str:
        """The account's owner posts a sell ad in the app (the side limit applies, nothing else)."""
        with self._lock:
            account = self._accounts[uid]
            ptype = {"sbp": SBP, "tinkoff": TINKOFF}.get(method)
            if ptype is None:
                raise ValueError("method must be sbp or tinkoff")
            payment_id = next(p["id"] for p in account.payments if p["paymentType"] == ptype)
            quantity = (Decimal(amount) / Decimal(price) + 5).quantize(Decimal("0.01"))
            params = {"tokenId": "USDT", "currencyId": "RUB", "side": "1", "priceType": "0", "premium": "",
                      "price": str(price), "minAmount": str(amount), "maxAmount": str(amount), "remark": HAND_REMARK,
                      "tradingPreferenceSet": {}, "paymentIds": [payment_id], "quantity": str(quantity),
                      "paymentPeriod": "15", "itemType": "ORIGIN"}
            return self._h_item_create(account, params, by_hand=True)["itemId"]

    def plant_market_outliers(self, factor: Any, count: int = 1, payments: list[str] | None = None) -> list[str]:
        """Strangers' sell ads at `factor` × the usual price (10 or 0.1, say), taking SBP and Tinkoff."""
        try:
            multiple = Decimal(str(factor))
        except InvalidOperation:
            raise ValueError("factor must be a number from 0.01 to 100") from None
        if not (multiple.is_finite() and Decimal("0.01") <= multiple <= 100):
            raise ValueError("factor must be a number from 0.01 to 100")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 200:
            raise ValueError("count must be a whole number from 1 to 200")
        with self._lock:
            planted = []
            for _ in range(count):
                n = len(self._outliers)
                item = dict(self._market[1][n % len(self._market[1])])
                item.update({"id": str(1940000000000000000 + n), "userId": str(7000000 + n),
                             "accountId": str(7000001 + n), "nickName": f"Stranger{n:03d}",
                             "price": _money(((REFERENCE_PRICE + 2) * multiple).quantize(Decimal("0.01"))),
                             "payments": list(payments or ["382", "75"])})
                self._outliers.append(item)
                planted.append(item["id"])
            return planted

    def clear_market_outliers(self) -> None:
        with self._lock:
            self._outliers = []

    # ------------------------------------------------------------ the rules

    def _switched(self, switch: set[str], uid: str) -> bool:
        return EVERY_ACCOUNT in switch or uid in switch

    def _ad_rules_refusal(self, account: Any, side: int, price: Decimal, by_hand: bool = False) -> dict | None:
        """Raise the refusal of a new ad, or return the security-risk answer (no ad made); None: it may go up."""
        if not by_hand and self._switched(self._parameter_exception, account.uid):
            raise ApiError(PARAMETER_EXCEPTION, "Parameter exception")
        mine = [ad for ad in self._ads.values() if ad.uid == account.uid and ad.side == side and ad.status == AD_ONLINE]
        if self.item_side_limit is not None and len(mine) >= self.item_side_limit:
            raise ApiError(AD_SIDE_LIMIT, f"you can post at most {self.item_side_limit} ads on this side")
        if by_hand:
            return None
        gap = self.price_gap_percent
        if gap is not None and any(abs(price - ad.price) * 100 < gap * ad.price for ad in mine):
            raise ApiError(AD_PRICE_GAP, f"the price must differ by at least {gap}% from your other ads")
        if self._switched(self._security_risk, account.uid):
            token = hashlib.sha256(f"{account.uid}:{self._now_ms()}".encode()).hexdigest()[:32]
            return {"itemId": "", "securityRiskToken": token, "riskTokenType": RISK_TOKEN_TYPE, "riskVersion": "1",
                    "needSecurityRisk": True}
        return None

    def _in_listing_order(self, items: list[dict], side: int) -> list[dict]:
        """The public list's order, with the planted outliers (sellers): deterministic, not by price (the
        docs name no sort)."""
        def scatter(item: dict) -> str:
            return hashlib.sha256(f"{self.market_seed}:{item['id']}".encode()).hexdigest()
        return sorted(items + (list(self._outliers) if side == 1 else []), key=scatter)

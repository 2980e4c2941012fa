"""The simulated Bybit P2P's ads: create, update, cancel, list, and the public market list (reference §5)."""
from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from itrader.sandbox.bybit_records import (
    AD_CLOSED, AD_MODIFY_LIMIT, AD_MODIFY_MAX, AD_MODIFY_WINDOW, AD_OFFLINE, AD_ONLINE, AD_STATE_ERROR, Account,
    Ad, ApiError, CURRENCY_MAX_QUOTE, CURRENCY_MIN_QUOTE, INSUFFICIENT_BALANCE, MIN_ABOVE_TOTAL,
    MIN_AMOUNT_ERROR, MY_ADS_PAGE_MAX, NOT_FOUND_ERROR, ONLINE_PAGE_MAX, PARAM_ERROR, PAYMENT_NAMES,
    PAYMENT_NOT_FOUND, PAYMENT_PERIODS, PRICE_BAND_PERCENT, PRICE_OUT_OF_RANGE, REFERENCE_PRICE, _dec, _int,
    _money, _qty, _required,
)


class BybitAds:
    """Ads and the public market of the simulated Bybit: the seller's ad methods and their JSON.

    A mixin of BybitSandbox (itrader.sandbox.bybit), which holds the state (`_ads`, `_accounts`,
    `_market`, `_lock`, the clock) these methods read and change.
    """

    # ------------------------------------------- control and JSON shapes

    def ads(self, uid: str | None = None, online_only: bool = False) -> list[dict]:
        with self._lock:
            self._tick()
            return [
                self._ad_internal(ad) for ad in self._ads.values()
                if (uid is None or ad.uid == uid) and (not online_only or ad.status == AD_ONLINE)
            ]

    def take_ad_offline(self, item_id: str) -> None:
        """What Bybit does on its own (e.g. a momentary balance shortfall)."""
        with self._lock:
            ad = self._ads[item_id]
            if ad.status == AD_ONLINE:
                ad.status = AD_OFFLINE
                ad.updated_ms = self._now_ms()

    def _ad_json(self, ad: Ad) -> dict:
        account = self._accounts[ad.uid]
        terms = [p for p in account.payments if p["id"] in ad.payment_ids]
        return {
            "id": ad.id, "accountId": account.account_id, "userId": ad.uid, "nickName": account.nickname,
            "tokenId": ad.token, "currencyId": ad.currency, "side": ad.side, "priceType": ad.price_type,
            "price": _money(ad.price), "premium": ad.premium, "lastQuantity": _qty(ad.last_quantity),
            "quantity": _qty(ad.quantity), "frozenQuantity": _qty(ad.frozen),
            "executedQuantity": _qty(ad.executed), "minAmount": _money(ad.min_amount),
            "maxAmount": _money(ad.max_amount), "remark": ad.remark, "status": ad.status,
            "createDate": str(ad.created_ms), "payments": [str(p["paymentType"]) for p in terms],
            "hiddenReason": "", "tradingPreferenceSet": ad.trading_preferences, "updateDate": str(ad.updated_ms),
            "feeRate": "0", "paymentPeriod": ad.payment_period, "itemType": ad.item_type, "version": 2,
            "paymentTerms": [{"id": p["id"], "paymentType": p["paymentType"], "realName": p["realName"],
                              "accountNo": p["accountNo"],
                              "paymentConfig": {"paymentType": p["paymentType"],
                                                "paymentName": PAYMENT_NAMES[p["paymentType"]]}} for p in terms],
            "symbolInfo": self._symbol_info(), "orderNum": 0, "finishNum": 0, "isOnline": True,
        }

    def _ad_internal(self, ad: Ad) -> dict:
        account = self._accounts[ad.uid]
        return {
            "item_id": ad.id, "uid": ad.uid, "status": ad.status, "price": ad.price, "quantity": ad.quantity,
            "last_quantity": ad.last_quantity, "frozen_quantity": ad.frozen, "executed_quantity": ad.executed,
            "min_amount": ad.min_amount, "max_amount": ad.max_amount, "payment_ids": list(ad.payment_ids),
            "payment_types": [p["paymentType"] for p in account.payments if p["id"] in ad.payment_ids],
            "payment_period": ad.payment_period, "remark": ad.remark,
        }

    def _symbol_info(self) -> dict:
        return {
            "tokenId": "USDT", "currencyId": "RUB", "itemDownRange": "70", "itemUpRange": "130",
            "currencyMinQuote": str(CURRENCY_MIN_QUOTE), "currencyMaxQuote": str(CURRENCY_MAX_QUOTE),
            "tokenMinQuote": "5", "tokenMaxQuote": "100000", "orderAutoCancelMinute": 15, "orderFinishMinute": 10,
            "itemSideLimit": self.item_side_limit or 0, "buyFeeRate": "0", "sellFeeRate": "0",
            "currency": {"currencyId": "RUB", "scale": 2}, "token": {"tokenId": "USDT", "scale": 4},
            "buyAd": {"paymentPeriods": list(PAYMENT_PERIODS)}, "sellAd": {"paymentPeriods": list(PAYMENT_PERIODS)},
        }

    # ------------------------------------------------------------ market

    def _generate_market(self) -> dict[int, list[dict]]:
        """A fixed fake USDT/RUB order book: the same seed gives the same ads."""
        rng = random.Random(self.market_seed)
        market: dict[int, list[dict]] = {0: [], 1: []}
        for side in (0, 1):
            for n in range(self.market_size):
                offset = Decimal(rng.randint(10, 400)) / 100
                price = REFERENCE_PRICE + offset if side == 1 else REFERENCE_PRICE - offset
                min_amount = Decimal(rng.choice((500, 1000, 3000, 5000)))
                quantity = Decimal(rng.randint(100, 20000))
                uid = str(5000000 + side * 100000 + n)
                market[side].append({
                    "id": str(1920000000000000000 + side * 100000 + n), "accountId": str(int(uid) + 1),
                    "userId": uid, "nickName": f"Maker{side}{n:03d}", "tokenId": "USDT", "currencyId": "RUB",
                    "side": str(side), "priceType": 0, "price": _money(price), "premium": "",
                    "lastQuantity": str(quantity), "quantity": str(quantity), "frozenQuantity": "0",
                    "executedQuantity": "0", "minAmount": str(min_amount),
                    "maxAmount": str(max(min_amount, (quantity * price / 2).quantize(Decimal(1)))),
                    "remark": "", "status": AD_ONLINE, "createDate": "1718000000000",
                    "payments": rng.choice((["382"], ["75"], ["382", "75"], ["14"])),
                    "orderNum": rng.randint(10, 5000), "finishNum": rng.randint(10, 5000),
                    "recentOrderNum": rng.randint(0, 300), "recentExecuteRate": rng.randint(80, 100),
                    "fee": "", "isOnline": True, "lastLogoutTime": "1718000000000", "blocked": "N",
                    "makerContact": False, "authTag": ["GA"], "paymentPeriod": 15, "version": 0,
                    "authStatus": 2, "recommend": False, "recommendTag": "", "userType": "PERSONAL",
                    "itemType": "ORIGIN", "tradingPreferenceSet": {},
                })
        return market

    def _market_ads(self, side: int) -> list[dict]:
        items = list(self._market[side])
        for ad in self._ads.values():
            if ad.status == AD_ONLINE and ad.side == side:
                item = self._ad_json(ad)
                item["side"] = str(side)
                items.append(item)
        return self._in_listing_order(items, side)  # no documented sort (bybit_ad_rules)

    # ---------------------------------------------------------- handlers

    def _h_online(self, account: Account, params: dict) -> dict:
        _required(params, "tokenId", "currencyId", "side")
        if params["tokenId"] != "USDT" or params["currencyId"] != "RUB":
            return {"count": 0, "items": []}
        side = _int(params["side"], "side")
        if side not in (0, 1):
            raise ApiError(PARAM_ERROR, "request parameter error: side")
        page = _int(params.get("page"), "page", 1)
        size = _int(params.get("size"), "size", 10)
        if page < 1 or not 1 <= size <= ONLINE_PAGE_MAX:
            raise ApiError(PARAM_ERROR, "request parameter error: page/size")
        items = self._market_ads(side)
        return {"count": len(items), "items": items[(page - 1) * size: page * size]}

    def _validated_ad_fields(self, account: Account, params: dict) -> dict:
        price = _dec(params["price"], "price")
        min_amount = _dec(params["minAmount"], "minAmount")
        max_amount = _dec(params["maxAmount"], "maxAmount")
        quantity = _dec(params["quantity"], "quantity")
        period = _int(params["paymentPeriod"], "paymentPeriod")
        payment_ids = params["paymentIds"]
        if not isinstance(payment_ids, list) or not 1 <= len(payment_ids) <= 5:
            raise ApiError(PARAM_ERROR, "request parameter error: paymentIds")
        if not all(isinstance(p, str) and p.lstrip("-").isdigit() for p in payment_ids):
            raise ApiError(PARAM_ERROR, "request parameter error: paymentIds must be payment ids")
        own_ids = {p["id"] for p in account.payments}
        if any(p not in own_ids for p in payment_ids):
            raise ApiError(PAYMENT_NOT_FOUND, "Error retrieving payment method")
        if not isinstance(params["tradingPreferenceSet"], dict):
            raise ApiError(PARAM_ERROR, "request parameter error: tradingPreferenceSet")
        if str(params.get("priceType", "0")) != "0":
            raise ApiError(PARAM_ERROR, "request parameter error: only fixed-price ads are simulated")
        low, high = (REFERENCE_PRICE * pct / 100 for pct in PRICE_BAND_PERCENT)
        if not low <= price <= high:
            raise ApiError(PRICE_OUT_OF_RANGE, "ad price outside the allowed range")
        if period not in PAYMENT_PERIODS:
            raise ApiError(PARAM_ERROR, "request parameter error: paymentPeriod")
        if quantity <= 0 or min_amount <= 0 or len(str(params.get("remark", ""))) > 900:
            raise ApiError(PARAM_ERROR, "request parameter error")
        if min_amount > max_amount or min_amount < CURRENCY_MIN_QUOTE or max_amount > CURRENCY_MAX_QUOTE:
            raise ApiError(MIN_AMOUNT_ERROR, "min amount parameter error")
        if min_amount > quantity * price:
            raise ApiError(MIN_ABOVE_TOTAL, "min amount greater than the ad's total amount")
        return {"price": price, "min_amount": min_amount, "max_amount": max_amount, "quantity": quantity,
                "payment_period": period, "payment_ids": list(payment_ids), "remark": str(params.get("remark", "")),
                "trading_preferences": params["tradingPreferenceSet"], "premium": str(params.get("premium", ""))}

    def _h_item_create(self, account: Account, params: dict, by_hand: bool = False) -> dict:
        _required(params, "tokenId", "currencyId", "side", "priceType", "premium", "price", "minAmount",
                  "maxAmount", "remark", "tradingPreferenceSet", "paymentIds", "quantity", "paymentPeriod")
        if params["tokenId"] != "USDT" or params["currencyId"] != "RUB" or str(params["side"]) not in ("0", "1"):
            raise ApiError(PARAM_ERROR, "request parameter error: tokenId/currencyId/side")
        fields_ = self._validated_ad_fields(account, params)
        refusal = self._ad_rules_refusal(account, int(params["side"]), fields_["price"], by_hand)
        if refusal is not None:
            return refusal  # needSecurityRisk: no ad until the owner passes the check (bybit_ad_rules)
        if fields_["quantity"] > self._available_balance(account):
            raise ApiError(INSUFFICIENT_BALANCE, "insufficient balance in the Funding account")
        now_ms = self._now_ms()
        ad = Ad(id=self._next_id(1930000000000000000), uid=account.uid, side=int(params["side"]), token="USDT",
                currency="RUB", price_type=0, quantity=fields_["quantity"], last_quantity=fields_["quantity"],
                frozen=Decimal(0), executed=Decimal(0), item_type=str(params.get("itemType") or "ORIGIN"),
                status=AD_ONLINE, created_ms=now_ms, updated_ms=now_ms,
                **{k: v for k, v in fields_.items() if k != "quantity"})
        self._ads[ad.id] = ad
        payment_type = next(p["paymentType"] for p in account.payments if p["id"] == ad.payment_ids[0])
        self.ledger.record("bybit_ad_create", uid=account.uid, item_id=ad.id, amount=ad.max_amount,
                           payment_type=payment_type, price=ad.price, quantity=ad.quantity,
                           min_amount=ad.min_amount)
        return {"itemId": ad.id, "securityRiskToken": "", "riskTokenType": "", "riskVersion": "",
                "needSecurityRisk": False}

    def _own_ad(self, account: Account, item_id: Any) -> Ad:
        ad = self._ads.get(str(item_id))
        if ad is None or ad.uid != account.uid:
            raise ApiError(NOT_FOUND_ERROR, "ad not found")
        return ad

    def _h_item_update(self, account: Account, params: dict) -> dict:
        _required(params, "id", "priceType", "premium", "price", "minAmount", "maxAmount", "remark",
                  "tradingPreferenceSet", "paymentIds", "actionType", "quantity", "paymentPeriod")
        ad = self._own_ad(account, params["id"])
        action = params["actionType"]
        if action not in ("MODIFY", "ACTIVE"):
            raise ApiError(PARAM_ERROR, "request parameter error: actionType")
        if ad.status == AD_CLOSED or (action == "ACTIVE" and ad.status != AD_OFFLINE) or (
                action == "MODIFY" and ad.status != AD_ONLINE):
            raise ApiError(AD_STATE_ERROR, f"ad status {ad.status} does not allow {action}")
        now = self.clock()
        while ad.modifications and ad.modifications[0] <= now - AD_MODIFY_WINDOW:
            ad.modifications.popleft()
        if len(ad.modifications) >= AD_MODIFY_MAX:
            raise ApiError(AD_MODIFY_LIMIT, "an ad may be modified at most 10 times in 5 minutes")
        fields_ = self._validated_ad_fields(account, params)
        new_last = fields_["quantity"] - ad.frozen - ad.executed
        if new_last < 0:
            raise ApiError(PARAM_ERROR, "request parameter error: quantity below the traded quantity")
        if new_last - ad.last_quantity > self._available_balance(account):
            raise ApiError(INSUFFICIENT_BALANCE, "insufficient balance in the Funding account")
        ad.modifications.append(now)
        ad.price, ad.min_amount, ad.max_amount = fields_["price"], fields_["min_amount"], fields_["max_amount"]
        ad.quantity, ad.last_quantity = fields_["quantity"], new_last
        ad.payment_period, ad.payment_ids = fields_["payment_period"], fields_["payment_ids"]
        ad.remark, ad.trading_preferences = fields_["remark"], fields_["trading_preferences"]
        ad.premium = fields_["premium"]
        ad.status = AD_ONLINE
        ad.updated_ms = self._now_ms()
        self.ledger.record("bybit_ad_update", uid=account.uid, item_id=ad.id, action=action, price=ad.price,
                           amount=ad.max_amount)
        return {"securityRiskToken": "", "riskTokenType": "", "riskVersion": "", "needSecurityRisk": False}

    def _h_item_cancel(self, account: Account, params: dict) -> None:
        _required(params, "itemId")
        ad = self._own_ad(account, params["itemId"])
        if ad.status == AD_CLOSED:
            raise ApiError(AD_STATE_ERROR, "ad is already closed")
        ad.status = AD_CLOSED
        ad.updated_ms = self._now_ms()
        self.ledger.record("bybit_ad_cancel", uid=account.uid, item_id=ad.id)
        return None

    def _h_item_personal_list(self, account: Account, params: dict) -> dict:
        page = _int(params.get("page"), "page", 1)
        size = _int(params.get("size"), "size", 10)
        if page < 1 or not 1 <= size <= MY_ADS_PAGE_MAX:
            raise ApiError(PARAM_ERROR, "request parameter error: page/size")
        status_filter = params.get("status")
        ads = [ad for ad in self._ads.values() if ad.uid == account.uid]
        if params.get("itemId"):
            ads = [ad for ad in ads if ad.id == str(params["itemId"])]
        if status_filter not in (None, ""):
            wanted = _int(status_filter, "status")
            if wanted == 1:  # sold out
                ads = [ad for ad in ads if ad.last_quantity * ad.price < ad.min_amount]
            elif wanted == 2:  # available
                ads = [ad for ad in ads if ad.status == AD_ONLINE and ad.last_quantity * ad.price >= ad.min_amount]
            else:
                raise ApiError(PARAM_ERROR, "request parameter error: status")
        if params.get("side") not in (None, ""):
            ads = [ad for ad in ads if ad.side == _int(params["side"], "side")]
        ads.sort(key=lambda a: a.created_ms, reverse=True)
        return {"count": len(ads), "items": [self._ad_json(ad) for ad in ads[(page - 1) * size: page * size]],
                "hiddenFlag": False}

    def _h_item_info(self, account: Account, params: dict) -> dict:
        _required(params, "itemId")
        return self._ad_json(self._own_ad(account, params["itemId"]))

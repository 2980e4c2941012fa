"""Control routes for the live ad rules and the market's shape (itrader.sandbox.bybit_ad_rules), mounted by
control.py under /sandbox:

  GET  /bybit/ad_rules
  PUT  /bybit/ad_rules         {side_limit?: 1..100|null, price_gap_percent?: number|null,
                                security_risk?: bool, parameter_exception?: bool, uid?}: the per-side ad limit
                                (3, as in Bybit's docs), the price-difference rule between one's own ads
                                (off), and the switches answering needSecurityRisk / 912000004 to ad creation
                                for the account `uid` (every account without it)
  POST /bybit/accounts/<uid>/ads      {price?, amount?, method?: sbp|tinkoff}: its owner posts a sell ad by hand
  POST /bybit/market/outliers  {factor, count?, payments?}: strangers' sell ads at factor × the usual price
  DELETE /bybit/market/outliers
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

RULE_KEYS = ("side_limit", "price_gap_percent", "security_risk", "parameter_exception", "uid")


def register(route: Callable, body: Callable[[], dict], positive: Callable[[Any, str], Decimal], world: Any) -> None:
    """`route` and `body` are control.py's; `positive(value, name)` reads a positive number or refuses it."""
    bybit = world.bybit

    @route("/bybit/ad_rules", "GET")
    def ad_rules():
        return bybit.ad_rules_view()

    @route("/bybit/ad_rules", ["PUT", "POST"])
    def set_ad_rules():
        data = body()
        unknown = sorted(set(data) - set(RULE_KEYS))
        if unknown:
            raise ValueError(f"unknown ad rule field(s): {', '.join(unknown)}; known: {', '.join(RULE_KEYS)}")
        for switch in ("security_risk", "parameter_exception"):
            if switch in data and not isinstance(data[switch], bool):
                raise ValueError(f"{switch} must be true or false")
        options = {key: data[key] for key in ("side_limit", "price_gap_percent") if key in data}
        return bybit.set_ad_rules(**options, security_risk=data.get("security_risk"),
                                  parameter_exception=data.get("parameter_exception"),
                                  uid=str(data["uid"]) if data.get("uid") else None)

    @route("/bybit/accounts/<uid>/ads", "POST")
    def post_by_hand(uid: str):
        data = body()
        options = {key: positive(data[key], key) for key in ("price", "amount") if key in data}
        item_id = bybit.post_ad_by_hand(uid, method=str(data.get("method", "sbp")), **options)
        return {"uid": uid, "item_id": item_id}

    @route("/bybit/market/outliers", "POST")
    def plant_outliers():
        data = body()
        payments = data.get("payments")
        if payments is not None and (not isinstance(payments, list) or not all(isinstance(p, str) for p in payments)):
            raise ValueError("payments must be a list of payment type ids such as [\"382\", \"75\"]")
        return {"planted": bybit.plant_market_outliers(data.get("factor"), data.get("count", 1), payments)}

    @route("/bybit/market/outliers", "DELETE")
    def clear_outliers():
        bybit.clear_market_outliers()
        return {"planted": []}

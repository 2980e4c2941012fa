"""Control switches for what a live Bybit account does beyond the happy wire (issue 12), mounted with
the rest of the control API (itrader.sandbox.control) at /sandbox:

  PUT  /bybit/orders/<order_id>/appeal   {status: 30|100|110, appeal_seconds?}: the order moves into the
                                         appeal (30), objection review (100) or the wait for an objection
                                         (110); appealLastSeconds counts down from appeal_seconds
  PUT  /bybit/accounts/<uid>/access      {denied: "ip"|"region"|null}: that account's key answers 10010
                                         (bound to other IPs) or every call gets a region's 403 page
  PUT  /bybit/shapes                     {order_info_nesting?: "flat"|"nested", release_in_appeal?: bool}
  GET  /bybit/shapes
"""
from __future__ import annotations

from typing import Any, Callable

from .bybit_live import ORDER_INFO_NESTINGS
from .bybit_records import ApiError


def add_live_routes(route: Callable, body: Callable[[], dict[str, Any]], world) -> None:
    bybit = world.bybit

    @route("/bybit/orders/<order_id>/appeal", ["PUT", "POST"])
    def appeal(order_id: str):
        data = body()
        if not isinstance(data.get("status"), int):
            raise ValueError("status is required: 30, 100 or 110")
        seconds = data.get("appeal_seconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))):
            raise ValueError("appeal_seconds must be a number of seconds")
        try:
            return bybit.set_appeal_status(order_id, data["status"], seconds)
        except ApiError as exc:  # no such order, or one that ended
            raise ValueError(exc.message) from None

    @route("/bybit/accounts/<uid>/access", ["PUT", "POST"])
    def access(uid: str):
        return bybit.deny_access(uid, body().get("denied"))

    @route("/bybit/shapes", ["PUT", "POST"])
    def set_shapes():
        data = body()
        unknown = sorted(set(data) - {"order_info_nesting", "release_in_appeal"})
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        if "order_info_nesting" in data:
            if data["order_info_nesting"] not in ORDER_INFO_NESTINGS:
                raise ValueError("order_info_nesting must be \"flat\" or \"nested\"")
            bybit.order_info_nesting = data["order_info_nesting"]
        if "release_in_appeal" in data:
            if not isinstance(data["release_in_appeal"], bool):
                raise ValueError("release_in_appeal must be true or false")
            bybit.release_in_appeal = data["release_in_appeal"]
        return get_shapes()

    @route("/bybit/shapes", "GET")
    def get_shapes():
        return {"order_info_nesting": bybit.order_info_nesting, "release_in_appeal": bybit.release_in_appeal}

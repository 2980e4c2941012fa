"""The simulated Bybit P2P's orders and chat: buyers place, pay, cancel and write; the seller lists,
reads, releases and answers (reference §6–§8)."""
from __future__ import annotations

import hashlib
from decimal import Decimal, ROUND_DOWN
from typing import Any

import bottle

from itrader.sandbox.bybit_records import (
    AD_CLOSED, AD_OFFLINE, AD_ONLINE, AD_STATE_ERROR, Account, ApiError, CHAT_CONTENT_TYPES, CHAT_PAGE_MAX,
    MIN_AMOUNT_ERROR, Message, NOT_FOUND_ERROR, ORDER_APPEAL, ORDER_CANCELLED, ORDER_FINISHED, ORDER_PAGE_MAX,
    ORDER_PAID, ORDER_STATE_ERROR, ORDER_UNPAID, Order, PARAM_ERROR, PENDING_STATUSES, StoredFile, UPLOAD_TYPES,
    _int, _money, _qty, _required,
)


APPEAL_WINDOW_SECONDS = 3600  # appealLastSeconds of a buyer's appeal (the twin's choice: undocumented)


class BybitOrders:
    """Orders and their chat in the simulated Bybit: the buyer side, the seller's order and chat
    methods, and their JSON.

    A mixin of BybitSandbox (itrader.sandbox.bybit), which holds the state (`_orders`, `_ads`,
    `_accounts`, `_files`, `_lock`, the ledger, the clock) these methods read and change.
    """

    # -------------------------------------------------------- buyer side

    def place_order(
        self, item_id: str, buyer_uid: str, amount: Decimal, *, buyer_name: str = "DEMO BUYER",
        payment_type: int | None = None,
    ) -> str:
        """A buyer opens an order on an online ad: status 10, quantity frozen."""
        amount = Decimal(amount)
        with self._lock:
            self._tick()
            ad = self._ads.get(item_id)
            if ad is None or ad.status != AD_ONLINE:
                raise ApiError(AD_STATE_ERROR, "ad is not online")
            if ad.uid == buyer_uid:
                raise ApiError(PARAM_ERROR, "cannot trade with yourself")
            if not ad.min_amount <= amount <= ad.max_amount:
                raise ApiError(MIN_AMOUNT_ERROR, "amount outside the ad's limits")
            quantity = (amount / ad.price).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
            if quantity > ad.last_quantity:
                raise ApiError(AD_STATE_ERROR, "not enough quantity left on the ad")
            seller = self._accounts[ad.uid]
            methods = [p for p in seller.payments if p["id"] in ad.payment_ids]
            if payment_type is not None:
                methods = [p for p in methods if p["paymentType"] == payment_type] or methods
            method = methods[0]
            ad.last_quantity -= quantity
            ad.frozen += quantity
            now = self.clock()
            order = Order(
                id=self._next_id(1931000000000000000), item_id=ad.id, seller_uid=ad.uid, buyer_uid=buyer_uid,
                buyer_nickname=f"Buyer{buyer_uid}", buyer_real_name=buyer_name, price=ad.price,
                quantity=quantity, amount=amount, payment_id=method["id"], payment_type=method["paymentType"],
                status=ORDER_UNPAID, created_ms=int(now * 1000), expires_at=now + ad.payment_period * 60,
            )
            self._orders[order.id] = order
            self._system_message(order, "Order created. Please pay within the payment period.", 10)
            self._order_notices(order)
            self.ledger.record("bybit_order", uid=ad.uid, order_id=order.id, item_id=ad.id, buyer_uid=buyer_uid,
                               amount=amount)
            self.ledger.record("bybit_order_status", order_id=order.id, status=ORDER_UNPAID)
            return order.id

    def buyer_send_text(self, order_id: str, text: str) -> None:
        with self._lock:
            order = self._live_order(order_id)
            self._add_message(order, order.buyer_uid, 1, "str", text, by_buyer=True)

    def buyer_send_file(self, order_id: str, filename: str, data: bytes, content_type: str) -> str:
        """A buyer posts a file in the chat; returns its relative URL."""
        with self._lock:
            order = self._live_order(order_id)
            ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
            kind = UPLOAD_TYPES.get(ext) or ("PDF" if "pdf" in content_type else "IMAGE")
            url = self._store_file(filename, data, content_type)
            chat_type = {"IMAGE": "pic", "PDF": "pdf", "VIDEO": "video"}[kind]
            self._add_message(order, order.buyer_uid, CHAT_CONTENT_TYPES[chat_type], chat_type, url,
                              by_buyer=True, file_name=filename)
            return url

    def mark_paid(self, order_id: str) -> None:
        with self._lock:
            order = self._live_order(order_id)
            if order.status != ORDER_UNPAID:
                raise ApiError(ORDER_STATE_ERROR, f"order status {order.status} cannot be marked paid")
            order.paid_ms = self._now_ms()
            self._set_status(order, ORDER_PAID, "The buyer has marked the order as paid.")

    def buyer_cancel(self, order_id: str) -> None:
        with self._lock:
            order = self._live_order(order_id)
            if order.status not in (ORDER_UNPAID, ORDER_PAID):
                raise ApiError(ORDER_STATE_ERROR, f"order status {order.status} cannot be cancelled")
            self._cancel(order, "The buyer cancelled the order.")

    def appeal(self, order_id: str) -> None:
        with self._lock:
            order = self._live_order(order_id)
            if order.status not in (ORDER_UNPAID, ORDER_PAID):
                raise ApiError(ORDER_STATE_ERROR, f"order status {order.status} cannot be appealed")
            self._appeal_until[order.id] = self.clock() + APPEAL_WINDOW_SECONDS
            self._set_status(order, ORDER_APPEAL, "An appeal has been raised for this order.")

    def order(self, order_id: str) -> dict:
        with self._lock:
            self._tick()
            return self._order_detail(self._orders[order_id])

    def orders(self, uid: str | None = None) -> list[dict]:
        with self._lock:
            self._tick()
            return [self._order_detail(o) for o in self._orders.values() if uid is None or o.seller_uid == uid]

    def messages(self, order_id: str) -> list[dict]:
        """The order's chat as the buyer (and a test) reads it in-process."""
        with self._lock:
            return [self._message_json(m) for m in self._orders[order_id].messages if not m.buyers_ignore]

    # ------------------------------------------------------- bookkeeping

    def _tick(self) -> None:
        """Expire unpaid orders whose payment period is over (→ 40)."""
        now = self.clock()
        for order in self._orders.values():
            if order.status == ORDER_UNPAID and now >= order.expires_at:
                self._cancel(order, "The order was cancelled: the payment period expired.")

    def _live_order(self, order_id: str) -> Order:
        self._tick()
        order = self._orders.get(order_id)
        if order is None:
            raise ApiError(NOT_FOUND_ERROR, "order not found")
        return order

    def _cancel(self, order: Order, text: str) -> None:
        ad = self._ads[order.item_id]
        ad.frozen -= order.quantity
        ad.last_quantity += order.quantity
        self._set_status(order, ORDER_CANCELLED, text)

    def _set_status(self, order: Order, status: int, text: str) -> None:
        order.status = status
        self._system_message(order, text, status)
        self.ledger.record("bybit_order_status", order_id=order.id, status=status)

    def _system_message(self, order: Order, text: str, code: int) -> None:
        message = Message(
            id=self._next_id(3000000000), order_id=order.id, user_id="0", account_id="0", nickname="System",
            msg_type=0, content_type="str", text=text, created_ms=self._now_ms(), role_type="sys", msg_code=code,
        )
        order.messages.append(message)

    def _add_message(self, order: Order, user_id: str, msg_type: int, content_type: str, text: str, *,
                     by_buyer: bool, file_name: str = "", msg_uuid: str = "") -> Message:
        if by_buyer:
            nickname, account_id = order.buyer_nickname, order.buyer_uid
        else:
            seller = self._accounts[order.seller_uid]
            nickname, account_id = seller.nickname, seller.account_id
        message = Message(
            id=self._next_id(3000000000), order_id=order.id, user_id=user_id, account_id=account_id,
            nickname=nickname, msg_type=msg_type, content_type=content_type, text=text, created_ms=self._now_ms(),
            file_name=file_name, msg_uuid=msg_uuid, read_by_seller=not by_buyer, read_by_buyer=by_buyer,
        )
        order.messages.append(message)
        return message

    def _store_file(self, filename: str, data: bytes, content_type: str) -> str:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
        token = hashlib.sha256(data + str(next(self._ids)).encode()).hexdigest()[:16]
        path = f"/fiat/p2p/oss/showObj/otc/9001/{token}.{ext}"
        self._files[path] = StoredFile(filename, data, content_type)
        expiry = int(self.clock()) + 86400
        return f"{path}?e={expiry}&token={token[:8]}"

    def _unread_for_seller(self, order: Order) -> int:
        return sum(1 for m in order.messages if not m.read_by_seller)

    def _available_balance(self, account: Account) -> Decimal:
        locked = sum(
            (ad.last_quantity + ad.frozen for ad in self._ads.values()
             if ad.uid == account.uid and ad.status in (AD_ONLINE, AD_OFFLINE)),
            Decimal(0),
        )
        return account.balance - locked

    # ------------------------------------------------------- JSON shapes

    def _transfer_last_seconds(self, order: Order) -> str:
        if order.status != ORDER_UNPAID:
            return "0"
        return str(max(0, int(order.expires_at - self.clock())))

    def _order_list_item(self, order: Order) -> dict:
        seller = self._accounts[order.seller_uid]
        unread = str(self._unread_for_seller(order))
        item = {
            "id": order.id, "side": 1, "tokenId": "USDT", "orderType": "ORIGIN",
            "amount": _money(order.amount, "0.000"), "currencyId": "RUB", "price": _money(order.price),
            "notifyTokenQuantity": _qty(order.quantity), "notifyTokenId": "USDT", "fee": "0",
            "targetNickName": order.buyer_nickname, "targetUserId": order.buyer_uid, "status": order.status,
            "selfUnreadMsgCount": unread, "createDate": str(order.created_ms),
            "transferLastSeconds": self._transfer_last_seconds(order),
            "appealLastSeconds": self._appeal_last_seconds(order),
            "userId": order.seller_uid, "sellerRealName": seller.payments[0]["realName"],
            "buyerRealName": order.buyer_real_name,
            "judgeInfo": {"autoJudgeUnlockTime": "0", "dissentResult": "", "preDissent": "", "postDissent": ""},
            "unreadMsgCount": unread, "extension": {"isDelayWithdraw": False, "delayTime": "0", "startTime": ""},
            "bulkOrderFlag": False,
        }
        return self._with_unread(item, order)

    def _with_unread(self, item: dict, order: Order) -> dict:
        """The unread counts as the chat switches show them (bybit_chat_quirks; left out under "absent")."""
        shown = self._unread_shown(order)
        for key in ("selfUnreadMsgCount", "unreadMsgCount"):
            if key in item:
                if shown is None:
                    del item[key]
                else:
                    item[key] = shown
        return item

    def _order_detail(self, order: Order) -> dict:
        seller = self._accounts[order.seller_uid]
        term = next(p for p in seller.payments if p["id"] == order.payment_id)
        term_json = {k: self._payment_json(term)[k]
                     for k in ("id", "realName", "paymentType", "bankName", "branchName", "accountNo", "qrcode")}
        ad = self._ads[order.item_id]
        return self._with_unread({
            "id": order.id, "side": 1, "itemId": order.item_id, "accountId": seller.account_id,
            "userId": seller.uid, "nickName": seller.nickname, "makerUserId": seller.uid,
            "targetUserId": order.buyer_uid, "targetNickName": order.buyer_nickname,
            "targetConnectInformation": "", "sellerRealName": term["realName"],
            "buyerRealName": order.buyer_real_name, "tokenId": "USDT", "currencyId": "RUB",
            "price": _money(order.price), "quantity": _qty(order.quantity), "amount": _money(order.amount, "0.000"),
            "paymentType": order.payment_type, "transferDate": str(order.paid_ms), "status": order.status,
            "createDate": str(order.created_ms), "paymentTermList": [term_json], "remark": ad.remark,
            "transferLastSeconds": self._transfer_last_seconds(order), "appealContent": "", "appealType": 0,
            "appealNickName": "", "canAppeal": "Y" if order.status == ORDER_PAID else "N",
            "confirmedPayTerm": term_json, "makerFee": "0", "takerFee": "0",
            "extension": {"isDelayWithdraw": False, "delayTime": "0", "startTime": ""}, "orderType": "ORIGIN",
            "appealUserId": "0", "notifyTokenId": "USDT", "notifyTokenQuantity": _qty(order.quantity),
            "cancelReason": "", "needBuyerExamineCancel": False, "usedCoupon": False, "couponTokenId": "",
            "couponQuantity": "0", "targetUserType": "PERSONAL", "orderFinishMinute": 10, "fee": "0",
            "unreadMsgCount": str(self._unread_for_seller(order)), "updateDate": str(self._now_ms()),
            "realOrderStatus": order.status,
        }, order)

    @staticmethod
    def _message_json(m: Message) -> dict:
        return {
            "id": m.id, "accountId": m.account_id, "message": m.text, "msgType": m.msg_type,
            "msgCode": m.msg_code, "createDate": str(m.created_ms),
            "isRead": 1 if m.read_by_seller else 0, "contentType": m.content_type, "roleType": m.role_type,
            "userId": m.user_id, "orderId": m.order_id, "msgUuid": m.msg_uuid, "nickName": m.nickname,
            "read": 1 if m.read_by_seller else 0, "fileName": m.file_name, "onlyForCustomer": 0,
        }

    # ---------------------------------------------------------- handlers

    def _order_list(self, account: Account, params: dict, pending_only: bool) -> dict:
        _required(params, "page", "size")
        page, size = _int(params["page"], "page"), _int(params["size"], "size")
        if page < 1 or not 1 <= size <= ORDER_PAGE_MAX:
            raise ApiError(PARAM_ERROR, "request parameter error: page/size")
        orders = [o for o in self._orders.values() if o.seller_uid == account.uid]
        if pending_only:
            orders = [o for o in orders if o.status in PENDING_STATUSES]
        if params.get("status") is not None:
            status = _int(params["status"], "status")  # "10,20,30" is rejected here, as on Bybit
            orders = [o for o in orders if o.status == status]
        if params.get("beginTime") not in (None, ""):
            orders = [o for o in orders if o.created_ms >= _int(params["beginTime"], "beginTime")]
        if params.get("endTime") not in (None, ""):
            orders = [o for o in orders if o.created_ms <= _int(params["endTime"], "endTime")]
        if params.get("side") is not None and _int(params["side"], "side") != 1:
            orders = []
        orders.sort(key=lambda o: (o.created_ms, o.id), reverse=True)
        if pending_only and self.pending_list_drops_items:
            return {"count": len(orders), "items": []}
        return {"count": len(orders),
                "items": [self._order_list_item(o) for o in orders[(page - 1) * size: page * size]]}

    def _h_orders(self, account: Account, params: dict) -> dict:
        return self._order_list(account, params, pending_only=False)

    def _h_pending_orders(self, account: Account, params: dict) -> dict:
        return self._order_list(account, params, pending_only=True)

    def _own_order(self, account: Account, order_id: Any) -> Order:
        order = self._orders.get(str(order_id))
        if order is None or order.seller_uid != account.uid:
            raise ApiError(NOT_FOUND_ERROR, "order not found")
        return order

    def _h_order_info(self, account: Account, params: dict) -> dict:
        _required(params, "orderId")
        order = self._own_order(account, params["orderId"])
        return self._detail_shape(order, self._order_detail(order))

    def _h_counterparty_info(self, account: Account, params: dict) -> dict:
        _required(params, "originalUid", "orderId")
        order = self._own_order(account, params["orderId"])
        if str(params["originalUid"]) != order.buyer_uid:
            raise ApiError(PARAM_ERROR, "request parameter error: originalUid")
        return {"nickName": order.buyer_nickname, "realName": order.buyer_real_name, "kycLevel": "2",
                "recentRate": "100", "totalFinishCount": 5, "authStatus": 2, "userId": order.buyer_uid}

    def _h_order_finish(self, account: Account, params: dict) -> None:
        _required(params, "orderId")
        order = self._own_order(account, params["orderId"])
        if self._release_refused(order):
            reason = f"order status {order.status} does not allow release"
            self.ledger.record("bybit_release_rejected", uid=account.uid, order_id=order.id, reason=reason)
            raise ApiError(ORDER_STATE_ERROR, reason)
        ad = self._ads[order.item_id]
        ad.frozen -= order.quantity
        ad.executed += order.quantity
        account.balance -= order.quantity
        if ad.last_quantity == 0 and ad.frozen == 0:
            ad.status = AD_CLOSED
        self._set_status(order, ORDER_FINISHED, "The seller has released the assets. The order is completed.")
        self.ledger.record("bybit_release", uid=account.uid, order_id=order.id, item_id=order.item_id,
                           buyer_uid=order.buyer_uid, amount=order.amount, quantity=order.quantity)
        return None

    def _h_message_send(self, account: Account, params: dict) -> None:
        _required(params, "message", "contentType", "orderId", "msgUuid")
        if params["contentType"] not in CHAT_CONTENT_TYPES:
            raise ApiError(PARAM_ERROR, "request parameter error: contentType")
        if not str(params["msgUuid"]) or not str(params["message"]):
            raise ApiError(PARAM_ERROR, "request parameter error: message/msgUuid")
        order = self._own_order(account, params["orderId"])
        self._add_message(order, account.uid, CHAT_CONTENT_TYPES[params["contentType"]], params["contentType"],
                          str(params["message"]), by_buyer=False, file_name=str(params.get("fileName") or ""),
                          msg_uuid=str(params["msgUuid"]))
        return None

    def _h_message_list(self, account: Account, params: dict) -> Any:
        _required(params, "orderId", "size")
        size = _int(params["size"], "size")
        page = _int(params.get("currentPage"), "currentPage", 1)
        if page < 1 or not 1 <= size <= CHAT_PAGE_MAX:
            raise ApiError(PARAM_ERROR, "request parameter error: size (max 30)")
        order = self._own_order(account, params["orderId"])
        newest_first = sorted(order.messages, key=lambda m: (m.created_ms, int(m.id)), reverse=True)
        chunk = newest_first[(page - 1) * size: page * size]
        for message in chunk:
            message.read_by_seller = True
        items = [self._listed_message(m) for m in chunk]
        return {"result": items} if self.chat_nesting == "nested" else items

    def _upload(self, account: Account, body: bytes) -> dict:
        upload = bottle.request.files.get("upload_file")
        if upload is None:
            raise ApiError(PARAM_ERROR, "request parameter error: upload_file part is required")
        name = upload.raw_filename or "file"
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in UPLOAD_TYPES:
            raise ApiError(PARAM_ERROR, "request parameter error: file type must be jpg, png, jpeg, pdf or mp4")
        data = upload.file.read()
        url = self._store_file(name, data, upload.content_type or "application/octet-stream")
        return {"uploadId": None, "type": UPLOAD_TYPES[ext], "url": url}

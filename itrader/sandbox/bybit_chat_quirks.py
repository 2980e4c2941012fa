"""What a live Bybit order chat does beyond the happy wire (issue 12), switched on through the control API:

* unread counts that do not show (the operator opened the chat in the Bybit app, or the list leaves
  the fields out) — `unread_counts`, and a one-off "the operator read this chat";
* chat files whose download fails (`broken_files`: their extensions answer 502 from the file host);
* notices Bybit posts under the seller's own userId and the ad's remark echoed as the seller's
  message when an order opens (`order_notices`), and support's/an admin's messages in an order chat;
* the message list leaving `msgUuid` empty (`echo_msg_uuid`), as the docs' example shows it.

A mixin of BybitSandbox (itrader.sandbox.bybit): it reads and changes the orders and files there.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import bottle

from itrader.sandbox.bybit_records import CHAT_CONTENT_TYPES, Message, Order

UNREAD_MODES = ("counted", "zero", "absent")
SUPPORT_USER_ID, SUPPORT_NICKNAME = "100000001", "Bybit Customer Support"
# Bybit P2P docs, Get Chat Message: msgType 5 = text (admin), 6 = image (admin). roleType is documented
# only as "sys" for system messages, so support's shows as "user" here: the worst case for a client.
SUPPORT_TEXT, SUPPORT_IMAGE = 5, 6
# A safety notice as the originals met it under the seller's own userId (they filtered it by its text).
SELLER_NOTICE = ("Reminder: make sure you have received the payment in your own account before releasing "
                 "the crypto. Bybit will never ask you to release first.")


@dataclass
class ChatQuirks:
    unread_counts: str = "counted"  # counted | zero (as if read in the app) | absent (fields left out)
    echo_msg_uuid: bool = True  # False: the message list shows msgUuid "" (the docs' example)
    order_notices: bool = False  # a notice under the seller's userId and the remark echoed, per new order
    broken_files: tuple[str, ...] = ()  # file extensions ("png", "pdf") whose downloads answer 502

    def update(self, body: dict[str, Any]) -> None:
        unknown = sorted(set(body) - set(asdict(self)))
        if unknown:
            raise ValueError(f"unknown chat switch(es): {', '.join(unknown)}; known: {', '.join(asdict(self))}")
        if "unread_counts" in body:
            if body["unread_counts"] not in UNREAD_MODES:
                raise ValueError(f"unread_counts must be one of {', '.join(UNREAD_MODES)}")
            self.unread_counts = body["unread_counts"]
        for name in ("echo_msg_uuid", "order_notices"):
            if name in body:
                if not isinstance(body[name], bool):
                    raise ValueError(f"{name} must be true or false")
                setattr(self, name, body[name])
        if "broken_files" in body:
            kinds = body["broken_files"]
            if not isinstance(kinds, list) or not all(isinstance(k, str) and k.strip() for k in kinds):
                raise ValueError('broken_files must be a list of file extensions, e.g. ["png"]')
            self.broken_files = tuple(k.strip().lower().lstrip(".") for k in kinds)

    def view(self) -> dict[str, Any]:
        data = asdict(self)
        data["broken_files"] = list(self.broken_files)
        return data


class BybitChatQuirks:
    """The switches' effects; `chat_quirks` is reset with the rest of the sandbox's state."""

    chat_quirks: ChatQuirks

    # ------------------------------------------------------------ control

    def set_chat_quirks(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.chat_quirks.update(body)
            return self.chat_quirks.view()

    def mark_chat_read(self, order_id: str) -> int:
        """The operator opened the order's chat in the Bybit app: every message is read; returns how many."""
        with self._lock:
            order = self._known_order(order_id)
            unread = [m for m in order.messages if not m.read_by_seller]
            for message in unread:
                message.read_by_seller = True
            return len(unread)

    def support_message(self, order_id: str, text: str, image: bool = False) -> str:
        """Bybit's support writes in the order chat (an appeal, a warning); returns the message id."""
        with self._lock:
            order = self._known_order(order_id)
            content = "pic" if image else "str"
            message = Message(
                id=self._next_id(3000000000), order_id=order.id, user_id=SUPPORT_USER_ID, account_id="0",
                nickname=SUPPORT_NICKNAME, msg_type=SUPPORT_IMAGE if image else SUPPORT_TEXT,
                content_type=content, text=text, created_ms=self._now_ms(), role_type="user")
            order.messages.append(message)
            return message.id

    def _known_order(self, order_id: str) -> Order:
        order = self._orders.get(str(order_id))
        if order is None:
            raise KeyError(f"order {order_id}")
        return order

    # ------------------------------------------------------------ hooks of the order and chat code

    def _unread_shown(self, order: Order) -> str | None:
        """selfUnreadMsgCount/unreadMsgCount as the switch shows them (Bybit P2P docs, Get Orders: strings);
        None: the fields are left out."""
        mode = self.chat_quirks.unread_counts
        if mode == "absent":
            return None
        return "0" if mode == "zero" else str(self._unread_for_seller(order))

    def _listed_message(self, message: Message) -> dict:
        item = self._message_json(message)
        if not self.chat_quirks.echo_msg_uuid:
            item["msgUuid"] = ""  # Bybit P2P docs, Get Chat Message: the response example's msgUuid is ""
        return item

    def _order_notices(self, order: Order) -> None:
        """Under the switch, a new order's chat shows a notice and the ad's remark as the seller's messages."""
        if not self.chat_quirks.order_notices:
            return
        seller = self._accounts[order.seller_uid]
        remark = self._ads[order.item_id].remark
        for text in (SELLER_NOTICE, remark):
            if text:  # the scripted buyers answer our dialogue, not these
                self._add_message(order, seller.uid, CHAT_CONTENT_TYPES["str"], "str", text,
                                  by_buyer=False).buyers_ignore = True

    def _file_broken(self, path: str) -> bool:
        return path.rsplit(".", 1)[-1].lower() in self.chat_quirks.broken_files

    def make_files_app(self) -> bottle.Bottle:
        """The chat files' own host (Bybit does not document it): GET of a showObj path only."""
        app = bottle.Bottle()

        @app.route("/<path:path>", method="GET")
        def show(path: str):
            return self._serve_file("/" + path)

        return app

    def _serve_file(self, path: str) -> Any:
        with self._lock:
            if self._file_broken(path):
                bottle.response.status = 502
                bottle.response.content_type = "text/html"
                return "<html><body><h1>502 Bad Gateway</h1></body></html>"
            stored = self._files.get(path)
            if stored is None:
                bottle.response.status = 404
                return "not found"
            bottle.response.content_type = stored.content_type
            return stored.data


def chat_routes(route: Callable[..., Any], world: Any, body: Callable[[], dict[str, Any]]) -> None:
    """The control API's chat switches (see control.py's list)."""

    @route("/bybit/chat", ["PUT", "POST"])
    def set_chat():
        return world.bybit.set_chat_quirks(body())

    @route("/bybit/chat", "GET")
    def get_chat():
        return world.bybit.chat_quirks.view()

    @route("/bybit/orders/<order_id>/read", "POST")
    def read_chat(order_id: str):
        return {"order_id": order_id, "marked_read": world.bybit.mark_chat_read(order_id)}

    @route("/bybit/orders/<order_id>/support", "POST")
    def support(order_id: str):
        data = body()
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text is required: what support writes (for an image, its URL)")
        image = data.get("image", False)
        if not isinstance(image, bool):
            raise ValueError("image must be true or false")
        return {"order_id": order_id, "message_id": world.bybit.support_message(order_id, text, image)}

"""Issue 12 item 10: Bybit's chat list may leave `msgUuid` empty (the docs' example does). A send whose
answer was lost (it went through, the client saw a 502) is then found again by our userId and its text
after the send began, and never sent a second time."""
from __future__ import annotations

from decimal import Decimal

from tests.live.test_chat_read_without_unread_counts import chat_switches
from tests.pipeline.harness import TERMINAL
from tests.pipeline.test_scripted_faults import script_fault


def test_a_greeting_that_went_through_behind_a_502_is_not_sent_twice(world, make_daemon):
    assert chat_switches(world, echo_msg_uuid=False)["echo_msg_uuid"] is False
    script_fault(world, "bybit", "/v5/p2p/order/message/send", "error_502_after_executing")
    daemon = make_daemon()
    payout = world.create_payout(Decimal("5700"), "sbp", "alfabank", persona="honest")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=150)
    assert row.state == "COMPLETED", row.reason

    order_id = world.buyer(payout["id"]).order_id
    greetings = [m for m in world.bybit.messages(order_id) if m["message"].startswith("Здравствуйте!")]
    assert len(greetings) == 1, "read back by its text, not sent again"
    sends = [e for e in world.bybit.http_log() if e["path"].endswith("/order/message/send")]
    assert sends[0]["fault"] == "error_502_after_executing"
    assert world.audit() == []

"""Issue 12 item 2: buyers post payment screenshots and PDFs in the chat; their relative showObj URLs are
fetched from a configurable host. A file whose download keeps failing never holds back the order's later
messages: it is tried again with backoff and given up after a bound, with an operator event."""
from __future__ import annotations

from decimal import Decimal

from tests.live.test_chat_read_without_unread_counts import chat_switches


def files_host(world, attempts: int = 3) -> str:
    """[bybit] settings: chat files from the sandbox's own file host, retried quickly in the test."""
    return (f'file_base_url = "{world.urls["bybit_files"]}"\nfile_retry_attempts = {attempts}\n'
            "file_retry_backoff = 0.5\n")


def waits_for_operator(daemon, payout_id: int):
    def verified() -> bool:
        row = daemon.deal_for_payout(payout_id)
        return row is not None and row.state == "RECEIPT_OK"
    daemon.wait_for(verified, 120, "the chat receipt to be verified")
    return daemon.deal_for_payout(payout_id)


def test_a_screenshot_that_never_downloads_does_not_hold_back_the_pdf_after_it(world, make_daemon):
    assert chat_switches(world, broken_files=["png"])["broken_files"] == ["png"]
    daemon = make_daemon(bybit_extra=files_host(world))
    payout = world.create_payout(Decimal("4500"), "sbp", "sberbank", persona="chat-screenshot")

    row = waits_for_operator(daemon, payout["id"])  # the PDF posted after the broken screenshot got through
    assert world.ledger.entries("bybit_release") == [] and world.ledger.entries("gate_approve") == []

    def gave_up() -> list:
        return [e for e in daemon.system.events.since(0) if e["type"] == "bybit_chat_file_failed"]
    daemon.wait_for(lambda: bool(gave_up()), 30, "the operator event for the screenshot")
    event = gave_up()[0]
    assert (event["deal_id"], event["file_name"], event["attempts"]) == (row.id, "Screenshot.png", 3)

    assert daemon.system.confirm_deal(row.id)["confirmed"] == "accept_receipt"
    assert daemon.wait_state(payout["id"], {"COMPLETED"}, timeout=60).state == "COMPLETED"
    assert world.audit() == []


def test_a_screenshot_and_a_pdf_in_the_chat_are_fetched_from_the_default_host(world, make_daemon):
    daemon = make_daemon()  # no bybit.file_base_url: the API's host serves the files
    payout = world.create_payout(Decimal("4550"), "sbp", "sberbank", persona="chat-screenshot")
    row = waits_for_operator(daemon, payout["id"])
    assert not [e for e in daemon.system.events.since(0) if e["type"] == "bybit_chat_file_failed"]
    files = [e for e in world.bybit.http_log() if "/showObj/" in e["path"]]
    assert sorted(e["path"].rsplit(".", 1)[-1] for e in files) == ["pdf", "png"]
    assert all(e["status"] == 200 for e in files)
    assert daemon.system.confirm_deal(row.id)["confirmed"] == "accept_receipt"
    assert daemon.wait_state(payout["id"], {"COMPLETED"}, timeout=60).state == "COMPLETED"
    assert world.audit() == []

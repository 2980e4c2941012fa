"""A receipt binds only to the deal its buyer paid (issue 9), as scenarios over HTTP: the daemon trades
with the sandbox's Gate and Bybit over real HTTP, payouts and buyers are set up through the sandbox's
control API, receipts arrive by e-mail through a real Dovecot, and the sandbox's audit — which now knows
who paid for which order — must stay clean."""
from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import gevent
import requests

from tests.pipeline.harness import TERMINAL

WALLET = "79161234567"


def create_payout(world, amount: str, *, persona: str | None = None, script: list | None = None,
                  buyer: dict | None = None, wallet: str = WALLET, bank: str = "alfabank") -> dict[str, Any]:
    body: dict[str, Any] = {"amount": amount, "method": "sbp", "bank": bank, "wallet": wallet}
    if persona:
        body["persona"] = persona
    if script:
        body["script"] = script
    if buyer:
        body["buyer"] = buyer
    reply = requests.post(world.urls["sandbox"] + "/payouts", json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def buyer_of(world, payout_id: int) -> dict[str, Any]:
    return requests.get(f"{world.urls['sandbox']}/payouts/{payout_id}", timeout=10).json()["buyer"]


def persona_script(world, name: str) -> list:
    return requests.get(world.urls["sandbox"] + "/personas", timeout=10).json()["personas"][name]


def audit(world) -> dict[str, Any]:
    return requests.get(world.urls["sandbox"] + "/audit", timeout=10).json()


def released(world) -> list[str]:
    return [str(entry["order_id"]) for entry in world.ledger.entries("bybit_release")]


def states_of(daemon, deal_id: int) -> list[tuple[str, Any]]:
    """(state entered, when) along the deal's journal."""
    return [(entry.to_state, entry.ts) for entry in daemon.journal(deal_id) if entry.to_state]


def reasons_of(daemon, deal_id: int) -> list[str]:
    out = []
    for entry in daemon.journal(deal_id):
        data = entry.data if isinstance(entry.data, dict) else {}
        facts = data.get("facts") if isinstance(data.get("facts"), dict) else {}
        if facts.get("reason"):
            out.append(facts["reason"])
    return out


def run_twins(world, make_daemon, non_payer: str) -> None:
    """Two payouts to one recipient for one amount, live together on Gate. The non-payer's buyer comes
    first; the honest buyer a few seconds later. Whoever takes whichever ad, only the deal the honest
    buyer paid for may complete, and the two deals are never online at the same time."""
    daemon = make_daemon()
    first = create_payout(world, "5100", persona=non_payer)
    honest_script = [{"open_order": {"timeout": 600, "after": 3}}] + persona_script(world, "honest")[1:]
    second = create_payout(world, "5100", script=honest_script)

    rows = {p["id"]: daemon.wait_state(p["id"], TERMINAL, timeout=150) for p in (first, second)}
    honest_order = buyer_of(world, second["id"])["order_id"]
    completed = [row for row in rows.values() if row.state == "COMPLETED"]
    assert len(completed) == 1, {pid: (row.state, row.reason) for pid, row in rows.items()}
    assert completed[0].order_id == honest_order  # the deal the honest buyer paid for
    other = next(row for row in rows.values() if row.state != "COMPLETED")
    assert other.state == "MANUAL_REVIEW" and "receipt_timeout" in (other.reason or ""), other.reason
    assert released(world) == [honest_order]
    assert len(world.ledger.entries("gate_approve")) == 1

    # never indistinguishable: the later deal waited for its twin and went online only after it ended
    early, late = sorted(rows.values(), key=lambda row: row.id)
    assert any(reason.startswith("waiting_for_twin") for reason in reasons_of(daemon, late.id))
    early_end = next(ts for state, ts in states_of(daemon, early.id) if state in TERMINAL)
    late_online = next(ts for state, ts in states_of(daemon, late.id) if state == "AD_ONLINE")
    assert late_online >= early_end
    assert audit(world)["clean"], audit(world)


def test_twin_payouts_when_the_non_payer_just_waits(world, make_daemon):
    run_twins(world, make_daemon, "waits-after-requisites")


def test_twin_payouts_when_the_non_payer_presses_paid(world, make_daemon):
    run_twins(world, make_daemon, "non-payer-marks-paid")


def test_a_third_party_payer_goes_to_the_operator_and_nothing_is_released(world, make_daemon):
    daemon = make_daemon()
    payout = create_payout(world, "6200", persona="third-party-payer")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "MANUAL_REVIEW" and "payer_mismatch" in (row.reason or ""), row.reason
    assert released(world) == [] and world.ledger.entries("gate_approve") == []
    transfer = world.ledger.entries("bank_transfer")[0]
    assert transfer["payer_name"] != buyer_of(world, payout["id"])["real_name"]  # paid from someone else's account
    assert audit(world)["clean"]


def test_a_buyer_whose_bybit_name_is_latin_is_recognised_on_the_cyrillic_receipt(world, make_daemon):
    daemon = make_daemon()
    payout = create_payout(world, "6300", persona="honest",
                           buyer={"real_name": "SIDOROV PIOTR", "payer_name": "Пётр Сидоров"})
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "COMPLETED", row.reason
    assert row.buyer_name == "SIDOROV PIOTR"  # what Bybit's /order/info said
    assert released(world) == [buyer_of(world, payout["id"])["order_id"]]
    assert audit(world)["clean"]


def test_a_receipt_after_the_cancel_brings_the_deal_to_the_operator(world, make_daemon):
    daemon = make_daemon()
    payout = create_payout(world, "6400", persona="pays-after-cancel")
    daemon.wait_state(payout["id"], {"CANCELLED"}, timeout=120)
    row = daemon.wait_state(payout["id"], {"MANUAL_REVIEW"}, timeout=120)
    assert row.reason.startswith("paid_after_cancel"), row.reason
    claimed = daemon.store.receipts.for_deal(row.id)
    assert [receipt.verdict for receipt in claimed] == ["late"]  # it can serve no other deal
    assert released(world) == [] and world.ledger.entries("gate_approve") == []
    assert audit(world)["clean"]


def test_the_approve_attaches_the_accepted_receipt_not_a_chat_pdf_sent_meanwhile(world, make_daemon):
    """Manual mode: while the approve waits for the operator, the buyer posts another PDF in the chat
    (its receipt edited to show a bigger payment). Gate must get the bank's e-mailed receipt."""
    daemon = make_daemon(mode="manual")
    payout = create_payout(world, "6500", persona="honest")

    def chat_file_arrived(deal_id: int) -> bool:
        paths = {entry.data.get("path") for entry in daemon.journal(deal_id) if entry.step == "receipt_file"}
        return len(paths) >= 2

    while True:
        row = daemon.wait_state(payout["id"], TERMINAL | {"NEW", "ACCEPTED", "RECEIPT_OK", "APPROVED"}, timeout=120)
        if row.state in TERMINAL:
            break
        actor = daemon.system.directory.get(f"deal:{row.id}")
        waiting = actor.proxy().awaiting_step().get(timeout=5) if actor is not None else None
        if waiting is None:
            gevent.sleep(0.1)
            continue
        if waiting == "approve" and not chat_file_arrived(row.id):
            # the buyer posts an edited copy of its receipt in the Bybit chat, as a buyer would
            transfer = world.bank.transfers()[-1]
            edited = world.bank.receipt_pdf(transfer, tamper={"amount": "9999"})
            world.bybit.buyer_send_file(row.order_id, "receipt-edited.pdf", edited, "application/pdf")
            daemon.wait_for(lambda: chat_file_arrived(row.id), 60, "the buyer's chat PDF")
        daemon.system.confirm_deal(row.id)

    assert row.state == "COMPLETED", row.reason
    accepted = daemon.store.receipts.for_deal(row.id)
    assert [receipt.source for receipt in accepted] == ["email"]
    approve = world.ledger.entries("gate_approve")[0]
    assert approve["attachment_sha256"] == [accepted[0].sha256]
    paths = [entry.data["path"] for entry in daemon.journal(row.id) if entry.step == "receipt_file"]
    hashes = [hashlib.sha256(open(path, "rb").read()).hexdigest() for path in paths]
    assert hashes[-1] != accepted[0].sha256  # the chat PDF came last: "the latest file noted" was the wrong one
    assert audit(world)["clean"]


def test_the_sbp_warning_not_confirmed_rejects_the_buyer_before_any_requisites(world, make_daemon):
    daemon = make_daemon()
    payout = create_payout(world, "6600", persona="sbp-refuses-confirm")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "REJECTED_BUYER", row.reason
    assert row.requisites_sent_at is None
    said = [event["detail"] for event in buyer_of(world, payout["id"])["events"] if event["action"] == "say"]
    assert said[-1] == "не подтверждаю"
    assert released(world) == [] and world.ledger.entries("bank_transfer") == []


def test_a_reservation_stays_a_no_even_when_the_assistant_says_yes(world, make_daemon):
    reply = requests.put(world.urls["sandbox"] + "/llm", json={"classify": "yes"}, timeout=10)
    assert reply.status_code == 200, reply.text
    daemon = make_daemon()
    payout = create_payout(world, "6700", persona="reservation-yes")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state in ("REJECTED_BUYER", "MANUAL_REVIEW"), row.reason
    assert row.requisites_sent_at is None  # never read as a yes
    assert released(world) == [] and world.ledger.entries("gate_approve") == []
    assert Decimal(payout["amount"]) == Decimal("6700")

"""An honest deal driven by hand over HTTP, exactly like the README's curl walkthrough.

We play the daemon with plain requests: log in to Gate, take the payout, put a signed ad on
Bybit, chat with the simulated buyer, read the receipt mail, approve with the PDF, release —
and the sandbox's audit must come out clean. The signer is our own few lines, not the client.
"""
import email
import mailbox
from decimal import Decimal

import pytest
import requests

from itrader.sandbox.world import GATE_LOGIN, GATE_PASSWORD, RECEIPT_EMAIL

from .hand import GREETING, buyer_lines, bybit, eventually, order_info, orders, post_ad, requisites, send

pytest.importorskip("itrader.sandbox.bank", reason="the sandbox bank has not landed yet")


def receipt_mails(sandbox):
    box = mailbox.Maildir(str(sandbox.maildir / "Maildir"), create=False)
    return [email.message_from_bytes(box.get_bytes(key)) for key in box.keys()]


def test_an_honest_deal_by_hand_ends_with_a_clean_audit(sandbox):
    control = sandbox.urls["sandbox"]
    created = requests.post(f"{control}/payouts", json={"amount": "5000", "method": "sbp", "bank": "sberbank",
                                                        "persona": "honest"}, timeout=10).json()

    # Gate: log in, find the offered payout, take it in work.
    gate = requests.Session()
    login = gate.post(sandbox.urls["gate"] + "/auth/basic/login",
                      json={"login": GATE_LOGIN, "password": GATE_PASSWORD}, timeout=10)
    assert {"sid", "rsid"} <= set(gate.cookies.keys()), login.text
    offered = gate.get(sandbox.urls["gate"] + "/payments/payouts", params={"filters[status][]": [4, 5]},
                       timeout=10).json()["response"]["payouts"]["data"]
    assert [p["id"] for p in offered] == [created["id"]] and offered[0]["amount"] == []
    taken = gate.post(sandbox.urls["gate"] + f"/payments/payouts/{created['id']}/show", timeout=10).json()
    payout = taken["response"]["payout"]
    amount = Decimal(str(payout["amount"]["trader"]["643"]))
    assert payout["status"] == 5 and amount == 5000

    # Bybit: an ad for exactly that amount; the simulated buyer finds it and opens an order.
    item_id = post_ad(sandbox, amount)
    order_id = eventually(lambda: orders(sandbox))[0]["id"]
    info = order_info(sandbox, order_id)
    assert info["itemId"] == item_id and info["status"] == 10

    # Chat: our questions, the buyer's "yes", our requisites.
    send(sandbox, order_id, GREETING)
    assert eventually(lambda: buyer_lines(sandbox, order_id))[0].lower().startswith("да")
    send(sandbox, order_id, requisites(payout["wallet"], amount, RECEIPT_EMAIL))

    # The buyer pays the payout's recipient, presses "paid" and mails the bank's receipt.
    eventually(lambda: order_info(sandbox, order_id)["status"] == 20)
    mail = eventually(lambda: receipt_mails(sandbox))[0]
    assert mail["From"].endswith("@tinkoff.ru>") or mail["From"].endswith("@tinkoff.ru")
    assert "DKIM-Signature" in mail
    pdf = next(part for part in mail.walk() if part.get_content_type() == "application/pdf")
    receipt = pdf.get_payload(decode=True)
    assert receipt.startswith(b"%PDF")

    # Approve on Gate with the receipt, then release on Bybit.
    approved = gate.post(sandbox.urls["gate"] + f"/payments/payouts/{created['id']}/approve",
                         files={"attachments[]": ("Receipt.pdf", receipt, "application/pdf")}, timeout=10).json()
    assert approved["success"] and approved["response"]["payout"]["status"] == 6
    bybit(sandbox, "/v5/p2p/order/finish", {"orderId": order_id})
    assert order_info(sandbox, order_id)["status"] == 50

    ledger = requests.get(f"{control}/ledger", timeout=10).json()["entries"]
    kinds = [e["kind"] for e in ledger]
    assert {"bank_transfer", "gate_approve", "bybit_release"} <= set(kinds)
    transfer = next(e for e in ledger if e["kind"] == "bank_transfer")
    assert transfer["wallet"] == payout["wallet"] and Decimal(transfer["amount"]) == amount
    assert requests.get(f"{control}/audit", timeout=10).json() == {"clean": True, "counts": {}, "violations": []}
    assert sandbox.wait_for_buyers(10)
    assert sandbox.buyer(created["id"]).state == "done"


def test_a_naive_seller_paying_out_to_a_wrong_recipient_buyer_is_caught_by_the_audit(sandbox):
    """The buyer pays someone else; a seller who releases anyway shows up in the audit."""
    created = requests.post(sandbox.urls["sandbox"] + "/payouts", json={"amount": "5000", "persona": "wrong-recipient"},
                            timeout=10).json()
    post_ad(sandbox, Decimal("5000"))
    order_id = eventually(lambda: orders(sandbox))[0]["id"]
    send(sandbox, order_id, GREETING)
    eventually(lambda: buyer_lines(sandbox, order_id))
    send(sandbox, order_id, requisites(created["wallet"], 5000))
    eventually(lambda: order_info(sandbox, order_id)["status"] == 20)
    [transfer] = eventually(lambda: sandbox.ledger.entries("bank_transfer"))
    assert transfer["wallet"] != created["wallet"] and Decimal(transfer["amount"]) == 5000
    bybit(sandbox, "/v5/p2p/order/finish", {"orderId": order_id})
    audit = requests.get(sandbox.urls["sandbox"] + "/audit", timeout=10).json()
    assert audit["clean"] is False and audit["counts"] == {"release_without_transfer": 1}

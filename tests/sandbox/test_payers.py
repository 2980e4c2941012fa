"""Who paid: the bank records the buyer, its order and the account holder; receipts print that holder;
Bybit shows the buyer's KYC name; the control API can set both names; third-party payers."""
import random
from decimal import Decimal

import pytest
import requests

from itrader.sandbox.buyers import Buyer, kyc_name, latin, normalize_script

from .hand import (GREETING, SBP_CONFIRM, approve, buyer_lines, bybit, eventually, gate_session, order_info, orders,
                   pdf_text, post_ad, receipt_pdfs, requisites, send, take)


def create(sandbox, **body):
    return requests.post(sandbox.urls["sandbox"] + "/payouts", json={"amount": "5000", **body}, timeout=10)


def paid_deal(sandbox, persona):
    """A payout with this persona, played to the buyer's payment: (payout, order id, buyer status, transfer)."""
    payout = create(sandbox, persona=persona).json()
    order_id = play_to_payment(sandbox, payout)
    [transfer] = sandbox.ledger.entries("bank_transfer")
    return payout, order_id, sandbox.buyer(payout["id"]).status(), transfer


def play_to_payment(sandbox, payout):
    """Play the seller of an SBP ad: greeting, the wrong-bank question, requisites; until the buyer paid."""
    post_ad(sandbox, Decimal("5000"))
    order_id = eventually(lambda: orders(sandbox))[0]["id"]
    send(sandbox, order_id, GREETING)
    eventually(lambda: buyer_lines(sandbox, order_id))
    send(sandbox, order_id, SBP_CONFIRM)
    eventually(lambda: len(buyer_lines(sandbox, order_id)) == 2)
    send(sandbox, order_id, requisites(payout["wallet"], 5000))
    eventually(lambda: order_info(sandbox, order_id)["status"] == 20)
    return order_id


def test_the_bank_records_who_paid_and_the_receipt_names_the_account_holder(sandbox):
    payout, order_id, buyer, transfer = paid_deal(sandbox, "honest")
    assert transfer["order_id"] == order_id and transfer["buyer_id"] == buyer["buyer_id"]
    assert transfer["payer_name"] == buyer["payer_name"]
    [opened] = sandbox.ledger.entries("buyer_order")
    assert (opened["real_name"], opened["payer_name"]) == (buyer["real_name"], buyer["payer_name"])
    assert order_info(sandbox, order_id)["buyerRealName"] == buyer["real_name"]

    [pdf] = eventually(lambda: receipt_pdfs(sandbox))
    assert f"Отправитель {buyer['payer_name']}" in pdf_text(pdf)
    assert requests.get(sandbox.urls["sandbox"] + "/audit", timeout=10).json()["clean"] is True


def test_the_control_api_sets_the_kyc_name_and_the_payer_name(sandbox):
    names = {"real_name": "PETR SIDOROV", "payer_name": "Пётр Сидоров"}
    response = create(sandbox, persona="honest", buyer=names)
    assert response.status_code == 200, response.text
    payout = response.json()
    assert (payout["buyer"]["real_name"], payout["buyer"]["payer_name"]) == ("PETR SIDOROV", "Пётр Сидоров")
    order_id = play_to_payment(sandbox, payout)
    assert order_info(sandbox, order_id)["buyerRealName"] == "PETR SIDOROV"
    [pdf] = eventually(lambda: receipt_pdfs(sandbox))
    assert "Отправитель Пётр Сидоров" in pdf_text(pdf)


def test_a_buyer_attached_later_gets_its_names_too(sandbox):
    payout = create(sandbox).json()
    attached = requests.put(sandbox.urls["sandbox"] + f"/payouts/{payout['id']}/buyer", timeout=10,
                            json={"persona": "silent", "buyer": {"payer_name": "Анна Щукина"}})
    assert attached.status_code == 200, attached.text
    buyer = attached.json()["buyer"]
    assert buyer["payer_name"] == "Анна Щукина"
    assert buyer["real_name"] in ("Анна Щукина", "ANNA SHCHUKINA", "SHCHUKINA ANNA")


@pytest.mark.parametrize("buyer, words", [
    ("PETR", "buyer must be an object"),
    ({"name": "Пётр"}, "unknown buyer field(s): name"),
    ({"real_name": ""}, "buyer.real_name must be a person's name"),
    ({"payer_name": "Пётр 007"}, "buyer.payer_name must be a person's name"),
    ({"payer_name": 5}, "buyer.payer_name must be a person's name"),
    ({"real_name": "A" * 101}, "at most 100 characters"),
])
def test_bad_buyer_names_are_refused_clearly(sandbox, buyer, words):
    response = create(sandbox, persona="honest", buyer=buyer)
    assert response.status_code == 400 and words in response.json()["error"], response.text
    assert sandbox.gate.payouts() == []  # nothing half-created


def test_buyer_names_without_a_buyer_are_refused(sandbox):
    response = create(sandbox, buyer={"real_name": "PETR SIDOROV"})
    assert response.status_code == 400 and "persona or a script" in response.json()["error"]


def test_the_third_party_payer_pays_from_someone_elses_account(sandbox):
    payout, order_id, buyer, transfer = paid_deal(sandbox, "third-party-payer")
    assert transfer["order_id"] == order_id and transfer["wallet"] == payout["wallet"]
    assert Decimal(transfer["amount"]) == 5000
    assert transfer["payer_name"] != buyer["payer_name"]
    [pdf] = eventually(lambda: receipt_pdfs(sandbox))
    text = pdf_text(pdf)
    assert f"Отправитель {transfer['payer_name']}" in text and buyer["payer_name"] not in text

    audit = lambda: requests.get(sandbox.urls["sandbox"] + "/audit", timeout=10).json()
    assert audit()["clean"] is True  # not released: nobody was robbed
    gate = gate_session(sandbox)  # a naive seller who takes the receipt as it is, and releases
    take(sandbox, gate, payout["id"])
    assert approve(sandbox, gate, payout["id"], pdf).json()["success"]
    bybit(sandbox, "/v5/p2p/order/finish", {"orderId": order_id})
    assert audit()["counts"] == {"release_to_non_payer": 1}


def test_latin_spelling_is_the_passport_one():
    assert latin("Пётр Журавлёв") == "Petr Zhuravlev"
    assert latin("Наталья Щукина") == "Natalia Shchukina"
    assert latin("Юлия Васильева") == "Iuliia Vasileva"


def test_kyc_names_are_deterministic_and_come_in_every_style():
    names = {seed: kyc_name("Иван Смирнов", seed) for seed in range(60)}
    assert names == {seed: kyc_name("Иван Смирнов", seed) for seed in range(60)}
    assert set(names.values()) == {"Иван Смирнов", "IVAN SMIRNOV", "SMIRNOV IVAN"}


def test_a_buyer_draws_the_same_names_from_the_same_seed():
    def names(seed):
        buyer = Buyer({"id": 1, "amount": "5000", "wallet": "79001234567"}, normalize_script(["open_order"]),
                      services=None, buyer_id="b", seed=seed)
        return buyer.real_name, buyer.payer_name
    assert names(42) == names(42)
    drawn = {names(seed) for seed in random.Random(1).sample(range(10**6), 40)}
    assert len(drawn) > 10
    for real_name, payer_name in drawn:
        first, last = payer_name.split()
        assert real_name in (payer_name, latin(f"{first} {last}").upper(), latin(f"{last} {first}").upper())
    assert {real.isascii() for real, _ in drawn} == {True, False}  # some Latin, some Cyrillic

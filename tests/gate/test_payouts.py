"""Payout life cycle on the sandbox panel through the client: list, take, approve, cancel, balance, time."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from itrader.gate import IncorrectStatus, NotFound
from tests.gate.conftest import LOGIN

RECEIPT = b"%PDF-1.4\n% synthetic receipt\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def new_payout(gate, amount="5000", method="sbp", bank="tinkoff", **kwargs) -> int:
    return gate.sandbox.create_payout(Decimal(amount), method, bank, **kwargs)["id"]


def test_offered_payout_hides_its_amount_as_an_empty_array(gate):
    pid = new_payout(gate, wallet="79001234567")
    client = gate.client()

    payout = client.get_payout(pid)
    assert payout.status == 4
    assert payout.amount.hidden and payout.total.hidden
    assert payout.raw["amount"] == [] and payout.raw["total"] == []
    assert payout.wallet == "79001234567"
    assert payout.method == "sbp"
    assert payout.expired_at is None


def test_show_takes_the_payout_and_reveals_the_amount(gate):
    pid = new_payout(gate, "7000", expires_in=1800)
    client = gate.client()

    taken = client.show(pid)

    assert taken.status == 5
    assert taken.amount.rub == Decimal("7000")
    assert taken.amount.usdt == Decimal("88.05")  # 7000 / 79.50
    assert taken.total.rub > taken.amount.rub
    assert taken.trader_id == client.me().id
    assert (taken.expired_at - taken.updated_at).total_seconds() == 1800
    assert client.get_payout(pid).amount.rub == Decimal("7000")
    assert [e["payout_id"] for e in gate.ledger.entries("gate_take")] == [pid]
    assert gate.sandbox.balance(LOGIN) == Decimal("10000000") - 7000


def test_second_show_answers_like_the_panel_and_the_client_reconciles(gate):
    pid = new_payout(gate)
    client = gate.client()
    client.show(pid)

    again = client.show(pid)

    assert again.id == pid and again.status == 5 and again.amount.rub == Decimal("5000")
    show_statuses = [r.status for r in gate.requests("/show")]
    assert show_statuses == [200, 409]  # the panel said "incorrect_status" the second time
    assert len(gate.ledger.entries("gate_take")) == 1


def test_second_show_raw_answer_is_incorrect_status(gate):
    pid = new_payout(gate)
    client = gate.client()
    client.show(pid)
    raw = client.session.post(f"{gate.base_url}/payments/payouts/{pid}/show")
    assert raw.status_code == 409
    assert raw.json()["response"]["error_description"] == "incorrect_status"


def test_payout_taken_by_another_trader_is_not_ours(gate):
    gate.sandbox.add_account("other@example.com", "other-pass", Decimal("10000000"))
    pid = new_payout(gate)
    gate.client("other@example.com", "other-pass").show(pid)

    client = gate.client()
    with pytest.raises(IncorrectStatus):
        client.show(pid)
    with pytest.raises(NotFound):
        client.get_payout(pid)


def test_approve_uploads_the_receipt_which_the_cdn_serves_back_byte_identical(gate):
    pid = new_payout(gate, "28500")
    client = gate.client()
    client.show(pid)

    approved = client.approve(pid, "Receipt.pdf", RECEIPT)

    assert approved.status == 6 and approved.approved_at is not None
    [attachment] = approved.attachments
    assert attachment.file_name == "Receipt.pdf" and attachment.size == len(RECEIPT)
    assert attachment.fake is False
    url = client.attachment_url(attachment)
    assert url.startswith(gate.base_url + "/cdn/")
    assert requests.get(url, timeout=5).content == RECEIPT  # a plain GET, as from a CDN
    assert client.download_attachment(attachment) == RECEIPT
    assert gate.sandbox.attachment(pid) == [("Receipt.pdf", RECEIPT)]
    [entry] = gate.ledger.entries("gate_approve")
    assert entry["payout_id"] == pid and entry["amount"] == "28500" and entry["attachments"] == 1


def test_second_approve_is_refused_and_recorded(gate):
    pid = new_payout(gate)
    client = gate.client()
    client.show(pid)
    client.approve(pid, "Receipt.pdf", RECEIPT)

    with pytest.raises(IncorrectStatus):
        client.approve(pid, "Receipt.pdf", RECEIPT)

    assert len(gate.ledger.entries("gate_approve")) == 1
    [rejected] = gate.ledger.entries("gate_approve_rejected")
    assert rejected["payout_id"] == pid


def test_approve_before_taking_is_refused(gate):
    pid = new_payout(gate)
    with pytest.raises(IncorrectStatus):
        gate.client().approve(pid, "Receipt.pdf", RECEIPT)
    assert gate.ledger.entries("gate_approve") == []


def test_approved_payout_is_promoted_to_7_after_the_delay(gate):
    gate.sandbox.promote_after = 120
    pid = new_payout(gate)
    client = gate.client()
    client.show(pid)
    client.approve(pid, "Receipt.pdf", RECEIPT)

    gate.clock.advance(119)
    assert client.get_payout(pid).status == 6
    gate.clock.advance(2)
    done = client.get_payout(pid)
    assert done.status == 7 and done.approved_at is not None


def test_taken_payout_past_its_deadline_expires_and_can_no_longer_be_approved(gate):
    pid = new_payout(gate, "9000", expires_in=1800)
    client = gate.client()
    client.show(pid)

    gate.clock.advance(1801)

    assert client.get_payout(pid).status == 9
    with pytest.raises(IncorrectStatus):
        client.approve(pid, "Receipt.pdf", RECEIPT)
    assert gate.sandbox.balance(LOGIN) == Decimal("10000000")  # the reservation came back


def test_cancel_gives_the_payout_back(gate):
    pid = new_payout(gate, "3000")
    client = gate.client()
    client.show(pid)

    cancelled = client.cancel(pid)

    assert cancelled.status == 9
    assert gate.sandbox.balance(LOGIN) == Decimal("10000000")
    with pytest.raises(IncorrectStatus):
        client.cancel(pid)


def test_set_balance_controls_which_payouts_are_offered(gate):
    small = new_payout(gate, "2000")
    new_payout(gate, "50000")  # more than the balance below
    client = gate.client()

    client.set_balance(10000)
    assert client.me().rub_balance == Decimal("10000.00")
    assert [p.id for p in client.iter_payouts(status=4)] == [small]

    client.set_balance(0)  # what the daemon does at shutdown
    assert list(client.iter_payouts(status=4)) == []
    assert [e["balance"] for e in gate.ledger.entries("gate_balance")] == ["10000", "0"]


def test_negative_balance_is_refused(gate):
    with pytest.raises(ValueError):
        gate.client().set_balance(-1)
    raw = gate.client()
    raw.login()
    answer = raw.session.post(f"{gate.base_url}/payments/payouts/balance", json={"amount": "abc"})
    assert answer.status_code == 422 and answer.json()["success"] is False


def test_pagination_walks_every_page_newest_first(gate):
    ids = []
    for n in range(7):
        ids.append(new_payout(gate, str(1000 + n)))
        gate.clock.advance(1)
    client = gate.client()

    first = client.list_payouts(page=1, per_page=3)
    assert (first.current_page, first.last_page, first.per_page, first.total) == (1, 3, 3, 7)
    assert [p.id for p in first.payouts] == ids[::-1][:3]
    last = client.list_payouts(page=3, per_page=3)
    assert [p.id for p in last.payouts] == [ids[0]] and not last.has_next

    assert [p.id for p in client.iter_payouts(per_page=3)] == ids[::-1]
    assert len(gate.requests("/payments/payouts")) == 2 + 3


def test_list_answer_has_meta_and_links(gate):
    new_payout(gate)
    client = gate.client()
    client.login()
    body = client.session.get(f"{gate.base_url}/payments/payouts",
                              params=[("filters[status][]", 4), ("page", 1)]).json()
    payouts = body["response"]["payouts"]
    assert body["success"] is True
    assert set(payouts) == {"data", "meta", "links"}
    assert set(payouts["meta"]) >= {"current_page", "last_page", "per_page", "total"}
    assert payouts["links"]["next"] is None


def test_status_filter_and_searches(gate):
    a = new_payout(gate, "1000", wallet="79001112233")
    b = new_payout(gate, "2000", method="card", bank="sberbank", wallet="2200123412341234")
    c = new_payout(gate, "3000")
    client = gate.client()
    client.show(c)

    assert {p.id for p in client.iter_payouts(status=4)} == {a, b}
    assert {p.id for p in client.iter_payouts(status=[4, 5])} == {a, b, c}
    assert [p.id for p in client.iter_payouts(status=5)] == [c]
    assert [p.id for p in client.list_payouts(search_id=b).payouts] == [b]
    assert [p.id for p in client.list_payouts(status=[4, 5], search_id=c).payouts] == [c]
    assert [p.id for p in client.iter_payouts(search="79001112233")] == [a]
    assert [p.id for p in client.iter_payouts(search="sberbank")] == [b]
    card = client.get_payout(b)
    assert card.method == "card" and card.bank.label.endswith("(MIR)")


def test_lenient_bank_shapes_parse(gate):
    null_bank = new_payout(gate, quirk="bank_null")
    numeric_code = new_payout(gate, quirk="bank_code_numeric")
    client = gate.client()

    for pid in (null_bank, numeric_code):
        client.show(pid)
    assert client.get_payout(null_bank).bank is None
    odd = client.get_payout(numeric_code)
    assert odd.raw["bank"]["code"] == 0  # a number on the wire …
    assert odd.bank.code == "0"  # … text in the model


def test_quirk_every_nth_payout_is_deterministic(make_gate):
    world = make_gate(quirk_every=2)
    ids = [world.sandbox.create_payout(Decimal(1000 + n), "sbp", "tinkoff")["id"] for n in range(4)]
    banks = {p.id: p.bank for p in world.client().iter_payouts()}
    assert banks[ids[0]] is not None and banks[ids[2]] is not None
    assert banks[ids[1]] is None  # 2nd: bank null
    assert banks[ids[3]].code == "0"  # 4th: numeric code


def test_get_payout_of_unknown_id_is_not_found(gate):
    with pytest.raises(NotFound):
        gate.client().get_payout(999)


def test_approve_without_file_is_refused_by_the_sandbox(gate):
    pid = new_payout(gate)
    client = gate.client()
    client.show(pid)
    answer = client.session.post(f"{gate.base_url}/payments/payouts/{pid}/approve")
    assert answer.status_code == 422
    assert gate.ledger.entries("gate_approve_rejected")[0]["reason"] == "no attachment"
    assert gate.ledger.entries("gate_approve") == []


def test_a_panel_whose_search_by_id_alone_finds_nothing_still_yields_the_payout_by_its_status_lists(gate):
    # issue 12 item 8: the originals always sent search[id] with filters[status][]=4&=5
    gate.sandbox.set_live(search_id_needs_status=True)
    offered, approved = new_payout(gate, "5100"), new_payout(gate, "5200")
    client = gate.client()
    client.show(approved)
    client.approve(approved, "Receipt.pdf", RECEIPT)

    assert client.get_payout(offered).status == 4
    assert client.get_payout(approved).status == 6
    assert not client.list_payouts(search_id=approved).payouts  # the panel's own answer to the id alone
    with pytest.raises(NotFound):
        client.get_payout(999)


def test_with_late_approvals_switched_on_an_approve_an_hour_past_expired_at_is_accepted(gate):
    # captured (reference/gate-api.md §6.5): approved 11:59:45, expired_at 10:56:01, status 6
    gate.sandbox.set_live(late_approval_seconds=7200)
    pid = new_payout(gate, "9000", expires_in=1800)
    client = gate.client()
    client.show(pid)
    gate.clock.advance(1800 + 3600)

    approved = client.approve(pid, "Receipt.pdf", RECEIPT)

    assert approved.status == 6 and approved.approved_at > approved.expired_at
    gate.clock.advance(3600)  # the grace is over, but an approved payout is not refunded
    assert client.get_payout(pid).status == 7
    assert gate.sandbox.balance(LOGIN) == Decimal("10000000") - 9000

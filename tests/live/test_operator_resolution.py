"""Issue 13, item 2: an operator resolves deals in MANUAL_REVIEW and DISPUTE over real HTTP
(`POST /api/v1/deals/<id>/resolve`), each action journaled with who and why, judged on Gate and Bybit read
back right then: money moves once, a wrong retyped amount or an open appeal moves nothing."""
import os
import subprocess
import sys
from decimal import Decimal

import gevent
import requests

from tests.live.sandbox_control import appealed_dispute
from tests.pipeline.harness import TERMINAL

TOKEN = "test-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def resolve(daemon, deal_id: int, **body) -> requests.Response:
    body.setdefault("reason", "checked the bank statement: the buyer paid")
    body.setdefault("reason_kind", "evidence_checked")
    body.setdefault("operator", "alice")
    return requests.post(f"{daemon.base}/api/v1/deals/{deal_id}/resolve", json=body, headers=AUTH, timeout=40)


def operator_notes(daemon, deal_id: int) -> list[dict]:
    return [e.data for e in daemon.journal(deal_id) if e.step == "operator"]


def control(world, method: str, path: str, body: dict) -> dict:
    answer = requests.request(method, world.urls["sandbox"] + path, json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wrong_amount_deal(world, make_daemon, amount: str):
    daemon = make_daemon()
    payout = world.create_payout(Decimal(amount), "sbp", "sberbank", persona="wrong-amount")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "MANUAL_REVIEW" and "receipt_refused" in (row.reason or ""), row.reason
    return daemon, payout, row


def test_a_wrong_amount_deal_is_approved_and_released_once_by_the_operator(world, make_daemon):
    daemon, payout, row = wrong_amount_deal(world, make_daemon, "4100")
    queue = requests.get(f"{daemon.base}/api/v1/review", headers=AUTH, timeout=10).json()["deals"]
    assert [d["id"] for d in queue] == [row.id] and queue[0]["reason"]

    # A mistyped amount: refused naming the field, nothing moves, the attempt is journaled.
    wrong = resolve(daemon, row.id, action="approve_release", amount="4010")
    assert wrong.status_code == 400 and wrong.json()["error"].startswith("amount"), wrong.text
    assert world.ledger.entries("gate_approve") == [] and world.ledger.entries("bybit_release") == []
    assert operator_notes(daemon, row.id)[-1]["verdict"] == "bad_input"

    # Two operators click at once: one approve and one release happen; the second sees it done.
    first, second = gevent.spawn(resolve, daemon, row.id, action="approve_release", amount="4100"), \
        gevent.spawn(resolve, daemon, row.id, action="approve_release", amount="4100.00")
    gevent.joinall([first, second], timeout=60)
    answers = sorted([first.value.json()["outcome"], second.value.json()["outcome"]])
    assert [first.value.status_code, second.value.status_code] == [200, 200], (first.value.text, second.value.text)
    assert answers == ["done", "go"]
    daemon.wait_state(payout["id"], {"COMPLETED"}, timeout=60)
    went = [n for n in operator_notes(daemon, row.id) if n["verdict"] == "go"]
    assert len(went) == 1 and went[0]["read_back"]["order_status"] == 20 and went[0]["amount"] in ("4100", "4100.00")
    assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
    # Once more after the end: still done, still once.
    again = resolve(daemon, row.id, action="approve_release", amount="4100")
    assert again.status_code == 200 and again.json()["outcome"] == "done", again.text
    assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
    journal = daemon.journal(row.id)
    intents = [e for e in journal if str(getattr(e.kind, "value", e.kind)) == "intent"]
    assert [e.step for e in intents] == ["take", "create_ad", "approve", "release"], [e.step for e in journal]
    assert all(n["operator"] == "alice" and n["reason_kind"] == "evidence_checked" for n in operator_notes(daemon, row.id))
    # The persona really paid 100 RUB less: the sandbox's audit rightly calls that payout unpaid — the operator
    # took that loss knowingly. Nothing else: no double approve or release, nothing without a receipt.
    kinds = {v.kind for v in world.audit()}
    assert kinds <= {"approve_without_transfer", "release_without_transfer"}, kinds


def test_bad_requests_name_the_field_and_an_unknown_deal_is_404(world, make_daemon):
    daemon = make_daemon()
    payout = world.create_payout(Decimal("4200"), "sbp", "sberbank", persona="silent")
    daemon.wait_for(lambda: daemon.deal_for_payout(payout["id"]) is not None, 30, "the deal to open")
    deal_id = daemon.deal_for_payout(payout["id"]).id
    assert resolve(daemon, 999999, action="cancel").status_code == 404
    for body, field in (({"action": "approve"}, "action"), ({"action": "cancel", "reason": " "}, "reason"),
                        ({"action": "cancel", "reason_kind": "whim"}, "reason_kind"),
                        ({"action": "approve_release", "amount": "1e3"}, "amount"),
                        ({"action": "cancel", "amount": "100"}, "amount")):
        answer = resolve(daemon, deal_id, **body)
        assert answer.status_code == 400 and answer.json()["error"].startswith(field), (body, answer.text)
    # A live deal is not in review: a well-formed request is a conflict, and nothing is done.
    live = resolve(daemon, deal_id, action="cancel")
    assert live.status_code == 409 and "not in review" in live.json()["error"], live.text
    assert world.ledger.entries("gate_approve") == [] and world.ledger.entries("bybit_release") == []


def itrader_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITRADER_")}
    return subprocess.run([sys.executable, "-m", "itrader.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_a_dispute_in_appeal_cannot_be_released_from_here(world, make_daemon, tmp_path):
    daemon = make_daemon()
    payout, row = appealed_dispute(world, daemon, "5500")
    answer = resolve(daemon, row.id, action="approve_release", amount="5500")
    assert answer.status_code == 409 and "appeal" in answer.json()["error"], answer.text
    # Nor can it be cancelled while the order is open in appeal, nor recorded as ended.
    assert resolve(daemon, row.id, action="cancel", reason="buyer gone", reason_kind="buyer_gone").status_code == 409
    assert resolve(daemon, row.id, action="resolved_outside", reason_kind="fixed_outside").status_code == 409
    assert world.ledger.entries("gate_approve") == [] and world.ledger.entries("bybit_release") == []
    assert daemon.deal_for_payout(payout["id"]).state == "DISPUTE"
    assert [n["verdict"] for n in operator_notes(daemon, row.id)] == ["conflict"] * 3
    # The same through the command line: the queue shows the dispute and why; the release is refused.
    listen = ["--listen", daemon.base.removeprefix("http://"), "--token", TOKEN, "--data-dir", str(tmp_path)]
    queue = itrader_cli("review", *listen)
    assert queue.returncode == 0 and f"{row.id} " in queue.stdout and "DISPUTE" in queue.stdout and "appeal" in queue.stdout
    refused = itrader_cli("resolve", str(row.id), "approve_release", "--reason", "support said ok", "--kind",
                          "platform_support", "--amount", "5500", *listen)
    assert refused.returncode == 1 and "409" in refused.stderr and "appeal" in refused.stderr, refused.stderr
    assert world.ledger.entries("bybit_release") == []


def test_cancel_and_resolved_outside_record_what_the_platforms_show(world, make_daemon):
    """A deal whose buyer never answered (MANUAL_REVIEW, order open): cancel is refused while the order is
    open; once the buyer's order is cancelled on Bybit, resolved_outside records CANCELLED without writing."""
    daemon = make_daemon()
    payout = world.create_payout(Decimal("4300"), "sbp", "sberbank", persona="wrong-amount")
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "MANUAL_REVIEW"
    refused = resolve(daemon, row.id, action="cancel", reason="buyer underpaid", reason_kind="suspected_fraud")
    assert refused.status_code == 409 and "cannot cancel" in refused.json()["error"], refused.text
    outside = resolve(daemon, row.id, action="resolved_outside", reason="done by hand", reason_kind="fixed_outside")
    assert outside.status_code == 409 and "no end yet" in outside.json()["error"], outside.text
    assert world.ledger.entries("gate_approve") == [] and world.ledger.entries("bybit_release") == []
    assert daemon.deal_for_payout(payout["id"]).state == "MANUAL_REVIEW"


NEVER = {"expect": "no seller ever writes this", "on_timeout": "continue"}  # a pause that is not human time


def test_cancel_after_the_buyer_cancelled_ends_the_deal_and_takes_the_ad_down(world, make_daemon):
    from itrader.sandbox.personas import _OPEN

    daemon = make_daemon()
    # Opens the order, never answers (MANUAL_REVIEW at the 20 s answer timeout), cancels it a little later.
    script = _OPEN + [dict(NEVER, timeout=24), "cancel"]
    payout = world.create_payout(Decimal("4400"), "sbp", "sberbank", script=script)
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=90)
    assert row.state == "MANUAL_REVIEW" and "answer_timeout" in row.reason, row.reason
    daemon.wait_for(lambda: world.bybit.order(row.order_id)["status"] == 40, 30, "the buyer to cancel")
    answer = resolve(daemon, row.id, action="cancel", reason="buyer walked away", reason_kind="buyer_gone")
    assert answer.status_code == 200 and answer.json()["state"] == "CANCELLED", answer.text
    assert daemon.deal_for_payout(payout["id"]).state == "CANCELLED"
    again = resolve(daemon, row.id, action="cancel", reason="buyer walked away", reason_kind="buyer_gone")
    assert again.status_code == 200 and again.json()["outcome"] == "done", again.text
    # A different action on an ended deal is a conflict, not a second end.
    late = resolve(daemon, row.id, action="resolved_outside", reason="x", reason_kind="other")
    assert late.status_code == 409, late.text
    assert world.ledger.entries("gate_approve") == [] and world.ledger.entries("bybit_release") == []
    assert world.audit() == []


def test_recheck_receipt_puts_the_deal_back_on_the_automatic_path(world, make_daemon):
    """The bank's mail is late (as with a broken mailbox): the deal goes to review at the receipt timeout.
    The operator asks for a re-check; the receipt then arrives, passes, and the deal completes by itself."""
    from itrader.sandbox.personas import _AGREE, _MARK, _OPEN, _PAY, _REQUISITES

    daemon = make_daemon()
    script = (_OPEN + _AGREE + _REQUISITES + _PAY + _MARK
              + [dict(NEVER, timeout=32), {"send_receipt": {"via": "email", "dkim": "valid"}}])
    payout = world.create_payout(Decimal("4500"), "sbp", "sberbank", script=script)
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=90)
    assert row.state == "MANUAL_REVIEW" and "receipt_timeout" in row.reason, row.reason
    answer = resolve(daemon, row.id, action="recheck_receipt", reason="mailbox fixed", reason_kind="mailbox_fixed")
    assert answer.status_code == 200 and answer.json()["state"] == "PAID", answer.text
    daemon.wait_state(payout["id"], {"COMPLETED"}, timeout=60)
    assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
    assert world.audit() == []


def test_resolved_outside_after_the_operator_finished_by_hand_records_completed(world, make_daemon):
    """The receipt never came by mail; the operator saw the money on the bank statement, approved the payout
    on Gate with the bank's PDF and released the order on Bybit by hand. iTrader reads both back: COMPLETED."""
    from itrader.bybit.client import BybitClient
    from itrader.gate.client import GateClient
    from itrader.sandbox.personas import _AGREE, _MARK, _OPEN, _PAY, _REQUISITES

    daemon = make_daemon()
    payout = world.create_payout(Decimal("4600"), "sbp", "sberbank", script=_OPEN + _AGREE + _REQUISITES + _PAY + _MARK)
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=90)
    assert row.state == "MANUAL_REVIEW" and "receipt_timeout" in row.reason, row.reason
    early = resolve(daemon, row.id, action="resolved_outside", reason="finished by hand", reason_kind="fixed_outside")
    assert early.status_code == 409, early.text  # nothing was finished yet: nothing recorded

    creds = world.credentials()
    gate = GateClient(world.urls["gate"], creds["gate"]["login"], creds["gate"]["password"])
    gate.login()
    transfer = world.bank.transfers()[-1]
    gate.approve(int(payout["id"]), "receipt.pdf", world.bank.receipt_pdf(transfer))
    shown = requests.get(f"{daemon.base}/api/v1/deals/{row.id}", headers=AUTH, timeout=10).json()
    key = next(b for b in creds["bybit"] if b["nickname"] == shown["bybit_account"])
    BybitClient(world.urls["bybit"], key["api_key"], key["api_secret"]).release(row.order_id)

    answer = resolve(daemon, row.id, action="resolved_outside", reason="finished by hand", reason_kind="fixed_outside")
    assert answer.status_code == 200 and answer.json()["state"] == "COMPLETED", answer.text
    assert daemon.deal_for_payout(payout["id"]).state == "COMPLETED"
    # iTrader wrote nothing: the one approve and the one release are the operator's.
    assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
    assert world.audit() == []

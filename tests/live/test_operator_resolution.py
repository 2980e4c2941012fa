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


def buyer_gone_deal(world, make_daemon, amount: str):
    """A buyer who opens the order, never answers (MANUAL_REVIEW at the 20 s answer timeout), and cancels
    it a little later: the deal in review with its order cancelled on Bybit."""
    from itrader.sandbox.personas import _OPEN

    daemon = make_daemon()
    script = _OPEN + [dict(NEVER, timeout=24), "cancel"]
    payout = world.create_payout(Decimal(amount), "sbp", "sberbank", script=script)
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=90)
    assert row.state == "MANUAL_REVIEW" and "answer_timeout" in row.reason, row.reason
    daemon.wait_for(lambda: world.bybit.order(row.order_id)["status"] == 40, 30, "the buyer to cancel")
    return daemon, payout, row


def test_cancel_after_the_buyer_cancelled_ends_the_deal_and_takes_the_ad_down(world, make_daemon):
    daemon, payout, row = buyer_gone_deal(world, make_daemon, "4400")
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


def test_cancel_with_return_gives_the_payout_back_to_gate_takes_the_ad_down_and_releases_nothing(
        world, make_daemon, tmp_path):
    """The buyer opened an order, never answered (MANUAL_REVIEW) and cancelled it. The operator cancels the
    deal and returns the payout, through `itrader resolve --return-payout`: Gate's /cancel gives the payout
    back (the sandbox's status 9, the reserved RUB back on the trader's balance), the ad is offline, no USDT
    moves, and the deal ends CANCELLED only after Gate was read back — journaled with the operator's words."""
    daemon, payout, row = buyer_gone_deal(world, make_daemon, "4700")
    assert world.gate.payout(int(payout["id"]))["status"] == 5  # still taken by us, in work
    login = world.credentials()["gate"]["login"]
    balance_before = world.gate.balance(login)

    listen = ["--listen", daemon.base.removeprefix("http://"), "--token", TOKEN, "--data-dir", str(tmp_path)]
    done = itrader_cli("resolve", str(row.id), "cancel", "--return-payout", "--reason", "buyer walked away",
                       "--kind", "buyer_gone", "--operator", "alice", *listen)
    assert done.returncode == 0, done.stderr
    assert "cancel go" in done.stdout and "returned to Gate (status 9)" in done.stdout, done.stdout
    assert "(now CANCELLED)" in done.stdout, done.stdout

    # Gate: given back once, the reserved amount back on the working balance. Bybit: the ad offline.
    assert world.gate.payout(int(payout["id"]))["status"] == 9
    assert [e["payout_id"] for e in world.ledger.entries("gate_cancel")] == [int(payout["id"])]
    assert world.gate.balance(login) == balance_before + Decimal("4700")
    ad_id = daemon.deal_for_payout(payout["id"]).ad_id
    assert ad_id and ad_id not in {ad["id"] for ad in world.bybit.ads(online_only=True)}
    assert world.ledger.entries("gate_approve") == [] and world.ledger.entries("bybit_release") == []

    # The journal: the operator's request with what was read back, the return's intent and outcome, the end
    # with the typed reason and Gate's status, then a read-back of both platforms after the end.
    assert daemon.deal_for_payout(payout["id"]).state == "CANCELLED"
    journal = daemon.journal(row.id)
    note = [e.data for e in journal if e.step == "operator"][-1]
    assert note["verdict"] == "go" and note["return_payout"] is True and note["reason"] == "buyer walked away"
    assert note["operator"] == "alice" and note["read_back"]["payout_status"] == 5
    steps = [(str(getattr(e.kind, "value", e.kind)), e.step) for e in journal]
    assert ("intent", "return_payout") in steps and ("outcome", "return_payout") in steps, steps

    def read_back_after_the_end() -> list[dict]:
        entries = daemon.journal(row.id)
        last = max(i for i, e in enumerate(entries) if e.step == "return_payout")
        return [e.data for e in entries[last:] if e.step == "reconcile"]

    daemon.wait_for(read_back_after_the_end, 20, "both platforms read back after the return")
    assert read_back_after_the_end()[-1]["payout_status"] == 9 and read_back_after_the_end()[-1]["order_status"] == 40
    ended = daemon.deal_for_payout(payout["id"]).reason
    assert "buyer walked away" in ended and "status 9" in ended, ended

    # Asked again: done, and nothing more is sent to Gate.
    again = resolve(daemon, row.id, action="cancel", return_payout=True, reason="buyer walked away",
                    reason_kind="buyer_gone")
    assert again.status_code == 200 and again.json()["outcome"] == "done", again.text
    assert len(world.ledger.entries("gate_cancel")) == 1
    assert world.audit() == []

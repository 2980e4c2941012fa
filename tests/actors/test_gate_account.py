"""GateAccountActor against the real Gate sandbox on loopback, a real SQLite store
and real pykka actors; a probe actor stands in for "deals" and for the Deal
actors that ask for takes and approvals."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterator

import bottle
import gevent
import pykka
import pytest
from prometheus_client import REGISTRY

from actors.base import Crash
from actors.directory import Directory
from actors.gate_account import GateAccountActor
from actors.messages import ApprovePayout, DealNews, PayoutOffer, PayoutRead, ReadPayout, ReturnPayout, TakePayout
from itrader.config import GateConfig
from itrader.deal import ApproveFailed, ApproveSucceeded, PayoutReturnRead, PayoutTaken, TakeFailed
from itrader.events import EventLog
from itrader.gate import GateClient
from itrader.sandbox.faults import Faults
from itrader.sandbox.gate import GateSandbox
from itrader.sandbox.ledger import Ledger
from itrader.store import Store, migrate, open_database
from tests.gate.conftest import GATE_PREFIX, LOGIN, PASSWORD, FakeClock, ScriptedFaults, serving

OTHER, OTHER_PASSWORD = "second@example.com", "another-Pa55word"
TARGET = Decimal("10000000")
APPROVE_RESULT = (ApproveSucceeded, ApproveFailed)
RECEIPT = b"%PDF-1.4\n% synthetic receipt\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = gevent.get_hub().loop.now() + timeout
    while gevent.get_hub().loop.now() < deadline:
        value = condition()
        if value:
            return value
        gevent.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class PathFaults(ScriptedFaults):
    """Faults for the next request whose path ends with a given suffix, injected by the
    sandbox's own fault plugin before the panel acts."""

    def __init__(self) -> None:
        super().__init__()
        self._by_path: list[tuple[str, str]] = []

    def fail_next(self, path_suffix: str, kind: str = "error_5xx") -> None:
        self._by_path.append((path_suffix, kind))

    def draw(self, platform: str, kinds: tuple[str, ...] = Faults.GENERIC) -> str | None:
        for i, (suffix, kind) in enumerate(self._by_path):
            if kind in kinds and bottle.request.path.endswith(suffix):
                del self._by_path[i]
                return kind
        return super().draw(platform, kinds)


class LoseAnswers:
    """A Bottle plugin installed innermost: the panel acts, then the answer is replaced by a 502,
    as when a proxy times out after the upstream did the work."""

    name, api = "lose-answers", 2

    def __init__(self) -> None:
        self.suffixes: list[str] = []

    def apply(self, callback, route):
        def wrapper(*args, **kwargs):
            result = callback(*args, **kwargs)
            path = bottle.request.path
            for i, suffix in enumerate(self.suffixes):
                if path.endswith(suffix) and bottle.response.status_code == 200:
                    del self.suffixes[i]
                    bottle.response.status = 502
                    bottle.response.content_type = "text/html"
                    return "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return result

        return wrapper


@dataclass
class World:
    sandbox: GateSandbox
    ledger: Ledger
    faults: PathFaults
    lose: LoseAnswers
    base_url: str

    def payout(self, amount: str = "5000", method: str = "sbp", bank: str = "tinkoff", **kwargs: Any) -> int:
        return self.sandbox.create_payout(Decimal(amount), method, bank, **kwargs)["id"]

    def requests(self, suffix: str, login: str | None = None) -> list:
        return [r for r in self.sandbox.request_log(login) if r.path.endswith(suffix)]


@pytest.fixture
def world() -> Iterator[World]:
    ledger, faults, lose = Ledger(), PathFaults(), LoseAnswers()
    sandbox = GateSandbox(ledger, faults, FakeClock())
    sandbox.add_account(LOGIN, PASSWORD, Decimal(0))
    sandbox.add_account(OTHER, OTHER_PASSWORD, Decimal(0))
    app = sandbox.make_app()
    app.install(lose)
    with serving({GATE_PREFIX: app}) as url:
        yield World(sandbox, ledger, faults, lose, url + GATE_PREFIX)


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    db = open_database(tmp_path / "itrader.sqlite3")
    migrate(db)
    yield Store(db)
    db.close()


class Probe(pykka.ThreadingActor):
    def __init__(self, inbox: list) -> None:
        super().__init__()
        self.inbox = inbox

    def on_receive(self, message: Any) -> None:
        self.inbox.append(message)


@dataclass
class Rig:
    world: World
    store: Store
    directory: Directory = field(default_factory=Directory)
    events: EventLog = field(default_factory=EventLog)
    offers: list = field(default_factory=list)
    replies: list = field(default_factory=list)
    refs: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deals = Probe.start(self.offers)
        self.directory.register("deals", self.deals)
        self.deal = Probe.start(self.replies)  # stands in for a Deal actor
        self.refs += [self.deals, self.deal]

    def client(self, login: str = LOGIN, password: str = PASSWORD) -> GateClient:
        return GateClient(self.world.base_url, login, password, timeout=5.0, backoff=0.01, max_backoff=0.05)

    def start(self, name: str = "desk1", login: str = LOGIN, password: str = PASSWORD, intake: Any = None,
              **settings: Any) -> pykka.ActorRef:
        options = dict(base_url=self.world.base_url, poll_interval=0.05, balance_check_interval=3600.0,
                       session_refresh=3600.0, target_balance=TARGET)
        options.update(settings)
        ref = GateAccountActor.start(name, self.client(login, password), self.store, self.directory, self.events,
                                     GateConfig(**options), intake=intake)
        self.refs.append(ref)
        # The first tick logs in and sets the working balance; takes need that balance.
        wait_for(lambda: any(e["account"] == login and Decimal(e["balance"]) == TARGET
                             for e in self.world.ledger.entries("gate_balance")), what="the balance at target")
        return ref

    def reply(self, kind: type, **match: Any) -> Any:
        def found():
            return next((m for m in self.replies if isinstance(m, kind)
                         and all(getattr(m, k) == v for k, v in match.items())), None)
        return wait_for(found, what=f"a {kind.__name__} reply")

    def news(self, kind: type | tuple[type, ...], deal_id: int) -> DealNews:
        """The first DealNews told to the deal `deal_id` whose event is a `kind`."""
        def found():
            return next((m for m in self.replies if isinstance(m, DealNews) and isinstance(m.event, kind)
                         and m.deal_id == deal_id), None)
        return wait_for(found, what=f"news of {kind} for deal {deal_id}")

    def outcomes(self, kind: type | tuple[type, ...]) -> list[Any]:
        return [m.event for m in self.replies if isinstance(m, DealNews) and isinstance(m.event, kind)]

    def take(self, ref: pykka.ActorRef, payout_id: int, deal_id: int = 1) -> DealNews:
        ref.tell(TakePayout(deal_id, payout_id, self.deal))
        taken = self.news(PayoutTaken, deal_id)
        assert taken.payout["id"] == payout_id
        return taken

    def receipt(self, tmp_path) -> str:
        path = tmp_path / "receipt.pdf"
        path.write_bytes(RECEIPT)
        return str(path)


@pytest.fixture
def rig(world, store) -> Iterator[Rig]:
    rig = Rig(world, store)
    yield rig
    for ref in reversed(rig.refs):  # before the sandbox server goes away: on_stop talks to it
        ref.stop(block=True, timeout=10)


def gate_calls(outcome: str) -> float:
    return REGISTRY.get_sample_value("itrader_external_calls_total", {"platform": "gate", "outcome": outcome}) or 0.0


# --- poll and offers -------------------------------------------------------------


def test_a_new_payout_is_offered_once_and_a_payout_with_a_deal_not_at_all(rig, world, store):
    known = world.payout("7000", "card", "sberbank")
    store.deals.create_deal(known, Decimal("7000"))
    fresh = world.payout("5000", "sbp", "tinkoff", wallet="79001234567")

    rig.start()
    wait_for(lambda: rig.offers, what="an offer")
    lists_then = len(world.requests("/payments/payouts"))
    wait_for(lambda: len(world.requests("/payments/payouts")) >= lists_then + 4, what="several more polls")

    assert rig.offers == [PayoutOffer(gate_account="desk1", payout_id=fresh, method="sbp", bank="tinkoff",
                                      wallet="79001234567", created_at=rig.offers[0].created_at)]
    assert rig.offers[0].created_at is not None
    assert world.sandbox.balance(LOGIN) == TARGET  # the working balance was set at start


def test_an_offer_dropped_while_deals_is_down_is_made_on_a_later_tick(rig, world):
    rig.directory.unregister("deals")
    pid = world.payout()
    rig.start()
    wait_for(lambda: len(world.requests("/payments/payouts")) >= 3, what="polls")
    rig.directory.register("deals", rig.deals)
    wait_for(lambda: rig.offers, what="the offer")
    wait_for(lambda: len(world.requests("/payments/payouts")) >= 6, what="more polls")
    assert [o.payout_id for o in rig.offers] == [pid]



def test_a_poll_reads_past_its_first_page_only_while_few_offers_wait_for_their_take(rig, world):
    # 90 payouts, 30 a page: two pages offered make 60 offers waiting for their take (the backlog's
    # limit), so the third page is not read, poll after poll, until a take settles one of them.
    for _ in range(90):
        world.payout()
    ref = rig.start()
    wait_for(lambda: len(rig.offers) >= 60, what="two pages offered")
    lists_then = len(world.requests("/payments/payouts"))
    wait_for(lambda: len(world.requests("/payments/payouts")) >= lists_then + 4, what="several more polls")
    assert len(rig.offers) == 60

    rig.take(ref, rig.offers[0].payout_id)
    wait_for(lambda: len(rig.offers) > 60, what="a deeper page read again")
    lists_then = len(world.requests("/payments/payouts"))
    wait_for(lambda: len(world.requests("/payments/payouts")) >= lists_then + 4, what="several more polls")
    assert len(rig.offers) == 61 and len({o.payout_id for o in rig.offers}) == 61


# --- take --------------------------------------------------------------------------


def test_take_reveals_the_amount_and_the_ledger_shows_one_take(rig, world):
    pid = world.payout("7000", "card", "tinkoff", wallet="2200000000001234")
    ref = rig.start()

    news = rig.take(ref, pid, deal_id=42)

    taken = news.event
    assert news.deal_id == 42
    assert taken.amount == Decimal("7000")
    assert taken.wallet == "2200000000001234"
    assert taken.payout_method == "card"
    assert taken.bank == "tinkoff" and taken.bank_label == "T-Банк (Тинькофф) (MIR)"
    assert news.payout["created_at"]
    assert news.payout["id"] == pid and news.payout["status"] == 5
    assert [e["payout_id"] for e in world.ledger.entries("gate_take")] == [pid]
    assert [e["account"] for e in world.ledger.entries("gate_take")] == [LOGIN]
    assert any(e["type"] == "gate_take" and e["ok"] and e["payout_id"] == pid for e in rig.events.since(0))


def test_a_take_told_twice_takes_once(rig, world):
    pid = world.payout("3000")
    ref = rig.start()
    rig.take(ref, pid)
    ref.tell(TakePayout(1, pid, rig.deal))
    wait_for(lambda: len(rig.outcomes(PayoutTaken)) == 2, what="the second reply")
    assert {m.event.amount for m in rig.replies} == {Decimal("3000")}
    assert len(world.ledger.entries("gate_take")) == 1


def test_a_take_whose_every_answer_was_lost_is_read_back_as_taken_not_failed(rig, world):
    """The client's own (reconciling) tries all lose their answer: OutcomeUnknown. The actor reads the
    payout back — ours — and reports the take, instead of a failure the deal would retry or give up on."""
    pid = world.payout("6000")
    ref = rig.start()
    world.faults.add_scripted("gate", "payouts/{id}/show", "error_502_after_executing", count=3)

    taken = rig.take(ref, pid, deal_id=8)

    assert taken.event.amount == Decimal("6000") and taken.payout["status"] == 5
    assert not rig.outcomes(TakeFailed)
    assert [r.status for r in world.requests("/show")] == [502, 502, 502]  # the client's tries, none after
    assert len(world.ledger.entries("gate_take")) == 1


def test_a_take_whose_answers_were_lost_before_the_panel_acted_is_read_back_as_not_taken(rig, world):
    pid = world.payout("6000")
    ref = rig.start()
    world.faults.add_scripted("gate", "payouts/{id}/show", "error_502", count=3)

    ref.tell(TakePayout(9, pid, rig.deal))
    failed = rig.news(TakeFailed, deal_id=9).event

    assert not failed.permanent, "not ours (yet): the deal may try again"
    assert world.ledger.entries("gate_take") == [] and world.sandbox.payout(pid)["status"] == 4


def test_take_of_a_payout_someone_else_took_fails_permanently(rig, world):
    rig.client(OTHER, OTHER_PASSWORD).set_balance(TARGET)
    pid = world.payout()
    rig.client(OTHER, OTHER_PASSWORD).show(pid)
    ref = rig.start()

    ref.tell(TakePayout(7, pid, rig.deal))
    failed = rig.news(TakeFailed, deal_id=7).event

    assert failed.permanent
    assert failed.error.startswith("IncorrectStatus: POST ") and "/show" in failed.error
    assert [e["account"] for e in world.ledger.entries("gate_take")] == [OTHER]


# --- approve -------------------------------------------------------------------------


def test_approve_with_a_pdf_attaches_it(rig, world, tmp_path):
    pid = world.payout("5000")
    ref = rig.start()
    rig.take(ref, pid, deal_id=3)

    ref.tell(ApprovePayout(3, pid, rig.receipt(tmp_path), "receipt.pdf", rig.deal))
    result = rig.news(APPROVE_RESULT, deal_id=3)

    assert result == DealNews(3, ApproveSucceeded())
    approvals = world.ledger.entries("gate_approve")
    assert [(e["payout_id"], e["attachments"]) for e in approvals] == [(pid, 1)]
    assert world.sandbox.attachment(pid) == [("receipt.pdf", RECEIPT)]
    assert any(e["type"] == "gate_approve" and e["ok"] for e in rig.events.since(0))


def test_approve_answered_502_before_the_panel_acted_is_reported_as_not_done(rig, world, tmp_path):
    pid = world.payout("5000")
    ref = rig.start()
    rig.take(ref, pid, deal_id=4)
    server_errors_before = gate_calls("server_error")

    world.faults.fail_next("/approve", "error_5xx")
    ref.tell(ApprovePayout(4, pid, rig.receipt(tmp_path), "receipt.pdf", rig.deal))
    first = rig.news(APPROVE_RESULT, deal_id=4).event

    assert isinstance(first, ApproveFailed) and not first.permanent and "status 5" in first.error
    assert world.ledger.entries("gate_approve") == []
    assert [r.status for r in world.requests("/approve")] == [502]  # read back, not approved again
    assert gate_calls("server_error") == server_errors_before + 1  # the wire: a 5xx (the deal: outcome unknown)

    rig.replies.clear()  # the deal decides to try again
    ref.tell(ApprovePayout(4, pid, rig.receipt(tmp_path), "receipt.pdf", rig.deal))
    assert isinstance(rig.news(APPROVE_RESULT, deal_id=4).event, ApproveSucceeded)
    assert len(world.ledger.entries("gate_approve")) == 1


def test_approve_whose_answer_was_lost_after_the_panel_acted_is_read_back_as_done(rig, world, tmp_path):
    pid = world.payout("5000")
    ref = rig.start()
    rig.take(ref, pid, deal_id=5)

    world.lose.suffixes.append("/approve")
    ref.tell(ApprovePayout(5, pid, rig.receipt(tmp_path), "receipt.pdf", rig.deal))
    result = rig.news(APPROVE_RESULT, deal_id=5).event

    assert isinstance(result, ApproveSucceeded)
    assert [r.status for r in world.requests("/approve")] == [502]  # one approve, never repeated
    assert len(world.ledger.entries("gate_approve")) == 1


def test_approve_told_twice_approves_once_and_both_answers_are_ok(rig, world, tmp_path):
    pid = world.payout("5000")
    ref = rig.start()
    rig.take(ref, pid, deal_id=6)
    for _ in range(2):
        ref.tell(ApprovePayout(6, pid, rig.receipt(tmp_path), "receipt.pdf", rig.deal))
    wait_for(lambda: len(rig.outcomes(APPROVE_RESULT)) == 2, what="two answers")
    assert all(isinstance(m, ApproveSucceeded) for m in rig.outcomes(APPROVE_RESULT))
    assert len(world.ledger.entries("gate_approve")) == 1


def test_approve_without_a_readable_receipt_fails_permanently_without_calling_gate(rig, world, tmp_path):
    pid = world.payout("5000")
    ref = rig.start()
    rig.take(ref, pid)
    ref.tell(ApprovePayout(1, pid, str(tmp_path / "missing.pdf"), "receipt.pdf", rig.deal))
    result = rig.news(APPROVE_RESULT, deal_id=1).event
    assert isinstance(result, ApproveFailed) and result.permanent
    assert world.requests("/approve") == []


# --- an operator's return of a taken payout --------------------------------------------------


def test_a_return_gives_the_payout_back_once_and_answers_with_the_status_read_back(rig, world):
    pid = world.payout("5000")
    ref = rig.start()
    rig.take(ref, pid, deal_id=7)
    ref.tell(ReturnPayout(7, pid, rig.deal))
    returned = rig.news(PayoutReturnRead, deal_id=7).event
    assert returned == PayoutReturnRead(9, "")  # the sandbox's status for a cancelled payout
    assert [e["payout_id"] for e in world.ledger.entries("gate_cancel")] == [pid]
    assert world.sandbox.balance(LOGIN) == TARGET  # the reserved 5000 RUB is back on the working balance

    ref.tell(ReturnPayout(8, pid, rig.deal))  # told again: the panel refuses, the read-back still says 9
    again = rig.news(PayoutReturnRead, deal_id=8).event
    assert again.status == 9 and "IncorrectStatus" in again.error
    assert len(world.ledger.entries("gate_cancel")) == 1


def test_a_return_whose_answer_was_lost_is_settled_by_the_read_back_and_never_repeated(rig, world):
    pid = world.payout("5000")
    ref = rig.start()
    rig.take(ref, pid, deal_id=9)
    world.lose.suffixes.append("/cancel")
    ref.tell(ReturnPayout(9, pid, rig.deal))
    returned = rig.news(PayoutReturnRead, deal_id=9).event
    assert returned.status == 9 and returned.error  # the call's answer was a 502; Gate shows it given back
    assert [r.status for r in world.requests("/cancel")] == [502]


# --- reads, session, shutdown ----------------------------------------------------------------


def test_read_payout_reports_the_status_or_none(rig, world):
    pid = world.payout("5000")
    ref = rig.start()
    rig.take(ref, pid)

    ref.tell(ReadPayout(1, pid, rig.deal))
    ref.tell(ReadPayout(2, 999, rig.deal))

    read = rig.reply(PayoutRead, payout_id=pid)
    assert read.status == 5 and read.raw["id"] == pid
    missing = rig.reply(PayoutRead, payout_id=999)
    assert missing.status is None and missing.raw["error"] == "not_found"


def test_an_expired_session_mid_run_does_not_stop_the_account(rig, world):
    first = world.payout("5000")
    ref = rig.start()
    wait_for(lambda: rig.offers, what="the first offer")

    assert world.sandbox.expire_sessions(LOGIN) == 1
    second = world.payout("6000")
    wait_for(lambda: len(rig.offers) == 2, what="the second offer")
    assert rig.take(ref, second).event.amount == Decimal("6000")

    assert [o.payout_id for o in rig.offers] == [first, second]
    assert any(r.status == 401 for r in world.sandbox.request_log())
    assert len(world.requests("/auth/basic/login")) >= 2


def test_paused_the_account_takes_nothing_and_zeroes_its_balance_until_resumed(rig, world):
    from actors.intake import Intake

    intake = Intake()  # no store: the pause lives in memory here
    ref = rig.start(intake=intake)
    intake.pause("bank maintenance", by="test")
    wait_for(lambda: world.sandbox.balance(LOGIN) == 0, what="the balance at 0 while paused")
    payout = world.payout("5000")
    ref.tell(TakePayout(1, payout, rig.deal))
    held = rig.news(TakeFailed, 1).event
    assert held.held and not held.permanent and "bank maintenance" in held.error
    gevent.sleep(0.3)  # several polls
    assert rig.offers == [] and world.requests("/show") == []

    intake.resume(by="test")
    wait_for(lambda: world.sandbox.balance(LOGIN) == TARGET, what="the balance back at target")
    wait_for(lambda: [o.payout_id for o in rig.offers] == [payout], what="the payout offered after the resume")
    assert rig.take(ref, payout, deal_id=2).event.amount == Decimal("5000")


def test_stopping_one_account_zeroes_its_own_balance_only(rig, world):
    desk1 = rig.start("desk1", LOGIN, PASSWORD)
    rig.start("desk2", OTHER, OTHER_PASSWORD)
    wait_for(lambda: world.sandbox.balance(LOGIN) == TARGET and world.sandbox.balance(OTHER) == TARGET,
             what="both balances at target")
    assert rig.directory.names("gate:") == ["gate:desk1", "gate:desk2"]

    desk1.stop(block=True, timeout=10)

    assert world.sandbox.balance(LOGIN) == 0
    assert world.sandbox.balance(OTHER) == TARGET
    zeroed = [e for e in world.ledger.entries("gate_balance") if Decimal(e["balance"]) == 0]
    assert [e["account"] for e in zeroed] == [LOGIN]  # set with desk1's own session
    assert rig.directory.names("gate:") == ["gate:desk2"]
    assert any(e["type"] == "gate_balance" and e["account"] == "desk1" and e["amount"] == "0"
               for e in rig.events.since(0))


def test_a_crashed_account_unregisters_and_leaves_the_balance_alone(rig, world):
    ref = rig.start()
    wait_for(lambda: world.sandbox.balance(LOGIN) == TARGET, what="the balance at target")
    ref.tell(Crash("drill"))
    wait_for(lambda: not ref.is_alive(), what="the actor to die")

    assert rig.directory.names("gate:") == []
    assert world.sandbox.balance(LOGIN) == TARGET  # only a graceful stop zeroes it
    polls = len(world.requests("/payments/payouts"))
    gevent.sleep(0.2)  # no timer of the dead actor keeps polling
    assert len(world.requests("/payments/payouts")) == polls

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import gevent
import peewee
import pytest

from itrader.store import TERMINAL_STATES, DealNotFound, DealStore, EventKind, StaleTransition


def test_create_deal_is_idempotent_per_payout(store):
    deal, created = store.deals.create_deal(2600002, Decimal("1500.00"), method="sbp", bank="sberbank",
                                            wallet="79001234567")
    again, created_again = store.deals.create_deal("2600002", Decimal("9999"))
    assert (created, created_again) == (True, False)
    assert again == deal and again.amount_rub == Decimal("1500.00")
    assert deal.state == "NEW" and deal.payout_id == "2600002"
    assert [(e.kind, e.step, e.to_state) for e in store.deals.journal(deal.id)] == [
        (EventKind.TRANSITION, "created", "NEW")]


def test_create_deal_from_two_handles_makes_one_deal(open_db):
    from itrader.store import Store, migrate

    first, second = open_db(), open_db()
    migrate(first)
    jobs = [gevent.spawn(Store(handle).deals.create_deal, 777, "100") for handle in (first, second)]
    results = [job.get() for job in gevent.joinall(jobs, raise_error=True)]
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].id == results[1][0].id


def test_transitions_update_state_and_journal_in_order(store):
    deal, _ = store.deals.create_deal(1, "2500")
    bybit = store.accounts.add("bybit", "b1", "secret")
    sent_at = datetime(2026, 11, 24, 12, 0, 5, 123456, tzinfo=timezone(timedelta(hours=3)))

    store.deals.transition(deal.id, "NEW", "ACCEPTED", "show_ok", {"gate_status": 5})
    store.deals.record_intent(deal.id, "create_ad", {"price": Decimal("95.10")})
    store.deals.record_outcome(deal.id, "create_ad", True, {"ad_id": "AD-1"})
    store.deals.transition(deal.id, "ACCEPTED", "AD_ONLINE", "ad_created",
                           changes={"ad_id": "AD-1", "bybit_account_id": bybit.id, "price": Decimal("95.10"),
                                    "quantity": Decimal("31.2881")})
    store.deals.record_note(deal.id, "chat", {"text": "Здравствуйте"})
    final = store.deals.transition(deal.id, "AD_ONLINE", "CHATTING", "order_linked",
                                   changes={"order_id": "ORD-9", "requisites_sent_at": sent_at})

    assert final.state == "CHATTING"
    assert (final.ad_id, final.order_id, final.bybit_account_id) == ("AD-1", "ORD-9", bybit.id)
    assert final.requisites_sent_at == sent_at and final.requisites_sent_at.tzinfo == timezone.utc
    journal = store.deals.journal(deal.id)
    assert [e.seq for e in journal] == [1, 2, 3, 4, 5, 6, 7]
    assert [(e.kind.value, e.step) for e in journal] == [
        ("transition", "created"), ("transition", "show_ok"), ("intent", "create_ad"),
        ("outcome", "create_ad"), ("transition", "ad_created"), ("note", "chat"), ("transition", "order_linked")]
    assert [(e.from_state, e.to_state) for e in journal if e.kind == EventKind.TRANSITION] == [
        (None, "NEW"), ("NEW", "ACCEPTED"), ("ACCEPTED", "AD_ONLINE"), ("AD_ONLINE", "CHATTING")]
    assert journal[1].data == {"gate_status": 5}
    assert journal[2].data == {"price": "95.10"}  # Decimals in journal data come back as exact strings
    assert journal[3].ok is True and journal[2].ok is None
    assert journal[5].data == {"text": "Здравствуйте"}
    assert journal[4].data["changes"]["ad_id"] == "AD-1"
    assert all(a.ts <= b.ts for a, b in zip(journal, journal[1:]))


def test_transition_from_a_stale_state_is_refused_and_writes_nothing(store):
    deal, _ = store.deals.create_deal(2, "100")
    store.deals.transition(deal.id, "NEW", "ACCEPTED", "show_ok")
    with pytest.raises(StaleTransition) as caught:
        store.deals.transition(deal.id, "NEW", "CANCELLED", "late_cancel", changes={"reason": "x"})
    assert (caught.value.expected, caught.value.actual) == ("NEW", "ACCEPTED")
    assert store.deals.get(deal.id).state == "ACCEPTED" and store.deals.get(deal.id).reason is None
    assert len(store.deals.journal(deal.id)) == 2
    with pytest.raises(DealNotFound):
        store.deals.transition(999_999, "NEW", "ACCEPTED", "show_ok")
    with pytest.raises(DealNotFound):
        store.deals.record_intent(999_999, "take")


def test_racing_transitions_from_two_handles_have_one_winner(open_db):
    from itrader.store import Store, migrate

    first, second = open_db(), open_db()
    migrate(first)
    deal, _ = Store(first).deals.create_deal(3, "100")

    def attempt(handle, target):
        try:
            return Store(handle).deals.transition(deal.id, "PAID", target, f"to_{target.lower()}")
        except StaleTransition as refused:
            return refused

    Store(first).deals.transition(deal.id, "NEW", "PAID", "paid")
    jobs = [gevent.spawn(attempt, first, "RECEIPT_OK"), gevent.spawn(attempt, second, "CANCELLED")]
    outcomes = [job.get() for job in gevent.joinall(jobs, raise_error=True)]
    winners = [o for o in outcomes if not isinstance(o, StaleTransition)]
    assert len(winners) == 1
    final = Store(first).deals.get(deal.id)
    assert final.state == winners[0].state
    assert [e.to_state for e in Store(first).deals.journal(deal.id)][-1] == final.state


def test_journal_is_append_only_in_the_database(store, db):
    deal, _ = store.deals.create_deal(4, "100")
    store.deals.record_intent(deal.id, "release")
    for statement in ("UPDATE deal_events SET step = 'forged'", "DELETE FROM deal_events"):
        with pytest.raises(peewee.DatabaseError, match="append-only"):
            with db.transaction() as conn:
                conn.execute_sql(statement)
    assert [e.step for e in store.deals.journal(deal.id)] == ["created", "release"]


def test_open_intents_are_those_without_an_outcome(store):
    deal, _ = store.deals.create_deal(5, "100")
    store.deals.record_intent(deal.id, "approve")
    store.deals.record_outcome(deal.id, "approve", False, {"error": "timeout"})
    store.deals.record_intent(deal.id, "approve")
    store.deals.record_intent(deal.id, "release")
    store.deals.record_outcome(deal.id, "release", True)
    assert [(e.step, e.seq) for e in store.deals.open_intents(deal.id)] == [("approve", 4)]


@pytest.mark.parametrize("amount", ["0.01", "1500.50", "1500.5", "100", "123456789012.12345678",
                                    "0.00000001", "0.10", "-3.50"])
def test_money_round_trips_exactly(store, amount):
    deal, _ = store.deals.create_deal(f"p-{amount}", Decimal(amount))
    store.deals.update_fields(deal.id, {"price": Decimal(amount), "quantity": amount})
    again = store.deals.get(deal.id)
    for value in (again.amount_rub, again.price, again.quantity):
        assert isinstance(value, Decimal)
        assert value.as_tuple() == Decimal(amount).as_tuple()  # same digits and same scale


def test_money_is_stored_as_plain_fixed_point_text(store, db):
    deal, _ = store.deals.create_deal("fixed", Decimal("1E-8"))
    store.deals.update_fields(deal.id, {"price": Decimal("1E+3")})
    with db.connection() as conn:
        stored = conn.execute_sql("SELECT amount_rub, price FROM deals WHERE id = %d" % deal.id).fetchone()
    assert tuple(stored) == ("0.00000001", "1000")
    assert store.deals.get(deal.id).price == Decimal("1000")


def test_floats_and_non_finite_money_are_refused(store):
    with pytest.raises(TypeError, match="not float"):
        store.deals.create_deal(6, 1500.5)
    with pytest.raises(ValueError, match="finite"):
        store.deals.create_deal(7, Decimal("NaN"))
    assert store.deals.by_payout(6) is None and store.deals.by_payout(7) is None


def test_only_known_fields_can_change(store):
    deal, _ = store.deals.create_deal(8, "100")
    with pytest.raises(ValueError, match="not changeable"):
        store.deals.update_fields(deal.id, {"state": "COMPLETED"})
    with pytest.raises(ValueError, match="payment method"):
        store.deals.transition(deal.id, "NEW", "ACCEPTED", "ok", changes={"method": "cash"})
    assert store.deals.get(deal.id).state == "NEW"


def test_non_terminal_deals_are_the_ones_to_resume(store):
    states = ["NEW", "COMPLETED", "CHATTING", "CANCELLED", "MANUAL_REVIEW", "REJECTED_BUYER", "PAID"]
    for number, state in enumerate(states):
        deal, _ = store.deals.create_deal(f"r{number}", "100")
        if state != "NEW":
            store.deals.transition(deal.id, "NEW", state, "test")
    assert TERMINAL_STATES == {"COMPLETED", "CANCELLED", "REJECTED_BUYER"}
    assert [d.state for d in store.deals.non_terminal_deals()] == ["NEW", "CHATTING", "MANUAL_REVIEW", "PAID"]
    assert [d.state for d in store.deals.non_terminal_deals(TERMINAL_STATES | {"MANUAL_REVIEW"})] == [
        "NEW", "CHATTING", "PAID"]
    assert [d.payout_id for d in store.deals.list_deals(states=["PAID", "NEW"])] == ["r6", "r0"]
    assert len(store.deals.list_deals(limit=3)) == 3


def test_manual_flag_and_reason(store):
    deal, _ = store.deals.create_deal(9, "100", manual=True)
    assert deal.manual is True
    after = store.deals.transition(deal.id, "NEW", "MANUAL_REVIEW", "receipt_timeout",
                                   changes={"reason": "no receipt in 10 minutes", "manual": False})
    assert (after.reason, after.manual) == ("no receipt in 10 minutes", False)


def test_deals_survive_reopening_the_database(open_db):
    from itrader.store import Store, migrate

    first = open_db()
    migrate(first)
    deal, _ = Store(first).deals.create_deal(10, "42.42")
    Store(first).deals.transition(deal.id, "NEW", "ACCEPTED", "show_ok")
    first.close()
    reopened = DealStore(open_db())
    assert reopened.get(deal.id).state == "ACCEPTED"
    assert [e.step for e in reopened.journal(deal.id)] == ["created", "show_ok"]


def test_live_to_recipient_finds_deals_in_the_states_whose_wallet_ends_in_the_digits(store):
    def deal(payout_id, state, wallet, amount="5000"):
        made, _ = store.deals.create_deal(payout_id, Decimal(amount), state=state, wallet=wallet)
        return made.id

    plain = deal(1, "PAID", "79001234567")
    formatted = deal(2, "AD_ONLINE", "+7 (900) 123-45-67")
    card = deal(3, "CHATTING", "2200 7001 0000 4567", amount="7000")
    deal(4, "COMPLETED", "79001234567")  # ended
    deal(5, "WAITING_ACCOUNT", "79001234567")  # not online
    deal(6, "PAID", "79001234568")  # another recipient
    deal(7, "PAID", None)

    live = store.deals.live_to_recipient("4567", ["AD_ONLINE", "CHATTING", "PAID"])
    assert [d.id for d in live] == [plain, formatted, card]
    assert live[0].amount_rub == Decimal("5000") and live[2].wallet == "2200 7001 0000 4567"
    assert store.deals.live_to_recipient("4567", ["APPROVED"]) == []
    with pytest.raises(ValueError):
        store.deals.live_to_recipient("45%7", ["PAID"])


def test_completed_since_counts_the_move_to_completed_not_a_later_note(store):
    clock = [datetime(2026, 12, 2, 23, 0, tzinfo=timezone.utc)]
    deals = DealStore(store.deals._db, clock=lambda: clock[0])
    yesterday, _ = deals.create_deal(1, "1000", state="APPROVED", order_id="ORD-1")
    today, _ = deals.create_deal(2, "2000", state="APPROVED", order_id="ORD-2")
    deals.record_note(today.id, "payout", {"raw": {"total": {"trader": {"000001": "26"}}}})
    deals.record_note(today.id, "order", {"order_id": "ORD-0", "quantity": "1"})
    deals.record_note(today.id, "order", {"order_id": "ORD-2", "quantity": "25.6410"})
    deals.transition(yesterday.id, "APPROVED", "COMPLETED", "released")
    clock[0] = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
    deals.record_note(yesterday.id, "chat", {"text": "спасибо"})  # changed today, completed yesterday
    deals.transition(today.id, "APPROVED", "COMPLETED", "released")
    live, _ = deals.create_deal(3, "3000")

    ended = deals.completed_since(datetime(2026, 12, 3, tzinfo=timezone.utc), notes=("payout", "order"))
    assert [(deal.id, at) for deal, at, _ in ended] == [(today.id, clock[0])]
    notes = ended[0][2]
    assert notes == {"payout": {"raw": {"total": {"trader": {"000001": "26"}}}},
                     "order": {"order_id": "ORD-2", "quantity": "25.6410"}}  # the latest of each step
    assert deals.completed_since(datetime(2026, 12, 4, tzinfo=timezone.utc)) == []

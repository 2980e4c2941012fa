"""Where a deal may run under account leases (itrader.deal_placement)."""
from types import SimpleNamespace

from itrader.deal_placement import deal_accounts, may_run_here, touches


def entry(data):
    return SimpleNamespace(data=data)


def test_a_deals_accounts_come_from_its_journal():
    journal = [entry({"gate_account": "g1"}), entry({"facts": {"account": None}}), entry("note"),
               entry({"facts": {"account": "b2"}}), entry({"other": 1})]
    assert deal_accounts(journal) == ("g1", "b2")
    assert deal_accounts([entry({"gate_account": "g1"})]) == ("g1", None)
    assert deal_accounts([]) == (None, None)


def test_a_deal_runs_where_its_accounts_are_leased():
    held = {("gate", "g1"), ("bybit", "b1")}
    assert may_run_here("g1", None, held) and may_run_here("g1", "b1", held)
    assert not may_run_here("g1", "b2", held) and not may_run_here(None, None, held)
    assert touches("g1", "b1", "bybit", "b1") and not touches("g1", None, "bybit", "b1")

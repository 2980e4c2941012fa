"""No waiting inside the Bybit account actor (DESIGN §2): a rate-limited ad is put off for the wait Bybit
asked for while the actor answers other messages. Against the real Bybit sandbox; judged by the order in
which the replies arrive, never by timings."""
from __future__ import annotations

from actors.messages import CreateAd, FetchMarket, MarketPage
from itrader.deal import AdCreated, AdFailed
from tests.actors.test_bybit_account import AMOUNT, PRICE, QUANTITY, Rig, rig, unwrap, wait_for  # noqa: F401
from tests.bybit.conftest import SELLER_UID

CREATE_PATH = "/v5/p2p/item/create"


def _creates(rig: Rig) -> list[int]:
    return [e["status"] for e in rig.world.sandbox.http_log() if e["path"] == CREATE_PATH]


def test_a_rate_limited_ad_is_put_off_and_the_account_answers_meanwhile(rig: Rig) -> None:
    actor = rig.start()
    deal = rig.deal(1)
    rig.world.faults.add_scripted("bybit", "item/create", "rate_limited", retry_after_seconds=1.5)

    actor.tell(CreateAd(1, AMOUNT, PRICE, QUANTITY, "sbp", deal.ref))
    wait_for(lambda: _creates(rig) == [429], what="the ad rate-limited")
    actor.tell(FetchMarket(1, deal.ref))  # told after the 429: answered while the ad waits

    deal.wait(AdCreated)
    told = [type(item) for _, item in map(unwrap, deal.inbox)]
    assert [kind for kind in told if kind in (MarketPage, AdCreated, AdFailed)] == [MarketPage, AdCreated]
    assert _creates(rig) == [429, 200]  # the same ad, once, after the wait
    assert len(rig.sandbox.ads(SELLER_UID, online_only=True)) == 1

"""A key refused for where we call from (issue 12, item 9) reads as AccessDenied with what to fix, never as
a ban to wait out; a 403 for too many requests stays a ban. Pure envelope reading, and the real client
against the sandbox's access switch."""
from __future__ import annotations

import json

import pytest

from itrader.bybit import AccessDenied, AuthError, Blocked
from itrader.bybit.envelope import read_response
from itrader.sandbox.bybit_live import REGION_403_HTML
from tests.bybit.conftest import SELLER_UID

PATH = "/v5/p2p/order/pending/simplifyList"


def test_unmatched_ip_is_access_denied_with_the_ip_binding_as_the_fix():
    body = json.dumps({"retCode": 10010, "retMsg": "Unmatched IP", "result": {}}).encode()
    with pytest.raises(AccessDenied) as refused:
        read_response(200, {}, body, PATH, 0)
    assert isinstance(refused.value, AuthError) and "IP" in refused.value.fix and refused.value.code == 10010


def test_a_403_page_refusing_the_region_is_access_denied_and_a_rate_ban_stays_a_ban():
    with pytest.raises(AccessDenied) as refused:
        read_response(403, {}, REGION_403_HTML.encode(), PATH, 0)
    assert "region" in refused.value.fix
    with pytest.raises(Blocked) as banned:
        read_response(403, {"Retry-After": "60"}, b"403 Forbidden: access too frequent", PATH, 0)
    assert banned.value.retry_after == 60


@pytest.mark.parametrize("how", ["ip", "region"])
def test_the_client_sees_the_switch_and_sets_no_ban(world, client, how):
    world.sandbox.deny_access(SELLER_UID, how)
    with pytest.raises(AccessDenied):
        client.pending_orders()
    assert client.blocked_for == 0  # not a ban: the account decides when to ask again
    world.sandbox.deny_access(SELLER_UID, None)
    assert client.pending_orders().items == []
    assert world.sandbox.refused_calls(SELLER_UID) == 1

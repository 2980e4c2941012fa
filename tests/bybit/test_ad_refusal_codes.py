"""Bybit's answers that mean "this account cannot post the ad now" are typed apart from a bad ad (envelope)."""
import json

import pytest

from itrader.bybit import AdLimitReached, AdParameterException, AdPriceTooClose, InvalidRequest
from itrader.bybit.errors import AccountCannotPost
from itrader.bybit.envelope import read_response

CREATE = "/v5/p2p/item/create"


def answer(code: int, message: str = "") -> bytes:
    return json.dumps({"ret_code": code, "ret_msg": message, "result": {}, "ext_code": "", "ext_info": {}}).encode()


@pytest.mark.parametrize("code, path, error", [
    (912300904, CREATE, AdLimitReached),
    (912300905, CREATE, AdPriceTooClose),
    (912000004, CREATE, AdParameterException),  # on ad creation: the account's, not the request's
    (912000004, "/v5/p2p/item/update", InvalidRequest),
])
def test_refusals_of_the_account_are_typed(code, path, error):
    with pytest.raises(error) as failure:
        read_response(200, {}, answer(code, "no"), path, now=0.0)
    assert failure.value.code == code
    assert isinstance(failure.value, AccountCannotPost) == (path == CREATE)

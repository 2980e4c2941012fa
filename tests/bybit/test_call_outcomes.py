"""The `outcome` label of itrader_external_calls_total for what the Bybit client really raises, with faults
scripted through the sandbox World's control API: the same labels as Gate's (tests/gate/test_call_outcomes.py)."""
from __future__ import annotations

import pytest

from itrader.bybit import BybitError
from itrader.call_outcomes import call_outcome
from tests.bybit.test_outcome_unknown import HELD, client_for, script, sell_ad


@pytest.mark.parametrize("fault, outcome", [
    ("timeout_after_executing", "timeout"),  # the write may have happened: OutcomeUnknown, a timeout on the wire
    ("error_502_after_executing", "server_error"),
    ("rate_limited", "rate_limited"),
])
def test_a_faulty_answer_to_a_write_is_labelled_by_what_came_back(sandbox, fault, outcome):
    client = client_for(sandbox.urls["bybit"])
    request = sell_ad(client)
    script(sandbox, "item/create", fault, seconds=HELD)
    with pytest.raises(BybitError) as caught:
        client.create_ad(request)
    assert call_outcome(caught.value) == outcome

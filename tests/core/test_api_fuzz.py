"""schemathesis against a live daemon: every operation of /api/v1/openapi.json, fuzzed; no 500 anywhere,
and every answer as the description says (status, content type, body schema).

What the fuzzer may act on, and why that is safe here: the daemon runs the sandbox profile in
manual mode with no payout stream, and one payout is created so the deal routes answer with a
real deal. `POST /deals/{id}/confirm` can then at most say yes to that sandbox deal's next step,
as an operator could; `POST /deals/{id}/resolve` on that live deal is a 409 (it is not in review) or
a 400 naming a field; `POST /accounts/{name}/disable` answers 404 to a name that is not an
account (and would only take a sandbox account out). Nothing here asserts on deals or money.
The drill route is off (no `daemon.drills`), so it is neither served nor described.
`GET /events` is asked with `once=1`: a stream would otherwise last an hour. `GET /ws` is asked
without an upgrade (a 101 would hand requests' pooled connection to a WebSocket), so its
schema-valid requests get the documented 400, not a 2xx: that one check is left out there.

The operations come from the same `openapi_document()` the daemon serves (a test below checks the
live copy is identical and loads): schemathesis' lazy, fixture-loaded schema does not run under
pytest 9, and a schema known at collection gives one test per operation.
"""
from __future__ import annotations

import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from itrader.web_openapi import openapi_document
from tests.core.daemon_process import DaemonProcess

pytestmark = pytest.mark.slow

TOKEN = "fuzz-token-0b7d41c2e9"
FUZZ_CONFIG = f"""
[daemon]
mode = "manual"
api_token = "{TOKEN}"

[sandbox]
enabled = true
"""
EXAMPLES_PER_OPERATION = 100
STREAM_ENDING = {"", "0", "false", "no"}  # `once` values that would keep /events open

# The bearer token through schemathesis' own auth, so it knows which requests it sent without one.
schema = schemathesis.openapi.from_dict(
    openapi_document(), config=schemathesis.Config.from_str(f'[auth.openapi.bearer]\nbearer = "{TOKEN}"\n'))


@schemathesis.hook
def before_call(context, case, kwargs):
    """Through the hook, so schemathesis re-checks the edited case against the schema."""
    if case.path == "/api/v1/events" and str((case.query or {}).get("once", "")) in STREAM_ENDING:
        case.query = {**(case.query or {}), "once": "1"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    config = data / "fuzz.toml"
    config.write_text(FUZZ_CONFIG)
    process = DaemonProcess(data / "var", args=("--config", str(config)))
    process.token = TOKEN
    process.wait_ready()
    sandbox = process.get("/api/v1/status").json()["sandbox"]["sandbox"]
    requests.post(f"{sandbox}/payouts", json={"amount": "5000"}, timeout=10).raise_for_status()
    deadline = time.monotonic() + 30
    while not process.get("/api/v1/deals").json()["deals"] and time.monotonic() < deadline:
        time.sleep(0.2)  # a real deal for the deal routes to show
    yield process
    process.close()


def test_the_live_daemon_serves_this_description(daemon):
    served = schemathesis.openapi.from_url(f"{daemon.base}/api/v1/openapi.json")
    assert served.raw_schema == openapi_document()
    assert "/api/v1/actors/{actor_id}/kill" not in served.raw_schema["paths"]  # no drills here


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_described_and_never_500(case, daemon):
    excluded = [positive_data_acceptance] if case.path == "/api/v1/ws" else []
    case.call_and_validate(base_url=daemon.base, excluded_checks=excluded, timeout=15)

"""The sandbox credentials shipped in test_data/ work against the sandbox, like real ones would."""
import json
from pathlib import Path

from itrader.bybit import BybitClient
from itrader.gate import GateClient, load_cookie_file

TEST_DATA = Path(__file__).resolve().parents[2] / "test_data"


def test_gate_cookie_file_opens_a_session_without_a_password(sandbox):
    client = GateClient(sandbox.urls["gate"], "trader@sandbox.local", "wrong-password-on-purpose")
    client.import_cookies(load_cookie_file(TEST_DATA / "gate_cookie.json"))
    me = client.me()  # no login happened: the wrong password would have failed it
    assert me.rub_balance > 0


def test_bybit_credentials_file_signs_accepted_requests(sandbox):
    creds = json.loads((TEST_DATA / "bybit_creditials.json").read_text())
    client = BybitClient(sandbox.urls["bybit"], creds["key"], creds["secret"])
    assert client.account_info()["userId"]

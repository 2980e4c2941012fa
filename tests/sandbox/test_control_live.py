"""The live-Bybit switches of the control API (control_live) over real HTTP: clear errors for bad input."""
from tests.sandbox.test_control import api


def test_the_live_switches_explain_bad_input(sandbox):
    assert api(sandbox, "GET", "/bybit/shapes").json() == {"order_info_nesting": "flat", "release_in_appeal": False}
    bad = api(sandbox, "PUT", "/bybit/shapes", json={"order_info_nesting": "deep"})
    assert bad.status_code == 400 and "flat" in bad.json()["error"]
    assert api(sandbox, "PUT", "/bybit/shapes", json={"colour": 1}).status_code == 400
    assert api(sandbox, "PUT", "/bybit/shapes", json={"release_in_appeal": "yes"}).status_code == 400
    missing = api(sandbox, "PUT", "/bybit/orders/1/appeal", json={"status": 30})
    assert missing.status_code == 400 and "not found" in missing.json()["error"]
    assert "30, 100 or 110" in api(sandbox, "PUT", "/bybit/orders/1/appeal", json={}).json()["error"]
    assert api(sandbox, "PUT", "/bybit/accounts/nobody/access", json={"denied": "ip"}).status_code == 404
    uid = api(sandbox, "GET", "/credentials").json()["bybit"][0]["uid"]
    assert api(sandbox, "PUT", f"/bybit/accounts/{uid}/access", json={"denied": "moon"}).status_code == 400
    assert api(sandbox, "PUT", f"/bybit/accounts/{uid}/access", json={"denied": "ip"}).json() == {
        "uid": uid, "denied": "ip"}
    nested = api(sandbox, "PUT", "/bybit/shapes", json={"order_info_nesting": "nested", "release_in_appeal": True})
    assert nested.json() == {"order_info_nesting": "nested", "release_in_appeal": True}

"""The control API over real HTTP: payouts, buyers, faults, accounts, ledger, audit, reset."""
import requests


def api(sandbox, method, path, **kwargs):
    return requests.request(method, sandbox.urls["sandbox"] + path, timeout=10, **kwargs)


def test_create_a_payout_with_a_persona(sandbox):
    response = api(sandbox, "POST", "/payouts", json={"amount": "5000", "method": "sbp", "bank": "sberbank",
                                                      "persona": "silent"})
    assert response.status_code == 200
    payout = response.json()
    assert payout["amount"] == "5000" and payout["method"] == "sbp" and payout["status"] == 4
    assert payout["wallet"].startswith("79") and len(payout["wallet"]) == 11
    assert payout["buyer"]["persona"] == "silent"
    listed = api(sandbox, "GET", "/payouts").json()["payouts"]
    assert [p["id"] for p in listed] == [payout["id"]]
    assert api(sandbox, "GET", f"/payouts/{payout['id']}").json()["buyer"]["state"] in ("running", "pending")


def test_attach_a_buyer_script_to_an_existing_payout(sandbox):
    payout = api(sandbox, "POST", "/payouts", json={"amount": 7000, "method": "card", "bank": "tinkoff",
                                                    "wallet": "2200000000001234"}).json()
    assert payout["buyer"] is None and payout["wallet"] == "2200000000001234"
    script = ["open_order", {"expect": "реквизит", "timeout": 1}, {"say": "Да"}]
    response = api(sandbox, "PUT", f"/payouts/{payout['id']}/buyer", json={"script": script})
    assert response.status_code == 200
    assert response.json()["buyer"]["script"][1] == {"expect": {"pattern": "реквизит", "timeout": 1}}
    again = api(sandbox, "PUT", f"/payouts/{payout['id']}/buyer", json={"persona": "honest"})
    assert again.status_code == 400 and "already has a buyer" in again.json()["error"]


def test_bad_requests_are_explained(sandbox):
    assert api(sandbox, "POST", "/payouts", json={"amount": -5}).json()["error"] == "amount must be positive"
    assert "method" in api(sandbox, "POST", "/payouts", json={"amount": 5, "method": "cash"}).json()["error"]
    assert "unknown persona" in api(sandbox, "POST", "/payouts", json={"amount": 5, "persona": "x"}).json()["error"]
    bad_script = api(sandbox, "POST", "/payouts", json={"amount": 5, "script": [{"fly": 1}]})
    assert bad_script.status_code == 400 and "step 1" in bad_script.json()["error"]
    assert api(sandbox, "GET", "/payouts") .json()["payouts"] == []  # nothing half-created
    assert api(sandbox, "PUT", "/payouts/1/buyer", json={"persona": "honest"}).status_code == 404
    assert api(sandbox, "POST", "/payouts", data="{").status_code == 400


def test_personas_are_listed(sandbox):
    body = api(sandbox, "GET", "/personas").json()
    assert "honest" in body["personas"] and body["personas"]["silent"] == [{"open_order": {"timeout": 1800}}]


def test_fault_plans_per_platform(sandbox):
    response = api(sandbox, "PUT", "/faults/gate", json={"error_5xx": 1.0})
    assert response.status_code == 200 and response.json()["plan"]["error_5xx"] == 1.0
    assert requests.get(sandbox.urls["gate"] + "/auth/me", timeout=5).status_code == 502
    assert api(sandbox, "PUT", "/faults/gate", json={"error_5xx": 2}).status_code == 400
    assert api(sandbox, "PUT", "/faults/mars", json={}).status_code == 400
    api(sandbox, "DELETE", "/faults/gate")
    assert requests.get(sandbox.urls["gate"] + "/auth/me", timeout=5).status_code == 401


def test_llm_latency_setting(sandbox):
    assert api(sandbox, "PUT", "/llm", json={"latency": 0.25}).json() == {"latency": 0.25, "classify": None}
    assert api(sandbox, "PUT", "/llm", json={"latency": -1}).status_code == 400


def test_llm_can_be_made_to_answer_every_classification_the_same(sandbox):
    def classify(text: str) -> str:
        reply = requests.post(sandbox.urls["llm"] + "/chat/completions", headers={"Authorization": "Bearer k"},
                              json={"model": "m", "messages": [{"role": "system", "content": "classify"},
                                                               {"role": "user", "content": text}]}, timeout=10)
        return reply.json()["choices"][0]["message"]["content"]

    assert classify("да, но оплачу со Сбера") == "unclear"
    assert api(sandbox, "PUT", "/llm", json={"classify": "yes"}).json()["classify"] == "yes"
    assert classify("да, но оплачу со Сбера") == "yes" and classify("нет") == "yes"  # a gullible assistant
    assert api(sandbox, "PUT", "/llm", json={"classify": "maybe"}).status_code == 400
    assert api(sandbox, "PUT", "/llm", json={"classify": None}).json()["classify"] is None
    assert classify("нет") == "no"


def test_accounts_can_be_added_and_listed(sandbox):
    assert api(sandbox, "POST", "/accounts/gate", json={"login": "t2@sandbox.local", "password": "p",
                                                        "balance": "1000"}).status_code == 200
    added = api(sandbox, "POST", "/accounts/bybit", json={"uid": "1400009", "api_key": "K9", "api_secret": "S9"})
    assert {m["paymentType"] for m in added.json()["payment_methods"]} == {75, 382}
    accounts = api(sandbox, "GET", "/accounts").json()
    assert {"login": "t2@sandbox.local", "balance": "1000"} in accounts["gate"]
    assert [a["uid"] for a in accounts["bybit"]] == ["1400001", "1400002", "1400003", "1400009"]
    assert "S9" not in str(accounts)
    assert api(sandbox, "POST", "/accounts/bybit", json={"uid": "x"}).status_code == 400


def test_ledger_audit_and_reset(sandbox):
    api(sandbox, "POST", "/payouts", json={"amount": "5000"})
    entries = api(sandbox, "GET", "/ledger", params={"kind": "payout_created"}).json()["entries"]
    assert [e["amount"] for e in entries] == ["5000"]
    assert api(sandbox, "GET", "/audit").json() == {"clean": True, "counts": {}, "violations": []}
    assert api(sandbox, "POST", "/reset").json() == {"reset": True}
    assert api(sandbox, "GET", "/ledger").json()["entries"] == []
    assert api(sandbox, "GET", "/payouts").json()["payouts"] == []


def test_credentials_and_dkim_record(sandbox):
    creds = api(sandbox, "GET", "/credentials").json()
    assert len(creds["bybit"]) == 3 and creds["gate"]["login"]
    records = api(sandbox, "GET", "/dkim").json()["records"]
    assert all(value.startswith("v=DKIM1; k=rsa; p=") for value in records.values())


def test_gate_sessions_expire_and_renew_under_the_control_api(sandbox):
    """A test can shorten the Gate cookies' lifetime and end a trader's sessions on demand."""
    creds = sandbox.credentials()["gate"]
    gate = sandbox.urls["gate"]
    session = requests.Session()
    assert session.post(gate + "/auth/basic/login", json=creds, timeout=5).status_code == 200
    answer = api(sandbox, "PUT", "/gate/sessions", json={"cookie_lifetime": 120, "idle_lifetime": 600})
    assert answer.json() == {"idle_lifetime": 600.0, "cookie_lifetime": 120.0}
    before = session.cookies.get("sid")
    renewed = session.get(gate + "/auth/me", timeout=5)
    assert renewed.status_code == 200 and session.cookies.get("sid") != before
    assert "Max-Age=120" in renewed.headers["Set-Cookie"]

    # this login and the published browser export (test_data/gate_cookie.json) the World registers
    assert api(sandbox, "POST", "/gate/sessions/expire", json={"login": creds["login"]}).json() == {"expired": 2}
    assert session.get(gate + "/auth/me", timeout=5).status_code == 401
    assert api(sandbox, "PUT", "/gate/sessions", json={"cookie_lifetime": -1}).status_code == 400
    assert api(sandbox, "PUT", "/gate/sessions", json={"cookie_lifetime": True}).status_code == 400


def test_ad_rules_hand_posted_ads_and_market_outliers(sandbox):
    uid = sandbox.credentials()["bybit"][0]["uid"]
    assert api(sandbox, "GET", "/bybit/ad_rules").json()["side_limit"] == 3  # Bybit docs' example
    rules = api(sandbox, "PUT", "/bybit/ad_rules", json={"price_gap_percent": "5", "security_risk": True, "uid": uid})
    assert rules.status_code == 200 and rules.json()["security_risk"] == [uid]
    assert rules.json()["price_gap_percent"] == "5"
    for bad in ({"side_limit": 0}, {"side_limit": True}, {"price_gap_percent": "-1"}, {"security_risk": "yes"},
                {"sides": 3}):
        answer = api(sandbox, "PUT", "/bybit/ad_rules", json=bad)
        assert answer.status_code == 400 and answer.json()["error"], bad
    assert api(sandbox, "PUT", "/bybit/ad_rules", json={"uid": "404", "security_risk": True}).status_code == 404

    posted = api(sandbox, "POST", f"/bybit/accounts/{uid}/ads", json={"price": "85", "amount": "3000"})
    assert posted.status_code == 200 and sandbox.bybit.ads(uid, online_only=True)[0]["item_id"] == posted.json()["item_id"]
    assert api(sandbox, "POST", f"/bybit/accounts/{uid}/ads", json={"method": "cash"}).status_code == 400

    planted = api(sandbox, "POST", "/bybit/market/outliers", json={"factor": 10, "count": 2}).json()["planted"]
    assert len(planted) == 2 and api(sandbox, "GET", "/bybit/ad_rules").json()["market_outliers"] == 2
    assert api(sandbox, "POST", "/bybit/market/outliers", json={"factor": "x"}).status_code == 400
    assert api(sandbox, "DELETE", "/bybit/market/outliers").json() == {"planted": []}
    assert api(sandbox, "POST", "/reset").status_code == 200
    assert api(sandbox, "GET", "/bybit/ad_rules").json() == {
        "side_limit": 3, "price_gap_percent": None, "security_risk": [], "parameter_exception": [],
        "market_outliers": 0}


def test_gate_live_switches_and_cloudflare_challenges_under_the_control_api(sandbox):
    creds = sandbox.credentials()["gate"]
    gate = sandbox.urls["gate"]
    answer = api(sandbox, "PUT", "/gate/live", json={"search_id_needs_status": True, "late_approval_seconds": 3600})
    assert answer.status_code == 200
    assert answer.json()["search_id_needs_status"] is True and answer.json()["late_approval_seconds"] == 3600

    assert api(sandbox, "POST", "/gate/challenge", json={"calls": 1, "status": 503}).status_code == 200
    challenged = requests.post(gate + "/auth/basic/login", json=creds, timeout=5)
    assert challenged.status_code == 503 and challenged.headers["cf-mitigated"] == "challenge"
    assert "Just a moment..." in challenged.text and "CF-RAY" in challenged.headers
    assert requests.post(gate + "/auth/basic/login", json=creds, timeout=5).status_code == 200  # one call only
    api(sandbox, "POST", "/gate/challenge", json={"seconds": 60})
    assert requests.post(gate + "/auth/basic/login", json=creds, timeout=5).status_code == 403
    assert api(sandbox, "DELETE", "/gate/challenge").json()["answered"] == 0  # cleared
    assert requests.post(gate + "/auth/basic/login", json=creds, timeout=5).status_code == 200

    for bad in ({"calls": -1}, {"status": 500, "calls": 1}, {}, {"calls": 1, "when": "now"}):
        assert api(sandbox, "POST", "/gate/challenge", json=bad).status_code == 400, bad
    for bad in ({"search_id_needs_status": "yes"}, {"late_approval_seconds": -1}, {"grace": 1}):
        assert api(sandbox, "PUT", "/gate/live", json=bad).status_code == 400, bad
    api(sandbox, "POST", "/reset")
    assert api(sandbox, "PUT", "/gate/live", json={}).json()["search_id_needs_status"] is False


def test_the_bybit_twins_busiest_ip_windows_are_read_and_reset(sandbox):
    for _ in range(3):
        assert requests.get(sandbox.urls["bybit"] + "/v5/market/time", timeout=10).status_code == 200
    windows = api(sandbox, "GET", "/bybit/ip_windows").json()
    assert windows["max_1s"] >= 3 and windows["max_5s"] >= 3  # loopback: 3 requests well inside one second
    assert windows["ips"]["127.0.0.1"] == {"max_1s": windows["max_1s"], "max_5s": windows["max_5s"]}
    assert api(sandbox, "DELETE", "/bybit/ip_windows").json() == {"ips": {}, "max_1s": 0, "max_5s": 0}
    assert api(sandbox, "GET", "/bybit/ip_windows").json()["max_5s"] == 0

"""The operator's console in real headless Chromium against a running daemon and the sandbox world."""
from decimal import ROUND_HALF_UP, Decimal

import pytest
import requests
import websocket
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from itrader.sandbox.personas import ANY_MESSAGE, REQUISITES, SBP_QUESTION
from tests.pipeline.harness import TERMINAL
from tests.pipeline.test_account_figures import FREQUENT_READS, expected_after

CENT = Decimal("0.01")
TOKEN = "test-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">Привет'
# Writes markup into the chat, then agrees, is given our requisites and pays 100 RUB short: the receipt is
# refused (amount) and the deal goes to MANUAL_REVIEW with its receipt and chat on record.
XSS_SHORT_PAYER = [
    {"open_order": {"timeout": 1800}}, {"expect": ANY_MESSAGE, "timeout": 300}, {"say": XSS},
    {"expect": ANY_MESSAGE, "timeout": 300}, {"say": "Да"},
    {"answer_if_asked": {"pattern": SBP_QUESTION, "say": "подтверждаю", "until": REQUISITES}},
    {"expect": REQUISITES, "timeout": 300}, {"pay": {"to": "default", "delta": -100}},
    "mark_paid", {"send_receipt": {"via": "email", "dkim": "valid"}},
]


def wait(browser, condition, what: str, timeout: float = 30):
    # A live-part swap or a navigation may replace an element between finding and reading it: look again.
    return WebDriverWait(browser, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(lambda d: condition(d), message=what)


def submit_and_wait_for_the_next_page(browser, button_id: str, timeout: float = 45) -> None:
    """Click a form's button and wait until the page it was on is gone (the POST's redirect has loaded)."""
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, button_id).click()
    WebDriverWait(browser, timeout, poll_frequency=0.1).until(staleness_of(old), message="the next page")


def sign_in(browser, base: str) -> None:
    browser.get(f"{base}/")
    assert browser.current_url.endswith("/sign-in")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, lambda d: d.current_url == f"{base}/", "the overview after sign-in")
    wait(browser, lambda d: d.find_element(By.ID, "live-status").text == "live", "the event WebSocket to open")


def state_of(browser, deal_id: int) -> str | None:
    cells = browser.find_elements(By.CSS_SELECTOR, f'tr[data-deal="{deal_id}"] td.state')
    return cells[0].text if cells else None


def test_sign_in_then_a_deal_changes_state_on_the_overview_without_a_reload(world, make_daemon, browser):
    daemon = make_daemon(mode="manual")
    sign_in(browser, daemon.base)
    cookie = browser.get_cookie("itrader_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in browser.page_source and TOKEN not in browser.current_url
    browser.execute_script("window.__sameDocument = true;")

    payout = world.create_payout(Decimal("3900"), "sbp", "sberbank", persona="honest")
    daemon.wait_for(lambda: daemon.deal_for_payout(payout["id"]) is not None, 30, "the deal to open")
    deal_id = daemon.deal_for_payout(payout["id"]).id
    wait(browser, lambda d: state_of(d, deal_id) == "NEW", "the new deal on the overview, awaiting take")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-deal="{deal_id}"]').text
    assert "the operator to confirm take" in row and str(payout["id"]) in row
    browser.screenshot("deal-awaits-take")

    answer = requests.post(f"{daemon.base}/api/v1/deals/{deal_id}/confirm", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    wait(browser, lambda d: state_of(d, deal_id) not in (None, "NEW"), "the deal's new state on the overview")
    browser.screenshot("deal-taken")
    assert browser.execute_script("return window.__sameDocument === true;"), "the page was reloaded"


def short_payer_in_review(world, make_daemon, browser):
    """A daemon with one deal in MANUAL_REVIEW (the buyer paid 4000 of 4100 RUB), the browser signed in."""
    daemon = make_daemon()
    payout = world.create_payout(Decimal("4100"), "sbp", "sberbank", script=XSS_SHORT_PAYER)
    row = daemon.wait_state(payout["id"], TERMINAL, timeout=120)
    assert row.state == "MANUAL_REVIEW", row.reason
    sign_in(browser, daemon.base)
    return daemon, row


def test_review_deal_shows_receipt_beside_terms_and_the_buyers_markup_as_text(world, make_daemon, browser):
    daemon, row = short_payer_in_review(world, make_daemon, browser)

    browser.get(f"{daemon.base}/review")
    link = wait(browser, lambda d: d.find_element(By.LINK_TEXT, str(row.id)), "the deal in the review queue")
    browser.screenshot("review-queue")
    link.click()
    wait(browser, lambda d: d.current_url == f"{daemon.base}/deals/{row.id}", "the deal page")

    image = browser.find_element(By.ID, "receipt-image")
    wait(browser, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image),
         "the receipt image to load")
    terms = browser.find_element(By.ID, "terms")
    assert "4100" in terms.text and "Сбербанк" in terms.text
    # Beside: the image's right edge is left of the terms, and they share the page's height band.
    assert image.location["x"] + image.size["width"] <= terms.location["x"]
    assert abs(image.location["y"] - terms.location["y"]) < 200
    checks = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1].text
              for r in browser.find_elements(By.CSS_SELECTOR, "#checks tr")[1:]}
    assert checks["amount"] == "fail" and checks["recipient"] == "pass", checks
    assert browser.find_element(By.ID, "resolve-amount").get_attribute("value") == ""  # never pre-filled

    chat = browser.find_element(By.ID, "chat").text
    assert "<script>window.__xss = 1</script>" in chat and "onerror" in chat
    assert " us: " in chat and " buyer: Да" in chat  # both sides of the dialogue
    assert browser.execute_script("return window.__xss === undefined;"), "the buyer's markup ran"
    assert not browser.find_elements(By.CSS_SELECTOR, "#chat script, #chat img")
    steps = browser.find_element(By.ID, "money-steps").text
    assert "take" in steps and "create_ad" in steps and "approve" not in steps
    browser.screenshot("deal-page")


def intake_state(daemon) -> str:
    return requests.get(f"{daemon.base}/api/v1/status", headers=AUTH, timeout=10).json()["intake"]["state"]


def resolve_on_the_page(browser, action: str, reason: str, amount: str = "") -> str:
    """Fill the deal page's resolve form, submit it, and return the outcome the page shows."""
    Select(browser.find_element(By.ID, "resolve-action")).select_by_value(action)
    Select(browser.find_element(By.ID, "resolve-reason-kind")).select_by_value("evidence_checked")
    browser.find_element(By.ID, "resolve-reason").send_keys(reason)
    browser.find_element(By.ID, "resolve-amount").send_keys(amount)
    submit_and_wait_for_the_next_page(browser, "resolve-submit")
    return wait(browser, lambda d: d.find_elements(By.ID, "notice"), "the outcome on the page", timeout=45)[0].text


def test_a_review_deal_is_approved_and_released_from_its_page_only_with_the_right_amount(world, make_daemon,
                                                                                          browser):
    daemon, row = short_payer_in_review(world, make_daemon, browser)
    browser.get(f"{daemon.base}/deals/{row.id}")

    # Retyped wrong: refused on the page with the API's message, nothing moves.
    said = resolve_on_the_page(browser, "approve_release", "checked the statement", amount="4010")
    assert said.startswith("refused (400): amount"), said
    assert browser.current_url == f"{daemon.base}/deals/{row.id}"
    browser.screenshot("resolve-refused")
    assert browser.find_element(By.ID, "deal-state").text == "MANUAL_REVIEW"
    assert world.ledger.entries("gate_approve") == [] and world.ledger.entries("bybit_release") == []

    said = resolve_on_the_page(browser, "approve_release", "checked the bank statement", amount="4100")
    assert said.startswith("done: "), said
    wait(browser, lambda d: d.find_element(By.ID, "deal-state").text == "COMPLETED", "COMPLETED on the page", 60)
    browser.screenshot("resolve-done")
    assert len(world.ledger.entries("gate_approve")) == 1 and len(world.ledger.entries("bybit_release")) == 1
    notes = [e.data for e in daemon.journal(row.id) if e.step == "operator"]
    assert [n["verdict"] for n in notes] == ["bad_input", "go"] and {n["operator"] for n in notes} == {"console"}
    browser.refresh()
    assert not browser.find_elements(By.ID, "notice")  # the outcome is shown once, not replayed
    assert not browser.find_elements(By.ID, "resolve-form")  # no longer in review


def test_the_overview_switch_pauses_and_resumes_intake(world, make_daemon, browser):
    daemon = make_daemon()
    sign_in(browser, daemon.base)
    assert browser.find_element(By.ID, "intake-state").text == "open"
    browser.find_element(By.ID, "pause-reason").send_keys("bank maintenance")
    submit_and_wait_for_the_next_page(browser, "pause")
    wait(browser, lambda d: d.find_element(By.ID, "intake-state").text == "paused", "paused on the overview")
    assert intake_state(daemon) == "paused"
    assert "bank maintenance" in browser.find_element(By.ID, "live").text
    assert browser.find_element(By.ID, "notice").text.startswith("paused")
    browser.screenshot("paused")
    submit_and_wait_for_the_next_page(browser, "resume")
    wait(browser, lambda d: d.find_element(By.ID, "intake-state").text == "open", "open again on the overview")
    assert intake_state(daemon) == "open"


def test_without_the_session_cookie_pages_redirect_and_posts_need_the_csrf_token(world, make_daemon, browser):
    daemon = make_daemon()
    browser.get(f"{daemon.base}/actors")
    assert browser.current_url == f"{daemon.base}/sign-in"
    for page in ("/", "/?part=1", "/review", "/actors", "/events", "/deals/1", "/deals/1/receipt.png"):
        anonymous = requests.get(f"{daemon.base}{page}", allow_redirects=False, timeout=10)
        assert anonymous.status_code == 303 and anonymous.headers["Location"].endswith("/sign-in"), page
    # The sign-in form itself needs its CSRF token: the right API token alone is not enough.
    refused = requests.post(f"{daemon.base}/sign-in", data={"token": TOKEN}, allow_redirects=False, timeout=10)
    assert refused.status_code == 403 and "Set-Cookie" not in refused.headers

    sign_in(browser, daemon.base)
    browser.get(f"{daemon.base}/actors")
    assert "Deals" in browser.find_element(By.ID, "actors").text
    browser.screenshot("actors")
    session = requests.Session()
    session.cookies.set("itrader_session", browser.get_cookie("itrader_session")["value"])
    assert session.post(f"{daemon.base}/sign-out", allow_redirects=False, timeout=10).status_code == 403
    # The operator's actions need the token too: a signed-in cookie alone (a cross-site form) does nothing.
    for action, form in (("/intake/pause", {"reason": "forged"}), ("/intake/resume", {}),
                         ("/deals/1/resolve", {"action": "cancel", "reason": "forged", "reason_kind": "other"})):
        forged = session.post(f"{daemon.base}{action}", data=form, allow_redirects=False, timeout=10)
        assert forged.status_code == 403 and "CSRF" in forged.text, action
    assert intake_state(daemon) == "open"
    wrong = session.post(f"{daemon.base}/sign-out", data={"csrf": "x" * 43}, allow_redirects=False, timeout=10)
    assert wrong.status_code == 403
    assert session.get(f"{daemon.base}/", allow_redirects=False, timeout=10).status_code == 200  # still signed in
    assert session.get(f"{daemon.base}/api/v1/deals", timeout=10).status_code == 401  # the API wants the token

    browser.find_element(By.CSS_SELECTOR, "form[action='/sign-out'] button").click()  # the page's form has it
    wait(browser, lambda d: d.current_url == f"{daemon.base}/sign-in", "sign-out")
    assert session.get(f"{daemon.base}/", allow_redirects=False, timeout=10).status_code == 303


def test_events_page_and_todays_totals_follow_a_deal_live(world, make_daemon, browser):
    daemon = make_daemon()
    sign_in(browser, daemon.base)
    assert browser.find_element(By.ID, "completed-today").text == "0"
    browser.get(f"{daemon.base}/events")
    wait(browser, lambda d: d.find_element(By.ID, "live-status").text == "live", "the event WebSocket to open")
    payout = world.create_payout(Decimal("6600"), "sbp", "sberbank", persona="honest")
    daemon.wait_state(payout["id"], {"COMPLETED"}, timeout=120)
    wait(browser, lambda d: "COMPLETED" in d.find_element(By.ID, "events").text, "the deal's events on the page")
    browser.screenshot("events")
    browser.get(f"{daemon.base}/")
    totals = browser.find_element(By.CSS_SELECTOR, "dl.totals").text
    assert browser.find_element(By.ID, "completed-today").text == "1" and "6 600.00" in totals, totals


def figure(browser, platform: str, name: str, column: str) -> str:
    cells = browser.find_elements(By.CSS_SELECTOR, f'tr[data-account="{platform}:{name}"] td.{column} .figure')
    return cells[0].text if cells else ""


def test_the_overview_shows_balances_budget_and_the_days_totals_of_the_sandbox_world_live(world, make_daemon,
                                                                                           browser):
    daemon = make_daemon(**FREQUENT_READS)
    sign_in(browser, daemon.base)
    browser.execute_script("window.__sameDocument = true;")
    gate_login = world.credentials()["gate"]["login"]
    wait(browser, lambda d: figure(d, "gate", gate_login, "balance") == "10 000 000.00 RUB", "Gate's balance")
    assert (browser.find_element(By.ID, "earned-today").text, browser.find_element(By.ID, "usdt-today").text) == (
        "0.00", "0.00")

    payout = world.create_payout(Decimal("6600"), "sbp", "sberbank", persona="honest")
    daemon.wait_state(payout["id"], {"COMPLETED"}, timeout=120)
    want = expected_after(world, daemon, payout["id"])
    bybit_name = daemon.store.accounts.get(want["row"].bybit_account_id).name
    daemon.wait_for(lambda: not world.bybit.ads(want["uid"], online_only=True), 30, "the deal's ad closed")
    usdt = world.bybit.balance(want["uid"]).quantize(CENT, ROUND_HALF_UP)
    wait(browser, lambda d: figure(d, "bybit", bybit_name, "usdt") == str(usdt), f"{usdt} USDT after the sale", 45)
    wait(browser, lambda d: figure(d, "gate", gate_login, "balance") == "9 993 400.00 RUB",
         "Gate's balance less the payout it reserved", 45)
    assert world.gate.balance(gate_login) == Decimal("9993400")
    assert "%" in figure(browser, "bybit", bybit_name, "budget")
    wait(browser, lambda d: d.find_element(By.ID, "completed-today").text == "1", "the day's count")
    sold, earned = want["sold"], want["credit"] - want["sold"]
    assert browser.find_element(By.ID, "rub-today").text == "6 600.00"
    assert browser.find_element(By.ID, "usdt-today").text == str(sold.quantize(CENT, ROUND_HALF_UP))
    assert browser.find_element(By.ID, "earned-today").text == str(earned.quantize(CENT, ROUND_HALF_UP))
    browser.screenshot("overview-figures")
    assert browser.execute_script("return window.__sameDocument === true;"), "the page was reloaded"
    secrets = [world.credentials()["gate"]["password"], *(b["api_secret"] for b in world.credentials()["bybit"])]
    assert not [secret for secret in secrets if secret in browser.page_source]


def test_a_wrong_token_does_not_sign_in_and_the_event_socket_needs_a_same_origin_session(world, make_daemon,
                                                                                         browser):
    daemon = make_daemon()
    browser.get(f"{daemon.base}/sign-in")
    browser.find_element(By.ID, "token").send_keys("not-the-token")
    browser.find_element(By.ID, "sign-in").click()
    assert wait(browser, lambda d: d.find_element(By.ID, "error"), "the refusal").text == "Wrong token."
    browser.get(f"{daemon.base}/")
    assert browser.current_url == f"{daemon.base}/sign-in"

    sign_in(browser, daemon.base)
    cookie = f"itrader_session={browser.get_cookie('itrader_session')['value']}"
    socket_url = f"ws://{daemon.base.removeprefix('http://')}/api/v1/ws"
    same = websocket.create_connection(socket_url, cookie=cookie, origin=daemon.base, timeout=10)
    same.close()
    for headers in ({"cookie": cookie, "origin": "http://attacker.example"}, {"origin": daemon.base}):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(socket_url, timeout=10, **headers)
        assert refused.value.status_code == 401


def test_a_page_whose_session_is_signed_out_elsewhere_loses_its_live_socket_and_goes_to_sign_in(make_daemon,
                                                                                                  browser):
    """Signed out from another tab (here: the same session's cookie, posted by a plain client): the server
    closes the page's event WebSocket (1008) and the page goes to the sign-in form instead of reconnecting."""
    import re

    daemon = make_daemon()
    sign_in(browser, daemon.base)
    other_tab = requests.Session()
    other_tab.cookies.set("itrader_session", browser.get_cookie("itrader_session")["value"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', other_tab.get(f"{daemon.base}/", timeout=10).text).group(1)
    out = other_tab.post(f"{daemon.base}/sign-out", data={"csrf": csrf}, allow_redirects=False, timeout=10)
    assert out.status_code == 303
    wait(browser, lambda d: d.current_url == f"{daemon.base}/sign-in", "the page to go to sign-in", timeout=10)
    browser.screenshot("signed-out-elsewhere")

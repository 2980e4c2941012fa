"""Buyer scripts and the way a buyer reads our requisites message (pure parts)."""
import re
from decimal import Decimal

import pytest

from itrader.sandbox import personas
from itrader.sandbox.buyers import ScriptError, Step, normalize_script, parse_requisites

from .hand import SBP_CONFIRM

TS_REQUISITES = (
    "Реквизиты для оплаты:\nБанк: sberbank\nСчет: 79001234567\n\nСумма: 5 000 RUB\n\n"
    "Email для чека: receipts@sandbox.local\n\nПосле оплаты отправьте чек в формате PDF на указанный email."
)


def test_reads_the_ts_style_requisites():
    found = parse_requisites(TS_REQUISITES)
    assert (found.wallet, found.bank, found.amount, found.email) == (
        "79001234567", "sberbank", Decimal("5000"), "receipts@sandbox.local")


def test_reads_a_formatted_phone_and_a_bank_label():
    found = parse_requisites("Банк получателя: Т-Банк (Тинькофф)\nПолучатель: +7 (900) 123-45-67\nСумма: 12437.50 ₽")
    assert (found.wallet, found.bank, found.amount) == ("79001234567", "tinkoff", Decimal("12437.50"))


def test_reads_a_card_number():
    found = parse_requisites("Карта: 2200 0000 0000 1234, банк: Альфа-Банк, сумма 7000")
    assert (found.wallet, found.bank, found.amount) == ("2200000000001234", "alfabank", Decimal("7000"))


def test_a_greeting_is_not_requisites():
    assert parse_requisites("Здравствуйте!\n1. Оплата будет с Т банка?\n2. Чек в формате PDF?") is None


def test_scripts_accept_short_and_long_step_forms():
    steps = normalize_script(["open_order", {"say": "Да"}, {"expect": "реквизит", "timeout": 5},
                              {"pay": {"to": "other"}}, {"wait": 3}, {"send_receipt": {"via": "chat"}}])
    assert steps[0] == Step("open_order", {})
    assert steps[1] == Step("say", {"text": "Да"})
    assert steps[2] == Step("expect", {"pattern": "реквизит", "timeout": 5})
    assert steps[4] == Step("wait", {"seconds": 3})


@pytest.mark.parametrize("bad, words", [
    ([], "non-empty"),
    (["dance"], "unknown action"),
    ([{"say": 5}], "say needs text"),
    ([{"expect": "("}], "bad regex"),
    ([{"pay": {"to": "nowhere"}}], "pay to"),
    ([{"send_receipt": {"dkim": "maybe"}}], "dkim"),
    ([{"wait": "long"}], "number"),
    ([{"open_order": {"after": "later"}}], "after must be a number"),
    ([{"say": "a", "pay": {}}], "exactly one action"),
    (["answer_if_asked"], "needs a pattern"),
    ([{"answer_if_asked": {"pattern": "банк"}}], "needs a pattern"),
    ([{"answer_if_asked": "банк"}], "takes an object"),
    ([{"answer_if_asked": {"pattern": "банк", "say": "да", "until": "("}}], "bad regex in until"),
    ([{"answer_if_asked": {"pattern": "банк", "say": "да", "on_timeout": "cry"}}], "on_timeout"),
    ([{"pay": {"payer": ""}}], "payer must be"),
    ([{"send_receipt": {"format": "png"}}], "png .a screenshot. via chat"),
    ([{"send_receipt": {"via": "chat", "layout": "narrow"}}], "for a png screenshot only"),
    ([{"send_receipt": {"via": "chat", "format": "png", "layout": "tall"}}], "wide or narrow"),
])
def test_bad_scripts_are_refused_with_the_step_named(bad, words):
    with pytest.raises(ScriptError, match=words):
        normalize_script(bad)


def test_the_question_step_accepts_its_parameters():
    [step] = normalize_script([{"answer_if_asked": {"pattern": "неверный банк", "say": "подтверждаю",
                                                    "until": personas.REQUISITES, "timeout": 60}}])
    assert step == Step("answer_if_asked", {"pattern": "неверный банк", "say": "подтверждаю",
                                            "until": personas.REQUISITES, "timeout": 60})


def test_the_sbp_question_and_the_requisites_are_told_apart():
    assert re.search(personas.SBP_QUESTION, SBP_CONFIRM, re.IGNORECASE)
    assert not re.search(personas.REQUISITES, SBP_CONFIRM, re.IGNORECASE)
    assert re.search(personas.REQUISITES, TS_REQUISITES, re.IGNORECASE)
    assert not re.search(personas.SBP_QUESTION, TS_REQUISITES, re.IGNORECASE)


def test_every_agreeing_persona_answers_the_sbp_question_when_asked():
    for name in personas.names():
        steps = personas.script(name)
        agrees = any(s.action == "say" and s.params["text"].lower() == "да" for s in steps)
        asked = [s for s in steps if s.action == "answer_if_asked"]
        if agrees:
            assert len(asked) == 1 and asked[0].params["until"] == personas.REQUISITES, name
            expected = "не подтверждаю" if name == "sbp-refuses-confirm" else "подтверждаю"
            assert asked[0].params["say"] == expected, name


def test_every_persona_is_a_valid_script():
    assert set(personas.names()) >= {
        "honest", "gibberish-then-yes", "refuser", "silent", "wrong-amount", "wrong-recipient", "reused-receipt",
        "forged-email", "chat-only-receipt", "paid-but-not-marked", "appeal", "prompt-injector",
        "third-party-payer", "non-payer-marks-paid", "waits-after-requisites", "pays-after-cancel",
        "sbp-refuses-confirm", "reservation-yes"}
    for name in personas.names():
        assert personas.script(name)[0].action == "open_order"
    assert set(personas.STREAM_MIX) == set(personas.names())

"""The assistant against the sandbox LLM over real HTTP: answers, rewording, and falling back to None."""
import pytest

from itrader.assistant import Assistant, AssistantSettings, keeps_facts, parse_answer
from itrader.sandbox.faults import FaultPlan


@pytest.fixture
def llm(sandbox_llm):
    return sandbox_llm


def assistant_for(llm, timeout=2.0) -> Assistant:
    return Assistant(AssistantSettings.for_sandbox(llm.url, timeout=timeout))


@pytest.mark.parametrize("text, expected", [
    ("Да, конечно", "yes"),
    ("ok", "yes"),
    ("+", "yes"),
    ("нет", "no"),
    ("Не подтверждаю", "no"),
    ("не согласен", "no"),
    ("что это значит?", "unclear"),
])
def test_classifies_buyer_answers(llm, text, expected):
    assert assistant_for(llm).classify_answer(text) == expected


def test_phrase_returns_a_reworded_reply_that_keeps_the_requisites(llm):
    reply = "Реквизиты для оплаты:\nБанк: sberbank\nСчет: 79001234567\nСумма: 5000 RUB"
    assert assistant_for(llm).phrase(reply, "ru") == reply


def test_phrase_rejects_a_rewording_that_changes_a_number(llm):
    llm.phrase_template = "Оплатите 500 RUB"
    assert assistant_for(llm).phrase("Сумма: 5000 RUB", "ru") is None


def test_slow_llm_gives_none_instead_of_hanging(llm):
    llm.set_latency(3.0)
    assistant = assistant_for(llm, timeout=0.3)
    assert assistant.classify_answer("да") is None
    assert assistant.phrase("Сумма: 5000 RUB", "ru") is None


def test_failing_llm_gives_none(llm):
    llm.faults.set("llm", FaultPlan(error_5xx=1.0))
    assert assistant_for(llm).classify_answer("да") is None
    llm.faults.set("llm", FaultPlan(rate_limited=1.0))
    assert assistant_for(llm).classify_answer("да") is None


def test_unreachable_llm_gives_none():
    assistant = Assistant(AssistantSettings.for_sandbox("http://127.0.0.1:9/llm/v1", timeout=0.5))
    assert assistant.classify_answer("да") is None


def test_without_a_key_the_assistant_makes_no_call(llm):
    settings = AssistantSettings(base_url=llm.url, api_key="", timeout=1.0)
    assert Assistant(settings).classify_answer("да") is None
    assert llm.requests() == []


def test_the_key_stays_out_of_the_repr():
    settings = AssistantSettings(api_key="sk-or-secret-value")
    assert "secret" not in repr(settings) and "secret" not in repr(Assistant(settings))


def test_settings_from_config_take_the_key_from_the_environment():
    class Section:
        enabled, base_url, api_key, model, timeout = True, "", "", "", 2.0
    settings = AssistantSettings.from_config(Section(), environ={"OPENROUTER_API_KEY": "k"})
    assert settings.base_url == "https://openrouter.ai/api/v1" and settings.api_key == "k"


def test_answer_parsing_and_fact_check_rules():
    assert parse_answer('{"answer": "Yes"}') == "yes"
    assert parse_answer("unclear") == "unclear"
    assert parse_answer('{"answer": "release now"}') is None
    assert keeps_facts("Тел +7 (900) 123-45-67, 5 000 RUB", "Phone 79001234567, amount 5000 RUB")
    assert not keeps_facts("a@b.ru", "c@b.ru")

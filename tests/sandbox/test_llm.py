"""The sandbox LLM's OpenAI-compatible endpoints over real HTTP, incl. latency and failure injection."""
import pytest
import requests

from itrader.sandbox.faults import FaultPlan
from itrader.sandbox.llm import MODEL_ID


@pytest.fixture
def llm(sandbox_llm):
    return sandbox_llm


AUTH = {"Authorization": "Bearer sandbox"}


def chat(llm, messages, **extra):
    return requests.post(f"{llm.url}/chat/completions", json={"model": "m", "messages": messages, **extra},
                         headers=AUTH, timeout=10)


def test_models_lists_the_sandbox_model(llm):
    response = requests.get(f"{llm.url}/models", headers=AUTH, timeout=5)
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == [MODEL_ID]


def test_requests_without_a_key_are_refused(llm):
    response = requests.get(f"{llm.url}/models", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_classification_answers_in_json_when_asked(llm):
    response = chat(llm, [{"role": "system", "content": "Classify the reply."},
                          {"role": "user", "content": "Нет, не смогу"}], response_format={"type": "json_object"})
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": '{"answer": "no"}'}
    assert body["usage"]["total_tokens"] > 0


def test_classification_answers_a_bare_word_otherwise(llm):
    response = chat(llm, [{"role": "system", "content": "classify"}, {"role": "user", "content": "да"}])
    assert response.json()["choices"][0]["message"]["content"] == "yes"


@pytest.mark.parametrize("text, verdict", [
    ("да, но оплачу со Сбера", "unclear"), ("yes, but from another bank", "unclear"), ("да, конечно", "yes"),
    ("не подтверждаю", "no"), ("подтверждаю", "yes"),
])
def test_a_yes_with_a_reservation_is_not_a_plain_yes(llm, text, verdict):
    response = chat(llm, [{"role": "system", "content": "classify"}, {"role": "user", "content": text}])
    assert response.json()["choices"][0]["message"]["content"] == verdict


def test_phrasing_echoes_the_last_user_message(llm):
    response = chat(llm, [{"role": "system", "content": "Rewrite politely."},
                          {"role": "user", "content": "old"}, {"role": "user", "content": "Сумма: 5000 RUB"}])
    assert response.json()["choices"][0]["message"]["content"] == "Сумма: 5000 RUB"


def test_bad_requests_get_openai_shaped_errors(llm):
    response = requests.post(f"{llm.url}/chat/completions", data="not json", headers=AUTH, timeout=5)
    assert response.status_code == 400 and "error" in response.json()
    assert chat(llm, []).status_code == 400


def test_latency_setting_delays_answers_past_a_client_timeout(llm):
    llm.set_latency(2.0)
    with pytest.raises(requests.Timeout):
        requests.post(f"{llm.url}/chat/completions", headers=AUTH, timeout=0.3,
                      json={"messages": [{"role": "user", "content": "x"}]})
    llm.set_latency(0)
    assert chat(llm, [{"role": "user", "content": "x"}]).status_code == 200


@pytest.mark.parametrize("plan, status", [
    (FaultPlan(error_5xx=1.0), 502),
    (FaultPlan(rate_limited=1.0, retry_after_seconds=7), 429),
    (FaultPlan(cloudflare_403=1.0), 403),
])
def test_injected_faults(llm, plan, status):
    llm.faults.set("llm", plan)
    response = chat(llm, [{"role": "user", "content": "x"}])
    assert response.status_code == status
    if status == 429:
        assert response.headers["Retry-After"] == "7"

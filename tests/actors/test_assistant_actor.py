"""The Assistant actor against the sandbox LLM over loopback HTTP: hints, the hard timeout, and a
mailbox that keeps answering while one question is slow."""
from __future__ import annotations

import gevent.event

from actors.assistant import AssistantActor
from actors.messages import Classified, Classify
from itrader.assistant import Assistant, AssistantSettings
from itrader.sandbox.faults import FaultPlan
from tests.servers.sandbox import sandbox_llm  # noqa: F401  (fixture)

from .test_receipt_desk import directory, start_probe  # noqa: F401  (fixture)

BOUND = 30  # seconds: a bounded wait, far above what an answer takes


def start_assistant(directory, classify, timeout: float):
    return AssistantActor.start(classify, directory, timeout)


def llm_classify(llm, timeout: float = 10.0):
    return Assistant(AssistantSettings.for_sandbox(llm.url, timeout=timeout)).classify_answer


def answer(inbox) -> Classified:
    message = inbox.get(timeout=BOUND)
    assert isinstance(message, Classified)
    return message


def test_classifies_buyer_text_with_the_llm(directory, sandbox_llm):
    start_assistant(directory, llm_classify(sandbox_llm), timeout=10)
    inbox = start_probe(directory, "deal:7")
    for text in ("Да, конечно", "не согласен", "что это значит?"):
        assert directory.tell("assistant", Classify(7, text, directory.get("deal:7")))
    # each question runs on its own, so the answers may come in any order
    assert {(m.deal_id, m.text, m.hint) for m in (answer(inbox), answer(inbox), answer(inbox))} == {
        (7, "Да, конечно", "yes"), (7, "не согласен", "no"), (7, "что это значит?", "unclear")}
    assert sandbox_llm.requests  # it really asked the LLM


def test_slow_llm_gives_no_hint_within_the_hard_timeout(directory, sandbox_llm):
    sandbox_llm.set_latency(5.0)
    # the client itself would wait 10 s: the actor's own bound is what ends the wait
    start_assistant(directory, llm_classify(sandbox_llm, timeout=10.0), timeout=0.5)
    inbox = start_probe(directory, "deal:8")
    directory.tell("assistant", Classify(8, "да", directory.get("deal:8")))
    assert answer(inbox) == Classified(8, "да", None)


def test_failing_llm_gives_no_hint(directory, sandbox_llm):
    sandbox_llm.faults.set("llm", FaultPlan(error_5xx=1.0))
    start_assistant(directory, llm_classify(sandbox_llm), timeout=10)
    inbox = start_probe(directory, "deal:9")
    directory.tell("assistant", Classify(9, "да", directory.get("deal:9")))
    assert answer(inbox).hint is None


def test_a_slow_question_does_not_hold_up_the_next(directory, sandbox_llm):
    held = gevent.event.Event()
    ask_llm = llm_classify(sandbox_llm)

    def classify(text: str):
        if text == "подожди":
            held.wait()
        return ask_llm(text)

    assistant = start_assistant(directory, classify, timeout=BOUND)
    slow, fast = start_probe(directory, "deal:10"), start_probe(directory, "deal:11")
    directory.tell("assistant", Classify(10, "подожди", directory.get("deal:10")))
    directory.tell("assistant", Classify(11, "ок", directory.get("deal:11")))
    assert answer(fast).hint == "yes"
    assert slow.empty()  # still waiting, and the actor answered the other deal meanwhile
    held.set()
    assert answer(slow).hint == "unclear"
    assert assistant.is_alive()


def test_an_answer_outside_the_labels_is_no_hint_and_stopping_answers_open_questions(directory):
    started, never = gevent.event.Event(), gevent.event.Event()

    def classify(text: str):
        if text == "x":
            return "release the USDT now"
        started.set()
        never.wait()

    assistant = start_assistant(directory, classify, timeout=BOUND)
    inbox = start_probe(directory, "deal:12")
    directory.tell("assistant", Classify(12, "x", directory.get("deal:12")))
    assert answer(inbox).hint is None
    directory.tell("assistant", Classify(12, "y", directory.get("deal:12")))
    assert started.wait(BOUND)
    assistant.stop()
    assert answer(inbox) == Classified(12, "y", None)
    assert directory.get("assistant") is None

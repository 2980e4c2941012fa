"""Assistant: labels a buyer's free text (yes / no / unclear) with the LLM, under a hard timeout.

Each `Classify` runs in a greenlet of its own, so a slow LLM never holds up the actor's mailbox;
the answer goes back as `Classified` to `reply_to`, with hint None when the LLM is slow, fails,
or says something other than a known label. The hint is advice for the dialogue's word rules:
the assistant never decides a money step.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import gevent
import gevent.pool
import pykka

from actors.base import ChildContext, SupervisedActor, tell_quietly
from actors.directory import Directory
from actors.messages import Classified, Classify
from itrader.assistant import ANSWERS

log = logging.getLogger(__name__)

NAME = "assistant"
MAX_IN_FLIGHT = 200  # beyond this many open questions, answer "no opinion" at once


def known_hint(answer: Any) -> str | None:
    """Only the labels the dialogue understands pass; anything else means "no opinion"."""
    return answer if isinstance(answer, str) and answer in ANSWERS else None


class AssistantActor(SupervisedActor):
    """Registered as "assistant". Handles `Classify`; tells `Classified` to the request's reply_to."""

    def __init__(self, classify: Callable[[str], str | None], directory: Directory, timeout: float,
                 context: ChildContext | pykka.ActorRef | None = None) -> None:
        super().__init__(context)
        self._classify = classify
        self._directory = directory
        self._timeout = timeout
        self._running = gevent.pool.Group()

    def on_start(self) -> None:
        self.register_as(self._directory, NAME)

    def on_stop(self) -> None:
        self._shut_down()

    def on_failure(self, *_exc_info: Any) -> None:
        self._shut_down()

    def _shut_down(self) -> None:
        self._running.kill(block=False)  # each one still answers None on its way out

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Classify):
            if len(self._running) >= MAX_IN_FLIGHT:
                log.warning("assistant: %d questions open; answering deal %s without the LLM",
                            len(self._running), message.deal_id)
                tell_quietly(message.reply_to, Classified(message.deal_id, message.text, None))
            else:
                self._running.spawn(self._answer, message)
            return None
        return super().on_receive(message)

    def _answer(self, request: Classify) -> None:
        hint = None
        try:
            with gevent.Timeout(self._timeout):
                hint = known_hint(self._classify(request.text))
        except gevent.Timeout:
            log.warning("assistant: no answer for deal %s within %.1fs", request.deal_id, self._timeout)
        except Exception as error:  # the LLM is advice: any failure means "no opinion"
            log.warning("assistant: classify failed for deal %s (%s)", request.deal_id, type(error).__name__)
        finally:
            tell_quietly(request.reply_to, Classified(request.deal_id, request.text, hint))

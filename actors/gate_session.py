"""The session of one Gate account, a collaborator of its GateAccount actor.

The account's client holds the session: the cookies the operator imported (a browser export), or the
ones a password login gave. On the `gate.session_refresh` timer (25 minutes, as the original) the
session is kept alive with `GET /auth/me`; the panel answers with renewed cookies, and they are saved
encrypted in the store, so a restarted daemon goes on with a live session. Where a password is stored
the client logs in again by itself when the panel says the session ended.

A session that cannot be renewed — expired cookies and no password, or a password the panel refuses —
makes the account unhealthy: one operator event (`account_unhealthy`), the actor stops polling and
answers its deals' requests at once with a passing failure, so they wait (a Gate payout can only be
approved by the account that took it). It never crashes the actor: the next refresh tries again, and an
operator's new cookies (`itrader accounts import gate ...`) restart the account with them.

A Cloudflare challenge (itrader/gate/cloudflare.py) is a passing state of the account, not of one call: the
first challenge of an episode is one operator event (`gate_challenged`), the first call that gets through
again another (`gate_challenge_over`), and until the wait it asked for is over the actor's periodic calls
(poll, balance, refresh) hold off; the deals' requests are put off (actors.later) for the same wait.
"""
from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any, Callable

from itrader.events import EventLog
from itrader.gate import Challenged, GateClient, GateError, LoginFailed, SessionExpired

log = logging.getLogger("itrader.actors.gate")

SESSION_LOST = (SessionExpired, LoginFailed)


class GateSession:
    def __init__(self, name: str, client: GateClient, events: EventLog,
                 save: Callable[[list[dict[str, Any]]], bool] | None = None) -> None:
        self.name = name
        self.client = client
        self.events = events
        self._save = save
        self.problem: str | None = None  # why the session is lost; None while it works
        self._saved = self._cookie_values()
        self._challenged_since: float | None = None  # monotonic start of a Cloudflare challenge episode
        self._challenges = 0
        self._hold_until = 0.0
        self.on_balance: Callable[[Decimal], None] | None = None  # the RUB balance each keep-alive shows

    @property
    def healthy(self) -> bool:
        return self.problem is None

    def keep_alive(self) -> bool:
        """Open the session (a login when there are no cookies) or refresh it; True when it works."""
        try:
            if self.client.has_session:
                me = self.client.me()  # the keep-alive; a 401 logs in again where a password is stored
                if me.rub_balance is not None and self.on_balance is not None:
                    self.on_balance(me.rub_balance)
            else:
                self.client.login()
        except SESSION_LOST as exc:
            self.lost(exc)
            return False
        except GateError as exc:
            self.challenged(exc)
            log.warning("gate %s: session refresh failed, trying again soon: %s", self.name, exc)
            return False
        self.answered()
        self._renewed()
        return True

    def challenged(self, exc: GateError) -> None:
        """A call failed; a Cloudflare challenge starts (or goes on with) an episode: one event per episode."""
        if not isinstance(exc, Challenged):
            return
        now = time.monotonic()
        self._challenges += 1
        self._hold_until = max(self._hold_until, now + exc.retry_after)
        if self._challenged_since is None:
            self._challenged_since = now
            log.warning("gate %s: Cloudflare answers with a challenge; calls wait and are tried again: %s",
                        self.name, exc)
            self.events.publish("gate_challenged", account=self.name, path=exc.path, status=exc.status,
                                retry_after=exc.retry_after)

    def answered(self) -> None:
        """A call got through to the panel: a challenge episode, if any, is over."""
        if self._challenged_since is None:
            return
        seconds = round(time.monotonic() - self._challenged_since, 1)
        log.info("gate %s: past the Cloudflare challenge after %d challenged calls in %.1fs", self.name,
                 self._challenges, seconds)
        self.events.publish("gate_challenge_over", account=self.name, challenged_calls=self._challenges,
                            seconds=seconds)
        self._challenged_since, self._challenges, self._hold_until = None, 0, 0.0

    def hold_off(self) -> float:
        """Seconds the account's periodic calls still wait for a challenge to pass (0: none)."""
        return max(0.0, self._hold_until - time.monotonic())

    def lost(self, exc: GateError) -> None:
        """A call found the session gone and the client could not renew it."""
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
        if self.problem is None:
            log.warning("gate %s: the session cannot be renewed; the account is unhealthy and its deals wait: %s",
                        self.name, reason)
            self.events.publish("account_unhealthy", platform="gate", account=self.name, reason=reason)
        self.problem = reason

    def _renewed(self) -> None:
        if self.problem is not None:
            log.info("gate %s: session renewed; the account is healthy again", self.name)
            self.events.publish("account_healthy", platform="gate", account=self.name)
            self.problem = None
        values = self._cookie_values()
        if self._save is None or values == self._saved:
            return
        cookies = [cookie.to_json() for cookie in self.client.export_cookies()]
        try:
            saved = self._save(cookies)
        except Exception as exc:  # noqa: BLE001 — the live session still works; saved again next refresh
            log.warning("gate %s: the renewed session could not be saved: %s", self.name, type(exc).__name__)
            return
        if saved:
            self._saved = values
            log.info("gate %s: renewed session saved (encrypted)", self.name)
        else:
            log.info("gate %s: the account was changed by an operator; its renewed session is not saved", self.name)

    def _cookie_values(self) -> frozenset[tuple[str, str]]:
        return frozenset((c.name, c.value) for c in self.client.export_cookies())

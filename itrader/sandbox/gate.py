"""The simulated Gate trader panel (panel.gate.cx/api/v1), shaped from reference/gate-api.md.

`GateSandbox` holds the panel's state behind one lock and serves it through
`make_app()`, a Bottle app whose routes are relative to the API base (the
World mounts it under /gate/api/v1). Attachments uploaded with /approve are
served back by the same app under /cdn/<original_url>, standing in for
cdn.gate.cx. The data it keeps and the JSON shapes it renders live in gate_shapes.py.

Time-driven changes (session expiry, a taken payout passing its deadline,
the promotion of approved payouts 6 -> 7) are applied lazily from the
injected clock whenever the state is read, so a scenario with a fake clock is
deterministic.

Where the reference says "unknown", this sandbox decides, and says so here:
* /cancel and an expired taken payout both end in status 9 (history), and
  the reserved amount returns to the trader's balance;
* taking a payout reserves its amount from the trader's working balance, and
  a status-4 payout is offered only to traders whose balance covers it;
* /approve without a file is refused (422), because a sandbox that accepts
  it could hide a receipt-less approval;
* an attachment that is not a PDF is marked `custom_properties.fake: true`;
* a 401 body is `{"success": false, "error": "Unauthenticated.", ...}`;
* sessions (reference §4.4): a session ends after `session_lifetime` seconds without a request, and
  each sid/rsid pair also stops working `cookie_lifetime` seconds after it was issued (the Set-Cookie
  carries that Max-Age). `GET /auth/me`, the originals' keep-alive, answers with a renewed pair
  (Laravel re-encrypts its cookies on every answer); the old pair lives out its own lifetime. A pair
  registered with `add_session` (a browser export, as test_data/gate_cookie.json) starts its lifetime
  at its first use, so it can be imported whenever the sandbox has been up.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import bottle

from itrader.sandbox.faults import Faults, fault_plugin, recorder
from itrader.sandbox.gate_live import GateChallenge
from itrader.sandbox.gate_shapes import (
    BANKS, CDN_PREFIX, METHODS, PLATFORM, QUIRKS, STATUS_APPROVED, STATUS_COMPLETED, STATUS_HISTORY, STATUS_OFFERED,
    STATUS_TAKEN, Account, CookiePair, Payout, RequestRecord, Session, Upload, default_wallet, int_param,
    RUB, json_body, laravel_cookie_value, render_payout, safe_file_name,
)
from itrader.sandbox.ledger import Ledger


class GateSandbox:
    """The Gate panel twin. Thread-safe; all public methods may be called from any greenlet."""

    def __init__(
        self,
        ledger: Ledger,
        faults: Faults,
        clock: Callable[[], float] = time.time,
        *,
        session_lifetime: float = 1800.0,
        cookie_lifetime: float = 1800.0,
        promote_after: float = 60.0,
        expiry_grace: float = 0.0,
        quirk_every: int = 0,
        course: Decimal = Decimal("79.50"),
        reward: Decimal = Decimal("1.025"),
        require_attachment: bool = True,
        max_per_page: int = 100,
        list_gone: bool = False,
        request_log_size: int = 100_000,
    ) -> None:
        """
        session_lifetime: seconds of inactivity after which sid/rsid stop working.
        cookie_lifetime: seconds a sid/rsid pair works after it was issued (renewed by GET /auth/me).
        promote_after: seconds after approval until Gate moves the payout 6 -> 7.
        expiry_grace: seconds past expired_at a taken payout still accepts /approve; then it is refunded
            (status 9). Captured: reference/gate-api.md §6.5, the 27 May capture, approved_at 11:59:45 with
            expired_at 10:56:01 — the real panel accepted an approve an hour late. The default stays 0
            (strict) on purpose: one capture shows that a late approve *can* pass, not how late, nor that it
            always does; a twin that refuses is the side the daemon must survive without releasing, and
            `PUT /sandbox/gate/live {late_approval_seconds}` switches the captured leniency on.
        quirk_every: every Nth created payout carries a lenient-type quirk (0 = never),
            cycling through QUIRKS; create_payout(quirk=...) forces one.
        list_gone: the payout list answers 410 Gone, as the originals once saw (reference §9).
        """
        self._ledger = ledger
        self._faults = faults
        self._clock = clock
        self.session_lifetime = session_lifetime
        self.cookie_lifetime = cookie_lifetime
        self._lifetimes = (session_lifetime, cookie_lifetime)  # what reset() goes back to
        self.promote_after = promote_after
        self.expiry_grace = expiry_grace
        self._expiry_grace = expiry_grace  # what reset() goes back to
        self.search_id_needs_status = False  # gate_live.py: search[id] alone answers nothing
        self.challenge = GateChallenge(clock)
        self.quirk_every = quirk_every
        self.course = Decimal(course)
        self.reward = Decimal(reward)
        self.require_attachment = require_attachment
        self.max_per_page = max_per_page
        self.list_gone = list_gone
        self.request_log_size = request_log_size
        self._lock = threading.RLock()
        self._init_state()

    def _init_state(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._sessions: dict[str, CookiePair] = {}  # by sid
        self._payouts: dict[int, Payout] = {}
        self._uploads: dict[str, Upload] = {}
        self._requests: deque[RequestRecord] = deque(maxlen=self.request_log_size)
        self._next_payout_id = 2600001
        self._next_media_id = 3500001
        self._next_trader_id = 1001
        self._created = 0

    # ------------------------------------------------------------------ control side

    def reset(self) -> None:
        """Back to a freshly constructed panel: no accounts, sessions, payouts or uploads."""
        with self._lock:
            self._init_state()
            self.session_lifetime, self.cookie_lifetime = self._lifetimes
            self.expiry_grace, self.search_id_needs_status = self._expiry_grace, False
            self.challenge.reset()

    def add_account(self, login: str, password: str, balance: Decimal = Decimal(0)) -> None:
        with self._lock:
            trader_id = self._next_trader_id
            self._next_trader_id += 1
            self._accounts[login] = Account(login, password, trader_id, Decimal(balance))

    def create_payout(
        self,
        amount: Decimal,
        method: str,
        bank: str,
        wallet: str | None = None,
        expires_in: float = 1800,
        *,
        quirk: str | None = None,
    ) -> dict:
        """A new status-4 payout offered to every trader whose balance covers it.

        Returns it as the API would show it after /show (amounts visible).
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        if quirk is not None and quirk not in QUIRKS:
            raise ValueError(f"quirk must be one of {QUIRKS}, got {quirk!r}")
        amount = Decimal(amount)
        if amount <= 0:
            raise ValueError("amount must be positive")
        with self._lock:
            pid = self._next_payout_id
            self._next_payout_id += 1
            self._created += 1
            if quirk is None and self.quirk_every and self._created % self.quirk_every == 0:
                quirk = QUIRKS[(self._created // self.quirk_every - 1) % len(QUIRKS)]
            now = self._clock()
            payout = Payout(
                id=pid, kind=method, bank=bank, wallet=wallet or default_wallet(method, pid),
                amount=amount, course=self.course, reward=self.reward, expires_in=float(expires_in),
                quirk=quirk, created_at=now, updated_at=now,
            )
            self._payouts[pid] = payout
            self._ledger.record("payout_created", payout_id=pid, amount=amount, wallet=payout.wallet,
                                method=method, bank=bank)
            return self._inspect(payout)

    def payout(self, payout_id: int) -> dict:
        with self._lock:
            self._advance()
            return self._inspect(self._payouts[int(payout_id)])

    def payouts(self) -> list[dict]:
        with self._lock:
            self._advance()
            return [self._inspect(p) for p in sorted(self._payouts.values(), key=lambda p: p.id)]

    def balance(self, login: str) -> Decimal:
        with self._lock:
            self._advance()
            return self._accounts[login].balance

    def attachment(self, payout_id: int) -> list[tuple[str, bytes]]:
        with self._lock:
            return [(u.file_name, u.data) for u in self._payouts[int(payout_id)].uploads]

    def add_session(self, login: str, sid: str, rsid: str) -> None:
        """Accept a known cookie pair for `login` (test_data/gate_cookie.json ships one); its cookie
        lifetime starts at its first use."""
        with self._lock:
            self._sessions[sid] = CookiePair(Session(login, self._clock()), rsid, issued=None)

    def expire_sessions(self, login: str | None = None) -> int:
        """End the sessions of one trader (or all), every cookie pair of them; returns how many ended."""
        with self._lock:
            doomed = {id(pair.session): pair.session for pair in self._sessions.values()
                      if login is None or pair.session.login == login}
            for session in doomed.values():
                session.ended = True
            self._sessions = {sid: pair for sid, pair in self._sessions.items() if not pair.session.ended}
            return len(doomed)

    def set_live(self, search_id_needs_status: bool | None = None,
                 late_approval_seconds: float | None = None) -> dict[str, Any]:
        """The live panel's ways (gate_live.py): a search by id alone finds nothing; approves accepted for
        `late_approval_seconds` past expired_at."""
        with self._lock:
            if search_id_needs_status is not None:
                self.search_id_needs_status = bool(search_id_needs_status)
            if late_approval_seconds is not None:
                self.expiry_grace = float(late_approval_seconds)
            return {"search_id_needs_status": self.search_id_needs_status,
                    "late_approval_seconds": self.expiry_grace, "challenge": self.challenge.view()}

    def set_session_lifetimes(self, idle: float | None = None, cookie: float | None = None) -> dict[str, float]:
        with self._lock:
            if idle is not None:
                self.session_lifetime = float(idle)
            if cookie is not None:
                self.cookie_lifetime = float(cookie)
            return {"idle_lifetime": self.session_lifetime, "cookie_lifetime": self.cookie_lifetime}

    def request_log(self, login: str | None = None) -> list[RequestRecord]:
        """Every request that reached the app (faulted ones too), in arrival order."""
        with self._lock:
            return [r for r in self._requests if login is None or r.account == login]

    def _inspect(self, payout: Payout) -> dict:
        view = self._render(payout, detailed=True, reveal=True)
        view["sandbox"] = {"account": payout.account, "method": payout.kind, "bank": payout.bank,
                           "amount": str(payout.amount), "quirk": payout.quirk}
        return view

    # ------------------------------------------------------------------ time

    def _advance(self) -> None:
        now = self._clock()
        for payout in self._payouts.values():
            if payout.status == STATUS_TAKEN and payout.expired_at is not None \
                    and now > payout.expired_at + self.expiry_grace:
                payout.status = STATUS_HISTORY
                payout.updated_at = now
                self._refund(payout)
            elif payout.status == STATUS_APPROVED and payout.approved_at is not None \
                    and now >= payout.approved_at + self.promote_after:
                payout.status = STATUS_COMPLETED
                payout.updated_at = now

    def _refund(self, payout: Payout) -> None:
        account = self._accounts.get(payout.account or "")
        if account is not None:
            account.balance += payout.amount

    # ------------------------------------------------------------------ rendering

    def _render(self, payout: Payout, *, detailed: bool, reveal: bool = False) -> dict:
        return render_payout(payout, self._accounts.get(payout.account or ""), detailed=detailed, reveal=reveal)


    # ------------------------------------------------------------------ HTTP

    def make_app(self) -> bottle.Bottle:
        app = bottle.Bottle()
        # Installed first, so it wraps the fault plugin and sees faulted requests too.
        app.install(recorder(self._record_request, self._clock))
        app.install(self.challenge.plugin())  # Cloudflare answers before the panel (gate_live.py)
        app.install(fault_plugin(self._faults, PLATFORM))
        app.route("/auth/basic/login", "POST", self._login)
        app.route("/auth/me", "GET", self._authed(self._me))
        app.route("/payments/payouts", "GET", self._authed(self._list))
        app.route("/payments/payouts/balance", "POST", self._authed(self._set_balance))
        app.route("/payments/payouts/<payout_id:int>", "GET", self._authed(self._get_one))
        app.route("/payments/payouts/<payout_id:int>/", "GET", self._authed(self._get_one))
        app.route("/payments/payouts/<payout_id:int>/show", "POST", self._authed(self._show))
        app.route("/payments/payouts/<payout_id:int>/approve", "POST", self._authed(self._approve))
        app.route("/payments/payouts/<payout_id:int>/cancel", "POST", self._authed(self._cancel))
        app.route(CDN_PREFIX + "/<media_id:int>/<file_name>", "GET", self._cdn)
        return app

    def _record_request(self, started: float, status: int, fault: str | None) -> None:
        with self._lock:
            self._requests.append(RequestRecord(
                started, bottle.request.method, bottle.request.path, status,
                bottle.request.environ.get("gate.account"), fault))

    @staticmethod
    def _reply(status: int, body: dict) -> str:
        bottle.response.status = status
        bottle.response.content_type = "application/json"
        bottle.response.set_header("Cache-Control", "no-cache, private")
        return json.dumps(body, ensure_ascii=False)

    def _ok(self, response: Any) -> str:
        return self._reply(200, {"success": True, "response": response})

    def _fail(self, status: int, error: str, **extra: Any) -> str:
        return self._reply(status, {"success": False, "error": error, **extra})

    def _incorrect_status(self, message: str) -> str:
        # The shape both originals parse as "already taken / wrong state" (reference §6.4).
        return self._reply(409, {"success": False, "response": {"error_description": "incorrect_status"},
                                 "message": message, "error": message})

    def _authed(self, handler: Callable[..., str]) -> Callable[..., str]:
        def route(*args, **kwargs):
            bottle.request.body  # read the upload off the socket before taking the lock
            with self._lock:
                account = self._session_account()
                if account is None:
                    return self._fail(401, "Unauthenticated.", message="Unauthenticated.")
                bottle.request.environ["gate.account"] = account.login
                self._advance()
                return handler(account, *args, **kwargs)

        return route

    def _session_account(self) -> Account | None:
        sid = bottle.request.get_cookie("sid")
        rsid = bottle.request.get_cookie("rsid")
        pair = self._sessions.get(sid or "")
        if pair is None or pair.rsid != rsid:
            return None
        now = self._clock()
        if pair.issued is None:
            pair.issued = pair.session.last_seen = now  # a browser export: its lifetime runs from its first use
        if not self._alive(pair, now) or self._faults.session_expired(PLATFORM):
            del self._sessions[sid]
            return None
        pair.session.last_seen = now
        bottle.request.environ["gate.session"] = pair.session
        return self._accounts.get(pair.session.login)

    def _alive(self, pair: CookiePair, now: float) -> bool:
        return (not pair.session.ended and now - pair.session.last_seen <= self.session_lifetime
                and (pair.issued is None or now - pair.issued <= self.cookie_lifetime))

    def _issue_cookies(self, session: Session, now: float) -> None:
        """A new sid/rsid pair for the session, sent with its Max-Age; expired pairs are dropped."""
        for stale in [sid for sid, pair in self._sessions.items() if not self._alive(pair, now)]:
            del self._sessions[stale]
        sid, rsid = laravel_cookie_value(), laravel_cookie_value()
        self._sessions[sid] = CookiePair(session, rsid, issued=now)
        lifetime = max(1, int(self.cookie_lifetime))
        for name, value in (("sid", sid), ("rsid", rsid)):
            bottle.response.set_cookie(name, value, path="/", httponly=True, samesite="lax", max_age=lifetime)

    def _login(self) -> str:
        body = json_body()
        login, password = str(body.get("login") or ""), str(body.get("password") or "")
        with self._lock:
            account = self._accounts.get(login)
            if account is None or not secrets.compare_digest(account.password.encode(), password.encode()):
                return self._fail(422, "Invalid credentials")
            now = self._clock()
            self._issue_cookies(Session(login, now), now)
            bottle.request.environ["gate.account"] = login
            return self._ok({"user": self._user(account)})

    def _user(self, account: Account) -> dict:
        return {"id": account.trader_id, "name": account.login.split("@")[0], "login": account.login}

    def _me(self, account: Account) -> str:
        # The keep-alive: the answer renews the session's cookies.
        self._issue_cookies(bottle.request.environ["gate.session"], self._clock())
        balance = f"{account.balance.quantize(Decimal('0.01'))}"
        wallet = {"balance": balance, "available": balance, "locked": "0.00", "currency": dict(RUB)}
        return self._ok({"user": dict(self._user(account), wallets=[wallet])})

    def _visible(self, account: Account, payout: Payout) -> bool:
        if payout.account is not None:
            return payout.account == account.login
        return payout.status == STATUS_OFFERED and payout.amount <= account.balance

    def _list(self, account: Account) -> str:
        if self.list_gone:
            bottle.response.status = 410
            bottle.response.content_type = "text/html"
            return "<html><body><h1>410 Gone</h1></body></html>"
        query = bottle.request.query
        statuses = {int(s) for s in query.getall("filters[status][]") if s.strip().lstrip("-").isdigit()}
        search_id = query.get("search[id]", "").strip()
        term = query.get("search[term]", "").strip().lower()
        page = max(int_param(query.get("page"), 1), 1)
        per_page = min(max(int_param(query.get("per_page"), 30), 1), self.max_per_page)

        rows = [p for p in self._payouts.values() if self._visible(account, p)]
        if statuses:
            rows = [p for p in rows if p.status in statuses]
        if search_id:
            rows = [p for p in rows if str(p.id) == search_id]
            if self.search_id_needs_status and not statuses:
                rows = []  # gate_live.py: as a panel with a default status filter might
        if term:
            rows = [p for p in rows if term in self._search_text(p)]
        rows.sort(key=lambda p: (p.created_at, p.id), reverse=True)  # newest first

        total = len(rows)
        last_page = max((total + per_page - 1) // per_page, 1)
        data = [self._render(p, detailed=False) for p in rows[(page - 1) * per_page: page * per_page]]
        base = bottle.request.url.split("?")[0]

        def page_url(n: int | None) -> str | None:
            return None if n is None else f"{base}?page={n}&per_page={per_page}"

        return self._ok({"payouts": {
            "data": data,
            "meta": {"current_page": page, "last_page": last_page, "per_page": per_page, "total": total,
                     "from": (page - 1) * per_page + 1 if data else None,
                     "to": (page - 1) * per_page + len(data) if data else None},
            "links": {"first": page_url(1), "last": page_url(last_page),
                      "prev": page_url(page - 1 if page > 1 else None),
                      "next": page_url(page + 1 if page < last_page else None)},
        }})

    def _search_text(self, payout: Payout) -> str:
        label = BANKS.get(payout.bank, (0, "", payout.bank))[2]
        return " ".join((str(payout.id), payout.wallet, payout.bank, label)).lower()

    def _get_one(self, account: Account, payout_id: int) -> str:
        payout = self._payouts.get(payout_id)
        if payout is None or not self._visible(account, payout):
            return self._fail(404, "Not found")
        return self._ok({"payout": self._render(payout, detailed=True)})

    def _show(self, account: Account, payout_id: int) -> str:
        payout = self._payouts.get(payout_id)
        if payout is None:
            return self._fail(404, "Not found")
        if payout.status != STATUS_OFFERED:
            return self._incorrect_status("Payout already processing")
        if payout.amount > account.balance:
            return self._fail(422, "Insufficient balance")
        now = self._clock()
        payout.status, payout.account = STATUS_TAKEN, account.login
        payout.taken_at = payout.updated_at = now
        payout.expired_at = now + payout.expires_in
        account.balance -= payout.amount
        self._ledger.record("gate_take", payout_id=payout.id, account=account.login)
        return self._ok({"payout": self._render(payout, detailed=True)})

    def _approve(self, account: Account, payout_id: int) -> str:
        payout = self._payouts.get(payout_id)

        def reject(reason: str) -> None:
            self._ledger.record("gate_approve_rejected", payout_id=payout_id, account=account.login, reason=reason)

        if payout is None or payout.account not in (None, account.login):
            reject("not found")
            return self._fail(404, "Not found")
        if payout.status != STATUS_TAKEN or payout.account != account.login:
            reject(f"incorrect status {payout.status}")
            return self._incorrect_status("Payout already processing" if payout.status > STATUS_TAKEN
                                          else "Payout is not in work")
        files = bottle.request.files.getall("attachments[]")
        if self.require_attachment and not files:
            reject("no attachment")
            return self._fail(422, "The attachments field is required.")
        now = self._clock()
        for upload in files:
            data = upload.file.read()
            media = Upload(self._next_media_id, safe_file_name(upload.raw_filename), data,
                           upload.content_type or "application/octet-stream", now)
            self._next_media_id += 1
            payout.uploads.append(media)
            self._uploads[media.original_url] = media
        payout.status, payout.approved_at, payout.updated_at = STATUS_APPROVED, now, now
        self._ledger.record(
            "gate_approve", payout_id=payout.id, account=account.login, amount=payout.amount,
            wallet=payout.wallet, attachments=len(payout.uploads),
            attachment_sha256=[hashlib.sha256(u.data).hexdigest() for u in payout.uploads])
        return self._ok({"payout": self._render(payout, detailed=True)})

    def _cancel(self, account: Account, payout_id: int) -> str:
        payout = self._payouts.get(payout_id)
        if payout is None or payout.account not in (None, account.login):
            return self._fail(404, "Not found")
        if payout.status != STATUS_TAKEN or payout.account != account.login:
            return self._incorrect_status("Payout cannot be cancelled in this status")
        payout.status, payout.updated_at = STATUS_HISTORY, self._clock()
        self._refund(payout)
        self._ledger.record("gate_cancel", payout_id=payout.id, account=account.login, amount=payout.amount)
        return self._ok({"payout": self._render(payout, detailed=True)})

    def _set_balance(self, account: Account) -> str:
        raw = json_body().get("amount")
        try:
            amount = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            amount = Decimal(-1)
        if raw is None or not amount.is_finite() or amount < 0:
            return self._fail(422, "The amount field must be a non-negative number.")
        account.balance = amount
        self._ledger.record("gate_balance", account=account.login, balance=amount)
        return self._ok(None)

    def _cdn(self, media_id: int, file_name: str):
        with self._lock:
            upload = self._uploads.get(f"{media_id}/{file_name}")
        if upload is None:
            bottle.response.status = 404
            return "Not found"
        bottle.response.content_type = upload.content_type
        bottle.response.set_header("Content-Length", str(len(upload.data)))
        return upload.data



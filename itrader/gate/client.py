"""HTTP client of the Gate trader panel (reference/gate-api.md).

One `GateClient` per Gate account: a `requests.Session` holding the sid/rsid
cookies, the JSON envelope, lenient models, typed errors (errors.py).

What a failure means (itrader.errors):
* Reads (me, list, get_payout, attachments) and login: a timeout, a dropped
  connection or a 5xx is a TemporaryError — nothing changed on the panel.
* Writes (show, approve, cancel, set_balance): a failure after the request may
  have reached the panel — a read timeout, a connection dropped after sending,
  a 5xx, a 2xx answer we cannot read, a failed re-read after the panel said
  OK — is OutcomeUnknown: the panel may have acted, the caller reads the payout
  back. Only what proves the request was never performed stays a
  TemporaryError (a connection that never opened, a 429, a 401) or Blocked.

Retry policy — which calls are repeated by the client itself:
* GETs (me, list, get_payout, attachments): idempotent, retried on temporary
  errors with exponential backoff and jitter — short pauses, at most
  MAX_RETRY_SLEEP seconds in all per call (far below a lease's ttl/3).
* A 429 is never waited out here: RateLimited goes to the caller with the
  panel's Retry-After, and the actor puts the request off (a timer) instead
  of sleeping in its handler.
* A Cloudflare challenge page (cloudflare.py) is answered the same way, any
  call, login and writes included: Challenged, a RateLimited whose wait
  doubles with each challenge in a row (`challenge_wait` up to
  `challenge_wait_max`); the panel never saw the request, so nothing was done.
* login and set_balance: repeating them leaves the same state (a new session;
  the same absolute balance), so they are retried like GETs, outcome unknown
  included; set_balance raises OutcomeUnknown if any try's outcome was unknown.
* show (take): retried too. A repeated /show of a payout we already took
  answers `incorrect_status` (reference §6.4, §11); `show` then re-reads the
  payout and returns it if it is ours, so a retry can never take twice nor
  hide that someone else took it.
* approve and cancel: never repeated — their OutcomeUnknown goes to the
  caller, who reconciles with `get_payout`.
* Every HTTP attempt of a write (show, approve, cancel, set_balance) first
  calls `before_write`, the actor's lease check: a retry cannot go out after
  the account's lease was lost (it raises, e.g. LeaseLost, and nothing is sent).
* Any call answered 401 (session expired) logs in again and is sent once more;
  a 401 means the panel did not act. A Cloudflare 403 is never repeated.

Nothing here logs or puts into an error a password or a cookie value.
"""
from __future__ import annotations

import json
import logging
import random
import time
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar
from urllib.parse import urlsplit

import requests

from itrader.gate.cloudflare import challenge_wait, is_challenge
from itrader.gate.cookies import DEFAULT_LIFETIME, SESSION_COOKIES, StoredCookie
from itrader.gate.errors import (
    Blocked, Challenged, EndpointGone, GateError, IncorrectStatus, LoginFailed, NotFound, OutcomeUnknown,
    PermanentError, ProtocolError, RateLimited, SessionExpired, TemporaryError,
)
from itrader.gate.models import Attachment, Me, Payout, PayoutPage
from itrader.transport import never_sent

log = logging.getLogger("itrader.gate")

REAL_PANEL_HOST = "panel.gate.cx"
REAL_CDN_URL = "https://cdn.gate.cx/"
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
OWN_PAYOUT_STATUSES = (5, 6, 7)  # taken by us, approved, completed
OPEN_PAYOUT_STATUSES = (4, 5)
# A search by id alone was never sent by the originals; when it finds nothing, these are asked in turn: the
# originals' own read-back (`search[id]` with `filters[status][]=4&=5`, reference/gate-api.md §6.3-§6.4),
# then the approved and history statuses (6, 7, and 8-9 where an expired or cancelled payout goes).
SEARCH_FALLBACK_STATUSES = ((4, 5), (6, 7, 8, 9))
MAX_RETRY_SLEEP = 2.0  # seconds of backoff per call in all; what would take longer is the caller's to schedule

T = TypeVar("T")


class GateClient:
    def __init__(
        self,
        base_url: str,
        login: str,
        password: str,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        rate_limiter: Callable[[], None] | None = None,
        *,
        cdn_url: str | None = None,
        max_attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        default_retry_after: float = 60.0,
        before_write: Callable[[], None] | None = None,
        challenge_wait: float = 30.0,
        challenge_wait_max: float = 900.0,
    ) -> None:
        """
        base_url: the API base, e.g. https://panel.gate.cx/api/v1 or http://127.0.0.1:PORT/gate/api/v1.
        rate_limiter: called before every HTTP request; it may wait briefly or raise (e.g. RateBudgetExhausted).
        cdn_url: where attachments are served; defaults to cdn.gate.cx for the real panel and to
            `<base_url>/cdn/` otherwise (the sandbox's layout).
        max_attempts: tries per retried call (the first one included).
        default_retry_after: the wait a 429 without a usable Retry-After asks for.
        before_write: called before every HTTP attempt of a write; raising there stops the call unsent
            (the account actor's lease check).
        challenge_wait, challenge_wait_max: the wait a first Cloudflare challenge asks for, doubled with each
            further challenge in a row, at most the max.
        """
        self.base_url = base_url.rstrip("/")
        self.login_name = login
        self._password = password
        self.session = session or requests.Session()
        self.timeout = timeout
        self.rate_limiter = rate_limiter
        parts = urlsplit(self.base_url)
        self._host = parts.hostname or ""
        self._https = parts.scheme == "https"
        self._origin = f"{parts.scheme}://{parts.netloc}"
        if cdn_url is None:
            cdn_url = REAL_CDN_URL if self._host == REAL_PANEL_HOST else self.base_url + "/cdn/"
        self.cdn_url = cdn_url if cdn_url.endswith("/") else cdn_url + "/"
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.default_retry_after = default_retry_after
        self.before_write = before_write
        self.challenge_wait, self.challenge_wait_max = challenge_wait, challenge_wait_max
        self.challenges_in_a_row = 0
        self.trader_id: int | None = None

    def __repr__(self) -> str:
        return f"GateClient(base_url={self.base_url!r}, login={self.login_name!r})"

    # ------------------------------------------------------------------ session

    @property
    def has_session(self) -> bool:
        return self._cookie("sid") is not None

    def login(self) -> None:
        """POST /auth/basic/login; succeeds when the panel sets a session cookie (as both originals judge it).
        An account kept by its imported cookies alone has no password: its expired session is final."""
        if not self._password:
            raise SessionExpired("the session has expired and no password is stored to log in again",
                                 path="/auth/basic/login")
        for name in SESSION_COOKIES:
            self._drop_cookie(name)
        self._send("POST", "/auth/basic/login", retry=True, relogin=False, interpret=self._interpret_login,
                   json={"login": self.login_name, "password": self._password})
        log.info("gate login ok for %s", self.login_name)

    def import_cookies(self, cookies: Iterable[StoredCookie]) -> None:
        """Use saved cookies (e.g. from `load_cookie_file`) as this client's session.

        They are bound to this client's host: the file names the real panel's domain,
        and a cookie file is per account anyway.
        """
        for cookie in cookies:
            self.session.cookies.set(
                cookie.name, cookie.value, domain=self._host, path=cookie.path or "/",
                expires=int(cookie.expires) if cookie.expires else None, secure=cookie.secure and self._https,
                rest={"HttpOnly": None} if cookie.http_only else {},
            )

    def export_cookies(self) -> list[StoredCookie]:
        """The current session cookies, for `save_cookie_file`."""
        now = time.time()
        return [
            StoredCookie(name=c.name, value=c.value or "", domain=c.domain, path=c.path or "/",
                         expires=float(c.expires) if c.expires else now + DEFAULT_LIFETIME,
                         http_only=c.has_nonstandard_attr("HttpOnly"), secure=bool(c.secure))
            for c in self.session.cookies if self._ours(c.domain)
        ]

    # ------------------------------------------------------------------ API calls

    def me(self) -> Me:
        """GET /auth/me: the trader and his wallets; also the cheapest session check."""
        me = Me.parse(self._send("GET", "/auth/me", retry=True))
        if me.id is not None:
            self.trader_id = me.id
        return me

    def list_payouts(
        self,
        status: int | Iterable[int] | None = None,
        page: int = 1,
        search: str | None = None,
        *,
        search_id: int | None = None,
        per_page: int | None = None,
    ) -> PayoutPage:
        """GET /payments/payouts: one page, newest first. `search` is the free-text `search[term]`."""
        params: list[tuple[str, Any]] = []
        statuses = [status] if isinstance(status, int) else list(status or ())
        params += [("filters[status][]", s) for s in statuses]
        if search_id is not None:
            params.append(("search[id]", search_id))
        if search:
            params.append(("search[term]", search))
        params.append(("page", page))
        if per_page is not None:
            params.append(("per_page", per_page))
        response = self._send("GET", "/payments/payouts", retry=True, params=params)
        try:
            return PayoutPage.parse(response, page)
        except ValueError as exc:
            raise ProtocolError(f"GET /payments/payouts: unreadable payout list ({exc})", path="/payments/payouts") from None

    def iter_payouts(
        self,
        status: int | Iterable[int] | None = None,
        search: str | None = None,
        *,
        per_page: int | None = None,
        max_pages: int = 100,
    ) -> Iterator[Payout]:
        """Every payout over all pages; a payout that shifts to the next page while we read is yielded once."""
        seen: set[int] = set()
        page = 1
        while page <= max_pages:
            result = self.list_payouts(status, page, search, per_page=per_page)
            for payout in result.payouts:
                if payout.id not in seen:
                    seen.add(payout.id)
                    yield payout
            if not result.has_next or not result.payouts:
                return
            page += 1

    def get_payout(self, payout_id: int) -> Payout:
        """One payout by id, through the list's `search[id]` (the single-payout path never answered reliably).
        Not found by the id alone, it is looked for with the status filters the originals sent beside it
        (SEARCH_FALLBACK_STATUSES): a panel that filters by status by default must not hide our payout."""
        for statuses in ((), *SEARCH_FALLBACK_STATUSES):
            for payout in self.list_payouts(statuses, search_id=payout_id).payouts:
                if payout.id == payout_id:
                    return payout
        raise NotFound(f"payout {payout_id} is not visible to {self.login_name}", status=None,
                       path="/payments/payouts")

    def show(self, payout_id: int) -> Payout:
        """Take a payout in work (4 -> 5) and return it with its amount revealed.

        If the panel says the payout is already in work and it is ours, that is the
        outcome we wanted (an earlier attempt went through): the re-read payout is
        returned. If someone else has it, IncorrectStatus is raised. OutcomeUnknown:
        the payout may be ours now, the caller reads it back (see `own_payout`).
        """
        path = f"/payments/payouts/{payout_id}/show"
        try:
            response = self._send("POST", path, retry=True, write=True)
        except IncorrectStatus:
            payout = self._after_write("take", payout_id, self.own_payout)
            if payout is None:
                raise
            log.info("gate payout %s was already taken by us", payout_id)
            return payout
        payout = self._payout_in(response)
        if payout is None or payout.amount.hidden:  # re-read for the amount, as the later original did
            payout = self._after_write("take", payout_id, self.get_payout)
        return payout

    def approve(self, payout_id: int, filename: str, pdf_bytes: bytes, content_type: str = "application/pdf") -> Payout:
        """Confirm the payout as paid with the receipt as `attachments[]` (5 -> 6). Never retried blindly.

        After OutcomeUnknown the panel may or may not have approved: the caller
        reconciles with `get_payout` (status 6/7 = done, 5 = not done).
        IncorrectStatus means the payout is not (or no longer) ours to approve.
        """
        path = f"/payments/payouts/{payout_id}/approve"
        response = self._send("POST", path, retry=False, write=True,
                              files=[("attachments[]", (filename, pdf_bytes, content_type))])
        return self._payout_in(response) or self._after_write("approve", payout_id, self.get_payout)

    def cancel(self, payout_id: int) -> Payout:
        """Give a taken payout back. Not retried; reconcile with get_payout after OutcomeUnknown."""
        response = self._send("POST", f"/payments/payouts/{payout_id}/cancel", retry=False, write=True)
        return self._payout_in(response) or self._after_write("cancel", payout_id, self.get_payout)

    def set_balance(self, amount: Decimal | int | str) -> None:
        """Set the RUB working balance the panel offers payouts against (0 stops new offers)."""
        value = Decimal(str(amount))
        if not value.is_finite() or value < 0:
            raise ValueError("balance must be a non-negative number")
        text = str(value.quantize(Decimal(1))) if value == value.to_integral_value() else str(value)
        self._send("POST", "/payments/payouts/balance", retry=True, write=True, json={"amount": text})

    def attachment_url(self, attachment: Attachment) -> str:
        return self.cdn_url + attachment.original_url.lstrip("/")

    def download_attachment(self, attachment: Attachment) -> bytes:
        """The bytes of an uploaded attachment, from the CDN."""
        return self._send("GET", self.attachment_url(attachment), retry=True, relogin=False,
                          interpret=self._interpret_file)

    # ------------------------------------------------------------------ plumbing

    def own_payout(self, payout_id: int) -> Payout | None:
        """The payout if this trader has it (taken, approved or completed); None if not ours or not visible."""
        try:
            payout = self.get_payout(payout_id)
        except NotFound:
            return None
        if self.trader_id is None:
            self.me()
        mine = payout.trader_id is None or self.trader_id is None or payout.trader_id == self.trader_id
        return payout if mine and payout.status in OWN_PAYOUT_STATUSES else None

    @staticmethod
    def _after_write(action: str, payout_id: int, read: Callable[[int], T]) -> T:
        """A re-read right after the panel answered a write: the write went through (or, for a take
        answered `incorrect_status`, may have), so a failed re-read leaves its outcome unknown."""
        try:
            return read(payout_id)
        except GateError as exc:
            raise OutcomeUnknown(f"{action} of payout {payout_id}: the panel answered, but the payout could "
                                 f"not be read back ({exc})", status=exc.status, path=exc.path) from None

    @staticmethod
    def _payout_in(response: Any) -> Payout | None:
        """The payout in a successful answer; None when its shape is unreadable (the action still happened)."""
        raw = response.get("payout", response) if isinstance(response, Mapping) else response
        try:
            return Payout.parse(raw)
        except ValueError:
            return None

    def _send(self, method: str, path: str, *, retry: bool, write: bool = False, relogin: bool = True,
              interpret: Callable[[requests.Response], Any] | None = None, **kwargs: Any) -> Any:
        """`retry`: the call may be repeated (only idempotent ones: reads, login, show, set_balance).
        `write`: the call changes the panel's state, so a lost answer is OutcomeUnknown, not temporary."""
        interpret = interpret or self._interpret_envelope
        if relogin and not self.has_session:
            self.login()
        attempt, relogged, slept = 1, False, 0.0
        unknown: OutcomeUnknown | None = None  # an earlier try that may have acted
        while True:
            try:
                return self._exchange(method, path, interpret, write, **kwargs)
            except SessionExpired as exc:
                if not relogin or relogged:
                    raise unknown or exc
                relogged = True
                log.info("gate session expired for %s on %s %s; logging in again", self.login_name, method, path)
                self.login()
            except RateLimited as exc:  # the caller waits, not us (module docstring); Challenged too
                raise unknown or exc
            except (TemporaryError, OutcomeUnknown) as exc:
                if isinstance(exc, OutcomeUnknown):
                    unknown = exc
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                if not retry or attempt >= self.max_attempts or slept + delay > MAX_RETRY_SLEEP:
                    raise unknown or exc
                log.warning("gate %s %s failed (%s); retry %d in %.2fs", method, path, exc, attempt, delay)
                time.sleep(delay)
                slept += delay
                attempt += 1

    def _exchange(self, method: str, path: str, interpret: Callable[[requests.Response], Any], write: bool,
                  **kwargs: Any) -> Any:
        """One request and its answer. A write answered 5xx, or 2xx in a shape we cannot read, may have
        been carried out: OutcomeUnknown. (A 429 or 401 is refused before any work.)"""
        response = self._http(method, path, write, **kwargs)
        if is_challenge(response.status_code, response.headers, response.content or b""):
            self.challenges_in_a_row += 1
            wait = challenge_wait(self.challenges_in_a_row, self.challenge_wait, self.challenge_wait_max)
            raise Challenged(self._describe(response, f"Cloudflare challenge ({self.challenges_in_a_row} in a row), "
                                                      f"nothing done; retry after {wait:g}s"),
                             retry_after=wait, status=response.status_code, path=_path(response))
        self.challenges_in_a_row = 0
        try:
            return interpret(response)
        except (TemporaryError, ProtocolError) as exc:
            if not write or isinstance(exc, RateLimited):
                raise
            raise OutcomeUnknown(f"{exc}; the panel may have acted", status=exc.status, path=exc.path) from None

    def _http(self, method: str, path: str, write: bool = False, **kwargs: Any) -> requests.Response:
        if write and self.before_write is not None:
            self.before_write()  # the lease, checked right before each try: a raise here sends nothing
        if self.rate_limiter is not None:
            self.rate_limiter()
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        headers = {
            "User-Agent": USER_AGENT, "Accept": "application/json, text/plain, */*",
            "Accept-Language": "en-US,en;q=0.9", "Accept-Encoding": "identity", "DNT": "1",
            "Referer": self._origin + "/", "Origin": self._origin,
        }
        try:
            return self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise self._transport_error(method, path, exc, write) from None

    def _transport_error(self, method: str, path: str, exc: requests.RequestException, write: bool) -> GateError:
        where = f"{method} {_short(path)}"
        if isinstance(exc, requests.Timeout):
            what = f"no answer within {self.timeout:g}s"
        elif isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            what = f"connection failed ({type(exc).__name__})"
        else:
            return PermanentError(f"{where}: request failed ({type(exc).__name__})", path=path)
        if write and not never_sent(exc):
            return OutcomeUnknown(f"{where}: {what}; the panel may have acted", path=path)
        return TemporaryError(f"{where}: {what}", path=path)

    def _interpret_envelope(self, resp: requests.Response) -> Any:
        """The `response` of a successful envelope, or the typed error for this answer."""
        if not 200 <= resp.status_code < 300:
            raise self._error_for(resp)
        body = self._json(resp)
        if not isinstance(body, dict):
            raise ProtocolError(self._describe(resp, "the answer is not a JSON object"), status=resp.status_code,
                                path=_path(resp))
        if body.get("success") is False:
            raise self._rejection(resp, body)
        return body.get("response") if ("success" in body or "response" in body) else body

    def _interpret_login(self, resp: requests.Response) -> None:
        got_cookie = any(name in resp.cookies for name in SESSION_COOKIES)
        if 200 <= resp.status_code < 300 and got_cookie:
            return None
        if resp.status_code in (401, 419, 422, 400) or (200 <= resp.status_code < 300):
            body = self._json(resp, strict=False)
            raise LoginFailed(self._describe(resp, _server_message(body) or "no session cookie came back"),
                              status=resp.status_code, path=_path(resp))
        raise self._error_for(resp)

    def _interpret_file(self, resp: requests.Response) -> bytes:
        if resp.status_code == 200:
            return resp.content
        raise self._error_for(resp)

    def _error_for(self, resp: requests.Response) -> GateError:
        status, path = resp.status_code, _path(resp)
        if status in (401, 419):
            return SessionExpired(self._describe(resp, "session expired"), status=status, path=path)
        if status == 403:
            content_type = resp.headers.get("Content-Type", "")
            if "html" in content_type or resp.headers.get("Server", "").lower() == "cloudflare" \
                    or "cf-ray" in {k.lower() for k in resp.headers}:
                return Blocked(self._describe(resp, "blocked by Cloudflare"), status=status, path=path)
            return PermanentError(self._describe(resp, _server_message(self._json(resp, strict=False)) or "forbidden"),
                                  status=status, path=path)
        if status == 429:
            retry_after = _retry_after(resp.headers.get("Retry-After"), self.default_retry_after)
            return RateLimited(self._describe(resp, f"rate limited, retry after {retry_after:g}s"),
                               retry_after=retry_after, status=status, path=path)
        if status == 410:
            return EndpointGone(self._describe(resp, "endpoint gone"), status=status, path=path)
        if status >= 500:
            return TemporaryError(self._describe(resp, "server error"), status=status, path=path)
        body = self._json(resp, strict=False)
        if status == 404:
            return NotFound(self._describe(resp, _server_message(body) or "not found"), status=status, path=path)
        if isinstance(body, dict):
            return self._rejection(resp, body)
        return PermanentError(self._describe(resp, "request refused"), status=status, path=path)

    def _rejection(self, resp: requests.Response, body: dict) -> PermanentError:
        message = _server_message(body) or "request refused"
        cls = IncorrectStatus if _says_incorrect_status(body) else PermanentError
        return cls(self._describe(resp, message), status=resp.status_code, path=_path(resp))

    def _json(self, resp: requests.Response, strict: bool = True) -> Any:
        try:
            return json.loads(resp.content or b"null", parse_float=Decimal)
        except ValueError:
            if strict:
                raise ProtocolError(self._describe(resp, "the answer is not JSON"), status=resp.status_code,
                                    path=_path(resp)) from None
            return None

    def _describe(self, resp: requests.Response, what: str) -> str:
        return self._redact(f"{resp.request.method} {_path(resp)} -> HTTP {resp.status_code}: {what}")

    def _redact(self, text: str) -> str:
        """Belt and braces: a server echoing a secret back must not put it into our errors."""
        secrets = [self._password] + [c.value for c in self.session.cookies if c.value]
        for secret in secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text[:500]

    def _cookie(self, name: str) -> str | None:
        return next((c.value for c in self.session.cookies if c.name == name and self._ours(c.domain)), None)

    def _drop_cookie(self, name: str) -> None:
        for cookie in [c for c in self.session.cookies if c.name == name and self._ours(c.domain)]:
            self.session.cookies.clear(cookie.domain, cookie.path, cookie.name)

    def _ours(self, domain: str) -> bool:
        domain = domain.lstrip(".")
        return self._host == domain or self._host.endswith("." + domain) or domain == self._host + ".local"


def _path(resp: requests.Response) -> str:
    return urlsplit(resp.request.url or "").path


def _short(path: str) -> str:
    return urlsplit(path).path if "://" in path else path


def _server_message(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for key in ("error", "message"):
        if isinstance(body.get(key), str) and body[key].strip():
            return body[key].strip()[:200]
    return ""


def _says_incorrect_status(body: Mapping[str, Any]) -> bool:
    """The originals' test for "already in work / wrong state" (reference §6.4)."""
    response = body.get("response")
    description = response.get("error_description", "") if isinstance(response, Mapping) else ""
    message = " ".join(str(body.get(k) or "") for k in ("message", "error")).lower()
    return "incorrect_status" in str(description) or "already" in message or "processing" in message


def _retry_after(header: str | None, default: float) -> float:
    if not header:
        return default
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError):
        return default

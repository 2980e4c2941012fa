"""The operator's console: server-rendered pages (Bottle templates) on the daemon's app, plain JS for liveness.

Sign-in takes the API token once and gives an HttpOnly, SameSite=Strict session cookie; the token is
never put in a page or a URL. Every POST carries the session's CSRF token (form field `csrf` or header
`X-CSRF-Token`). Pages refresh their live part by fetching `?part=1` (HTML rendered and escaped here)
whenever the event WebSocket, authenticated by the same cookie, reports something.
"""
from __future__ import annotations

import hmac
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import bottle

from itrader.console import views
from itrader.console.sessions import SESSION_SECONDS, Session, Sessions

COOKIE = "itrader_session"
HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_FILES = {"console.js": "application/javascript", "console.css": "text/css"}
PAGES = ("/", "/sign-in", "/sign-out", "/review", "/actors", "/events", "/deals/", "/static/", "/intake/")
# Pages only ever load our own files; no inline script, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def is_console_path(path: str) -> bool:
    return path == "/" or any(path.startswith(prefix) for prefix in PAGES if prefix != "/")


def install(app: bottle.Bottle, source: Any, token: str, sessions: Sessions,
            deal_id_of: Callable[[str], int], not_found: type[Exception],
            refused: dict[type[Exception], int] | None = None) -> None:
    """Add the console's routes to `app` (itrader.web.make_app). `refused`: the API's refusals of an
    operator's action and their HTTP status, shown on the page as the API would answer them."""
    refusals = tuple(refused or {})
    templates = bottle.SimpleTemplate  # {{...}} escapes HTML
    lookup = [str(HERE / "templates")]

    def render(name: str, **values: Any) -> str:
        for key, value in SECURITY_HEADERS.items():
            bottle.response.set_header(key, value)
        return bottle.template(name, template_lookup=lookup, template_adapter=templates, **values)

    def current() -> Session | None:
        return sessions.signed_in(bottle.request.get_cookie(COOKIE))

    def signed_in() -> Session:
        session = current()
        if session is None:
            raise bottle.HTTPResponse(status=303, headers={"Location": "/sign-in", **SECURITY_HEADERS})
        return session

    def check_csrf(session: Session | None) -> None:
        given = bottle.request.forms.get("csrf") or bottle.request.get_header("X-CSRF-Token")
        if not Sessions.csrf_ok(session, given):
            raise bottle.HTTPResponse(status=403, body="403: missing or wrong CSRF token",
                                      headers={"Content-Type": "text/plain; charset=utf-8", **SECURITY_HEADERS})

    def set_cookie(session: Session, max_age: int) -> None:
        bottle.response.set_cookie(COOKIE, session.id, path="/", httponly=True, samesite="Strict", max_age=max_age)

    def page(name: str, title: str, part: str, session: Session, **values: Any) -> str:
        """The whole page, or with `?part=1` only its live part (what console.js swaps in)."""
        if bottle.request.query.get("part"):
            return render(part, **values)
        notice = None
        if session.notice and session.notice.get("page") == bottle.request.path:
            notice, session.notice = session.notice, None
        return render(name, title=title, part=part, csrf=session.csrf, notice=notice, **values)

    def checked_post() -> Session:
        """The session of a POST that carries its CSRF token (else 403, before anything else is read)."""
        session = current()
        check_csrf(session)
        return session

    def act(session: Session, back_to: str, call: Callable[[], dict[str, Any]],
            said: Callable[[dict[str, Any]], dict]) -> None:
        """Do an operator's action; its outcome waits, in the session, for the page it returns to."""
        try:
            notice = said(call())
        except refusals as exc:
            status = next(code for kind, code in refused.items() if isinstance(exc, kind))
            notice = views.refusal_notice(status, exc)
        session.notice = {**notice, "page": back_to}
        raise bottle.HTTPResponse(status=303, headers={"Location": back_to, **SECURITY_HEADERS})

    def form_text(name: str) -> str | None:
        return bottle.request.forms.getunicode(name)  # UTF-8 (a reason may be in Russian), not Latin-1

    @app.get("/sign-in")
    def sign_in_form():
        session = sessions.get(bottle.request.get_cookie(COOKIE))
        if session is not None and session.signed_in:
            return bottle.redirect("/")
        session = session or sessions.start()
        set_cookie(session, SESSION_SECONDS)
        return render("sign_in", title="Sign in", csrf=session.csrf, error="")

    @app.post("/sign-in")
    def sign_in():
        anonymous = sessions.get(bottle.request.get_cookie(COOKIE))
        check_csrf(anonymous)
        given = (bottle.request.forms.get("token") or "").encode()
        if not hmac.compare_digest(given, token.encode()):
            bottle.response.status = 401
            return render("sign_in", title="Sign in", csrf=anonymous.csrf, error="Wrong token.")
        session = sessions.sign_in(anonymous)
        set_cookie(session, SESSION_SECONDS)
        return bottle.redirect("/", 303)

    @app.post("/sign-out")
    def sign_out():
        session = current()
        check_csrf(session)
        sessions.end(session.id)
        bottle.response.delete_cookie(COOKIE, path="/")
        return bottle.redirect("/sign-in", 303)

    @app.get("/", query=("part",))
    def overview():
        session = signed_in()
        now = datetime.now(timezone.utc)
        live = []
        for deal in source.deals(include_finished=False):
            try:
                facts = views.last_facts(source.deal(str(deal["id"])).get("journal") or ())
            except not_found:
                continue
            live.append({**deal, "age": views.age(deal.get("created_at"), now),
                         "waits_for": views.waits_for(str(deal.get("state")), facts.get("awaiting")),
                         "account": deal.get("bybit_account") or deal.get("gate_account") or ""})
        info = source.overview()
        return page("overview", "Overview", "overview_part", session, info=info,
                    accounts=views.account_rows(source.accounts()), live=live, today=views.today_shown(info.get("today")))

    @app.get("/deals/<deal_id>", query=("part",))
    def deal_page(deal_id: str):
        session = signed_in()
        deal = _or_404(source.deal, str(deal_id_of(deal_id)), not_found)
        journal = deal.get("journal") or []
        facts = views.last_facts(journal)
        deal["buyer_name"] = facts.get("buyer_name")
        return page("deal", f"Deal {deal['id']}", "deal_part", session, deal=deal,
                    waits=views.waits_for(str(deal.get("state")), facts.get("awaiting")),
                    timeline=views.timeline(journal), chat=views.chat(journal), steps=views.money_steps(journal),
                    terms=views.payout_terms(journal, deal), checks=views.receipt_checks(journal),
                    has_receipt=views.receipt_file(journal) is not None,
                    in_review=deal.get("state") in views.REVIEW_STATES,
                    resolve_actions=views.RESOLVE_ACTIONS, reason_kinds=views.REASON_KINDS)

    @app.post("/deals/<deal_id>/resolve")
    def resolve(deal_id: str):
        """The resolve form: the same resolution as `POST /api/v1/deals/<id>/resolve`, by "console"."""
        session = checked_post()
        deal = str(deal_id_of(deal_id))
        act(session, f"/deals/{deal}", lambda: source.resolve(deal, views.resolution_request(form_text)),
            views.outcome_notice)

    @app.post("/intake/<switch:re:pause|resume>")
    def intake_switch(switch: str):
        """The overview's pause/resume switch: the same intake as `POST /api/v1/pause|resume`."""
        session = checked_post()

        def call() -> dict[str, Any]:
            if switch == "resume":
                return source.resume(by="console")
            return source.pause(views.pause_reason(form_text("reason")), by="console")

        act(session, "/", call, lambda answer: {"ok": True, "text": str(answer.get("message") or "")})

    @app.get("/deals/<deal_id>/receipt.png")
    def receipt_image(deal_id: str):
        signed_in()
        deal = _or_404(source.deal, str(deal_id_of(deal_id)), not_found)
        path = views.receipt_file(deal.get("journal") or [])
        if path is None or not Path(path).is_file():
            raise bottle.HTTPResponse(status=404, body="no receipt file")
        bottle.response.content_type = "image/png"
        for key, value in SECURITY_HEADERS.items():
            bottle.response.set_header(key, value)
        return receipt_png(Path(path))

    @app.get("/review", query=("part",))
    def review():
        session = signed_in()
        queue = [d for d in source.deals(include_finished=True) if d.get("state") in views.REVIEW_STATES]
        return page("review", "Review queue", "review_part", session, queue=queue)

    @app.get("/actors", query=("part",))
    def actors():
        session = signed_in()
        return page("actors", "Actors", "actors_part", session, rows=views.actor_rows(source.status()))

    @app.get("/events")
    def events():
        session = signed_in()
        return render("events", title="Events", part="", csrf=session.csrf)

    @app.get("/static/<name>")
    def static(name: str):
        if name not in STATIC_FILES:
            raise bottle.HTTPResponse(status=404, body="not found")
        bottle.response.content_type = STATIC_FILES[name]
        bottle.response.set_header("X-Content-Type-Options", "nosniff")
        return (STATIC / name).read_bytes()


def session_of(environ: dict, sessions: Sessions) -> Session | None:
    """The signed-in session a request's cookie names (for the event WebSocket)."""
    request = bottle.BaseRequest(environ)
    return sessions.signed_in(request.get_cookie(COOKIE))


def receipt_png(path: Path) -> bytes:
    """The receipt as an image: a PDF's first page rendered, an image file re-encoded (never served raw)."""
    from PIL import Image

    if path.read_bytes()[:5] == b"%PDF-":
        import pypdfium2

        document = pypdfium2.PdfDocument(str(path))
        try:
            image = document[0].render(scale=1.5).to_pil()
        finally:
            document.close()
    else:
        image = Image.open(path)
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG")
    return out.getvalue()


def _or_404(call: Callable[[str], Any], argument: str, not_found: type[Exception]) -> Any:
    try:
        return call(argument)
    except not_found:
        raise bottle.HTTPResponse(status=404, body="no such deal") from None

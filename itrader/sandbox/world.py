"""The whole simulated world in one object: platforms, bank, mail, LLM, buyers, control API, server.

    world = World(seed=1, speed=0).start(listen="127.0.0.1:0", imap=None)
    payout = world.create_payout(Decimal("5000"), "sbp", "sberbank", persona="honest")
    ...                      # the daemon trades against world.urls["gate"], ["bybit"], ["llm"]
    world.audit()            # [] when no money went astray
    world.stop()

`itrader sandbox` runs one standalone; the daemon's sandbox profile starts one in-process.
"""
from __future__ import annotations

import logging
import random
import re
import shutil
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import gevent

from . import personas
from .audit import PayoutFact, Violation, audit
from .bybit import BybitSandbox
from .buyers import Buyer, BuyerServices, ReceiptBook, Step, normalize_script
from .faults import Faults
from .gate import GateSandbox
from .ledger import Ledger
from .llm import LLMSandbox
from .telegram import BOT_TOKEN as TELEGRAM_TOKEN, CHAT_ID as TELEGRAM_CHAT_ID, TelegramSandbox
from .mail import Mailer
from .server import DEFAULT_IMAP, DEFAULT_LISTEN, HTTPServer, parse_address, root_app

log = logging.getLogger(__name__)

# --- sandbox credentials (test_data/ ships the same values for the daemon to import) ----------------
GATE_LOGIN = "trader@sandbox.local"
GATE_COOKIE_SID = "eyJpdiI6InNhbmRib3gtc2lkIiwidmFsdWUiOiJzYW5kYm94LXNpZC0wMDAxIiwibWFjIjoic2FuZGJveCIsInRhZyI6IiJ9"
GATE_COOKIE_RSID = "eyJpdiI6InNhbmRib3gtcnNpZCIsInZhbHVlIjoic2FuZGJveC1yc2lkLTAwMDEiLCJtYWMiOiJzYW5kYm94IiwidGFnIjoiIn0="
GATE_PASSWORD = "sandbox-gate-password"
GATE_START_BALANCE = Decimal("10000000")
BYBIT_ACCOUNTS = (
    # uid, api key, api secret, nickname
    ("1400001", "SANDBOXKEY000001", "sandbox-secret-0000000000000000001", "SandboxSeller1"),
    ("1400002", "SANDBOXKEY000002", "sandbox-secret-0000000000000000002", "SandboxSeller2"),
    ("1400003", "SANDBOXKEY000003", "sandbox-secret-0000000000000000003", "SandboxSeller3"),
)
MAILBOX_LOGIN = "receipts@sandbox.local"
MAILBOX_PASSWORD = "sandbox-mail-password"
RECEIPT_EMAIL = MAILBOX_LOGIN

PAYOUT_BANKS = ("sberbank", "tinkoff", "alfabank", "vtb", "ozonbank", "psbank")
STREAM_AMOUNTS = (1500, 3000, 4013, 5000, 7000, 12437, 15000, 20001, 28500, 38400)

MOUNTS = {"gate": "/gate/api/v1", "bybit": "/bybit", "llm": "/llm/v1", "telegram": "/telegram", "sandbox": "/sandbox",
          "bybit_files": "/bybit-files"}  # chat files' own host (bybit.file_base_url); /bybit serves them too
FILE_PATH_SAMPLE = "/fiat/p2p/oss/showObj/otc/9001/1.png"


class World:
    def __init__(self, *, seed: int | None = None, maildir: str | Path | None = None, speed: float = 1.0,
                 clock: Callable[[], float] = time.time, default_accounts: bool = True,
                 poll_interval: float = 0.2, llm_latency: float = 0.0,
                 gate_options: dict | None = None, bybit_options: dict | None = None,
                 mail_deliver: Callable[[bytes], object] | None = None) -> None:
        self.seed = seed
        self.speed = speed
        self.clock = clock
        self.default_accounts = default_accounts
        self.rng = random.Random(seed)
        self._own_maildir = maildir is None
        self.maildir = Path(maildir) if maildir is not None else Path(tempfile.mkdtemp(prefix="itrader-sandbox-mail-"))
        self.ledger = Ledger()
        self.faults = Faults(seed)
        self.gate = GateSandbox(self.ledger, self.faults, clock, **(gate_options or {}))
        self.bybit = BybitSandbox(self.ledger, self.faults, clock, **(bybit_options or {}))
        # `mail_deliver` hands the bank's mail to another server's mailbox (tests use Dovecot).
        self.mailer = Mailer(self.maildir / "Maildir", clock=clock, deliver=mail_deliver)
        self.bank = _make_bank(self.ledger, self.faults, clock, self.mailer, seed or 1)
        self.llm = LLMSandbox(self.ledger, self.faults, clock, latency=llm_latency)
        self.telegram = TelegramSandbox(clock)  # where the daemon's alerts land
        self.receipts = ReceiptBook()
        self.services = BuyerServices(bybit=self.bybit, bank=self.bank, mailer=self.mailer, ledger=self.ledger,
                                      receipts=self.receipts, receipt_email=RECEIPT_EMAIL,
                                      poll_interval=poll_interval, clock=clock)
        self._lock = threading.RLock()
        self._buyers: dict[int, Buyer] = {}
        self._buyer_seq = 0
        self._gate_logins: list[str] = []
        self._bybit_uids: list[str] = []
        self._http: HTTPServer | None = None
        self._imap: Any = None
        self._stream: gevent.Greenlet | None = None
        self.stream_per_minute = 0.0
        if default_accounts:
            self._add_default_accounts()

    # --- lifecycle ----------------------------------------------------------------------------

    def app(self):
        from .control import make_control_app

        return root_app({
            MOUNTS["gate"]: self.gate.make_app(),
            MOUNTS["bybit"]: self.bybit.make_app(),
            MOUNTS["llm"]: self.llm.make_app(),
            MOUNTS["telegram"]: self.telegram.make_app(),
            MOUNTS["sandbox"]: make_control_app(self),
            MOUNTS["bybit_files"]: self.bybit.make_files_app(),
        })

    def start(self, listen: str = DEFAULT_LISTEN, imap: str | None = DEFAULT_IMAP,
              stream_per_minute: float = 0.0) -> "World":
        """Serve everything on `listen` (port 0 = any free one) and the mailbox over IMAP on `imap` (None = no IMAP)."""
        self._http = HTTPServer(self.app(), listen).start()
        if imap:
            self._imap = _start_imap(self.maildir, imap)
        if stream_per_minute:
            self.start_stream(stream_per_minute)
        return self

    def stop(self) -> None:
        self.stop_stream()
        with self._lock:
            buyers = list(self._buyers.values())
        for buyer in buyers:
            buyer.stop()
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self._imap is not None:
            self._imap.stop()
            self._imap = None
        if self._own_maildir:
            shutil.rmtree(self.maildir, ignore_errors=True)

    @property
    def urls(self) -> dict[str, str]:
        if self._http is None:
            return {}
        base = self._http.url
        urls = {name: base + prefix for name, prefix in MOUNTS.items()}
        urls["base"] = base
        if self._imap is not None:
            urls["imap"] = f"imap://{self._imap.host}:{self._imap.port}"
        return urls

    @property
    def imap_address(self) -> tuple[str, int] | None:
        return (self._imap.host, self._imap.port) if self._imap is not None else None

    def credentials(self) -> dict[str, Any]:
        return {
            "gate": {"login": GATE_LOGIN, "password": GATE_PASSWORD},
            "bybit": [{"uid": uid, "api_key": key, "api_secret": secret, "nickname": nick}
                      for uid, key, secret, nick in BYBIT_ACCOUNTS],
            "mailbox": {"login": MAILBOX_LOGIN, "password": MAILBOX_PASSWORD, "address": RECEIPT_EMAIL},
            "dkim": {"selector": self.mailer.selector, "domain": self.mailer.domain},
            "telegram": {"token": TELEGRAM_TOKEN, "chat_id": TELEGRAM_CHAT_ID},
        }

    def reset(self) -> None:
        """Forget every payout, order, transfer, mail and fault; keep the servers and default accounts."""
        self.stop_stream()
        with self._lock:
            buyers, self._buyers = list(self._buyers.values()), {}
        for buyer in buyers:
            buyer.stop()
        self.ledger.reset()
        self.faults.reset()
        self.gate.reset()
        self.bybit.reset()
        self.llm.reset()
        self.telegram.reset()
        self.receipts.reset()
        self._gate_logins, self._bybit_uids = [], []
        if hasattr(self.bank, "reset"):
            self.bank.reset()
        for sub in ("new", "cur", "tmp"):
            for path in (self.maildir / "Maildir" / sub).glob("*"):
                path.unlink(missing_ok=True)
        if self.default_accounts:
            self._add_default_accounts()

    def _add_default_accounts(self) -> None:
        self.add_gate_account(GATE_LOGIN, GATE_PASSWORD, GATE_START_BALANCE)
        # The session of test_data/gate_cookie.json, so a cookie import works as in production.
        self.gate.add_session(GATE_LOGIN, GATE_COOKIE_SID, GATE_COOKIE_RSID)
        for uid, key, secret, nickname in BYBIT_ACCOUNTS:
            self.add_bybit_account(uid, key, secret, nickname)

    # --- accounts -----------------------------------------------------------------------------

    def add_gate_account(self, login: str, password: str, balance: Decimal = Decimal(0)) -> None:
        self.gate.add_account(login, password, Decimal(balance))
        with self._lock:
            self._gate_logins.append(login)

    def add_bybit_account(self, uid: str, api_key: str, api_secret: str, nickname: str = "", **options: Any) -> None:
        self.bybit.add_account(uid, api_key, api_secret, nickname, **options)
        with self._lock:
            self._bybit_uids.append(uid)

    def accounts_view(self) -> dict[str, Any]:
        """Who trades here (no secrets): Gate logins with balances, Bybit uids with USDT and live ads."""
        with self._lock:
            logins, uids = list(self._gate_logins), list(self._bybit_uids)
        return {
            "gate": [{"login": login, "balance": str(self.gate.balance(login))} for login in logins],
            "bybit": [{"uid": uid, "balance": str(self.bybit.balance(uid)),
                       "online_ads": len(self.bybit.ads(uid, online_only=True))} for uid in uids],
        }

    def dkim_records(self) -> dict[str, str]:
        """The bank's DKIM DNS TXT records by name, for the daemon's verifier in the sandbox profile."""
        from .mail import dns_txt_records

        return {name: value.decode() for name, value in dns_txt_records(self.mailer.selector).items()}

    # --- payouts and buyers -------------------------------------------------------------------

    def create_payout(self, amount: Decimal | str | int, method: str = "sbp", bank: str = "sberbank",
                      wallet: str | None = None, *, persona: str | None = None, script: list | None = None,
                      speed: float | None = None, expires_in: float = 1800,
                      names: dict[str, str] | None = None) -> dict[str, Any]:
        """A new Gate payout (status 4); with a persona or script, its buyer starts waiting for our ad.

        `names` may set the buyer's `real_name` (Bybit's buyerRealName) and `payer_name` (the holder of
        the bank account it pays from); each defaults to the buyer's own, drawn from its seed."""
        steps = self._steps(persona, script)  # validate before creating anything
        if names and steps is None:
            raise ValueError("buyer names need a buyer: give a persona or a script too")
        payout = self.gate.create_payout(Decimal(str(amount)), method, bank, wallet, expires_in)
        if steps is not None:
            self._attach(payout, steps, persona if script is None else None, speed, names)
        return self.payout_view(int(payout["id"]))

    def attach_buyer(self, payout_id: int, *, persona: str | None = None, script: list | None = None,
                     speed: float | None = None, names: dict[str, str] | None = None) -> dict[str, Any]:
        steps = self._steps(persona, script)
        if steps is None:
            raise ValueError("give a persona or a script")
        payout = self.gate.payout(int(payout_id))  # KeyError for an unknown payout
        with self._lock:
            old = self._buyers.get(int(payout_id))
        if old is not None and old.state in ("pending", "running"):
            raise ValueError(f"payout {payout_id} already has a buyer at work")
        self._attach(payout, steps, persona if script is None else None, speed, names)
        return self.payout_view(int(payout_id))

    @staticmethod
    def _steps(persona: str | None, script: list | None) -> list[Step] | None:
        if script is not None:
            return normalize_script(script)
        if persona is not None:
            return personas.script(persona)
        return None

    def _attach(self, payout: dict, steps: list[Step], persona: str | None, speed: float | None,
                names: dict[str, str] | None = None) -> Buyer:
        facts = payout["sandbox"]
        with self._lock:
            self._buyer_seq += 1
            buyer_id = str(2900000 + self._buyer_seq)
            buyer = Buyer(
                {"id": payout["id"], "amount": facts["amount"], "wallet": payout["wallet"],
                 "bank": facts["bank"], "method": facts["method"]},
                steps, self.services, buyer_id=buyer_id, persona=persona or "custom",
                speed=self.speed if speed is None else speed, seed=self.rng.randrange(2**32),
                real_name=(names or {}).get("real_name"), payer_name=(names or {}).get("payer_name"))
            self._buyers[int(payout["id"])] = buyer
        return buyer.start()

    def buyer(self, payout_id: int) -> Buyer | None:
        with self._lock:
            return self._buyers.get(int(payout_id))

    def wait_for_buyers(self, timeout: float) -> bool:
        """Block (cooperatively) until every buyer finished its script; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = [b for b in self._buyers.values() if not b.finished]
            if not busy:
                return True
            gevent.sleep(0.05)
        return False

    def payout_view(self, payout_id: int) -> dict[str, Any]:
        payout = self.gate.payout(int(payout_id))
        facts = payout["sandbox"]
        buyer = self.buyer(payout_id)
        return {
            "id": payout["id"], "status": payout["status"], "amount": facts["amount"], "method": facts["method"],
            "bank": facts["bank"], "wallet": payout["wallet"], "account": facts["account"],
            "approved_at": payout.get("approved_at"), "expired_at": payout.get("expired_at"),
            "attachments": len(payout.get("attachments") or []),
            "buyer": buyer.status() if buyer is not None else None,
        }

    def payouts_view(self) -> list[dict[str, Any]]:
        return [self.payout_view(int(p["id"])) for p in self.gate.payouts()]

    def orders_view(self) -> list[dict[str, Any]]:
        links = {str(e["order_id"]): int(e["payout_id"]) for e in self.ledger.entries("buyer_order")}
        orders = []
        for order in self.bybit.orders():
            view = {key: order.get(key) for key in (
                "id", "itemId", "userId", "targetUserId", "status", "amount", "price", "quantity", "createDate")}
            view["payout_id"] = links.get(str(order.get("id")))
            orders.append(view)
        return orders

    def endpoint_paths(self, platform: str) -> list[str]:
        """A sample request path for each endpoint of gate, bybit or llm (placeholders filled in), as the
        apps are mounted here: what a scripted fault's endpoint pattern must match one of."""
        if platform == "bybit":
            rules = [*self.bybit.ROUTES, FILE_PATH_SAMPLE]
        else:
            rules = [route.rule for route in {"gate": self.gate, "llm": self.llm}[platform].make_app().routes]
        return [MOUNTS[platform] + re.sub(r"<[^>]*>", "1", rule) for rule in rules]

    # --- the money audit ------------------------------------------------------------------------

    def audit(self) -> list[Violation]:
        payouts = {}
        for payout in self.gate.payouts():
            facts = payout["sandbox"]
            payouts[int(payout["id"])] = PayoutFact(int(payout["id"]), Decimal(facts["amount"]), payout["wallet"])
        links = {str(e["order_id"]): int(e["payout_id"]) for e in self.ledger.entries("buyer_order")}
        return audit(self.ledger.entries(), payouts, links)

    # --- a stream of payouts -----------------------------------------------------------------

    def start_stream(self, per_minute: float) -> None:
        """Create `per_minute` payouts a minute, each with a buyer drawn from the persona mix."""
        self.stop_stream()
        if per_minute <= 0:
            return
        self.stream_per_minute = per_minute
        self._stream = gevent.spawn(self._stream_loop, 60.0 / per_minute)

    def stop_stream(self) -> None:
        if self._stream is not None:
            self._stream.kill(block=False)
            self._stream = None
        self.stream_per_minute = 0.0

    def _stream_loop(self, interval: float) -> None:
        while True:
            try:
                self.create_payout(
                    Decimal(self.rng.choice(STREAM_AMOUNTS)), self.rng.choice(("sbp", "sbp", "card")),
                    self.rng.choice(PAYOUT_BANKS), persona=personas.pick(self.rng))
            except Exception:
                log.exception("sandbox stream: could not create a payout")
            gevent.sleep(interval)


def _make_bank(ledger: Ledger, faults: Faults, clock: Callable[[], float], mailer: Mailer, seed: int):
    from .bank import Bank

    return Bank(ledger, faults, clock, mailer, seed=seed)


def _start_imap(maildir: Path, address: str):
    from .imap import start_imap_server

    host, port = parse_address(address, 1143)
    return start_imap_server(maildir, host, port, MAILBOX_LOGIN, MAILBOX_PASSWORD)

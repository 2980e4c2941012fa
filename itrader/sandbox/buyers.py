"""Simulated Bybit buyers: one greenlet per payout, following a script of steps.

A script is a JSON list. Each step is either a bare action name ("open_order")
or an object with one action key whose value is its main parameter or an
object of parameters:

  {"open_order": {"timeout": 1800}}      wait for an online ad with min = max = the payout amount, open an order;
                                         "after": N first waits N seconds of market time (when this buyer comes
                                         along at all: not a human pause, so not scaled by the speed factor)
  {"say": "Да"}                          send a chat message (after a short human typing pause)
  {"expect": "реквизит|сумма", "timeout": 300, "on_timeout": "stop"}
                                         wait until a NEW seller message matches the regex (case-insensitive)
  {"answer_if_asked": {"pattern": "неверный банк", "say": "подтверждаю", "until": "реквизит", "timeout": 300,
                       "on_timeout": "continue"}}
                                         a question we may or may not ask: wait for a NEW seller message; one
                                         matching "pattern" is answered with "say"; one matching "until" (checked
                                         first) means we did not ask, and it is left for the next "expect"; other
                                         messages are passed over; nothing within the timeout ends the step
                                         ("continue", the default) or the script ("stop")
  {"wait": 5}                            pause (human time: scaled by the speed factor)
  {"pay": {"to": "default", "amount": "default", "delta": 0, "payer": "self"}}
                                         bank transfer; "default" = what OUR requisites message says (an honest
                                         buyer follows it), "payout" = the payout's real wallet, "other" = a wrong
                                         wallet, or {"wallet": ..., "bank": ...}; amount a number or "default";
                                         "payer" whose bank account pays (the receipt's «Отправитель»): "self" (the
                                         buyer's own), "other" (someone else's) or a name; the bank records the
                                         buyer, its order and that account holder's name
  "mark_paid"                            press "paid" on Bybit (10 -> 20)
  {"send_receipt": {"via": "email", "dkim": "valid", "tamper": {...}, "forge": false, "reuse": false}}
                                         the bank's PDF receipt of our last transfer, by e-mail (DKIM valid, invalid
                                         or absent) or in the chat; "forge" makes it claim the requisites' wallet and
                                         amount whatever was paid; "reuse" sends another deal's earlier receipt;
                                         "format": "png" posts a phone screenshot of it instead (chat only),
                                         "layout": "wide" (default) or "narrow" (each value under its label)
  "cancel" / "appeal"                    on the Bybit order

A buyer has two names, both fixed by its seed unless the control API sets them: `payer_name`, the
holder of its bank account as T-Bank prints it («Имя Фамилия», Cyrillic), and `real_name`, its Bybit
KYC name (buyerRealName): the same Cyrillic spelling, or Latin as a passport has it («IVAN SMIRNOV»,
surname first «SMIRNOV IVAN») by the sandbox's own transliteration.

Human pauses are multiplied by `speed` (0 = no human delay, for tests and
benchmarks); waits for the other side are bounded by their own timeouts and
are not scaled. Polls are in-process calls on the platform objects.
"""
from __future__ import annotations

import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import gevent

log = logging.getLogger(__name__)

ACTIONS = ("open_order", "say", "expect", "answer_if_asked", "wait", "pay", "mark_paid", "send_receipt", "cancel",
           "appeal")
MAIN_PARAM = {"say": "text", "expect": "pattern", "wait": "seconds", "open_order": "timeout", "pay": "to"}
DEFAULT_EXPECT_TIMEOUT = 300.0
DEFAULT_ORDER_TIMEOUT = 1800.0


class ScriptError(ValueError):
    """A buyer script that cannot run; the message names the step."""


@dataclass(frozen=True)
class Step:
    action: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {self.action: dict(self.params)}


def normalize_script(script: Any) -> list[Step]:
    """Validate a JSON script into steps; raises ScriptError naming the bad step."""
    if not isinstance(script, list) or not script:
        raise ScriptError("a script must be a non-empty list of steps")
    return [_normalize_step(i, raw) for i, raw in enumerate(script)]


def _normalize_step(index: int, raw: Any) -> Step:
    where = f"step {index + 1}"
    if isinstance(raw, str):
        action, value = raw, {}
        extra: dict[str, Any] = {}
    elif isinstance(raw, dict):
        actions = [k for k in raw if k in ACTIONS]
        if len(actions) != 1:
            raise ScriptError(f"{where}: needs exactly one action out of {', '.join(ACTIONS)}, got {sorted(raw)}")
        action = actions[0]
        value = raw[action]
        extra = {k: v for k, v in raw.items() if k != action}
    else:
        raise ScriptError(f"{where}: must be an action name or an object")
    if action not in ACTIONS:
        raise ScriptError(f"{where}: unknown action {action!r}")
    if isinstance(value, dict):
        params = dict(value)
    elif value is None or value == {}:
        params = {}
    elif action in MAIN_PARAM:
        params = {MAIN_PARAM[action]: value}
    else:
        raise ScriptError(f"{where}: {action} takes an object of parameters")
    params.update(extra)
    _check_params(where, action, params)
    return Step(action, params)


def _check_params(where: str, action: str, params: dict[str, Any]) -> None:
    if action == "say" and not isinstance(params.get("text"), str):
        raise ScriptError(f"{where}: say needs text")
    if action == "answer_if_asked":
        if not isinstance(params.get("pattern"), str) or not isinstance(params.get("say"), str):
            raise ScriptError(f"{where}: answer_if_asked needs a pattern (the question) and what to say")
    if action in ("expect", "answer_if_asked"):
        for key in ("pattern", "until"):
            try:
                re.compile(str(params.get(key, ".")))
            except re.error as exc:
                raise ScriptError(f"{where}: bad regex in {key}: {exc}") from None
        if params.get("on_timeout", "stop") not in ("stop", "continue"):
            raise ScriptError(f"{where}: on_timeout must be stop or continue")
    for key in ("seconds", "timeout", "delta", "after"):
        if key in params:
            try:
                float(params[key])
            except (TypeError, ValueError):
                raise ScriptError(f"{where}: {key} must be a number") from None
    if action == "pay":
        to = params.get("to", "default")
        if not (to in ("default", "payout", "other") or (isinstance(to, dict) and "wallet" in to)):
            raise ScriptError(f"{where}: pay to must be default, payout, other or {{wallet, bank}}")
        amount = params.get("amount", "default")
        if amount != "default" and _decimal(amount) is None:
            raise ScriptError(f"{where}: pay amount must be a number or default")
        payer = params.get("payer", "self")
        if not isinstance(payer, str) or not payer.strip():
            raise ScriptError(f"{where}: pay payer must be self, other or a person's name")
    if action == "send_receipt":
        if params.get("via", "email") not in ("email", "chat"):
            raise ScriptError(f"{where}: via must be email or chat")
        if params.get("dkim", "valid") not in ("valid", "invalid", "tampered", "absent"):
            raise ScriptError(f"{where}: dkim must be valid, invalid, tampered or absent")
        if params.get("format", "pdf") not in ("pdf", "png") or (
                params.get("format") == "png" and params.get("via") != "chat"):
            raise ScriptError(f"{where}: format must be pdf, or png (a screenshot) via chat")
        if "tamper" in params and not isinstance(params["tamper"], dict):
            raise ScriptError(f"{where}: tamper must be an object of receipt fields")
        if params.get("layout", "wide") not in ("wide", "narrow") or (
                "layout" in params and params.get("format") != "png"):
            raise ScriptError(f"{where}: layout (wide or narrow) is for a png screenshot only")


# --- reading our chat like a person would -------------------------------------------------------


@dataclass(frozen=True)
class Requisites:
    wallet: str | None
    bank: str | None
    amount: Decimal | None
    email: str | None


_AMOUNT = re.compile(r"(?:сумма|amount|итого)\D{0,20}?(\d[\d\s\u00a0\u202f]*(?:[.,]\d{1,2})?)", re.IGNORECASE)
_BANK = re.compile(r"(?:банк(?:\s+получателя)?|bank)\s*[:\-]\s*([^\n,;]+)", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\+?\d(?:[\d\s\u00a0()\-]*\d)?")
BANK_WORDS = (
    ("тинькофф", "tinkoff"), ("tinkoff", "tinkoff"), ("т-банк", "tinkoff"), ("t-банк", "tinkoff"),
    ("тбанк", "tinkoff"), ("tbank", "tinkoff"), ("сбер", "sberbank"), ("sber", "sberbank"),
    ("альфа", "alfabank"), ("alfa", "alfabank"), ("втб", "vtb"), ("vtb", "vtb"), ("озон", "ozonbank"),
    ("ozon", "ozonbank"), ("псб", "psbank"), ("промсвязь", "psbank"), ("мтс", "mtsbank"), ("mts", "mtsbank"),
    ("райф", "raiffeisen"), ("газпром", "gazprombank"), ("совком", "sovcombank"), ("рнкб", "rncb"),
    ("отп", "otpbank"), ("яндекс", "yandexbank"),
)


def bank_slug(text: str | None) -> str | None:
    """A bank as people name it -> the slug the bank app would pick ("Сбербанк" -> "sberbank")."""
    if not text:
        return None
    lowered = text.strip().lower()
    for word, slug in BANK_WORDS:
        if word in lowered:
            return slug
    return lowered.split()[0] if lowered.split() else None


def parse_requisites(text: str) -> Requisites | None:
    """Wallet (phone or card), bank, amount and receipt e-mail from a seller message; None without a wallet."""
    if not text:
        return None
    amount_match = _AMOUNT.search(text)
    amount = _decimal(re.sub(r"[\s\u00a0\u202f]", "", amount_match.group(1)).replace(",", ".")) if amount_match else None
    without_emails = _EMAIL.sub(" ", text)
    wallet = None
    for raw in _NUMBER.findall(without_emails):
        digits = re.sub(r"\D", "", raw)
        if len(digits) == 11 and digits[0] in "78":
            wallet = "7" + digits[1:]
            break
        if 16 <= len(digits) <= 19:
            wallet = digits
            break
    if wallet is None:
        return None
    bank_match = _BANK.search(text)
    email_match = _EMAIL.search(text)
    return Requisites(
        wallet=wallet,
        bank=bank_slug(bank_match.group(1)) if bank_match else None,
        amount=amount,
        email=email_match.group(0) if email_match else None,
    )


def _decimal(value: Any) -> Decimal | None:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _text(message: dict) -> str:
    return str(message.get("message") or message.get("text") or "")


def _is_system(message: dict) -> bool:
    return str(message.get("msgType", "")) == "0" or message.get("roleType") == "sys"


# --- shared services the buyers use -------------------------------------------------------------


@dataclass
class SentReceipt:
    payout_id: int
    buyer_id: str
    pdf: bytes
    filename: str
    receipt_number: str | None


class ReceiptBook:
    """Receipts the buyers sent, so a dishonest one can reuse another deal's receipt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[SentReceipt] = []

    def add(self, receipt: SentReceipt) -> None:
        with self._lock:
            self._sent.append(receipt)

    def previous(self, not_payout: int) -> SentReceipt | None:
        with self._lock:
            for receipt in reversed(self._sent):
                if receipt.payout_id != not_payout:
                    return receipt
        return None

    def reset(self) -> None:
        with self._lock:
            self._sent.clear()


@dataclass
class BuyerServices:
    """What a buyer acts on: the platform objects (in-process) and world settings."""

    bybit: Any
    bank: Any
    mailer: Any
    ledger: Any
    receipts: ReceiptBook
    receipt_email: str = "receipts@sandbox.local"
    poll_interval: float = 0.2
    clock: Callable[[], float] = time.time


FIRST_NAMES = ("Иван", "Алексей", "Мария", "Ольга", "Дмитрий", "Сергей", "Анна", "Елена", "Павел", "Наталья",
               "Пётр", "Юлия", "Андрей", "Ксения")
LAST_NAMES = ("Смирнов", "Иванов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов",
              "Сидоров", "Щукин", "Журавлёв", "Васильев")
# How a Russian passport spells Cyrillic in Latin letters (the table in use since 2014); KYC copies it.
LATIN = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", (
    "a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
    "f", "kh", "ts", "ch", "sh", "shch", "ie", "y", "", "e", "iu", "ia")))
KYC_STYLES = ("cyrillic", "latin", "latin_surname_first")


def person_name(rng: random.Random) -> str:
    """«Имя Фамилия», a surname in its feminine form for a woman's first name."""
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    if first.endswith("а") or first.endswith("я"):
        last += "а"
    return f"{first} {last}"


def latin(text: str) -> str:
    """Cyrillic letters spelled in Latin ones as in a passport; anything else stays."""
    return "".join(LATIN.get(ch, ch) if ch.islower() else LATIN.get(ch.lower(), ch).capitalize() for ch in text)


def kyc_name(name: str, seed: Any) -> str:
    """The name Bybit's KYC shows for the holder of `name` («Имя Фамилия»): by `seed`, the same Cyrillic
    spelling, or Latin capitals as in a passport, first name first or surname first."""
    style = random.Random(f"kyc:{seed}").choice(KYC_STYLES)
    if style == "cyrillic":
        return name
    words = name.split()
    if style == "latin_surname_first":
        words = words[-1:] + words[:-1]
    return latin(" ".join(words)).upper()


class _Stop(Exception):
    """The script ends here (a bounded wait ran out, or nothing sensible to do)."""


class Buyer:
    """One payout's buyer. `start()` runs the script in a greenlet; `status()` shows progress."""

    def __init__(self, payout: dict, script: list[Step], services: BuyerServices, *, buyer_id: str,
                 persona: str | None = None, speed: float = 1.0, seed: int | None = None,
                 real_name: str | None = None, payer_name: str | None = None) -> None:
        self.payout_id = int(payout["id"])
        self.amount = Decimal(str(payout["amount"]))
        self.wallet = str(payout["wallet"])
        self.bank_slug = str(payout.get("bank") or "")
        self.method = str(payout.get("method") or "sbp")
        self.script = script
        self.services = services
        self.buyer_id = buyer_id
        self.persona = persona
        self.speed = max(0.0, float(speed))
        seed = seed if seed is not None else self.payout_id
        self.rng = random.Random(seed)
        drawn = person_name(self.rng)
        # Who holds the buyer's own bank account (receipts print it), and who Bybit's KYC says it is.
        self.payer_name = payer_name or drawn
        self.real_name = real_name or kyc_name(self.payer_name, seed)
        self.order_id: str | None = None
        self.item_id: str | None = None
        self.state = "pending"
        self.step_index = 0
        self.events: list[dict[str, Any]] = []
        self.last_transfer: Any = None
        self._seen = 0  # chat messages already looked at by `expect`
        self._greenlet: gevent.Greenlet | None = None
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "Buyer":
        self._greenlet = gevent.spawn(self._run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None and not self._greenlet.dead:
            self._greenlet.kill(block=False)
            self._set_state("stopped")

    def join(self, timeout: float | None = None) -> bool:
        if self._greenlet is None:
            return True
        self._greenlet.join(timeout)
        return self._greenlet.dead

    @property
    def finished(self) -> bool:
        return self.state in ("done", "gave_up", "failed", "stopped")

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "buyer_id": self.buyer_id, "persona": self.persona, "state": self.state,
                "step": self.step_index, "steps": len(self.script), "order_id": self.order_id,
                "item_id": self.item_id, "real_name": self.real_name, "payer_name": self.payer_name,
                "events": list(self.events),
                "script": [s.as_json() for s in self.script],
            }

    def _set_state(self, state: str) -> None:
        with self._lock:
            self.state = state

    def _event(self, action: str, detail: str, ok: bool = True) -> None:
        with self._lock:
            self.events.append({"ts": self.services.clock(), "step": self.step_index + 1, "action": action,
                                "ok": ok, "detail": detail})

    def _run(self) -> None:
        self._set_state("running")
        try:
            for index, step in enumerate(self.script):
                self.step_index = index
                getattr(self, f"_do_{step.action}")(**step.params)
            self.step_index = len(self.script)
            self._set_state("done")
        except _Stop as stop:
            self._event("stop", str(stop), ok=False)
            self._set_state("gave_up")
        except gevent.GreenletExit:
            self._set_state("stopped")
            raise
        except Exception as exc:  # a scenario bug or a platform refusal: visible in status, never silent
            log.warning("buyer %s (payout %s) failed: %r", self.buyer_id, self.payout_id, exc)
            self._event("error", f"{type(exc).__name__}: {exc}", ok=False)
            self._set_state("failed")

    # --- helpers --------------------------------------------------------------------------------

    def _human_pause(self, seconds: float) -> None:
        if self.speed > 0 and seconds > 0:
            gevent.sleep(seconds * self.speed)

    def _poll(self) -> None:
        gevent.sleep(self.services.poll_interval)

    def _need_order(self, action: str) -> str:
        if self.order_id is None:
            raise _Stop(f"{action}: no order opened")
        return self.order_id

    def _seller_messages(self) -> list[dict]:
        messages = self.services.bybit.messages(self._need_order("chat"))
        return [m for m in messages if not _is_system(m) and str(m.get("userId", "")) != self.buyer_id]

    def requisites(self) -> Requisites | None:
        """What our (the seller's) latest requisites message says, if any."""
        if self.order_id is None:
            return None
        for message in reversed(self._seller_messages()):
            found = parse_requisites(_text(message))
            if found is not None:
                return found
        return None

    def _other_person(self) -> str:
        """Somebody else's name: whose bank account a third-party payer pays from."""
        while True:
            name = person_name(self.rng)
            if name != self.payer_name:
                return name

    def _other_wallet(self) -> str:
        while True:
            if self.method == "card":
                wallet = "2200" + "".join(str(self.rng.randrange(10)) for _ in range(12))
            else:
                wallet = "79" + "".join(str(self.rng.randrange(10)) for _ in range(9))
            if wallet != self.wallet:
                return wallet

    # --- actions --------------------------------------------------------------------------------

    def _do_open_order(self, timeout: float = DEFAULT_ORDER_TIMEOUT, amount: Any = None, after: Any = 0) -> None:
        want = _decimal(amount) if amount is not None else self.amount
        if float(after) > 0:
            gevent.sleep(float(after))  # the buyer has not found the market yet: no polling meanwhile
        deadline = time.monotonic() + float(timeout)
        refused: set[str] = set()
        while time.monotonic() < deadline:
            for ad in self.services.bybit.ads(online_only=True):
                item_id = str(ad.get("id") or ad.get("item_id") or ad.get("itemId"))
                if item_id in refused or not _ad_is_for(ad, want):
                    continue
                try:
                    order_id = self.services.bybit.place_order(item_id, self.buyer_id, want,
                                                               buyer_name=self.real_name)
                except Exception as exc:  # taken by someone else a moment ago, or not enough left
                    refused.add(item_id)
                    self._event("open_order", f"ad {item_id} refused: {exc}", ok=False)
                    continue
                self.order_id, self.item_id = str(order_id), item_id
                self.services.ledger.record("buyer_order", payout_id=self.payout_id, order_id=self.order_id,
                                            item_id=item_id, buyer_id=self.buyer_id, amount=want,
                                            real_name=self.real_name, payer_name=self.payer_name)
                self._event("open_order", f"order {self.order_id} on ad {item_id}")
                return
            self._poll()
        raise _Stop(f"open_order: no online ad for {want} RUB within {float(timeout):g}s")

    def _do_say(self, text: str) -> None:
        self._human_pause(min(1.0 + len(text) / 20.0, 8.0))
        self.services.bybit.buyer_send_text(self._need_order("say"), text)
        self._event("say", text)

    def _await_seller(self, patterns: list[str], timeout: float) -> tuple[int, int, str] | None:
        """The first NEW seller message matching one of `patterns` (case-insensitive), checked in order:
        (which pattern, its position, its text), `_seen` left alone; None after `timeout`, all seen."""
        regexes = [re.compile(str(p), re.IGNORECASE) for p in patterns]
        deadline = time.monotonic() + float(timeout)
        while True:
            messages = self._seller_messages()
            for position in range(self._seen, len(messages)):
                text = _text(messages[position])
                for which, regex in enumerate(regexes):
                    if regex.search(text):
                        return which, position, text
            if time.monotonic() >= deadline:
                self._seen = len(messages)
                return None
            self._poll()

    def _timed_out(self, action: str, pattern: str, timeout: float, on_timeout: str) -> None:
        what = f"no seller message matching {pattern!r} within {float(timeout):g}s"
        if on_timeout != "continue":
            raise _Stop(f"{action}: {what}")
        self._event(action, what, ok=False)

    def _do_expect(self, pattern: str = ".", timeout: float = DEFAULT_EXPECT_TIMEOUT,
                   on_timeout: str = "stop") -> None:
        found = self._await_seller([pattern], timeout)
        if found is None:
            self._timed_out("expect", pattern, timeout, on_timeout)
            return
        _, position, text = found
        self._seen = position + 1
        self._event("expect", f"seller said: {text[:80]}")

    def _do_answer_if_asked(self, pattern: str, say: str, until: str | None = None,
                            timeout: float = DEFAULT_EXPECT_TIMEOUT, on_timeout: str = "continue") -> None:
        found = self._await_seller(([until] if until is not None else []) + [pattern], timeout)
        if found is None:
            self._timed_out("answer_if_asked", pattern, timeout, on_timeout)
            return
        which, position, text = found
        if until is not None and which == 0:
            self._seen = position  # not asked: the message is the next step's to read
            self._event("answer_if_asked", f"not asked; seller said: {text[:80]}")
            return
        self._seen = position + 1
        self._event("answer_if_asked", f"seller asked: {text[:80]}")
        self._do_say(say)

    def _do_wait(self, seconds: float = 1.0) -> None:
        self._human_pause(float(seconds))

    def _do_pay(self, to: Any = "default", amount: Any = "default", delta: Any = 0, bank: str | None = None,
                payer: str = "self") -> None:
        told = self.requisites()
        if to == "default":
            if told is None:
                raise _Stop("pay: the seller never sent requisites")
            wallet, bank_name = told.wallet, told.bank or self.bank_slug
        elif to == "payout":
            wallet, bank_name = self.wallet, self.bank_slug
        elif to == "other":
            wallet, bank_name = self._other_wallet(), self.bank_slug
        else:
            wallet, bank_name = str(to["wallet"]), str(to.get("bank") or self.bank_slug)
        bank_name = bank or bank_name
        if amount == "default":
            value = told.amount if told is not None and told.amount is not None else self.amount
        else:
            value = Decimal(str(amount))
        value += Decimal(str(delta or 0))
        transfer_type = _transfer_type(wallet, bank_name)
        payer_name = self.payer_name if payer == "self" else self._other_person() if payer == "other" else payer
        self._human_pause(5.0)
        self.last_transfer = self.services.bank.transfer(
            payer_name, wallet, bank_name, value, transfer_type,
            payout_id=self.payout_id, buyer_id=self.buyer_id, order_id=self.order_id)
        self._event("pay", f"{value} RUB to {wallet} ({bank_name}, {transfer_type}) from {payer_name}'s account")

    def _do_mark_paid(self) -> None:
        self._human_pause(1.0)
        self.services.bybit.mark_paid(self._need_order("mark_paid"))
        self._event("mark_paid", "pressed paid")

    def _do_send_receipt(self, via: str = "email", dkim: str = "valid", tamper: dict | None = None,
                         forge: bool = False, reuse: bool = False, to: str | None = None, format: str = "pdf",
                         layout: str = "wide") -> None:
        order_id = self._need_order("send_receipt")
        screenshot = format == "png"
        if reuse:
            previous = self.services.receipts.previous(not_payout=self.payout_id)
            if previous is None:
                raise _Stop("send_receipt: no earlier receipt to reuse")
            pdf, filename, number = previous.pdf, previous.filename, previous.receipt_number
        else:
            if self.last_transfer is None:
                raise _Stop("send_receipt: nothing was paid, so the bank has no receipt")
            changes = dict(tamper or {})
            if forge:
                changes.update(self._forged_fields())
            if screenshot:
                pdf = self.services.bank.receipt_png(self.last_transfer, tamper=changes or None, layout=layout)
            else:
                pdf = self.services.bank.receipt_pdf(self.last_transfer, tamper=changes or None)
            filename = "Screenshot.png" if screenshot else "Receipt.pdf"
            number = getattr(self.last_transfer, "receipt_number", None)
            if not changes:
                self.services.receipts.add(SentReceipt(self.payout_id, self.buyer_id, pdf, filename, number))
        self._human_pause(3.0)
        if via == "chat":
            content_type = "image/png" if screenshot else "application/pdf"
            self.services.bybit.buyer_send_file(order_id, filename, pdf, content_type)
        else:
            told = self.requisites()
            address = to or (told.email if told and told.email else self.services.receipt_email)
            self.services.mailer.send_receipt(address, pdf, filename, dkim=dkim)
        self.services.ledger.record(
            "receipt_sent", payout_id=self.payout_id, order_id=order_id, buyer_id=self.buyer_id, via=via,
            dkim=dkim if via == "email" else None, reused=bool(reuse), tampered=bool(tamper or forge),
            receipt_number=number)
        self._event("send_receipt", f"via {via}" + (f", dkim {dkim}" if via == "email" else "")
                    + (", reused" if reuse else "") + (", tampered" if tamper or forge else "")
                    + (f", {layout} screenshot" if screenshot else ""))

    def _forged_fields(self) -> dict[str, Any]:
        """Make the receipt claim what the requisites asked for, whatever was really paid."""
        told = self.requisites()
        wallet = told.wallet if told else self.wallet
        amount = told.amount if told and told.amount is not None else self.amount
        return {"wallet": wallet, "amount": amount}

    def _do_cancel(self) -> None:
        self.services.bybit.buyer_cancel(self._need_order("cancel"))
        self._event("cancel", "cancelled the order")

    def _do_appeal(self) -> None:
        self.services.bybit.appeal(self._need_order("appeal"))
        self._event("appeal", "opened an appeal")


def _ad_is_for(ad: dict, amount: Decimal) -> bool:
    low = _decimal(ad.get("min_amount", ad.get("minAmount")))
    high = _decimal(ad.get("max_amount", ad.get("maxAmount")))
    return low is not None and high is not None and low == high == amount


def _transfer_type(wallet: str, bank: str | None) -> str:
    if len(re.sub(r"\D", "", wallet)) >= 16:
        return "tbank_client" if bank == "tinkoff" else "card"
    return "phone"

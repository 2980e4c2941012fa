"""The buyer chat script — pure: (state, buyer text) -> (state, reply, outcome).

order-flow.md §7 with §11.5/§11.6 resolved:
* one greeting with the two questions of the TS script (§7.2);
* answers are read word by word, and negations are checked *before* positives, so
  "не согласен", "не подтверждаю" and "нет, не с т-банка" are refusals and "когда" is not "да";
* only the buyer's messages count (`is_buyer_message`);
* a bounded number of re-asks, then the dialogue gives up;
* hostile text (too long, control characters, instructions to the bot) is never read as a yes;
  an LLM's classification (`llm_hint`) is used only when the rules find the text unclear, and
  never for hostile text. The outcome only decides whether requisites are sent — no money step.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Mapping

Outcome = Literal["agreed", "refused", "unclear", "gave_up"]
AGREED: Outcome = "agreed"
REFUSED: Outcome = "refused"
UNCLEAR: Outcome = "unclear"
GAVE_UP: Outcome = "gave_up"

MAX_ANSWER_CHARS = 500  # longer "answers" are not answers
DEFAULT_MAX_REPEATS = 3

GREETING = (
    "Здравствуйте!\n"
    "\n"
    "Для быстрого проведения сделки, пожалуйста, ответьте на следующие вопросы:\n"
    "\n"
    "1. Оплата будет с Т банка?\n"
    "2. Чек в формате PDF с официальной почты Т банка сможете отправить?\n"
    "\n"
    'Просто напишите "Да" если согласны со всеми условиями, или "Нет" если что-то не подходит.'
)
REMINDER = (
    'Пожалуйста, ответьте "Да" или "Нет":\n'
    "1. Оплата будет с Т банка?\n"
    "2. Чек в формате PDF с официальной почты Т банка сможете отправить?"
)
REFUSAL = (
    "К сожалению, мы работаем только с оплатой с Т банка и чеком в формате PDF "
    "с официальной почты Т банка. Сделка будет отменена."
)
GAVE_UP_TEXT = "Мы не получили ответа на вопросы. Сделка будет отменена."
CLOSING = "Спасибо за сделку! Всегда есть большой объем USDT по хорошему курсу, работаем оперативно."
RECEIPT_REMINDER = (
    "Напоминаем: после оплаты отправьте чек в формате PDF с официальной почты Т банка на {email}."
)

# Gate `bank.name` slugs -> the name a buyer recognises (gate-api.md §7)
BANK_LABELS: dict[str, str] = {
    "sberbank": "Сбербанк",
    "tinkoff": "Т-Банк (Тинькофф)",
    "tbank": "Т-Банк (Тинькофф)",
    "alfabank": "Альфа-Банк",
    "vtb": "ВТБ",
    "ozonbank": "Озон Банк",
    "yandexbank": "Яндекс Банк",
    "raiffeisen": "Райффайзенбанк",
    "raiffeisenbank": "Райффайзенбанк",
    "gazprombank": "Газпромбанк",
    "rncb": "РНКБ",
    "otpbank": "ОТП Банк",
    "psbank": "ПСБ (Промсвязьбанк)",
    "sovcombank": "Совкомбанк",
    "rosbank": "Росбанк",
    "mtsbank": "МТС Банк",
    "pochtabank": "Почта Банк",
    "otkritie": "Банк Открытие",
    "uralsib": "Уралсиб",
    "akbars": "Ак Барс Банк",
    "homecredit": "Хоум Банк",
    "russianstandard": "Русский Стандарт",
    "rshb": "Россельхозбанк",
    "mkb": "МКБ",
    "wildberries": "Вайлдберриз Банк",
}

# Words, after normalisation (lower case, ё→е, Latin look-alikes→Cyrillic in Cyrillic words).
NEGATIONS = frozenset(
    {"нет", "не", "неа", "no", "not", "nope", "отказ", "отказываюсь", "откажусь", "никак", "нельзя", "-"}
)
POSITIVES = frozenset(
    {
        "да", "yes", "yeah", "yep", "конечно", "согласен", "согласна", "согласны", "ок", "окей", "ok", "okay",
        "хорошо", "подтверждаю", "+", "ага", "разумеется", "принимаю", "норм", "sure", "confirm",
    }
)
# A yes with a "but" is not a plain yes ("да, но со сбера").
RESERVATIONS = frozenset({"но", "but", "однако", "только"})
# Words of someone talking to the bot rather than answering it.
INJECTION_MARKERS = re.compile(
    r"ignore|instruction|previous|system|prompt|assistant|release|developer|jailbreak|"
    r"игнорир|инструкц|промпт|отпусти|релиз|разблокир",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*|[+\-]")  # "т-банк" is one word, a lone "-" is a no
_LATIN_LOOKALIKES = str.maketrans("aceopxyk", "асеорхук")
_CYRILLIC = re.compile(r"[а-я]")

BUYER_MSG_TYPES = frozenset({1, 2, 7, 8})  # user text, image, pdf, video (bybit-p2p-api.md §5)
TEXT_MSG_TYPE = 1


@dataclass(frozen=True)
class DialogueState:
    asked: bool = False  # the greeting went out
    repeats: int = 0  # re-asks after unclear answers
    max_repeats: int = DEFAULT_MAX_REPEATS
    outcome: Outcome | None = None  # set once the dialogue is over

    @property
    def done(self) -> bool:
        return self.outcome in (AGREED, REFUSED, GAVE_UP)


@dataclass(frozen=True)
class DialogueTurn:
    state: DialogueState
    reply: str | None
    outcome: Outcome


def greeting() -> str:
    return GREETING


def start(max_repeats: int = DEFAULT_MAX_REPEATS) -> tuple[DialogueState, str]:
    """The opening state and the greeting to send once the order is linked."""
    return DialogueState(asked=True, max_repeats=max_repeats), GREETING


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    return text


def tokens(text: str) -> list[str]:
    """Words and lone +/- signs; a word with Cyrillic letters has its Latin look-alikes made Cyrillic."""
    words = _TOKEN.findall(normalize(text))
    return [w.translate(_LATIN_LOOKALIKES) if _CYRILLIC.search(w) else w for w in words]


def looks_hostile(text: str) -> bool:
    """Too long, control/bidi characters, or words aimed at the bot rather than at us."""
    return len(text) > MAX_ANSWER_CHARS or bool(_CONTROL.search(text)) or bool(INJECTION_MARKERS.search(text))


def classify(text: str) -> Literal["yes", "no", "unclear"]:
    """Rules only: negation first, then a plain yes; hostile or empty text is unclear."""
    if not text or looks_hostile(text):
        return "unclear"
    words = tokens(text)
    if any(w in NEGATIONS for w in words):
        return "no"
    if any(w in POSITIVES for w in words) and not any(w in RESERVATIONS for w in words):
        return "yes"
    return "unclear"


def needs_hint(text: str) -> bool:
    """Whether an LLM classification could help: the rules find it unclear and it is not hostile."""
    return isinstance(text, str) and bool(text.strip()) and classify(text) == "unclear" and not looks_hostile(text)


def answer(state: DialogueState, buyer_text: str, llm_hint: str | None = None) -> DialogueTurn:
    """Read one buyer message. `llm_hint` ("yes"/"no"/"unclear") counts only when the rules say unclear."""
    if state.done:
        return DialogueTurn(state, None, state.outcome)  # type: ignore[arg-type]
    text = buyer_text if isinstance(buyer_text, str) else ""
    verdict = classify(text)
    if verdict == "unclear" and llm_hint in ("yes", "no") and text and not looks_hostile(text):
        verdict = llm_hint
    if verdict == "yes":
        return DialogueTurn(replace(state, outcome=AGREED), None, AGREED)
    if verdict == "no":
        return DialogueTurn(replace(state, outcome=REFUSED), REFUSAL, REFUSED)
    if state.repeats >= state.max_repeats:
        return DialogueTurn(replace(state, outcome=GAVE_UP), GAVE_UP_TEXT, GAVE_UP)
    return DialogueTurn(replace(state, repeats=state.repeats + 1), REMINDER, UNCLEAR)


# --- messages ---------------------------------------------------------------


def bank_label(slug: str | None, gate_label: str | None = None) -> str:
    """Human bank name for a Gate slug; else Gate's own label without the card network suffix."""
    key = (slug or "").strip().lower()
    if key in BANK_LABELS:
        return BANK_LABELS[key]
    if gate_label and gate_label.strip():
        return re.sub(r"\s*\((MIR|VISA|MASTERCARD|МИР)\)\s*$", "", gate_label.strip(), flags=re.IGNORECASE)
    return key or "Банк получателя"


def format_rub(amount: Any) -> str:
    """12345 -> "12345", 12345.5 -> "12345.50"."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return str(value.quantize(Decimal("0.01")))


def requisites_message(
    bank_slug: str | None, wallet: str | None, amount: Any, receipt_email: str, gate_bank_label: str | None = None
) -> str:
    """Payment details in the TS structure (§7.4), with the human bank name."""
    return (
        "Реквизиты для оплаты:\n"
        f"Банк: {bank_label(bank_slug, gate_bank_label)}\n"
        f"Счет: {wallet or 'По запросу'}\n"
        "\n"
        f"Сумма: {format_rub(amount)} RUB\n"
        "\n"
        f"Email для чека: {receipt_email}\n"
        "\n"
        "Оплата только с Т банка, строго в указанный банк.\n"
        "После оплаты отправьте чек в формате PDF на указанный email."
    )


def receipt_reminder(receipt_email: str) -> str:
    return RECEIPT_REMINDER.format(email=receipt_email)


def closing_message(invite_link: str | None = None) -> str:
    if invite_link:
        return f"Переходи в закрытый чат {invite_link}\n{CLOSING}"
    return CLOSING


# --- Bybit chat messages ----------------------------------------------------


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def is_buyer_message(msg: Mapping[str, Any], our_user_id: Any) -> bool:
    """A chat message written by the counterparty: not ours, not system, not Bybit staff."""
    sender = str(msg.get("userId") or "").strip()
    if not sender or sender == str(our_user_id).strip():
        return False
    if str(msg.get("roleType") or "").lower() == "sys":
        return False
    return _as_int(msg.get("msgType")) in BUYER_MSG_TYPES


def buyer_text(msg: Mapping[str, Any], our_user_id: Any) -> str | None:
    """The text of a buyer's text message (msgType 1, contentType str), else None."""
    if not is_buyer_message(msg, our_user_id) or _as_int(msg.get("msgType")) != TEXT_MSG_TYPE:
        return None
    if str(msg.get("contentType") or "str").lower() != "str":
        return None
    text = msg.get("message")
    return text if isinstance(text, str) else None

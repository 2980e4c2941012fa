"""The buyer chat script — pure: (state, buyer text) -> (state, reply, outcome).

order-flow.md §7 with §11.5/§11.6 resolved:
* stage "terms": one greeting with the two questions of the TS script (§7.2);
* stage "sbp", for SBP ads only (`start(sbp=True)`): a yes to the greeting is answered with the Py
  script's third question, the SBP warning (`SBP_CONFIRM`, outcome NEXT: not final, the deal sends
  the reply and waits again); «подтверждаю» there agrees, «не подтверждаю» refuses. Tinkoff ads agree
  after the first yes. `question_for(state)` is the question a stage waits on (to re-send after a restart);
* answers are read word by word, and negations are checked *before* positives, so "не согласен",
  "не подтверждаю" and "нет, не с т-банка" are refusals and "когда" is not "да";
* small typos of the longer key words count, for yes and for no words alike («подтвержаю»,
  «конечо», «соглачен», «отказываюс»): at most 1 edit for words of 5–8 letters, 2 for longer ones;
  never for short words (да, нет, ок), where one letter makes another word («дам», «нед»);
* a yes with a reservation is not a yes: a "но/только/если", another bank than T-Bank («да, со сбера»),
  somebody else's card («да, с карты жены»), or a question («да?»);
* «я не понял», «не понимаю», «не ясно», «что?» are unclear (asked again), not refusals; a question
  with a refusal word («нет, а можно со сбера?») is still a refusal;
* only the buyer's messages count (`is_buyer_message`);
* a bounded number of re-asks per stage, then the dialogue gives up;
* hostile text (too long, control characters, instructions to the bot) is never read as a yes.
  An LLM's classification (`llm_hint`) is used only when the rules find neither a yes nor a no word
  (`needs_hint`), never for hostile or confused text or a question, and its "yes" never overrides a
  reservation («оплачу со сбера» may be hinted "no", never "yes").
  The outcome only decides whether requisites are sent — no money step.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Mapping

Outcome = Literal["agreed", "refused", "unclear", "gave_up", "next"]
AGREED: Outcome = "agreed"
REFUSED: Outcome = "refused"
UNCLEAR: Outcome = "unclear"
GAVE_UP: Outcome = "gave_up"
NEXT: Outcome = "next"  # a yes that leads to the next question: not final, like UNCLEAR for the deal

STAGE_TERMS = "terms"  # the greeting: pay from T-Bank, PDF receipt from T-Bank's e-mail
STAGE_SBP = "sbp"  # SBP ads: the wrong-bank warning must be confirmed

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
SBP_CONFIRM = (
    "При СБП, если оплата будет на неверный банк, деньги потеряны.\n"
    "(просто напишите подтверждаю/не подтверждаю)"
)
SBP_REMINDER = (
    'Пожалуйста, напишите "подтверждаю" или "не подтверждаю":\n'
    "При СБП, если оплата будет на неверный банк, деньги потеряны."
)
SBP_REFUSAL = "Необходимо подтвердить понимание условий СБП. Сделка будет отменена."
GAVE_UP_TEXT = "Мы не получили ответа на вопросы. Сделка будет отменена."
CLOSING = "Спасибо за сделку! Всегда есть большой объем USDT по хорошему курсу, работаем оперативно."
RECEIPT_REMINDER = (
    "Напоминаем: после оплаты отправьте чек в формате PDF с официальной почты Т банка на {email}."
)
# stage -> (its question, the reminder after an unclear answer, the reply to a refusal)
_STAGES: dict[str, tuple[str, str, str]] = {
    STAGE_TERMS: (GREETING, REMINDER, REFUSAL),
    STAGE_SBP: (SBP_CONFIRM, SBP_REMINDER, SBP_REFUSAL),
}

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
    {"нет", "не", "неа", "нету", "no", "not", "nope", "отказ", "отказываюсь", "откажусь", "никак", "нельзя",
     "отмена", "отменяю", "отмените", "-"}
)
POSITIVES = frozenset(
    {
        "да", "yes", "yeah", "yep", "конечно", "конешно", "канешно", "согласен", "согласна", "согласны", "ок",
        "окей", "ok", "okay", "хорошо", "подтверждаю", "+", "ага", "разумеется", "принимаю", "норм", "нормально",
        "sure", "confirm",
    }
)
# A yes with a "but" is not a plain yes ("да, но со сбера").
RESERVATIONS = frozenset({"но", "but", "однако", "только", "если", "кроме", "хотя", "except"})
# Other banks than T-Bank (word starts; the short names whole): "да, со сбера" is not a yes.
OTHER_BANKS = ("сбер", "sber", "альф", "alfa", "alpha", "озон", "ozon", "райф", "raif", "газпром", "gazprom",
               "открыти", "яндекс", "yandex", "совком", "росбанк", "уралсиб", "хоум", "промсвяз", "юмани",
               "киви", "qiwi", "вайлдберр", "wildberr")
OTHER_BANKS_WHOLE = frozenset({"втб", "vtb", "мтс", "mts", "псб", "отп", "рнкб", "гпб"})
NOT_OTHER_BANKS = ("сбереж",)  # savings, not Sber
# Someone else's card: the payer would not be the buyer.
THIRD_PARTIES = ("друг", "подруг", "жен", "муж", "мам", "пап", "брат", "сестр", "сын", "доч", "родител",
                 "знаком")
# "не" that is no refusal: the buyer did not understand ("не понял"), or an idiom ("не вопрос").
CONFUSED_AFTER_NE = ("понял", "понима", "понят", "ясн", "знаю")
CONFUSED_WORDS = frozenset({"непонятно", "неясно", "непонял", "непоняла", "незнаю"})
NEUTRAL_AFTER_NE = frozenset({"вопрос", "проблема"})
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
_RUNS = re.compile(r"(.)\1+")  # "дааа" -> "да", "нееет" -> "нет"

BUYER_MSG_TYPES = frozenset({1, 2, 7, 8})  # user text, image, pdf, video (bybit-p2p-api.md §5)
TEXT_MSG_TYPE = 1


@dataclass(frozen=True)
class DialogueState:
    """Plain JSON values only, each with a default: the deal stores this as a dict and rebuilds it."""

    asked: bool = False  # the greeting went out
    repeats: int = 0  # re-asks after unclear answers, in the current stage
    max_repeats: int = DEFAULT_MAX_REPEATS
    outcome: Outcome | None = None  # set once the dialogue is over
    stage: str = STAGE_TERMS  # which question the buyer is answering
    sbp: bool = False  # an SBP ad: the SBP warning follows the greeting

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


def start(max_repeats: int = DEFAULT_MAX_REPEATS, sbp: bool = False) -> tuple[DialogueState, str]:
    """The opening state and the greeting to send once the order is linked; `sbp` for SBP ads."""
    return DialogueState(asked=True, max_repeats=max_repeats, sbp=bool(sbp)), GREETING


def _stage(state: DialogueState) -> tuple[str, str, str]:
    return _STAGES.get(state.stage, _STAGES[STAGE_TERMS])


def question_for(state: DialogueState) -> str:
    """The question the dialogue is waiting on: the greeting, or the SBP warning."""
    return _stage(state)[0]


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


def _typos_allowed(word: str) -> int:
    return 0 if len(word) < 5 else 1 if len(word) <= 8 else 2


def _within_edits(a: str, b: str, limit: int) -> bool:
    """Whether a and b are at most `limit` edits apart (insert, delete, replace, swap two neighbours)."""
    if abs(len(a) - len(b)) > limit:
        return False
    before, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if before is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return False
        before, previous = previous, current
    return previous[-1] <= limit


def _is_word(word: str, vocabulary: frozenset[str]) -> bool:
    """`word` is in `vocabulary`, drawn out («дааа») or with a small typo of a long word («подтвержаю»)."""
    if word in vocabulary or _RUNS.sub(r"\1", word) in vocabulary:
        return True
    return any(_within_edits(word, known, _typos_allowed(known)) for known in vocabulary if _typos_allowed(known))


def _names_other_bank(word: str, following: str) -> bool:
    if word in OTHER_BANKS_WHOLE or (word.startswith("почт") and following.startswith("банк")):
        return True
    return word.startswith(OTHER_BANKS) and not word.startswith(NOT_OTHER_BANKS)


@dataclass(frozen=True)
class _Reading:
    yes: bool = False  # a yes word
    no: bool = False  # a refusal word
    reserved: bool = False  # a "but", another bank, somebody else's card, or a question: never a yes
    confused: bool = False  # "я не понял", or a question ("что?", "а можно со сбера?"): ask again
    hostile: bool = False  # empty, too long, control characters, words aimed at the bot


def _read(text: object) -> _Reading:
    if not isinstance(text, str) or not text.strip() or looks_hostile(text):
        return _Reading(hostile=True)
    words = tokens(text)
    yes = no = False
    reserved = confused = "?" in text
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in CONFUSED_WORDS or (word == "не" and following.startswith(CONFUSED_AFTER_NE)):
            confused = True
            continue
        if word == "не" and following in NEUTRAL_AFTER_NE:
            continue
        if index > 0 and words[index - 1] == "не" and word.startswith(CONFUSED_AFTER_NE):
            continue  # the second word of "не понял"
        if _names_other_bank(word, following) or word.startswith(THIRD_PARTIES) or word in RESERVATIONS:
            reserved = True
        parts = word.split("-") if "-" in word[1:] else [word]
        for part in parts:
            negated = part.startswith("не") and len(part) > 4 and _is_word(part[2:], POSITIVES)  # «несогласен»
            if negated or _is_word(part, NEGATIONS):
                no = True
            elif _is_word(part, POSITIVES):
                yes = True
    return _Reading(yes=yes, no=no, reserved=reserved, confused=confused)


def _verdict(reading: _Reading) -> Literal["yes", "no", "unclear"]:
    if reading.hostile:
        return "unclear"
    if reading.no:
        return "no"
    if reading.yes and not reading.reserved and not reading.confused:
        return "yes"
    return "unclear"


def classify(text: str) -> Literal["yes", "no", "unclear"]:
    """Rules only: negation first, then a plain yes; hostile, confused or reserved text is unclear."""
    return _verdict(_read(text))


def _hint_may_help(reading: _Reading) -> bool:
    return not (reading.hostile or reading.yes or reading.no or reading.confused)


def needs_hint(text: str) -> bool:
    """Whether an LLM classification could help: no yes word, no no word, not confused, no question,
    not hostile."""
    return _hint_may_help(_read(text))


def answer(state: DialogueState, buyer_text: str, llm_hint: str | None = None) -> DialogueTurn:
    """Read one buyer message at the state's stage. `llm_hint` ("yes"/"no"/"unclear") counts only
    when `needs_hint` would say so, and a hinted "yes" never overrides a reservation."""
    if state.done:
        return DialogueTurn(state, None, state.outcome)  # type: ignore[arg-type]
    reading = _read(buyer_text)
    verdict = _verdict(reading)
    if verdict == "unclear" and _hint_may_help(reading):
        if llm_hint == "no" or (llm_hint == "yes" and not reading.reserved):
            verdict = llm_hint
    _, reminder, refusal = _stage(state)
    if verdict == "yes" and state.sbp and state.stage == STAGE_TERMS:
        return DialogueTurn(replace(state, stage=STAGE_SBP, repeats=0), SBP_CONFIRM, NEXT)
    if verdict == "yes":
        return DialogueTurn(replace(state, outcome=AGREED), None, AGREED)
    if verdict == "no":
        return DialogueTurn(replace(state, outcome=REFUSED), refusal, REFUSED)
    if state.repeats >= state.max_repeats:
        return DialogueTurn(replace(state, outcome=GAVE_UP), GAVE_UP_TEXT, GAVE_UP)
    return DialogueTurn(replace(state, repeats=state.repeats + 1), reminder, UNCLEAR)


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

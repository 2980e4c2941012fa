"""Is the receipt's payer the order's buyer? A pure name comparison (DESIGN §5.6).

The receipt prints the sender («Отправитель») in Cyrillic as T-Bank has it: «Пётр Сидоров»,
«Сидоров Пётр», «Пётр С.», «Анна-Мария Иванова», «Иван Петрович С.». Bybit gives the buyer's verified
KYC name (`buyerRealName`) in Cyrillic or in Latin, in any order and case: `PETR SIDOROV`,
`SIDOROV PIOTR`, `Sidorov Pyotr`. `same_person(sender, buyer)` decides whether they are one person.

How words are compared. Every word becomes a *key*: Cyrillic is transliterated, then the Latin is
folded so that the usual ways of writing one Russian sound give one key — ё/е/yo/io/e, й/i/y/j,
ы/y/i, х/kh/h, ц/ts/tz, ч/ch/tch, ш/sh and щ/shch/sch/sh (ш and щ share a key), ж/zh, ю/yu/iu/ju,
я/ya/ia, ий/iy/ii/y, ье/ye/ie/e, кс/x, ь and ъ dropped, double letters single. So Пётр = Petr = Piotr =
Pyotr, Юлия = Yulia = Iuliia = Julia, Дмитрий = Dmitriy = Dmitry = Dmitrii, Щукин = Shchukin = Schukin.
Words must then be *equal*: no edit distance, so Иванов ≠ Ivanova and Петров ≠ Petrova.

How names are compared. Order does not count. A word of one letter, or a short one ending in ".",
is an initial; it agrees with a word that starts with that sound (С. ~ Sidorov, Ю. ~ Yudin but
И. ≁ Yudin, Щ. ~ Shcherbakov). A patronymic (-ович/-евич/-овна/-евна/-ична, or оглы/кызы) in a name of
three or more words, or the second of two glued initials («Сидоров И.П.»), is set aside: a
patronymic on one side only is ignored; when both sides have one, they must agree. Of the remaining
words, every word of the shorter name must agree with its own word of the longer one, at least one
pair must be two whole words, and the shorter name must have two words — so «Анна Иванова» matches
ANNA MARIA IVANOVA and «Анна-Мария Иванова» matches ANNA IVANOVA, while «Пётр Иванов» does not match
PETR SIDOROV.

What is not enough (`identifiable` is False; the verifier reports the payer as unknown): an empty
name, one word only (a receipt showing just «Пётр» cannot tell Petr Sidorov from any other Petr),
initials only («П. С.»), more than six words or a very long text.

Known limits, on purpose:
* An initial cannot tell two surnames with the same first sound apart: «Пётр С.» matches PETR
  SIDOROV and PETR SEMENOV alike. That is why the allocator never keeps two live deals that are
  indistinguishable (same amount and recipient): the payer check narrows, it does not single out.
* Spelling variants that are not transliteration (ALEXANDER for Александр, LUDMILA for Людмила,
  PETER for Пётр) do not match; such a deal goes to an operator, never to a release.
* The folding merges a few sounds (ш/щ, е/э, и/ы, ц with a "тс" run), so two names differing only
  there are taken for one; families share a surname but not a given name, so they still differ.
* Extra given names on one side are not checked: ANNA MARIA IVANOVA matches «Мария Иванова» too.
* A surname ending in -ович/-евич in a three-word name is taken for a patronymic and set aside.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import permutations

MAX_NAME_CHARS = 120
MAX_WORDS = 6

_CYRILLIC_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y",
    "ь": "", "э": "e", "ю": "iu", "я": "ia",
    "і": "i", "ї": "i", "є": "ie", "ґ": "g", "ў": "u",  # Ukrainian and Belarusian letters
}
# Latin letters that look like Cyrillic ones, inside a word that has Cyrillic (OCR mixes them).
_LOOKALIKES = str.maketrans("AaBCcEeHKkMOoPpTXxYy", "АаВСсЕеНКкМОоРрТХхУу")
# Latin spellings -> one symbol per sound; longest first. Upper-case letters are our own symbols.
_FOLDS = (
    ("shch", "S"), ("sch", "S"), ("tch", "Q"), ("sh", "S"), ("zh", "Z"), ("ch", "Q"), ("kh", "H"),
    ("ts", "C"), ("tz", "C"), ("ck", "k"), ("ph", "f"), ("x", "ks"), ("w", "v"), ("c", "k"), ("q", "k"),
    ("j", "i"), ("y", "i"), ("h", "H"),
)
_FOLD = re.compile("|".join(re.escape(latin) for latin, _ in _FOLDS))
_FOLD_TO = dict(_FOLDS)
_DOUBLES = re.compile(r"(.)\1+")
_IOTATED_E = re.compile(r"i[eo]")  # ye/ie/yo/io (е, ё after a vowel or ь) -> e
_LETTERS = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[а-яёіїєґў]", re.IGNORECASE)
_PATRONYMIC_END = re.compile(r"(viQ|vna|iQna)$")
_PATRONYMIC_WORDS = frozenset({"ogli", "kizi", "uli", "ulu"})  # оглы, кызы (Turkic)


@dataclass(frozen=True)
class NameMatch:
    """Whether two names are one person, and why — the reason never repeats the names."""

    same: bool
    why: str


@dataclass(frozen=True)
class _Word:
    key: str
    initial: bool
    patronymic: bool = False


def name_key(word: str) -> str:
    """The comparison key of one word: «Пётр», "Piotr", "PYOTR" -> "petr"."""
    text = unicodedata.normalize("NFKC", word)
    if _CYRILLIC.search(text):
        text = text.translate(_LOOKALIKES)
    text = "".join(_LETTERS.findall(text)).casefold()
    text = "".join(_CYRILLIC_TO_LATIN.get(char, char) for char in text)
    text = "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))
    text = _FOLD.sub(lambda found: _FOLD_TO[found.group(0)], text)
    text = _IOTATED_E.sub("e", _DOUBLES.sub(r"\1", text))
    return _DOUBLES.sub(r"\1", text)


def _leading_sound(key: str) -> str:
    """The first sound of a key: ю/я are two symbols ("iu", "ia"), every other sound one."""
    return key[:2] if key[:1] == "i" and key[1:2] in ("a", "u") else key[:1]


def _words(name: object) -> list[_Word] | None:
    """The words of a name, None when it is no usable name (not text, too long, too many words)."""
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
        return None
    words = []
    for part in re.split(r"[\s\-‐‑–—]+", unicodedata.normalize("NFKC", name)):
        pieces = part.split(".")  # «И.П.» is two initials: the given name's, then the patronymic's
        glued = 0
        for index, piece in enumerate(pieces):
            letters = "".join(_LETTERS.findall(piece))  # apostrophes and the like go: Natal'ya
            key = name_key(letters)
            if not key:
                continue
            initial = len(letters) == 1 or (index < len(pieces) - 1 and len(letters) <= 4)  # Yu. Shch.
            glued = glued + 1 if initial else 0
            words.append(_Word(_leading_sound(key) if initial else key, initial, patronymic=glued == 2))
    if len(words) > MAX_WORDS:
        return None
    if len(words) >= 3:  # a patronymic comes only beside a given name and a surname
        words = [_Word(w.key, w.initial, w.patronymic or not w.initial and (
            w.key in _PATRONYMIC_WORDS or bool(_PATRONYMIC_END.search(w.key)))) for w in words]
    return words


def _core(words: list[_Word]) -> list[_Word]:
    return [w for w in words if not w.patronymic]


def _enough(words: list[_Word] | None) -> bool:
    core = _core(words or [])
    return len(core) >= 2 and any(not w.initial for w in core)


def identifiable(name: object) -> bool:
    """Whether a name says enough to check a person by: two words (not patronymics), one of them whole."""
    return _enough(_words(name))


def _agree(a: _Word, b: _Word) -> bool:
    if a.initial and b.initial:
        return a.key == b.key
    if a.initial or b.initial:
        initial, whole = (a, b) if a.initial else (b, a)
        return initial.key == _leading_sound(whole.key)
    return a.key == b.key


def same_person(receipt_name: object, buyer_name: object) -> NameMatch:
    """Whether the receipt's sender and the order's buyer are one person (rules in the module doc)."""
    sender, buyer = _words(receipt_name), _words(buyer_name)
    if not _enough(sender):
        return NameMatch(False, "the receipt's sender name is missing or too short to identify a person")
    if not _enough(buyer):
        return NameMatch(False, "the buyer's name is missing or too short to identify a person")
    assert sender is not None and buyer is not None
    sender_pat = [w for w in sender if w.patronymic]
    buyer_pat = [w for w in buyer if w.patronymic]
    if sender_pat and buyer_pat and not any(_agree(a, b) for a in sender_pat for b in buyer_pat):
        return NameMatch(False, "the patronymics differ")
    short, long = sorted((_core(sender), _core(buyer)), key=len)
    for chosen in permutations(long, len(short)):
        pairs = list(zip(short, chosen))
        if all(_agree(a, b) for a, b in pairs) and any(not a.initial and not b.initial for a, b in pairs):
            by_initial = sum(1 for a, b in pairs if a.initial or b.initial)
            how = f" ({by_initial} by initial)" if by_initial else ""
            return NameMatch(True, f"all {len(short)} words of the shorter name agree{how}")
    return NameMatch(False, "a word of the shorter name has no counterpart in the other name")

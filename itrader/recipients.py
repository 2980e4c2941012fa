"""Who a payout pays, and how — the one recipient rule and the one payout-method rule (pure).

Gate names a payout's recipient by its `wallet` (an SBP phone or a card number) and its method by
`payment_method_id` (gate-api §7: 5 = SBP, 4 = P2P card). A T-Bank receipt names the recipient as
a phone (`79001234567`) or a card as printed (`*1234` or `220070******1234`, receipts.md).

* Recipient: a phone is the same recipient when its last 10 digits are equal (+7, 8 or nothing in
  front); a card when its last 4 digits are equal and the head the receipt prints, if any, begins the
  wallet. Two wallets a receipt cannot tell apart share a `recipient_key` (a receipt may show a card
  as `*1234` only, so wallets are keyed by their last 4).
* Method: the method id decides; without a known id the method's label, then the wallet's shape
  (an 11-digit phone starting with 7 is SBP, 16 digits a card); "" when nothing tells.

The receipt verifier, the receipt desk, the allocator's twin check and the Gate account all use these.
"""
from __future__ import annotations

import re
from typing import Any

SBP = "sbp"
CARD = "card"
GATE_METHOD_IDS = {5: SBP, 4: CARD}

PHONE_DIGITS = 10  # a phone is compared by its last 10 digits (+7, 8 or nothing in front)
CARD_DIGITS = 4  # a receipt shows a card as *NNNN or NNNNNN******NNNN: only its last 4 digits tell
_NOT_DIGIT = re.compile(r"[^0-9]")


def digits(text: str | None) -> str:
    """The ASCII digits of `text`, in order (other scripts' digits are not a phone's or a card's)."""
    return _NOT_DIGIT.sub("", text or "")


# --- the recipient ----------------------------------------------------------------------------------


def same_phone(receipt_phone: str | None, wallet: str | None) -> bool:
    """The receipt's phone is the wallet's: last 10 digits equal."""
    wallet_digits = digits(wallet)
    return (len(wallet_digits) >= PHONE_DIGITS
            and digits(receipt_phone)[-PHONE_DIGITS:] == wallet_digits[-PHONE_DIGITS:])


def same_card(receipt_card: str | None, wallet: str | None) -> bool:
    """The receipt's card is the wallet's: last 4 digits equal, and the printed head (before the
    stars), if any, begins the wallet's digits."""
    wallet_digits = digits(wallet)
    head = (receipt_card or "").split("*")[0]
    return (len(wallet_digits) >= CARD_DIGITS
            and digits(receipt_card)[-CARD_DIGITS:] == wallet_digits[-CARD_DIGITS:]
            and not (head and not wallet_digits.startswith(head)))


def paid_to(receipt_phone: str | None, receipt_card: str | None, wallet: str | None) -> bool:
    """The money on the receipt (its recipient phone, else its card) reached this wallet."""
    if receipt_phone:
        return same_phone(receipt_phone, wallet)
    if receipt_card:
        return same_card(receipt_card, wallet)
    return False


def recipient_key(wallet: str | None) -> str | None:
    """The payout's recipient as a bank receipt identifies it, or None when the wallet has no digits.

    Up to 11 digits is a phone, keyed by its last 10 ("+7 (900) 123-45-67", "89001234567" and
    "9001234567" are one recipient); more is a card, keyed by its last 4 (receipts.md: that is all a
    card receipt shows, so two cards ending alike cannot be told apart by a receipt either).
    """
    wallet_digits = digits(wallet)
    if not wallet_digits:
        return None
    if len(wallet_digits) <= PHONE_DIGITS + 1:
        return "phone:" + wallet_digits[-PHONE_DIGITS:]
    return "card:" + wallet_digits[-CARD_DIGITS:]


# --- the payout method ------------------------------------------------------------------------------


def _method_id(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value == int(value):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def payout_method(method_id: Any, label: str | None, wallet: str | None) -> str:
    """"sbp" or "card" for a Gate payout; "" when neither its method nor its wallet tells."""
    known = GATE_METHOD_IDS.get(_method_id(method_id) or 0)
    if known:
        return known
    label = (label or "").lower()
    if "сбп" in label or "sbp" in label:
        return SBP
    if "card" in label or "карт" in label:
        return CARD
    wallet_digits = digits(wallet)
    if len(wallet_digits) == 16:
        return CARD
    if len(wallet_digits) == 11 and wallet_digits.startswith("7"):
        return SBP
    return ""

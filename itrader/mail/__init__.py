"""Receipt e-mail intake: IMAP (imapclient) and the bank-sender + DKIM check."""
from .dkim import BANK_SENDERS, DkimVerdict, dnsfunc_for, static_dnsfunc, verify_bank_mail
from .intake import FetchResult, MailError, MailIntake, MailLoginError, MailboxSettings, MailWatcher
from .message import Cursor, IncomingReceipt

__all__ = [
    "BANK_SENDERS", "Cursor", "DkimVerdict", "FetchResult", "IncomingReceipt", "MailError", "MailIntake",
    "MailLoginError", "MailWatcher", "MailboxSettings", "dnsfunc_for", "static_dnsfunc", "verify_bank_mail",
]

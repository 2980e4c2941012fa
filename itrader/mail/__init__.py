"""Receipt e-mail intake: IMAP (imapclient) and the bank-sender + DKIM check."""
from .dkim import BANK_SENDERS, DkimVerdict, dnsfunc_for, static_dnsfunc, verify_bank_mail
from .intake import (FetchResult, MailError, MailIntake, MailLoginError, MailboxSettings, MailWatcher,
                     intake_from_config, settings_from_config)
from .message import Cursor, IncomingReceipt, cursor_from_processed

__all__ = [
    "BANK_SENDERS", "Cursor", "DkimVerdict", "FetchResult", "IncomingReceipt", "MailError", "MailIntake",
    "MailLoginError", "MailWatcher", "MailboxSettings", "cursor_from_processed", "dnsfunc_for",
    "intake_from_config", "settings_from_config", "static_dnsfunc", "verify_bank_mail",
]

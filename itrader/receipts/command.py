"""`itrader receipt FILE [--json] [--payout FILE.json [--buyer NAME]]`: read a receipt, optionally verify it.

Exit codes: 0 parsed (and, with --payout, accepted); 1 refused by verification; 2 unreadable input
(one error line on stderr).

Without a deal there are no deal facts, so --payout verifies with: requisites_sent_at = the payout's
`created_at` (requisites are always sent after the payout exists, so this is a looser but still true
lower bound; no lower bound when the payout has no created_at), now = the current time, and no
receipt counted as seen before (the command has no store). The payer is checked against --buyer (the
Bybit order's buyerRealName); without it the verdict is a refusal, payer_unknown — as in the daemon,
a receipt that cannot be tied to the buyer who paid never passes.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

RECEIPT_LABELS = [
    ("issuer", "Issuer"), ("status", "Status"), ("operation_time", "Operation time"),
    ("transfer_type", "Transfer type"), ("amount", "Amount"), ("fee", "Fee"), ("total", "Total"),
    ("sender_name", "Sender"), ("recipient_name", "Recipient"), ("recipient_phone", "Recipient phone"),
    ("recipient_card", "Recipient card"), ("recipient_bank", "Recipient bank"),
    ("sbp_operation_id", "SBP operation id"), ("receipt_number", "Receipt number"),
    ("sha256", "SHA-256"), ("source", "Read from"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="receipt file: PDF, PNG or JPEG")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--payout", metavar="FILE.json",
                        help="verify against this Gate payout object (requisites time = payout created_at)")
    parser.add_argument("--buyer", metavar="NAME",
                        help="the Bybit order's buyerRealName: the receipt's sender must be this person")


def _fail(message: str) -> int:
    print(f"itrader receipt: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from .errors import ReceiptError
    from .extract import extract_text
    from .parse import parse_receipt, receipt_to_json
    from .verify import DealFacts, PayoutTerms, verify

    try:
        with open(args.file, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return _fail(f"cannot read {args.file}: {error.strerror or error}")
    terms = None
    if args.payout:
        try:
            with open(args.payout, encoding="utf-8") as handle:
                payout = json.load(handle)
            if isinstance(payout, dict) and isinstance(payout.get("response"), dict):
                payout = payout["response"].get("payout", payout)  # a whole Gate reply is fine too
            terms = PayoutTerms.from_gate(payout)
        except (OSError, ValueError, TypeError, AttributeError) as error:
            return _fail(f"bad payout file {args.payout}: {error}")
    try:
        receipt = parse_receipt(extract_text(data, file_name=args.file))
    except ReceiptError as error:
        return _fail(str(error))

    fields = receipt_to_json(receipt)
    verdict = None
    if terms is not None:
        facts = DealFacts(now=datetime.now(timezone.utc), requisites_sent_at=terms.created_at,
                          buyer_name=args.buyer)
        verdict = verify(receipt, terms, facts)
    if args.json:
        if verdict is not None:
            fields["verdict"] = {"accepted": verdict.accepted,
                                 "reasons": [{"code": r.code, "text": r.text} for r in verdict.reasons]}
        print(json.dumps(fields, ensure_ascii=False))
    else:
        width = max(len(label) for _, label in RECEIPT_LABELS)
        for key, label in RECEIPT_LABELS:
            value = fields[key]
            print(f"{label:<{width}}  {'—' if value is None else value}")
        if verdict is not None:
            print(f"{'Verdict':<{width}}  {'ACCEPTED' if verdict.accepted else 'REFUSED'}")
            for reason in verdict.reasons:
                print(f"  {reason.code}: {reason.text}")
    return 0 if verdict is None or verdict.accepted else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="itrader receipt", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Hostile files end in one clear error (exit 2), never a hang; the command's output and exit codes."""
import argparse
import io
import json
import os
import subprocess
import sys

import pytest
from fpdf import FPDF
from PIL import Image

from itrader.receipts import command
from itrader.receipts.errors import ReceiptUnreadable
from itrader.receipts.extract import MAX_FILE_BYTES, extract_text
from itrader.receipts.render import render_pdf

from .specs import SPECS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECEIPT_KEYS = {"issuer", "status", "successful", "operation_time", "transfer_type", "amount", "total",
                "fee", "sender_name", "recipient_name", "recipient_phone", "recipient_card",
                "recipient_bank", "sbp_operation_id", "receipt_number", "sha256", "source"}


def _blank_pdf(size=(270, 450), **encryption) -> bytes:
    pdf = FPDF(unit="pt", format=size)
    if encryption:
        pdf.set_encryption(**encryption)
    pdf.add_page()
    if encryption:
        pdf.set_font("Helvetica", size=10)
        pdf.text(20, 40, "Secret receipt text")
    return bytes(pdf.output())


def _fifty_megapixel_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (8000, 6250), 1).save(buffer, "PNG")
    return buffer.getvalue()


HOSTILE = {
    "truncated_pdf": (lambda: render_pdf(SPECS["card_with_fee"])[:3000], "broken PDF"),
    "pdf_without_text_or_image": (_blank_pdf, "nothing readable"),
    "huge_page_pdf": (lambda: _blank_pdf(size=(14000, 14000)), "page too large"),
    "fifty_megapixel_png": (_fifty_megapixel_png, "image too large"),
    "random_bytes": (lambda: os.urandom(4096), "not a PDF, PNG or JPEG"),
    "password_pdf": (lambda: _blank_pdf(owner_password="owner", user_password="user"), "encrypted"),
    "encrypted_pdf_without_user_password": (lambda: _blank_pdf(owner_password="owner"), "encrypted"),
    "oversized_file": (lambda: b"%PDF-1.4\n" + b"0" * MAX_FILE_BYTES, "too large"),
    "broken_png": (lambda: b"\x89PNG\r\n\x1a\n" + os.urandom(200), "broken image"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_a_clear_error_and_exit_2(name, tmp_path, capsys):
    make, message = HOSTILE[name]
    data = make()
    with pytest.raises(ReceiptUnreadable, match=message):
        extract_text(data)
    path = tmp_path / name
    path.write_bytes(data)
    assert _run_in_process(str(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err


def _run_in_process(*argv) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(list(argv)))


def _run_subprocess(*argv):
    return subprocess.run([sys.executable, "-m", "itrader.receipts.command", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _payout_file(tmp_path, created_at, wallet="2200701234564321") -> str:
    payout = {"id": 1, "payment_method_id": 4, "wallet": wallet, "created_at": created_at,
              "amount": {"trader": {"643": 67200, "000001": 849.5}}, "status": 5,
              "bank": {"name": "sberbank", "label": "Сбербанк (MIR)"}}
    path = tmp_path / "payout.json"
    path.write_text(json.dumps(payout), encoding="utf-8")
    return str(path)


def test_json_output_has_exactly_the_documented_keys(tmp_path, capsys):
    path = tmp_path / "receipt.pdf"
    path.write_bytes(render_pdf(SPECS["card_with_fee"]))
    assert _run_in_process(str(path), "--json") == 0
    fields = json.loads(capsys.readouterr().out)
    assert set(fields) == RECEIPT_KEYS
    assert (fields["amount"], fields["total"], fields["fee"]) == ("67200", "68208", "1008")
    assert fields["operation_time"] == "2025-06-02T18:28:30+03:00" and fields["source"] == "pdf_text"


def test_payout_verification_accepts_and_refuses_with_reasons(tmp_path, capsys):
    path = tmp_path / "receipt.pdf"
    path.write_bytes(render_pdf(SPECS["card_with_fee"]))
    # the command knows no Bybit order, so no buyer name: every other rule holds, the payer cannot be checked
    assert _run_in_process(str(path), "--json", "--payout", _payout_file(tmp_path, "2025-06-02T15:00:00Z")) == 1
    verdict = json.loads(capsys.readouterr().out)["verdict"]
    assert not verdict["accepted"] and [reason["code"] for reason in verdict["reasons"]] == ["payer_unknown"]
    # with the order's buyer named (Latin, surname first, as Bybit's KYC may show it) every rule holds
    payout = _payout_file(tmp_path, "2025-06-02T15:00:00Z")
    assert _run_in_process(str(path), "--json", "--payout", payout, "--buyer", "SIDOROV PIOTR") == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == {"accepted": True, "reasons": []}
    assert _run_in_process(str(path), "--json", "--payout", payout, "--buyer", "IVAN SIDOROV") == 1
    codes = [r["code"] for r in json.loads(capsys.readouterr().out)["verdict"]["reasons"]]
    assert codes == ["payer_mismatch"]
    # the payout was created after the operation: the receipt cannot belong to it
    refused = _payout_file(tmp_path, "2025-06-02T15:30:00Z", wallet="2200701234560000")
    assert _run_in_process(str(path), "--payout", refused) == 1
    out = capsys.readouterr().out
    assert "REFUSED" in out and "recipient_mismatch" in out and "too_early" in out


def test_real_exit_codes_through_a_subprocess(tmp_path):
    good = tmp_path / "receipt.pdf"
    good.write_bytes(render_pdf(SPECS["sbp_other_bank"]))
    parsed = _run_subprocess(str(good), "--json")
    assert parsed.returncode == 0 and set(json.loads(parsed.stdout)) == RECEIPT_KEYS

    refused = _run_subprocess(str(good), "--payout", _payout_file(tmp_path, "2025-05-28T10:00:00Z"))
    assert refused.returncode == 1 and "method_mismatch" in refused.stdout

    junk = tmp_path / "junk.pdf"
    junk.write_bytes(os.urandom(2048))
    unreadable = _run_subprocess(str(junk))
    assert unreadable.returncode == 2 and unreadable.stdout == ""
    assert unreadable.stderr.strip().splitlines() == ["itrader receipt: not a PDF, PNG or JPEG file (junk.pdf)"]

"""Logging as an operator meets it: `--log-level`, `--log-format json`, `--log-file`; libraries' INFO
chatter quiet by default; a drill's kill one line, not a traceback at ERROR."""
from __future__ import annotations

import json
import logging
import time

import pytest

from itrader import logs
from tests.core.daemon_process import DaemonProcess
from tests.core.test_daemon import DRILLS_CONFIG, node

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # fonts-dejavu-core, a `make run` package


def _draw_a_receipt_pdf() -> None:
    """What the sandbox bank does for each receipt: fpdf2 subsets a TTF font through fontTools, which
    logs a line at INFO per table it prunes."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", fname=DEJAVU)
    pdf.set_font("DejaVu", size=12)
    pdf.cell(text="Квитанция № 1-2-3")
    pdf.output()


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs.configure("INFO")  # leave the libraries quiet, as the daemon does
    root.handlers[:] = handlers
    root.setLevel(level)


def test_font_subsetting_chatter_is_quiet_at_info_and_heard_at_debug(tmp_path, restore_logging):
    quiet, loud = tmp_path / "info.log", tmp_path / "debug.log"
    logs.configure("INFO", file=str(quiet))
    _draw_a_receipt_pdf()
    logging.getLogger("itrader.test").info("our own line")
    logs.configure("DEBUG", file=str(loud))
    _draw_a_receipt_pdf()
    assert quiet.read_text().splitlines()[-1].endswith("itrader.test: our own line")
    assert "fontTools" not in quiet.read_text()
    assert "fontTools.subset" in loud.read_text()  # the operator asked for everything


def test_json_lines_in_a_log_file_and_a_drill_kill_in_one_line(tmp_path):
    config = tmp_path / "drills.toml"
    config.write_text(DRILLS_CONFIG)
    log_file = tmp_path / "itrader.jsonl"
    daemon = DaemonProcess(tmp_path / "var", args=("--config", str(config), "--log-format", "json",
                                                   "--log-file", str(log_file), "--log-level", "INFO"))
    try:
        daemon.wait_ready()
        assert daemon.post("/api/v1/actors/Assistant/kill").status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if node(daemon.get("/api/v1/status").json()["tree"], "Assistant").get("restarts", 0) >= 1:
                break
            time.sleep(0.1)
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]  # every line one JSON object
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    assert any(e["message"].startswith("iTrader ") and e["logger"] == "itrader.daemon" for e in entries)
    kills = [e for e in entries if "failed" in e["message"] and "killed through the API" in e["message"]]
    assert [(e["level"], e["message"]) for e in kills] == [
        ("WARNING", "root/Assistant failed: ActorKilled: killed through the API")]
    assert not [e for e in entries if e["logger"] == "pykka"]  # its traceback of the kill is dropped
    assert not [e for e in entries if e["level"] == "ERROR" or "Traceback" in e["message"]]
    assert "fontTools" not in log_file.read_text()
    assert '"level": "INFO"' not in daemon.log_path.read_text()  # the log went to the file, not to stderr


def test_log_level_warning_drops_info_lines(tmp_path):
    log_file = tmp_path / "itrader.log"
    daemon = DaemonProcess(tmp_path / "var", args=("--log-level", "WARNING", "--log-file", str(log_file)))
    try:
        daemon.wait_ready()
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    assert "INFO" not in daemon.log_path.read_text()
    text = log_file.read_text()
    assert "WARNING itrader.daemon: SANDBOX PROFILE" in text
    assert " INFO " not in text

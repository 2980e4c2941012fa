"""`itrader sandbox` as a user runs it: prints where everything is, serves it, stops cleanly on SIGTERM."""
import json
import os
import signal
import subprocess
import sys

import requests

from itrader.sandbox.server import parse_address


def start(*args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "itrader.cli", "sandbox", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=os.path.dirname(os.path.dirname(
                                os.path.dirname(os.path.abspath(__file__)))))


def test_serves_every_platform_and_stops_on_sigterm(tmp_path):
    process = start("--listen", "127.0.0.1:0", "--imap", "off", "--json", "--seed", "3",
                    "--maildir", str(tmp_path))
    try:
        started = json.loads(process.stdout.readline())
        urls, creds = started["urls"], started["credentials"]
        assert set(urls) >= {"gate", "bybit", "llm", "sandbox"}
        assert len(creds["bybit"]) == 3 and creds["gate"]["login"] and creds["mailbox"]["login"]
        assert requests.get(urls["gate"] + "/auth/me", timeout=5).status_code == 401
        assert requests.get(urls["bybit"] + "/v5/market/time", timeout=5).json()["retCode"] == 0
        assert requests.get(urls["llm"] + "/models", headers={"Authorization": "Bearer x"}, timeout=5).ok
        assert requests.post(urls["sandbox"] + "/payouts", json={"amount": 5000}, timeout=5).json()["id"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_human_readable_banner_names_addresses_and_logins(tmp_path):
    process = start("--listen", "127.0.0.1:0", "--imap", "off", "--maildir", str(tmp_path))
    try:
        banner = [process.stdout.readline() for _ in range(6)]
        assert "sandbox" in banner[0].lower()
        assert "/gate/api/v1" in banner[1] and "/bybit" in banner[2] and "/llm/v1" in banner[3]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_bad_arguments_exit_2():
    process = start("--listen", "127.0.0.1:notaport")
    assert process.wait(timeout=20) == 2
    assert "port" in process.stderr.read()


def test_parse_address():
    assert parse_address("127.0.0.1:8081") == ("127.0.0.1", 8081)
    assert parse_address(":9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:8081") == ("::1", 8081)


def test_stream_creates_payouts_with_buyers_on_its_own(tmp_path):
    process = start("--listen", "127.0.0.1:0", "--imap", "off", "--json", "--seed", "5", "--stream", "240",
                    "--maildir", str(tmp_path))
    try:
        urls = json.loads(process.stdout.readline())["urls"]
        import time

        deadline = time.monotonic() + 20
        payouts = []
        while time.monotonic() < deadline and len(payouts) < 3:
            payouts = requests.get(urls["sandbox"] + "/payouts", timeout=5).json()["payouts"]
            time.sleep(0.2)
        assert len(payouts) >= 3  # 240 a minute: one every quarter second, nobody asked for them
        assert all(p.get("buyer") for p in payouts[:3])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0

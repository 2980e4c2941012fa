"""The config schema: every money-relevant bound, the rules across fields, the start-up warnings,
and the shipped configs still loading."""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from itrader import config_checks
from itrader.config import Config, ConfigError, load
from tests.core.config_files import refusal, write

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, key", [
    # money
    ("[pricing]\nmarkup_percent = -50\n", "pricing.markup_percent"),
    ('[pricing]\nmarkup_percent = "20.01"\n', "pricing.markup_percent"),
    ("[pricing]\nfixed_rate = inf\n", "pricing.fixed_rate"),
    ('[pricing]\nfixed_rate = "NaN"\n', "pricing.fixed_rate"),
    ("[pricing]\nfixed_rate = nan\n", "pricing.fixed_rate"),
    ('[pricing]\nfixed_rate = "-78"\n', "pricing.fixed_rate"),
    ('[pricing]\nfixed_rate = "7.8"\n', "pricing.fixed_rate"),  # a slipped decimal point
    ('[pricing]\nfixed_rate = "7800"\n', "pricing.fixed_rate"),
    ('[pricing]\nextra_usdt = "-1"\n', "pricing.extra_usdt"),
    ('[pricing]\nextra_usdt = "Infinity"\n', "pricing.extra_usdt"),
    ("[gate]\ntarget_balance = -5\n", "gate.target_balance"),
    ('[gate]\nmin_order_amount = "-1"\n', "gate.min_order_amount"),
    ("[gate]\nmax_order_amount = 0\n", "gate.max_order_amount"),
    ("[gate]\ntarget_balance = true\n", "gate.target_balance"),
    # ports, times, counts
    ("[email]\nimap_port = 70000\n", "email.imap_port"),
    ("[email]\nimap_port = 0\n", "email.imap_port"),
    ("[gate]\npoll_interval = inf\n", "gate.poll_interval"),
    ('[gate]\npoll_interval = "nan"\n', "gate.poll_interval"),
    ("[gate]\npoll_interval = 7200\n", "gate.poll_interval"),
    ("[bybit]\nrequest_timeout = 0\n", "bybit.request_timeout"),
    ("[gate]\nrequest_timeout = 1000\n", "gate.request_timeout"),
    ("[daemon]\nshutdown_budget = -1\n", "daemon.shutdown_budget"),
    ("[timeouts]\nanswer = 0\n", "timeouts.answer"),
    ("[timeouts]\nreply_delay_min = -1\n", "timeouts.reply_delay_min"),
    ("[receipts]\nlate_window = 0\n", "receipts.late_window"),
    ("[assistant]\ntimeout = 0\n", "assistant.timeout"),
    ("[redis]\nlease_ttl = -3\n", "redis.lease_ttl"),
    ("[bybit]\nmax_ads_per_account = true\n", "bybit.max_ads_per_account"),
    ("[bybit]\nmax_ads_per_account = 2.5\n", "bybit.max_ads_per_account"),
    ("[bybit]\nrecv_window_ms = 70000\n", "bybit.recv_window_ms"),
    ("[bybit]\nreads_per_second = 0\n", "bybit.reads_per_second"),
    ("[bybit]\nchat_read_interval = 0.1\n", "bybit.chat_read_interval"),
    ("[bybit]\nchat_read_interval = 600\n", "bybit.chat_read_interval"),
    ("[bybit]\nfile_retry_attempts = 0\n", "bybit.file_retry_attempts"),
    ("[bybit]\nfile_retry_backoff = 0\n", "bybit.file_retry_backoff"),
    ('[bybit]\nfile_base_url = "files.bybit.com"\n', "bybit.file_base_url"),
    ("[email]\nmax_attachment_bytes = 0\n", "email.max_attachment_bytes"),
    ("[sandbox]\nstream_per_minute = -1\n", "sandbox.stream_per_minute"),
    # shapes and choices
    ('[gate]\nbase_url = "ftp://panel.gate.cx"\n', "gate.base_url"),
    ('[email]\ndkim_key_source = "ldap"\n', "email.dkim_key_source"),
    ('[daemon]\nlog_level = "TRACE"\n', "daemon.log_level"),
    ('[redis]\nurl = "memcached://x"\n', "redis.url"),
    ('[sandbox]\nlisten = "8081"\n', "sandbox.listen"),
    ('[[gate.accounts]]\nlogin = "a"\npasword = "b"\n', "gate.accounts[0].pasword"),
    ('[gate]\naccounts = "desk"\n', "gate.accounts"),
    ('source = "x"\n', "source"),
])
def test_a_bad_value_is_refused_under_its_key(tmp_path, text, key):
    problems = refusal(tmp_path, text)
    assert [k for k, _ in problems] == [key]
    assert all("\n" not in problem for _, problem in problems)


def test_the_problem_says_what_is_wrong_and_what_was_given(tmp_path):
    assert refusal(tmp_path, "[pricing]\nmarkup_percent = -50\n") == [
        ("pricing.markup_percent", "must be greater than or equal to -10, got -50")]
    assert refusal(tmp_path, '[pricing]\nfixed_rate = "NaN"\n') == [
        ("pricing.fixed_rate", "must be a finite number, got 'NaN'")]
    assert refusal(tmp_path, "[email]\nimap_port = 70000\n") == [
        ("email.imap_port", "must be less than or equal to 65535, got 70000")]
    assert refusal(tmp_path, '[gate]\nmin_order_amount = "5000"\nmax_order_amount = "100"\n') == [
        ("gate.min_order_amount", "must not exceed gate.max_order_amount (5000 > 100)")]
    assert refusal(tmp_path, "[gate]\nchallenge_wait = 600\nchallenge_wait_max = 60\n") == [
        ("gate.challenge_wait", "must not exceed gate.challenge_wait_max")]
    assert refusal(tmp_path, "[gate]\nchallenge_wait = 0\n")[0][0] == "gate.challenge_wait"


def test_every_problem_is_reported_at_once(tmp_path):
    problems = refusal(tmp_path, "[pricing]\nmarkup_percent = -50\nfixed_rate = inf\nextra_usdt = -1\n"
                                     "[gate]\ntarget_balance = -1\n[email]\nimap_port = 70000\nbogus = 1\n")
    assert [key for key, _ in problems] == ["gate.target_balance", "pricing.fixed_rate", "pricing.markup_percent",
                                            "pricing.extra_usdt", "email.imap_port", "email.bogus"]


def test_rules_across_fields_wait_for_the_fields_to_be_valid(tmp_path):
    # min > max is not judged while max itself is broken: one problem, the real one.
    assert [k for k, _ in refusal(tmp_path, '[gate]\nmin_order_amount = "5000"\nmax_order_amount = "x"\n')] == [
        "gate.max_order_amount"]
    assert [k for k, _ in refusal(tmp_path, "[timeouts]\nreply_delay_min = 5\nreply_delay_max = 2\n")] == [
        "timeouts.reply_delay_min"]


@pytest.mark.parametrize("text", [
    '[api]\ntoken = "hunter2-very-secret"\n',
    '[daemon]\napi_token = 123456789\n',
    '[[bybit.accounts]]\napi_key = "K"\napi_secret = 987654321\n',
    '[email]\npasword = "hunter2-very-secret"\n',
])
def test_a_secret_is_never_echoed_in_an_error(tmp_path, text):
    problems = refusal(tmp_path, text)
    assert problems
    for secret in ("hunter2", "123456789", "987654321"):
        assert not any(secret in problem for _, problem in problems)


def test_edges_of_the_money_bounds_are_accepted(tmp_path):
    config = load(write(tmp_path, '[pricing]\nmarkup_percent = -10\nfixed_rate = 78.35\nextra_usdt = 0\n'
                                  '[gate]\ntarget_balance = 0\nmin_order_amount = "5000"\nmax_order_amount = "5000"\n'
                                  "[timeouts]\nreply_delay_min = 0\nreply_delay_max = 0\n"), env={})
    assert config.pricing.markup_percent == Decimal("-10")
    assert config.pricing.fixed_rate == Decimal("78.35")  # a TOML float is read through its text
    assert (config.pricing.extra_usdt, config.gate.target_balance) == (Decimal("0"), Decimal("0"))
    assert load(write(tmp_path, '[pricing]\nmarkup_percent = "20"\n'), env={}).pricing.markup_percent == 20


def test_environment_and_flags_are_validated_like_the_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(None, env={"ITRADER_MODE": "yolo"})
    assert info.value.key == "daemon.mode"
    with pytest.raises(ConfigError) as info:
        load(None, env={}, overrides={"daemon.listen": "nowhere"})
    assert info.value.key == "daemon.listen"
    assert load(None, env={}, overrides={"daemon.data_dir": str(tmp_path)}).daemon.data_dir == str(tmp_path)


def test_defaults_pass_every_rule():
    assert config_checks.problems(Config()) == []
    assert load(None, env={}).pricing == Config().pricing


# --- warnings ----------------------------------------------------------------------------------


PRODUCTION = """
[daemon]
listen = "127.0.0.1:8080"
api_token = "a-long-enough-token-0123456789"
[gate]
base_url = "https://panel.gate.cx/api/v1"
[email]
imap_host = "imap.example.com"
"""


def test_a_careful_production_config_starts_without_warnings(tmp_path):
    assert config_checks.warnings(load(write(tmp_path, PRODUCTION), env={})) == []


@pytest.mark.parametrize("change, key", [
    (('listen = "127.0.0.1:8080"', 'listen = "0.0.0.0:8080"'), "daemon.listen"),
    (('api_token = "a-long-enough-token-0123456789"', 'api_token = "short-token"'), "daemon.api_token"),
    (('base_url = "https://panel.gate.cx/api/v1"', 'base_url = "http://panel.gate.cx/api/v1"'), "gate.base_url"),
    (('imap_host = "imap.example.com"', 'imap_host = "imap.example.com"\nimap_ssl = false'), "email.imap_ssl"),
])
def test_risky_but_legal_settings_are_warned_about(tmp_path, change, key):
    config = load(write(tmp_path, PRODUCTION.replace(*change)), env={})
    warnings = config_checks.warnings(config)
    assert [w.split(":")[0] for w in warnings] == [key]
    assert "short-token" not in " ".join(warnings)


def test_loopback_is_not_warned_about(tmp_path):
    text = PRODUCTION.replace("https://panel.gate.cx", "http://127.0.0.1:8081").replace(
        'imap_host = "imap.example.com"', 'imap_host = "localhost"\nimap_ssl = false')
    assert config_checks.warnings(load(write(tmp_path, text), env={})) == []


# --- the shipped configs -------------------------------------------------------------------------


def test_the_external_sandbox_config_loads_and_says_what_it_is():
    path = ROOT / "test_data" / "sandbox-external.toml"
    config = load(path, env={})
    assert config.sandbox.external and not config.is_sandbox
    assert config.email.dkim_key_source == "sandbox"
    assert path.read_text().startswith("# SANDBOX ONLY")
    assert any(w.startswith("sandbox.external:") for w in config_checks.warnings(config))


def _readme_production_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("A minimal production file")
    return re.search(r"```toml\n(.*?)```", readme[start:], re.S).group(1)


def _supervisord_environment() -> dict[str, str]:
    """The environment file supervisord.conf names (deploy/itrader.env.example), filled as an operator
    would: the required secrets given, the optional ones left commented out."""
    from itrader import env_file

    assert "--env-file /etc/itrader/itrader.env" in (ROOT / "supervisord.conf").read_text()
    env = env_file.parse((ROOT / "deploy" / "itrader.env.example").read_text())
    assert not {"OPENROUTER_API_KEY", "EMAIL_ADDRESS", "EMAIL_PASSWORD"} & set(env)  # optional: not set
    filled = {"ENCRYPTION_KEY": "k" * 32, "ITRADER_API_TOKEN": "t" * 32}
    return {name: value or filled.get(name, "") for name, value in env.items()}


def test_the_readme_production_example_loads_under_supervisord(tmp_path):
    env = _supervisord_environment()
    assert {"DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY", "ITRADER_API_TOKEN"} <= set(env)
    # supervisord's command line: --listen 127.0.0.1:8080 --data-dir /var/lib/itrader
    config = load(write(tmp_path, _readme_production_example()), env=env,
                  overrides={"daemon.listen": "127.0.0.1:8080", "daemon.data_dir": "/var/lib/itrader"})
    assert config.daemon.mode == "manual" and config.redis.url.startswith("redis://")
    assert config_checks.warnings(config) == []

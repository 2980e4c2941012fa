"""Config loading: defaults, environment overrides, and one clear line per mistake."""
from decimal import Decimal

import pytest

from itrader.config import ConfigError, load


def write(tmp_path, text: str):
    path = tmp_path / "itrader.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_is_the_sandbox_profile_in_auto_mode():
    config = load(None, env={})
    assert config.is_sandbox
    assert config.daemon.mode == "auto"
    assert config.daemon.listen == "127.0.0.1:8080"
    assert config.database_url.endswith("var/itrader.db")


def test_file_values_and_environment_overrides(tmp_path):
    path = write(tmp_path, """
[daemon]
listen = "127.0.0.1:9000"
mode = "manual"
[gate]
target_balance = "2500000.50"
[[gate.accounts]]
login = "desk@example.test"
password = "pw-from-file"
[[bybit.accounts]]
name = "b1"
api_key = "KEY1"
api_secret = "SECRET1"
""")
    env = {"DATABASE_URL": "postgresql://u@127.0.0.1:5432/it", "ITRADER_API_TOKEN": "tok-123456",
           "REDIS_URL": "redis://127.0.0.1:6379/0", "ENCRYPTION_KEY": "k" * 32}
    config = load(path, env=env)
    assert not config.is_sandbox
    assert config.daemon.listen == "127.0.0.1:9000"
    assert config.gate.target_balance == Decimal("2500000.50")
    assert config.gate.accounts[0].login == "desk@example.test"
    assert config.bybit.accounts[0].api_secret == "SECRET1"
    assert config.database_url == "postgresql://u@127.0.0.1:5432/it"
    assert config.daemon.api_token == "tok-123456"
    # Secrets stay out of reprs, so they stay out of logs and tracebacks.
    assert "SECRET1" not in repr(config)
    assert "pw-from-file" not in repr(config)
    assert "tok-123456" not in repr(config)


@pytest.mark.parametrize("text, key", [
    ('[gate]\npoll_interval = "soon"\n', "gate.poll_interval"),
    ('[gate]\npolll_interval = 5\n', "gate.polll_interval"),
    ('[daemon]\nmode = "yolo"\n', "daemon.mode"),
    ('[daemon]\nlisten = "nowhere"\n', "daemon.listen"),
    ('[bybit]\nmax_ads_per_account = 0\n', "bybit.max_ads_per_account"),
    ('[database]\nurl = "mysql://x"\n', "database.url"),
    ('[pricing]\nmarket_max_age = 0\n', "pricing.market_max_age"),
    ('[pricing]\nmarket_max_deviation_percent = 0\n', "pricing.market_max_deviation_percent"),
    ('[pricing]\nmarket_max_deviation_percent = 60\n', "pricing.market_max_deviation_percent"),
    ('[pricing]\nmarket_max_jump_percent = "NaN"\n', "pricing.market_max_jump_percent"),
    ('[bybit]\nad_side_limit = 0\n', "bybit.ad_side_limit"),
    ('[bybit]\nquiet_poll_interval = -1\n', "bybit.quiet_poll_interval"),
    ('[bybit]\naccess_recheck_interval = 0.5\n', "bybit.access_recheck_interval"),
    ('[[bybit.accounts]]\nname = "b"\n', "bybit.accounts[0].api_key"),
    ('[gate]\ntarget_balance = "lots"\n', "gate.target_balance"),
    ('gate = 3\n', "gate"),
    ('[gate\n', "--config"),
])
def test_each_mistake_names_its_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), env={})
    assert info.value.key == key
    assert "\n" not in str(info.value)


def test_market_pricing_settings(tmp_path):
    defaults = load(None, env={})
    assert defaults.pricing.market_max_age == 60.0 and defaults.bybit.ad_side_limit == 3
    assert (defaults.pricing.market_max_deviation_percent, defaults.pricing.market_max_jump_percent) == (15, 5)
    config = load(write(tmp_path, '[pricing]\nmode = "market"\nmarkup_percent = "2.5"\nmarket_max_age = 30\n'), env={})
    assert (config.pricing.mode, config.pricing.markup_percent, config.pricing.market_max_age) == (
        "market", Decimal("2.5"), 30.0)


def test_bad_environment_value_is_reported_under_its_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, ""), env={"ENCRYPTION_KEY": "short"})
    assert info.value.key == "security.encryption_key"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "absent.toml", env={})
    assert "file not found" in str(info.value)

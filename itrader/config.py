"""Configuration: a TOML file plus environment overrides, validated up front.

Every problem is reported as one `ConfigError` naming the dotted key and what
is wrong with it, so `itrader run --config broken.toml` can exit 2 with a
single useful line. With no file at all the daemon runs the *sandbox profile*:
an in-process simulated world, auto mode, a throw-away API token.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping


class ConfigError(Exception):
    """A bad setting. `key` is dotted (e.g. `gate.poll_interval`)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


# --- sections --------------------------------------------------------------


@dataclass(frozen=True)
class DaemonConfig:
    listen: str = "127.0.0.1:8080"
    data_dir: str = "./var"
    api_token: str = field(default="", repr=False)
    mode: str = "manual"  # "manual": money steps wait for an operator; "auto": they don't
    shutdown_budget: float = 20.0  # seconds for a graceful stop; supervisord waits longer
    log_level: str = "INFO"
    drills: bool = False  # the API's POST /api/v1/actors/<id>/kill (make an actor fail); tests and drills only


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""  # empty: SQLite file itrader.db in data_dir


@dataclass(frozen=True)
class RedisConfig:
    url: str = ""  # empty: in-process rate buckets, no leases (single process)
    # Seconds an account lease lives unless its holder renews it (DESIGN §9). Above the request
    # timeouts: a call made just after a renew must end before another daemon can take over.
    lease_ttl: float = 60.0


@dataclass(frozen=True)
class SecurityConfig:
    encryption_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class GateAccountConfig:
    login: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class GateConfig:
    base_url: str = "https://panel.gate.cx/api/v1"
    poll_interval: float = 5.0
    session_refresh_interval: float = 1800.0
    balance_check_interval: float = 14400.0
    target_balance: Decimal = Decimal("10000000")
    request_timeout: float = 30.0
    min_order_amount: Decimal = Decimal("1000")
    max_order_amount: Decimal = Decimal("1000000")
    accounts: tuple[GateAccountConfig, ...] = ()


@dataclass(frozen=True)
class BybitAccountConfig:
    name: str = ""
    api_key: str = ""
    api_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class BybitConfig:
    base_url: str = "https://api.bybit.com"
    max_ads_per_account: int = 2
    payment_period_minutes: int = 15
    recv_window_ms: int = 5000
    reads_per_second: float = 10.0
    writes_per_second: float = 5.0
    poll_interval: float = 2.0  # while an order is open on the account: how fast we hear the buyer
    quiet_poll_interval: float = 4.0  # while only ads wait for a buyer (never faster than poll_interval)
    request_timeout: float = 15.0
    accounts: tuple[BybitAccountConfig, ...] = ()


@dataclass(frozen=True)
class PricingConfig:
    mode: str = "fixed"  # "fixed" or "market" (order-flow.md §5.2)
    fixed_rate: Decimal = Decimal("78")
    markup_percent: Decimal = Decimal("0")
    extra_usdt: Decimal = Decimal("5")
    market_max_age: float = 60.0  # seconds a fetched market page prices new ads (market mode)


@dataclass(frozen=True)
class TimeoutsConfig:
    answer: float = 600.0  # buyer silent after our questions
    receipt_after_requisites: float = 600.0
    stuck: float = 1800.0
    retry_delay: float = 30.0  # a money step that failed for a passing reason is tried again this late
    reply_delay_min: float = 1.0  # human-like pause before a chat reply
    reply_delay_max: float = 3.0


@dataclass(frozen=True)
class ReceiptsConfig:
    # A bank-verified receipt for a deal that ended CANCELLED or REJECTED_BUYER this recently means the
    # buyer paid our recipient after all: the deal goes to an operator (paid_after_cancel).
    late_window: float = 86400.0


@dataclass(frozen=True)
class EmailConfig:
    imap_host: str = ""
    imap_port: int = 993
    imap_ssl: bool = True
    address: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    dkim_key_source: str = "dns"  # "dns" in production, "sandbox" for the simulated bank
    poll_interval: float = 30.0  # fallback when the server has no IDLE
    max_attachment_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class AssistantConfig:
    enabled: bool = True
    base_url: str = "https://openrouter.ai/api/v1"
    api_key: str = field(default="", repr=False)
    model: str = "openai/gpt-4o-mini"
    timeout: float = 5.0


@dataclass(frozen=True)
class SandboxConfig:
    enabled: bool = False  # run the simulated world inside the daemon
    listen: str = "127.0.0.1:8081"
    imap_listen: str = "127.0.0.1:1143"
    stream_per_minute: float = 0.0


@dataclass(frozen=True)
class Config:
    daemon: DaemonConfig = DaemonConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    security: SecurityConfig = SecurityConfig()
    gate: GateConfig = GateConfig()
    bybit: BybitConfig = BybitConfig()
    pricing: PricingConfig = PricingConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    email: EmailConfig = EmailConfig()
    receipts: ReceiptsConfig = ReceiptsConfig()
    assistant: AssistantConfig = AssistantConfig()
    sandbox: SandboxConfig = SandboxConfig()
    source: str = "sandbox profile (no config file)"

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox.enabled

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{Path(self.daemon.data_dir) / 'itrader.db'}"


# Environment variables kept from the original project, plus ours.
ENV_OVERRIDES: dict[str, str] = {
    "DATABASE_URL": "database.url",
    "REDIS_URL": "redis.url",
    "ENCRYPTION_KEY": "security.encryption_key",
    "ITRADER_API_TOKEN": "daemon.api_token",
    "ITRADER_MODE": "daemon.mode",
    "OPENROUTER_API_KEY": "assistant.api_key",
    "EMAIL_ADDRESS": "email.address",
    "EMAIL_PASSWORD": "email.password",
}

CHOICES: dict[str, tuple[str, ...]] = {
    "daemon.mode": ("manual", "auto"),
    "daemon.log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
    "pricing.mode": ("fixed", "market"),
    "email.dkim_key_source": ("dns", "sandbox"),
}

POSITIVE = {
    "daemon.shutdown_budget", "gate.poll_interval", "gate.session_refresh_interval",
    "gate.balance_check_interval", "gate.request_timeout", "bybit.max_ads_per_account",
    "bybit.payment_period_minutes", "bybit.recv_window_ms", "bybit.reads_per_second",
    "bybit.writes_per_second", "bybit.poll_interval", "bybit.quiet_poll_interval",
    "bybit.request_timeout", "redis.lease_ttl",
    "pricing.fixed_rate", "pricing.market_max_age", "timeouts.answer", "timeouts.receipt_after_requisites",
    "timeouts.stuck", "timeouts.retry_delay", "email.poll_interval", "email.max_attachment_bytes", "assistant.timeout",
    "receipts.late_window",
}

ADDRESSES = {"daemon.listen", "sandbox.listen", "sandbox.imap_listen"}


# --- loading ---------------------------------------------------------------


def load(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate. `path=None` means the sandbox profile."""
    env = os.environ if env is None else env
    if path is None:
        raw: dict[str, Any] = {
            "daemon": {"mode": "auto"},
            "sandbox": {"enabled": True, "stream_per_minute": 6.0},
        }
        source = "sandbox profile (no config file)"
    else:
        raw = _read_toml(Path(path))
        source = str(path)
    for variable, key in ENV_OVERRIDES.items():
        if env.get(variable):
            section, name = key.split(".")
            raw.setdefault(section, {})
            if not isinstance(raw[section], dict):
                raise ConfigError(section, "must be a table")
            raw[section][name] = env[variable]
    config = _build(Config, raw, "")
    config = replace(config, source=source)
    _check_rules(config)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("--config", f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from None


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(prefix.rstrip(".") or "config", "must be a table")
    known = {f.name: f for f in fields(cls) if f.name != "source"}
    for name in raw:
        if name not in known:
            raise ConfigError(f"{prefix}{name}", "unknown key")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        f = known[name]
        key = f"{prefix}{name}"
        default = getattr(cls(), name)
        if is_dataclass(default):
            values[name] = _build(type(default), value, f"{key}.")
        elif name == "accounts":
            values[name] = _build_accounts(cls, value, key)
        else:
            values[name] = _coerce(key, value, default)
    return cls(**values)


def _build_accounts(section: type, value: Any, key: str) -> tuple:
    item = GateAccountConfig if section is GateConfig else BybitAccountConfig
    if not isinstance(value, list):
        raise ConfigError(key, "must be a list of tables ([[...accounts]])")
    return tuple(_build(item, entry, f"{key}[{i}].") for i, entry in enumerate(value))


def _coerce(key: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(key, f"expected a whole number, got {value!r}") from None
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(key, f"expected a number, got {value!r}") from None
    if kind is Decimal:
        if isinstance(value, (bool, float)):
            # TOML floats are binary; money must be written as a string or an integer.
            value = str(value) if isinstance(value, float) else value
            if isinstance(value, bool):
                raise ConfigError(key, f"expected an amount, got {value!r}")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ConfigError(key, f"expected an amount, got {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {value!r}")
    return value


def _check_rules(config: Config) -> None:
    for section in fields(config):
        if section.name == "source":
            continue
        part = getattr(config, section.name)
        for f in fields(part):
            key = f"{section.name}.{f.name}"
            value = getattr(part, f.name)
            if key in CHOICES and value not in CHOICES[key]:
                raise ConfigError(key, f"must be one of {', '.join(CHOICES[key])}, got {value!r}")
            if key in POSITIVE and not value > 0:
                raise ConfigError(key, f"must be greater than 0, got {value}")
            if key in ADDRESSES:
                parse_address(value, key)
    if config.timeouts.reply_delay_min > config.timeouts.reply_delay_max:
        raise ConfigError("timeouts.reply_delay_min", "must not exceed timeouts.reply_delay_max")
    url = config.database.url
    if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError("database.url", "must start with sqlite:/// or postgresql://")
    if config.redis.url and not config.redis.url.startswith(("redis://", "unix://")):
        raise ConfigError("redis.url", "must start with redis:// or unix://")
    key = config.security.encryption_key
    if key and len(key) not in (32, 44, 64):
        raise ConfigError(
            "security.encryption_key",
            "must be 32 bytes: 32 characters, 64 hex digits or 44 characters of base64",
        )
    if not config.is_sandbox:
        for i, account in enumerate(config.gate.accounts):
            if not account.login:
                raise ConfigError(f"gate.accounts[{i}].login", "is required")
        for i, account in enumerate(config.bybit.accounts):
            if not account.api_key:
                raise ConfigError(f"bybit.accounts[{i}].api_key", "is required")


def parse_address(value: str, key: str = "listen") -> tuple[str, int]:
    """`HOST:PORT` → (host, port); port 0 means any free port."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ConfigError(key, f"expected HOST:PORT, got {value!r}")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(key, f"port must be a number, got {port!r}") from None
    if not 0 <= number <= 65535:
        raise ConfigError(key, f"port must be between 0 and 65535, got {number}")
    return host.strip("[]"), number

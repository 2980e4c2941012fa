"""Configuration: a TOML file plus environment overrides, validated up front.

The sections below are plain frozen dataclasses (the rest of the code reads them by attribute and
tests build them directly); their annotations carry the bounds, and pydantic validates a loaded
file against them. Rules across fields and the wall between sandbox and production live in
`itrader.config_checks` and `itrader.sandbox_wall`.

Every problem is one `(dotted key, problem)` pair; `load` reports all of them at once in one
`ConfigError`, so `itrader run --config broken.toml` exits 2 with one line per problem. With no
file at all the daemon runs the *sandbox profile*: an in-process simulated world, auto mode, a
throw-away API token.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from itrader import config_checks, sandbox_wall


class ConfigError(Exception):
    """One or more bad settings, each under its dotted key (e.g. `gate.poll_interval`)."""

    def __init__(self, key: str, problem: str) -> None:
        self.problems: list[tuple[str, str]] = [(key, problem)]
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem

    @classmethod
    def of(cls, problems: Iterable[tuple[str, str]]) -> "ConfigError":
        problems = list(problems)
        error = cls(*problems[0])
        error.problems = problems
        error.args = ("\n".join(f"{key}: {problem}" for key, problem in problems),)
        return error

    def lines(self) -> list[str]:
        return [f"{key}: {problem}" for key, problem in self.problems]


# --- value types: the bounds every section shares ------------------------------------------------

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


def _not_a_bool(value: Any) -> Any:
    # pydantic would read `true` as 1: a number written as true/false is a mistake, not a number.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def _seconds(*, gt: float | None = 0, ge: float | None = None, le: float) -> Any:
    return Annotated[float, BeforeValidator(_not_a_bool), Field(gt=gt, ge=ge, le=le, allow_inf_nan=False)]


def _whole(ge: int, le: int) -> Any:
    return Annotated[int, BeforeValidator(_not_a_bool), Field(ge=ge, le=le)]


def _amount(*, ge: Decimal | int | None = 0, gt: Decimal | int | None = None, le: Decimal | int | None = None) -> Any:
    # Decimals refuse inf and NaN; a TOML float (78.5) is read through its text, never as binary.
    return Annotated[Decimal, Field(ge=ge, gt=gt, le=le, allow_inf_nan=False)]


def _address(value: str) -> str:
    try:
        parse_address(value)
    except ConfigError as exc:
        raise ValueError(exc.problem) from None
    return value


def _database_url(url: str) -> str:
    if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ValueError("must start with sqlite:/// or postgresql://")
    return url


def _redis_url(url: str) -> str:
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return url


def _encryption_key(key: str) -> str:
    if key and len(key) not in (32, 44, 64):
        raise ValueError("must be 32 bytes: 32 characters, 64 hex digits or 44 characters of base64")
    return key


def _base_url(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError("must start with https:// (or http:// on loopback)")
    return url


def _optional_base_url(url: str) -> str:
    return _base_url(url) if url else url


Address = Annotated[str, AfterValidator(_address)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]
OptionalBaseUrl = Annotated[str, AfterValidator(_optional_base_url)]  # empty: another setting's URL
Poll = _seconds(le=HOUR)  # how often something is asked; above an hour it is a typo
RequestTimeout = _seconds(le=5 * MINUTE)
Deadline = _seconds(le=7 * DAY)  # how long a deal may wait for a person
Pause = _seconds(gt=None, ge=0, le=MINUTE)
Port = _whole(1, 65535)
Money = _amount()  # RUB or USDT: never negative, never inf or NaN
# RUB per USDT. Wide enough for any market since 2014, narrow enough to refuse a slipped decimal
# point (7.8 or 780 instead of 78), which would sell every ad at a tenth or ten times the price.
RubPerUsdt = _amount(ge=10, le=1000)
# Percent over the rate. -10 sells 10 % under the rate (a loss on every deal), +20 prices every ad
# out of the market; anything beyond is a typo (-50 would give away half of each deal).
MarkupPercent = _amount(ge=-10, le=20)
STRICT = ConfigDict(extra="forbid")


# --- sections --------------------------------------------------------------


@dataclass(frozen=True)
class DaemonConfig:
    __pydantic_config__ = STRICT
    listen: Address = "127.0.0.1:8080"
    data_dir: str = "./var"
    api_token: str = field(default="", repr=False)
    mode: Literal["manual", "auto"] = "manual"  # "manual": money steps wait for an operator; "auto": they don't
    shutdown_budget: _seconds(le=10 * MINUTE) = 20.0  # seconds for a graceful stop; supervisord waits longer
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for log shippers
    log_file: str = ""  # empty: stderr (what supervisord and systemd capture)
    drills: bool = False  # the API's POST /api/v1/actors/<id>/kill (make an actor fail); tests and drills only
    # How often the accounts table is read for an operator's change (`itrader accounts ...`): an account
    # added, enabled, disabled, removed or given a new secret starts or stops its actor within this.
    accounts_poll: _seconds(le=MINUTE) = 2.0


@dataclass(frozen=True)
class DatabaseConfig:
    __pydantic_config__ = STRICT
    url: Annotated[str, AfterValidator(_database_url)] = ""  # empty: SQLite file itrader.db in data_dir


@dataclass(frozen=True)
class RedisConfig:
    __pydantic_config__ = STRICT
    url: Annotated[str, AfterValidator(_redis_url)] = ""  # empty: in-process rate buckets, no leases
    # Seconds an account lease lives unless its holder renews it (DESIGN §9). Above the request
    # timeouts: a call made just after a renew must end before another daemon can take over.
    lease_ttl: _seconds(le=HOUR) = 60.0


@dataclass(frozen=True)
class SecurityConfig:
    __pydantic_config__ = STRICT
    encryption_key: Annotated[str, AfterValidator(_encryption_key)] = field(default="", repr=False)


@dataclass(frozen=True)
class GateAccountConfig:
    """A Gate account declared in the file, imported into the encrypted store at start. Its secret comes
    from one of password / password_file / password_env, and/or a browser cookie export (cookies_file)."""
    __pydantic_config__ = STRICT
    login: str = ""
    name: str = ""  # the account's name in the store (default: the login)
    password: str = field(default="", repr=False)
    password_file: str = ""
    password_env: str = ""  # the name of an environment variable holding the password
    cookies_file: str = ""  # a cookie export shaped like test_data/gate_cookie.json

    @property
    def account_name(self) -> str:
        return self.name or self.login


@dataclass(frozen=True)
class GateConfig:
    __pydantic_config__ = STRICT
    base_url: BaseUrl = "https://panel.gate.cx/api/v1"
    poll_interval: Poll = 5.0
    # Keep-alive of each Gate session (GET /auth/me; the panel answers with renewed cookies, saved
    # encrypted); 25 minutes as the original. A session that cannot be renewed logs in again with a
    # stored password, or marks the account unhealthy.
    session_refresh: _seconds(le=DAY) = 1500.0
    balance_check_interval: _seconds(le=7 * DAY) = 14400.0
    target_balance: Money = Decimal("10000000")
    request_timeout: RequestTimeout = 30.0
    # A Cloudflare challenge in front of the panel (itrader/gate/cloudflare.py): the call is tried again
    # after challenge_wait, doubled with each challenge in a row, at most challenge_wait_max.
    challenge_wait: _seconds(le=HOUR) = 30.0
    challenge_wait_max: _seconds(le=DAY) = 900.0
    min_order_amount: Money = Decimal("1000")
    max_order_amount: _amount(gt=0) = Decimal("1000000")
    accounts: tuple[GateAccountConfig, ...] = ()


@dataclass(frozen=True)
class BybitAccountConfig:
    """A Bybit account declared in the file, imported into the encrypted store at start; its API secret
    comes from one of api_secret / api_secret_file / api_secret_env."""
    __pydantic_config__ = STRICT
    name: str = ""
    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    api_secret_file: str = ""
    api_secret_env: str = ""  # the name of an environment variable holding the API secret

    @property
    def account_name(self) -> str:
        return self.name or self.api_key[:8]


@dataclass(frozen=True)
class BybitConfig:
    __pydantic_config__ = STRICT
    base_url: BaseUrl = "https://api.bybit.com"
    max_ads_per_account: _whole(1, 100) = 2
    # Bybit's limit of online ads per side of one account (symbolInfo.itemSideLimit; 3 in its docs'
    # example), counting the ads posted by hand: an account offers only what is left of it.
    ad_side_limit: _whole(1, 100) = 3
    payment_period_minutes: _whole(1, 24 * 60) = 15
    recv_window_ms: _whole(1, 60000) = 5000
    reads_per_second: _seconds(le=100) = 10.0
    writes_per_second: _seconds(le=100) = 5.0
    # Every account's calls together, from this host's IP (all daemons sharing the Redis): Bybit bans an IP
    # above 600 requests in 5 s (120/s); itrader.bybit.client.IpBudget keeps 10 % of this for jitter.
    ip_requests_per_second: _seconds(gt=None, ge=10, le=120) = 100.0
    poll_interval: Poll = 2.0  # while an order is open on the account: how fast we hear the buyer
    quiet_poll_interval: Poll = 4.0  # while only ads wait for a buyer (never faster than poll_interval)
    request_timeout: RequestTimeout = 15.0
    # An API key refused for this host (10010: bound to other IPs; a region's 403) is tried again this rarely
    access_recheck_interval: _seconds(gt=None, ge=1, le=HOUR) = 180.0
    # A live order's chat is read at least this often whatever the unread counts say (stretched so these
    # reads of all live orders take at most 40% of reads_per_second).
    chat_read_interval: _seconds(ge=0.5, gt=None, le=MINUTE) = 3.0
    # Where chat files' relative showObj URLs are fetched; Bybit does not document the host. Empty: base_url.
    file_base_url: OptionalBaseUrl = ""
    file_retry_attempts: _whole(1, 50) = 6  # a chat file that fails this often is given up (operator told)
    file_retry_backoff: _seconds(le=MINUTE) = 2.0  # the first pause before a failed chat file is tried again
    # How often each account reports its USDT (the `usdt_balance` event; alerts.low_usdt); 0 = never.
    usdt_report_interval: _seconds(gt=None, ge=0, le=DAY) = 600.0
    accounts: tuple[BybitAccountConfig, ...] = ()


@dataclass(frozen=True)
class PricingConfig:
    __pydantic_config__ = STRICT
    mode: Literal["fixed", "market"] = "fixed"  # order-flow.md §5.2
    fixed_rate: RubPerUsdt = Decimal("78")
    markup_percent: MarkupPercent = Decimal("0")
    extra_usdt: _amount(le=1000) = Decimal("5")  # spare USDT on each ad; locked while the ad lives
    market_max_age: _seconds(le=HOUR) = 60.0  # seconds a fetched market page prices new ads (market mode)
    # Market mode's sanity band: a market rate further than this (percent) from fixed_rate, or than
    # market_max_jump_percent from the last market rate that passed, prices no ad — the deal waits.
    market_max_deviation_percent: _amount(gt=0, le=50) = Decimal("15")
    market_max_jump_percent: _amount(gt=0, le=50) = Decimal("5")


@dataclass(frozen=True)
class TimeoutsConfig:
    __pydantic_config__ = STRICT
    answer: Deadline = 600.0  # buyer silent after our questions
    receipt_after_requisites: Deadline = 600.0
    stuck: Deadline = 1800.0
    retry_delay: _seconds(le=DAY) = 30.0  # a money step that failed for a passing reason is tried again this late
    reply_delay_min: Pause = 1.0  # human-like pause before a chat reply
    reply_delay_max: Pause = 3.0


@dataclass(frozen=True)
class ReceiptsConfig:
    __pydantic_config__ = STRICT
    # A bank-verified receipt for a deal that ended CANCELLED or REJECTED_BUYER this recently means the
    # buyer paid our recipient after all: the deal goes to an operator (paid_after_cancel).
    late_window: _seconds(le=30 * DAY) = 86400.0


@dataclass(frozen=True)
class AlertsConfig:
    """Where alerts go (itrader.alerts, itrader.notify): Telegram, a signed webhook, or both; none is off."""
    __pydantic_config__ = STRICT
    telegram_base_url: BaseUrl = "https://api.telegram.org"
    telegram_token: str = field(default="", repr=False)  # or ITRADER_TELEGRAM_TOKEN
    telegram_chat_id: str = ""
    webhook_url: Annotated[str, AfterValidator(lambda url: _base_url(url) if url else url)] = ""
    webhook_secret: str = field(default="", repr=False)  # or ITRADER_WEBHOOK_SECRET; signs every body
    timeout: _seconds(le=MINUTE) = 5.0  # one send; a channel slower than this loses the alert
    dedup_window: _seconds(gt=None, ge=0, le=DAY) = 600.0  # the same alert key is sent once this long
    max_per_minute: _whole(1, 600) = 20
    low_usdt: Money = Decimal(0)  # alert when a Bybit account's USDT falls below this; 0 = never


@dataclass(frozen=True)
class EmailConfig:
    __pydantic_config__ = STRICT
    imap_host: str = ""
    imap_port: Port = 993
    imap_ssl: bool = True
    address: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""  # or EMAIL_PASSWORD in the environment
    folder: str = "INBOX"
    # "dns" in production; "sandbox" trusts the simulated bank's published key (itrader.sandbox_wall)
    dkim_key_source: Literal["dns", "sandbox"] = "dns"
    poll_interval: Poll = 30.0  # fallback when the server has no IDLE
    max_attachment_bytes: _whole(1, 100 * 1024 * 1024) = 10 * 1024 * 1024


@dataclass(frozen=True)
class AssistantConfig:
    __pydantic_config__ = STRICT
    enabled: bool = True
    base_url: BaseUrl = "https://openrouter.ai/api/v1"
    api_key: str = field(default="", repr=False)
    model: str = "openai/gpt-4o-mini"
    timeout: _seconds(le=2 * MINUTE) = 5.0


@dataclass(frozen=True)
class SandboxConfig:
    __pydantic_config__ = STRICT
    enabled: bool = False  # run the simulated world inside the daemon (the sandbox profile)
    # Drive a separately started `itrader sandbox`: its published keys and credentials are accepted,
    # and every platform address must then be on loopback (itrader.sandbox_wall).
    external: bool = False
    listen: Address = "127.0.0.1:8081"
    imap_listen: Address = "127.0.0.1:1143"
    stream_per_minute: _seconds(gt=None, ge=0, le=600) = 0.0


@dataclass(frozen=True)
class Config:
    __pydantic_config__ = STRICT
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
    alerts: AlertsConfig = AlertsConfig()
    source: str = "sandbox profile (no config file)"

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox.enabled

    @property
    def trusts_sandbox(self) -> bool:
        """May the sandbox's published keys and credentials be used (the profile or an external sandbox)?"""
        return self.sandbox.enabled or self.sandbox.external

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{Path(self.daemon.data_dir) / 'itrader.db'}"


SCHEMA = TypeAdapter(Config)
SECTIONS = {f.name for f in fields(Config) if f.name != "source"}
# Settings whose value never appears in an error (they are also left out of reprs).
SECRET_NAMES = frozenset(f.name for cls in (DaemonConfig, SecurityConfig, GateAccountConfig, BybitAccountConfig,
                                             EmailConfig, AssistantConfig, AlertsConfig)
                          for f in fields(cls) if not f.repr)

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
    "ITRADER_TELEGRAM_TOKEN": "alerts.telegram_token",
    "ITRADER_WEBHOOK_SECRET": "alerts.webhook_secret",
}


# --- loading ---------------------------------------------------------------


def load(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Config:
    """Load and validate. `path=None` means the sandbox profile. `overrides` (dotted key -> value,
    the command line's flags) win over the environment, which wins over the file."""
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
    settings = {key: env[variable] for variable, key in ENV_OVERRIDES.items() if env.get(variable)}
    settings.update(overrides or {})
    for key, value in settings.items():
        _set(raw, key, value)
    config = replace(_validate(raw), source=source)
    problems = config_checks.problems(config) + sandbox_wall.problems(config)
    if problems:
        raise ConfigError.of(problems)
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


def _set(raw: dict[str, Any], key: str, value: Any) -> None:
    section, name = key.split(".")
    raw.setdefault(section, {})
    if not isinstance(raw[section], dict):
        raise ConfigError(section, "must be a table")
    raw[section][name] = value


def _validate(raw: dict[str, Any]) -> Config:
    unknown = [(name, "unknown key") for name in raw if name not in SECTIONS]
    try:
        config = SCHEMA.validate_python({k: v for k, v in raw.items() if k in SECTIONS})
    except ValidationError as exc:
        raise ConfigError.of(unknown + [_problem(error) for error in exc.errors()]) from None
    if unknown:
        raise ConfigError.of(unknown)
    return config


def _problem(error: Mapping[str, Any]) -> tuple[str, str]:
    """A pydantic error as (dotted key, problem), worded for an operator; secrets never echoed."""
    key = ""
    for part in error["loc"]:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    kind = error["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return key, "unknown key"
    if kind == "missing":
        return key, "is required"
    if kind in ("dataclass_type", "dataclass_exact_type"):
        return key, "must be a table"
    if kind in ("tuple_type", "list_type"):
        return key, "must be a list of tables ([[...]])"
    if kind == "decimal_type":
        return key, "must be an amount: a number or a quoted decimal such as \"1000.50\""
    message = str(error["msg"])
    message = message.removeprefix("Value error, ").replace("Input should be", "must be")
    value = error.get("input")
    secret = any(part in SECRET_NAMES for part in error["loc"])
    if not secret and kind != "value_error" and isinstance(value, (str, int, float, Decimal)):
        message += f", got {value!r}"
    return key, message


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

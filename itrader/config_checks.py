"""Rules across settings, and the start-up warnings (pure: they read a loaded config by attribute).

What is an error and what a warning: a setting that can cost money or break a money-safety invariant
(DESIGN §5) is an error, refused before anything starts — an order range that admits nothing, a lease
that can lapse while a call made under it is still running. A setting that is risky but has honest
uses (an API on a LAN address behind a firewall, plain IMAP through a local tunnel) is a warning in the
log at start, as freqtrade does; the operator decides.
"""
from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

MIN_TOKEN_LENGTH = 16


def problems(config: Any) -> list[tuple[str, str]]:
    """Each broken rule across fields as (dotted key, problem)."""
    found: list[tuple[str, str]] = []
    gate, timeouts = config.gate, config.timeouts
    if gate.min_order_amount > gate.max_order_amount:
        found.append(("gate.min_order_amount",
                      f"must not exceed gate.max_order_amount ({gate.min_order_amount} > {gate.max_order_amount})"))
    if gate.challenge_wait > gate.challenge_wait_max:
        found.append(("gate.challenge_wait", "must not exceed gate.challenge_wait_max"))
    if timeouts.reply_delay_min > timeouts.reply_delay_max:
        found.append(("timeouts.reply_delay_min", "must not exceed timeouts.reply_delay_max"))
    found += _lease_problems(config) + _alert_problems(config.alerts)
    if not config.is_sandbox:  # the sandbox profile takes its accounts from the simulated world
        found += [(f"gate.accounts[{i}].login", "is required")
                  for i, account in enumerate(gate.accounts) if not account.login]
        found += [(f"bybit.accounts[{i}].api_key", "is required")
                  for i, account in enumerate(config.bybit.accounts) if not account.api_key]
        found += _secret_source_problems(config)
    return found


def _secret_source_problems(config: Any) -> list[tuple[str, str]]:
    """Each declared secret comes from one place: inline, a file or an environment variable."""
    found: list[tuple[str, str]] = []
    for i, account in enumerate(config.gate.accounts):
        if not account.login:
            continue  # one problem per account: its missing login is said already
        key = f"gate.accounts[{i}]"
        sources = [name for name in ("password", "password_file", "password_env") if getattr(account, name)]
        if len(sources) > 1:
            found.append((f"{key}.{sources[1]}", f"give the password one way, not {' and '.join(sources)}"))
        if not sources and not account.cookies_file:
            found.append((f"{key}.password_file", "the account needs a password (password_file, password_env) "
                                                  "or a session (cookies_file)"))
    for i, account in enumerate(config.bybit.accounts):
        if not account.api_key:
            continue
        key = f"bybit.accounts[{i}]"
        sources = [name for name in ("api_secret", "api_secret_file", "api_secret_env") if getattr(account, name)]
        if len(sources) > 1:
            found.append((f"{key}.{sources[1]}", f"give the API secret one way, not {' and '.join(sources)}"))
        if not sources:
            found.append((f"{key}.api_secret_file", "the account needs its API secret (api_secret_file or "
                                                    "api_secret_env)"))
    if config.email.password and config.email.password_file:
        found.append(("email.password_file", "give the mailbox password one way, not password and password_file"))
    return found


def inline_secrets(config: Any) -> list[str]:
    """Keys whose secret is written in the config file itself (a file or the environment is better)."""
    found = [f"gate.accounts[{i}].password" for i, a in enumerate(config.gate.accounts) if a.password]
    found += [f"bybit.accounts[{i}].api_secret" for i, a in enumerate(config.bybit.accounts) if a.api_secret]
    return found


def _alert_problems(alerts: Any) -> list[tuple[str, str]]:
    """A channel half set up would drop every alert without a word."""
    found = []
    if alerts.telegram_token and not alerts.telegram_chat_id:
        found.append(("alerts.telegram_chat_id", "is required with alerts.telegram_token"))
    if alerts.telegram_chat_id and not alerts.telegram_token:
        found.append(("alerts.telegram_token", "is required with alerts.telegram_chat_id "
                                               "(or ITRADER_TELEGRAM_TOKEN)"))
    if alerts.webhook_url and not alerts.webhook_secret:
        found.append(("alerts.webhook_secret", "is required with alerts.webhook_url: every body is signed with it "
                                               "(or ITRADER_WEBHOOK_SECRET)"))
    return found


def _lease_problems(config: Any) -> list[tuple[str, str]]:
    """An error, not a warning: a Gate take or a Bybit release sent just after a renew must end before
    the lease can expire and another daemon take the account over (DESIGN §9). Leases exist only
    with Redis."""
    if not config.redis.url:
        return []
    slowest_key, slowest = max((("gate.request_timeout", config.gate.request_timeout),
                                ("bybit.request_timeout", config.bybit.request_timeout)), key=lambda kv: kv[1])
    if config.redis.lease_ttl <= slowest:
        return [("redis.lease_ttl", f"must be above the slowest request timeout ({slowest_key} = {slowest:g}s), "
                                    f"got {config.redis.lease_ttl:g}s")]
    return []


def warnings(config: Any) -> list[str]:
    """What an operator should know at start; none of it stops the daemon."""
    found: list[str] = []
    host = config.daemon.listen.rpartition(":")[0].strip("[]")
    if not is_loopback_host(host):
        found.append(f"daemon.listen: the API listens on {host or 'every address'}, not loopback: "
                     "put it behind a firewall or a TLS proxy")
    token = config.daemon.api_token
    if token and len(token) < MIN_TOKEN_LENGTH:
        found.append(f"daemon.api_token: shorter than {MIN_TOKEN_LENGTH} characters; easy to guess")
    if config.sandbox.external:
        found.append("sandbox.external: trusting the sandbox's published keys and credentials; "
                     "every platform address is on loopback")
    if config.is_sandbox:  # the platforms are the in-process world's; the settings below are unused
        return found
    if not config.sandbox.external:
        found += [f"{key}: a secret written in the config file; prefer a *_file or *_env setting (it is kept "
                  "encrypted in the database once imported)" for key in inline_secrets(config)]
    for key, url in platform_urls(config):
        if url.startswith("http://") and not is_loopback_host(url_host(url)):
            found.append(f"{key}: plain http:// to {url_host(url)}: credentials and orders travel unencrypted")
    email = config.email
    if email.imap_host and not email.imap_ssl and not is_loopback_host(email.imap_host):
        found.append(f"email.imap_ssl: IMAP to {email.imap_host} without TLS: the mailbox password travels "
                     "unencrypted")
    return found


def platform_urls(config: Any) -> list[tuple[str, str]]:
    """The base URLs the daemon calls, by key (the assistant's only when it is on)."""
    urls = [("gate.base_url", config.gate.base_url), ("bybit.base_url", config.bybit.base_url)]
    if config.bybit.file_base_url:
        urls.append(("bybit.file_base_url", config.bybit.file_base_url))
    if config.assistant.enabled:
        urls.append(("assistant.base_url", config.assistant.base_url))
    return urls


def url_host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

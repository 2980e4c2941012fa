"""The wall between the sandbox and production (DESIGN §5.7).

The sandbox's trust roots and credentials are published in this repository: the bank's DKIM
signing key, the Gate login and password, the Bybit API keys and secrets, the mailbox login, the
API and LLM tokens of `test_data/sandbox-external.toml`. Anyone can sign a "T-Bank" receipt with
that key, so a daemon that trusts it must be talking to the sandbox and nothing else. They are
accepted only

* in the sandbox profile (`sandbox.enabled`, what `make run` starts: the world is in-process), or
* with `[sandbox] external = true`, which also requires every platform address (Gate, Bybit, the
  LLM, the IMAP host) to be on loopback.

Anything else naming them is a config error. This module knows the credentials only by their
SHA-256 (production code never imports the twin); tests/core/test_sandbox_wall.py checks that every
credential the sandbox and test_data/ ship is on this list.
"""
from __future__ import annotations

import hashlib
from typing import Any

from itrader.config_checks import is_loopback_host, platform_urls, url_host

PUBLISHED = frozenset({
    "258ae72a4f67f722a0ea178628cf33f6929eb32b0b8227dc8c986cf0beaa4a1b",  # Gate login
    "59fc3f322307f1b58de31d87add67ee6ee24b01c62d8967ad8369ab977c9c544",  # Gate password
    "8401457b06bfaa32a78abadf08bdaab9d34b61b1fa0c3715e5fea074acec3ee0",  # Gate cookie sid
    "f343b21174773c77960ce3cf640e1c41bb181e46a09bbf07969fcd7ed7c683ff",  # Gate cookie rsid
    "ba21ba12cc8046db91bf9c61a2cc6278e42bb7e40fe4d821f085735df4bce7aa",  # Bybit API key 1
    "36aa4cc3767e86f351f3ebd4f765fc4bb82cbec3bff9d7511627827ad50a1e33",  # Bybit API secret 1
    "a7370f62f836e2ccfe487c329931b37351a73de14e038e853da16e62dcff0b3f",  # Bybit API key 2
    "fcf788f870ab48f189b5568d72985da3d6ecd9f2eea89edd664b035829ad0244",  # Bybit API secret 2
    "f6c63cb344f8417a2aaa04cea088c37999042eedf135f7d1e98e368d76094fea",  # Bybit API key 3
    "a85d28c23b0a64edbbf783a0324762055eddcf85c921e5dd743f1accd277b8ab",  # Bybit API secret 3
    "ba8b121b4e95a1c78b14ea4088348cba47f756adde87b30ba9dc970fbadf7984",  # mailbox login
    "80b0e01ebd540079acbcb16a3e038df03323b4f78791e2ed33d632bd0b7e364c",  # mailbox password
    "24b9cd79145e7e5dbc8a202c85b29f5c13a1b7a9bf060a5d9dfa6c1e756c0a92",  # sandbox-external.toml API token
    "0d49ed90631237de188975d2b9c5ffc44dffee5fd317f5f215a6e1e42c0c599c",  # sandbox-external.toml LLM key
    "b7ad567477c83756aab9a542b2be04f77dbae25115d85f22070d74d8cc4779dc",  # the in-process profile's LLM key
})

ONLY_IN_SANDBOX = "only allowed with the sandbox profile or [sandbox] external = true"


def is_published(value: str) -> bool:
    """Is this one of the sandbox's published keys or credentials?"""
    return bool(value) and hashlib.sha256(value.encode()).hexdigest() in PUBLISHED


def problems(config: Any) -> list[tuple[str, str]]:
    sandbox = config.sandbox
    if sandbox.enabled and sandbox.external:
        return [("sandbox.external", "cannot be combined with sandbox.enabled (the in-process sandbox)")]
    if sandbox.external:
        return _off_loopback(config)
    if sandbox.enabled:
        return []
    found: list[tuple[str, str]] = []
    if config.email.dkim_key_source == "sandbox":
        found.append(("email.dkim_key_source", f'"sandbox" is {ONLY_IN_SANDBOX}: the sandbox bank\'s signing '
                                               "key is published, anyone can sign a receipt with it"))
    found += [(key, f"is a sandbox credential published in this repository; {ONLY_IN_SANDBOX}")
              for key, value in _credentials(config) if is_published(value)]
    return found


def _off_loopback(config: Any) -> list[tuple[str, str]]:
    """With an external sandbox every platform the daemon talks to must be on this machine."""
    found = [(key, f"must be on loopback with [sandbox] external = true, got host {url_host(url)!r}")
             for key, url in platform_urls(config) if not is_loopback_host(url_host(url))]
    host = config.email.imap_host
    if host and not is_loopback_host(host):
        found.append(("email.imap_host", f"must be on loopback with [sandbox] external = true, got host {host!r}"))
    return found


def _credentials(config: Any) -> list[tuple[str, str]]:
    """Every setting that holds a login, a key or a token, by dotted key."""
    found = [("daemon.api_token", config.daemon.api_token),
             ("security.encryption_key", config.security.encryption_key),
             ("email.address", config.email.address), ("email.password", config.email.password),
             ("assistant.api_key", config.assistant.api_key)]
    for i, account in enumerate(config.gate.accounts):
        found += [(f"gate.accounts[{i}].login", account.login), (f"gate.accounts[{i}].password", account.password)]
    for i, account in enumerate(config.bybit.accounts):
        found += [(f"bybit.accounts[{i}].api_key", account.api_key),
                  (f"bybit.accounts[{i}].api_secret", account.api_secret)]
    return found

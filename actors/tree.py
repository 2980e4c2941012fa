"""The actor tree of DESIGN.md §3, assembled in start order.

Start order is dependency order; the root supervisor stops children in
reverse: Web first, then the mailboxes, then the Gate accounts (which set their
balances to 0 with their own sessions, so Gate stops offering payouts), then
the deals, the Bybit accounts, the allocator, the receipt desk and the
assistant.

The accounts come from the database (actors/account_wiring.py): the ones the
config declares (or the in-process sandbox's own) are imported first, and each
kind runs under an AccountGroup that follows the accounts table while the
daemon runs.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from actors.account_wiring import STATUS_LIST_LIMIT, AccountWiring
from actors.status import SystemStatus
from actors.supervisor import ChildSpec, Restart, Supervisor
from actors.web import WebActor
from itrader import deal, sandbox_wall
from itrader.config import Config, ConfigError, EmailConfig

log = logging.getLogger("itrader.tree")

# Restart intensity: a child may restart this often within the window before
# its supervisor gives up and escalates (at the root: exit 1, supervisord restarts).
ROOT_INTENSITY, ROOT_PERIOD = 10, 60.0
DEALS_INTENSITY, DEALS_PERIOD = 200, 60.0


@dataclass
class Platforms:
    """Where the platforms are (config, or the in-process sandbox) and how receipt mail is trusted."""

    gate_url: str
    bybit_url: str
    mail: EmailConfig  # the mailbox policy: DKIM key source, poll interval, attachment cap
    llm_base_url: str
    llm_api_key: str = field(repr=False, default="")


def build_root(system, on_escalate: Callable[[str], None]) -> None:
    config: Config = system.config
    mail = SANDBOX_MAIL if config.is_sandbox else config.email
    if mail.dkim_key_source == "sandbox" and not config.trusts_sandbox:
        # itrader.config refuses this at load; a config built by hand is checked here too
        raise ConfigError("email.dkim_key_source", f'"sandbox" is {sandbox_wall.ONLY_IN_SANDBOX}')
    if config.is_sandbox:
        system.world = start_world(config, system.data_dir)
    platforms = resolve_platforms(config, system.world)
    store = open_account_store(system, declare(config, system.world))
    if platforms.mail.dkim_key_source == "sandbox":
        trust_sandbox_dkim()
    # The notifier first: it is stopped last, so the "stopping" alert still goes out.
    children = notifier_specs(config, system) + pipeline_specs(system, store, platforms) + [web_spec(system)]
    # The tree as the root last published it: GET /api/v1/status reads it (actors/status.py) instead of
    # asking the root, whose mailbox waits behind everything else under load.
    system.root = Supervisor.start(children=children, name="root", kind="Root", intensity=ROOT_INTENSITY,
                                   period=ROOT_PERIOD, on_escalate=on_escalate,
                                   on_status=lambda tree: setattr(system, "tree_status", tree))


# The in-process sandbox's receipt mailbox: plain IMAP on loopback, the sandbox bank's DKIM key.
SANDBOX_MAIL = EmailConfig(imap_ssl=False, dkim_key_source="sandbox", poll_interval=2.0)


def start_world(config: Config, data_dir: Path):
    from itrader.sandbox.world import World

    world = World(seed=None, maildir=data_dir / "sandbox-mail")
    world.start(listen=config.sandbox.listen, imap=config.sandbox.imap_listen,
                stream_per_minute=config.sandbox.stream_per_minute)
    log.warning("in-process sandbox on %s (control API %s)", world.urls.get("base"), world.urls.get("sandbox"))
    return world


def trust_sandbox_dkim() -> None:
    """Let `email.dkim_key_source = "sandbox"` verify against the sandbox bank's key.

    This module is the one production place that composes the sandbox profile; the mail
    code itself never imports the twin (DESIGN §5.7: its trust roots stay in the sandbox).
    """
    from itrader.mail.dkim import add_key_source, static_dnsfunc
    from itrader.sandbox.mail import dns_txt_records

    add_key_source("sandbox", lambda: static_dnsfunc(dns_txt_records()))


def resolve_platforms(config: Config, world) -> Platforms:
    if world is not None:
        return Platforms(world.urls["gate"], world.urls["bybit"], SANDBOX_MAIL, world.urls["llm"], "sandbox")
    return Platforms(config.gate.base_url, config.bybit.base_url, config.email, config.assistant.base_url,
                     config.assistant.api_key)


def declare(config: Config, world) -> list:
    """The accounts to import at start: the config's, or the in-process sandbox's own."""
    from itrader.account_import import DeclaredAccount, declared_accounts, mailbox_settings
    from itrader.credentials import gate_secret

    if world is None:
        return declared_accounts(config)
    creds = world.credentials()
    declared = [DeclaredAccount("gate", "sandbox", {"login": creds["gate"]["login"]},
                                gate_secret(creds["gate"]["password"]), "sandbox"),
                *(DeclaredAccount("bybit", b["nickname"] or b["uid"], {"login": b["api_key"]},
                                  {"api_secret": b["api_secret"]}, "sandbox") for b in creds["bybit"])]
    if world.imap_address:
        host, port = world.imap_address
        mailbox = creds["mailbox"]
        declared.append(DeclaredAccount("mailbox", mailbox["login"],
                                        mailbox_settings(mailbox["login"], host, port, False),
                                        {"password": mailbox["password"]}, "sandbox"))
    return declared


def open_account_store(system, declared: list):
    """The store with the secret box; the declared accounts imported (idempotent)."""
    from itrader import logs
    from itrader.account_import import encryption_key, import_declared, require_key
    from itrader.store import SecretBox, Store

    key = encryption_key(system.config, system.data_dir)
    require_key(key, declared)
    if key:
        logs.REDACTOR.add(key)
    store = Store(system.db, SecretBox(key) if key else None)
    written = import_declared(store.accounts, declared, key) if declared else []
    if written:
        log.info("accounts imported from %s: %s", system.config.source, ", ".join(written))
    if not store.accounts.list(enabled_only=True, include_removed=False):
        log.warning("no enabled account in the database: add some with `itrader accounts add|import`")
    return store


def pipeline_specs(system, store, platforms: Platforms) -> list[ChildSpec]:
    from actors.allocator import AllocatorActor
    from actors.assistant import AssistantActor
    from actors.deal import DealActor
    from actors.deals import DealsSupervisor
    from actors.receipt_desk import ReceiptDeskActor
    from itrader.limits import make_limiter

    config: Config = system.config
    directory, events = system.directory, system.events
    receipts_dir = system.data_dir / "receipts"
    receipts_dir.mkdir(parents=True, exist_ok=True)
    accounts = AccountWiring(system, store, platforms, make_limiter(config.redis.url or None), lease_store_for(config))
    specs: list[ChildSpec] = []

    if config.assistant.enabled and (platforms.llm_api_key or config.is_sandbox):
        classify = _classifier(config, platforms)
        specs.append(ChildSpec(id="Assistant", kind="Assistant", factory=lambda ctx: AssistantActor.start(
            classify, directory, config.assistant.timeout, context=ctx)))

    specs.append(ChildSpec(id="ReceiptDesk", kind="ReceiptDesk", factory=lambda ctx: ReceiptDeskActor.start(
        store, directory, events, receipts_dir, context=ctx, late_window=config.receipts.late_window)))
    specs.append(ChildSpec(id="Allocator", kind="Allocator", factory=lambda ctx: AllocatorActor.start(
        directory, events, config.bybit, config.pricing, accounts.names("bybit"), context=ctx, store=store,
        intake=getattr(system, "intake", None))))
    specs.append(accounts.group_spec("bybit", "Accounts"))

    settings = deal.DealSettings.from_config(config)
    receipt_email = accounts.receipt_address()
    if receipt_email:
        settings = type(settings)(**{**settings.__dict__, "receipt_email": receipt_email})
    reply_delay = (config.timeouts.reply_delay_min, config.timeouts.reply_delay_max)

    def deal_spec(deal_id: int) -> ChildSpec:
        return ChildSpec(id=f"deal:{deal_id}", kind="Deal", restart=Restart.TRANSIENT, factory=lambda ctx: (
            DealActor.start(deal_id, store, directory, events, settings, config.daemon.mode, receipts_dir,
                            reply_delay=reply_delay, context=ctx, fence_of=accounts.leases.fence)))

    specs.append(ChildSpec(id="Deals", kind="Deals", start_timeout=120.0, shutdown_timeout=30.0,
                           factory=lambda ctx: DealsSupervisor.start(
                               store, directory, deal_spec, leased=accounts.lease_store is not None, name="Deals",
                               intake=getattr(system, "intake", None),
                               kind="Deals", parent=ctx,
                               intensity=DEALS_INTENSITY, period=DEALS_PERIOD,
                               list_children_up_to=STATUS_LIST_LIMIT, stop_together=True)))
    specs.append(accounts.group_spec("gate", "GateAccounts"))
    specs.append(accounts.group_spec("mailbox", "Mailboxes"))
    return specs


def notifier_specs(config: Config, system) -> list[ChildSpec]:
    """The alert channels the config names; in the sandbox profile the world's Telegram twin by default."""
    from actors.notifier import NotifierActor
    from itrader import logs
    from itrader.alerts import Throttle
    from itrader.notify import TelegramChannel, WebhookChannel

    alerts = config.alerts
    channels: list = []
    if alerts.telegram_token:
        channels.append(TelegramChannel(alerts.telegram_base_url, alerts.telegram_token, alerts.telegram_chat_id,
                                        alerts.timeout))
    elif system.world is not None:
        twin = system.world.credentials()["telegram"]
        channels.append(TelegramChannel(system.world.urls["telegram"], twin["token"], twin["chat_id"], alerts.timeout))
    if alerts.webhook_url:
        channels.append(WebhookChannel(alerts.webhook_url, alerts.webhook_secret, alerts.timeout))
    logs.REDACTOR.add(alerts.telegram_token, alerts.webhook_secret, *(
        system.world.credentials()["telegram"].values() if system.world is not None else ()))
    if not channels:
        log.info("alerts: no channel configured ([alerts] telegram_token or webhook_url)")
        return []
    log.info("alerts go to %s", ", ".join(channel.name for channel in channels))
    return [ChildSpec(id="Notifier", kind="Notifier", factory=lambda ctx: NotifierActor.start(
        system.events, channels, Throttle(alerts.dedup_window, alerts.max_per_minute), alerts.timeout,
        low_usdt=alerts.low_usdt, context=ctx))]


def lease_store_for(config: Config):
    """With Redis, this process's account leases (DESIGN §9): one owner id for all its accounts."""
    if not config.redis.url:
        return None
    from itrader.leases import LeaseStore, new_owner_id

    owner = new_owner_id()
    # itrader.config_checks refuses a ttl that is not above the slowest request timeout.
    log.info("account leases in Redis as %s (ttl %ss)", owner, config.redis.lease_ttl)
    return LeaseStore(config.redis.url, owner, config.redis.lease_ttl)


def _classifier(config: Config, platforms: Platforms) -> Callable[[str], Any]:
    from itrader.assistant import Assistant, AssistantSettings

    if config.is_sandbox:
        settings = AssistantSettings.for_sandbox(platforms.llm_base_url)
    else:
        settings = AssistantSettings.from_config(config.assistant)
    return Assistant(settings).classify_answer


def web_spec(system) -> ChildSpec:
    source = SystemStatus(system)

    def bound(host: str, port: int) -> None:
        system.web_address = (host, port)
        system.web_bound.set()

    return ChildSpec(
        id="Web", kind="Web", restart=Restart.PERMANENT,
        factory=lambda ctx: WebActor.start(system.config.daemon.listen, system.config.daemon.api_token,
                                           source, on_bound=bound, drills=system.config.daemon.drills,
                                           context=ctx),
    )

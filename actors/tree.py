"""The actor tree of DESIGN.md §3, assembled in start order.

Start order is dependency order; the root supervisor stops children in
reverse: Web first, then the mailbox, then the Gate accounts (which set their
balances to 0 with their own sessions, so Gate stops offering payouts), then
the deals, the Bybit accounts, the allocator, the receipt desk and the
assistant.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from actors.status import SystemStatus
from actors.supervisor import ChildSpec, Restart, Supervisor, supervisor_spec
from actors.web import WebActor
from itrader import deal, sandbox_wall
from itrader.config import Config, ConfigError, EmailConfig

log = logging.getLogger("itrader.tree")

# Restart intensity: a child may restart this often within the window before
# its supervisor gives up and escalates (at the root: exit 1, supervisord restarts).
ROOT_INTENSITY, ROOT_PERIOD = 10, 60.0
BRANCH_INTENSITY, BRANCH_PERIOD = 20, 60.0
DEALS_INTENSITY, DEALS_PERIOD = 200, 60.0
# Past this many children the status page lists only those that are not simply running (deals are
# listed in full by /api/v1/deals).
STATUS_LIST_LIMIT = 100
READ_SHARE, WRITE_SHARE = 0.7, 0.7  # of Bybit's 10 reads/s and 5 writes/s: 7 and 3.5
# A two-token read bucket: a poll and the chat read it calls for go out back to back (the chat read
# no longer waits 1/rate behind the poll); rate + burst = 9 reads in any second, as 8 + 1 was.
READ_BURST, WRITE_BURST = 2, 1


@dataclass(frozen=True)
class GateAccess:
    name: str
    base_url: str
    login: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BybitAccess:
    name: str
    base_url: str
    api_key: str
    api_secret: str = field(repr=False)


@dataclass
class Wiring:
    """Where the platforms are and with which credentials (config, or the in-process sandbox)."""

    gate: list[GateAccess]
    bybit: list[BybitAccess]
    email: EmailConfig | None
    llm_base_url: str
    llm_api_key: str = field(repr=False, default="")


def build_root(system, on_escalate: Callable[[str], None]) -> None:
    config: Config = system.config
    if config.is_sandbox:
        system.world = start_world(config, system.data_dir)
    wiring = resolve_wiring(config, system.world)
    if wiring.email is not None and wiring.email.dkim_key_source == "sandbox":
        if not config.trusts_sandbox:  # itrader.config refuses this at load; a config built by hand too
            raise ConfigError("email.dkim_key_source", f'"sandbox" is {sandbox_wall.ONLY_IN_SANDBOX}')
        trust_sandbox_dkim()
    children = pipeline_specs(system, wiring) + [web_spec(system)]
    system.root = Supervisor.start(children=children, name="root", kind="Root", intensity=ROOT_INTENSITY,
                                   period=ROOT_PERIOD, on_escalate=on_escalate)


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


def resolve_wiring(config: Config, world) -> Wiring:
    if world is not None:
        creds = world.credentials()
        host, port = world.imap_address or ("", 0)
        email = EmailConfig(imap_host=host, imap_port=port, imap_ssl=False, address=creds["mailbox"]["login"],
                            password=creds["mailbox"]["password"], dkim_key_source="sandbox",
                            poll_interval=2.0) if host else None
        return Wiring(
            gate=[GateAccess("sandbox", world.urls["gate"], creds["gate"]["login"], creds["gate"]["password"])],
            bybit=[BybitAccess(b["nickname"] or b["uid"], world.urls["bybit"], b["api_key"], b["api_secret"])
                   for b in creds["bybit"]],
            email=email, llm_base_url=world.urls["llm"], llm_api_key="sandbox",
        )
    email = config.email if config.email.imap_host else None
    return Wiring(
        gate=[GateAccess(a.login, config.gate.base_url, a.login, a.password) for a in config.gate.accounts],
        bybit=[BybitAccess(a.name or a.api_key[:8], config.bybit.base_url, a.api_key, a.api_secret)
               for a in config.bybit.accounts],
        email=email, llm_base_url=config.assistant.base_url, llm_api_key=config.assistant.api_key,
    )


def pipeline_specs(system, wiring: Wiring) -> list[ChildSpec]:
    from actors.allocator import AllocatorActor
    from actors.assistant import AssistantActor
    from actors.bybit_account import BybitAccountActor
    from actors.deal import DealActor
    from actors.deals import DealsSupervisor
    from actors.gate_account import GateAccountActor
    from actors.mailbox import MailboxActor
    from actors.receipt_desk import ReceiptDeskActor
    from itrader.bybit import BybitClient, Budgets, RateBudget
    from itrader.gate import GateClient
    from itrader.leases import AccountLease, LeaseBook
    from itrader.limits import make_limiter
    from itrader.mail.intake import intake_from_config
    from itrader.store import Store

    config: Config = system.config
    store = Store(system.db)
    directory, events = system.directory, system.events
    receipts_dir = system.data_dir / "receipts"
    receipts_dir.mkdir(parents=True, exist_ok=True)
    limiter = make_limiter(config.redis.url or None)
    lease_store = lease_store_for(config)
    leases = LeaseBook()  # each account's current lease: a deal's intents are fenced with its epoch
    specs: list[ChildSpec] = []

    if config.assistant.enabled and (wiring.llm_api_key or config.is_sandbox):
        classify = _classifier(config, wiring)
        specs.append(ChildSpec(id="Assistant", kind="Assistant", factory=lambda ctx: AssistantActor.start(
            classify, directory, config.assistant.timeout, context=ctx)))

    specs.append(ChildSpec(id="ReceiptDesk", kind="ReceiptDesk", factory=lambda ctx: ReceiptDeskActor.start(
        store, directory, events, receipts_dir, context=ctx, late_window=config.receipts.late_window)))

    # Bybit's per-UID limits (config) less headroom for network jitter: a bucket of B tokens lets
    # rate + B calls into some second, and the platform counts by arrival time.
    bybit_budgets = Budgets(read=RateBudget(config.bybit.reads_per_second * READ_SHARE, READ_BURST),
                            write=RateBudget(config.bybit.writes_per_second * WRITE_SHARE, WRITE_BURST))

    def bybit_spec(access: BybitAccess) -> ChildSpec:
        def start(ctx):
            client = BybitClient(access.base_url, access.api_key, access.api_secret, account=access.name,
                                 limiter=limiter, budgets=bybit_budgets, recv_window=config.bybit.recv_window_ms,
                                 timeout=config.bybit.request_timeout)
            lease = leases.add(access.name, AccountLease("bybit", access.name, lease_store))
            return BybitAccountActor.start(access.name, client, store, directory, events, config.bybit,
                                           context=ctx, lease=lease)
        return ChildSpec(id=f"bybit:{access.name}", kind="BybitAccount", factory=start, start_timeout=30.0)

    specs.append(ChildSpec(id="Allocator", kind="Allocator", factory=lambda ctx: AllocatorActor.start(
        directory, events, config.bybit, config.pricing, [a.name for a in wiring.bybit], context=ctx, store=store)))
    specs.append(supervisor_spec("Accounts", [bybit_spec(a) for a in wiring.bybit], kind="Accounts",
                                 intensity=BRANCH_INTENSITY, period=BRANCH_PERIOD,
                                 list_children_up_to=STATUS_LIST_LIMIT))

    settings = deal.DealSettings.from_config(config)
    if wiring.email is not None:
        settings = type(settings)(**{**settings.__dict__, "receipt_email": wiring.email.address})
    reply_delay = (config.timeouts.reply_delay_min, config.timeouts.reply_delay_max)

    def deal_spec(deal_id: int) -> ChildSpec:
        return ChildSpec(id=f"deal:{deal_id}", kind="Deal", restart=Restart.TRANSIENT, factory=lambda ctx: (
            DealActor.start(deal_id, store, directory, events, settings, config.daemon.mode, receipts_dir,
                            reply_delay=reply_delay, context=ctx, fence_of=leases.fence)))

    specs.append(ChildSpec(id="Deals", kind="Deals", start_timeout=120.0, shutdown_timeout=30.0,
                           factory=lambda ctx: DealsSupervisor.start(
                               store, directory, deal_spec, leased=lease_store is not None, name="Deals",
                               kind="Deals", parent=ctx,
                               intensity=DEALS_INTENSITY, period=DEALS_PERIOD,
                               list_children_up_to=STATUS_LIST_LIMIT)))

    for access in wiring.gate:
        def gate_start(ctx, access=access):
            client = GateClient(access.base_url, access.login, access.password,
                                timeout=config.gate.request_timeout)
            lease = leases.add(access.name, AccountLease("gate", access.login, lease_store))
            return GateAccountActor.start(access.name, client, store, directory, events, config.gate,
                                          context=ctx, lease=lease)
        specs.append(ChildSpec(id=f"gate:{access.name}", kind="GateAccount", factory=gate_start,
                               start_timeout=30.0, shutdown_timeout=10.0))

    if wiring.email is not None:
        email = wiring.email

        specs.append(ChildSpec(id="Mailbox", kind="Mailbox", factory=lambda ctx: MailboxActor.start(
            email.address, intake_from_config, store, directory, events, email, context=ctx,
            lease=AccountLease("mailbox", email.address, lease_store))))
    return specs


def lease_store_for(config: Config):
    """With Redis, this process's account leases (DESIGN §9): one owner id for all its accounts."""
    if not config.redis.url:
        return None
    from itrader.leases import LeaseStore, new_owner_id

    owner = new_owner_id()
    # itrader.config_checks refuses a ttl that is not above the slowest request timeout.
    log.info("account leases in Redis as %s (ttl %ss)", owner, config.redis.lease_ttl)
    return LeaseStore(config.redis.url, owner, config.redis.lease_ttl)


def _classifier(config: Config, wiring: Wiring) -> Callable[[str], Any]:
    from itrader.assistant import Assistant, AssistantSettings

    if config.is_sandbox:
        settings = AssistantSettings.for_sandbox(wiring.llm_base_url)
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

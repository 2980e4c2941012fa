"""How each stored account becomes an actor (composed by actors/tree.py).

Every account actor is started from the database: its factory reads the account and decrypts its secret
as the actor starts — at boot, after a crash, after an operator's change — so it always runs with what
the store holds now (for a Gate account: the session it last renewed). Its secret values go to the log
redactor before any client sees them. The three kinds run under one AccountGroup each
(actors/account_group.py), which follows the accounts table.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from actors.account_group import AccountGroup, Roster, StoreAccounts
from actors.messages import AccountDown, AccountUp
from actors.supervisor import ChildSpec
from itrader import deal, logs
from itrader.credentials import api_secret_of, cookies_of, gate_secret, password_of, secret_strings
from itrader.store import Account, Store

log = logging.getLogger("itrader.tree")

BRANCH_INTENSITY, BRANCH_PERIOD = 20, 60.0
# Past this many children the status page lists only those that are not simply running.
STATUS_LIST_LIMIT = 100
READ_SHARE, WRITE_SHARE = 0.7, 0.7  # of Bybit's 10 reads/s and 5 writes/s: 7 and 3.5
# A two-token read bucket: a poll and the chat read it calls for go out back to back (the chat read
# no longer waits 1/rate behind the poll); rate + burst = 9 reads in any second, as 8 + 1 was.
READ_BURST, WRITE_BURST = 2, 1
# A deal in one of these needs nothing more from its accounts: a disabled account may stop.
ENDED_STATES = tuple(state.value for state in deal.TERMINAL)
START_TIMEOUT = {"gate": 30.0, "bybit": 30.0, "mailbox": 5.0}
SHUTDOWN_TIMEOUT = {"gate": 10.0, "bybit": 5.0, "mailbox": 5.0}
SPARE_SLOTS = 5  # accounts added while running: the group's shutdown budget counts them too


class AccountWiring:
    def __init__(self, system: Any, store: Store, platforms: Any, limiter: Any, lease_store: Any) -> None:
        self.system = system
        self.config = system.config
        self.store = store
        self.platforms = platforms
        self.limiter = limiter
        self.lease_store = lease_store
        from itrader.leases import LeaseBook

        self.leases = LeaseBook()  # each account's current lease: a deal's intents are fenced with its epoch

    def names(self, kind: str) -> list[str]:
        return [a.name for a in self.store.accounts.list(kind, enabled_only=True, include_removed=False)]

    def receipt_address(self) -> str:
        """The mailbox buyers send receipts to: the first enabled one's address."""
        mailboxes = self.store.accounts.list("mailbox", enabled_only=True, include_removed=False)
        return str(mailboxes[0].settings.get("login") or mailboxes[0].name) if mailboxes else ""

    def group_spec(self, kind: str, group_id: str) -> ChildSpec:
        system, directory = self.system, self.system.directory
        roster = Roster(kind, spec={"gate": self._gate, "bybit": self._bybit, "mailbox": self._mailbox}[kind],
                        drains=kind in ("gate", "bybit"),
                        on_retire=(lambda name: directory.tell("allocator", AccountDown(name))) if kind == "bybit"
                        else None,
                        on_revive=(lambda name: directory.tell("allocator", AccountUp(name))) if kind == "bybit"
                        else None)
        accounts = StoreAccounts(kind, self.store, system.events, self.config.trusts_sandbox)
        count = len(self.names(kind))
        return ChildSpec(
            id=group_id, kind=group_id, start_timeout=START_TIMEOUT[kind] * max(1, count) + 1.0,
            shutdown_timeout=SHUTDOWN_TIMEOUT[kind] * (count + SPARE_SLOTS) + 1.0,
            factory=lambda ctx: AccountGroup.start(
                roster, accounts, system.events, self.config.daemon.accounts_poll, directory=directory,
                name=group_id, kind=group_id, parent=ctx, intensity=BRANCH_INTENSITY, period=BRANCH_PERIOD,
                list_children_up_to=STATUS_LIST_LIMIT, stop_together=True))

    # --- one account's actor

    def _fresh(self, account: Account) -> tuple[Account, Any]:
        """The account as stored now, and its secret (whose values the log redactor learns first)."""
        fresh = self.store.accounts.get(account.id)
        secret = self.store.accounts.secret(fresh.id).reveal()
        logs.REDACTOR.add(*secret_strings(secret))
        return fresh, secret

    def _lease(self, platform: str, name: str):
        from itrader.leases import AccountLease

        return self.leases.add(name, AccountLease(platform, name, self.lease_store))

    def _gate(self, account: Account) -> ChildSpec:
        from actors.gate_account import GateAccountActor
        from actors.gate_session import GateSession
        from itrader.gate import GateClient
        from itrader.gate.cookies import parse_cookie_list

        config, system, store = self.config, self.system, self.store

        def start(ctx):
            fresh, secret = self._fresh(account)
            password, cookies = password_of(secret), cookies_of(secret)
            client = GateClient(self.platforms.gate_url, str(fresh.settings.get("login") or fresh.name), password,
                                timeout=config.gate.request_timeout, challenge_wait=config.gate.challenge_wait,
                                challenge_wait_max=config.gate.challenge_wait_max)
            if cookies:
                client.import_cookies(parse_cookie_list(cookies))

            def save(renewed: list[dict]) -> bool:
                return store.accounts.save_session(fresh.id, fresh.revision, gate_secret(password, renewed))

            return GateAccountActor.start(
                fresh.name, client, store, system.directory, system.events, config.gate, context=ctx,
                lease=self._lease("gate", fresh.name), session=GateSession(fresh.name, client, system.events, save),
                account_id=fresh.id, live_deals=lambda: store.accounts.live_deals(fresh.id, ENDED_STATES),
                intake=getattr(system, "intake", None), figures=getattr(system, "figures", None))

        return ChildSpec(id=f"gate:{account.name}", kind="GateAccount", factory=start,
                         start_timeout=START_TIMEOUT["gate"], shutdown_timeout=SHUTDOWN_TIMEOUT["gate"])

    def _bybit(self, account: Account) -> ChildSpec:
        from actors.bybit_account import BybitAccountActor
        from itrader.bybit import BybitClient, Budgets, IpBudget, RateBudget

        config, system = self.config, self.system
        # Bybit's per-UID limits (config) less headroom for network jitter: a bucket of B tokens lets
        # rate + B calls into some second, and the platform counts by arrival time.
        budgets = Budgets(read=RateBudget(config.bybit.reads_per_second * READ_SHARE, READ_BURST),
                          write=RateBudget(config.bybit.writes_per_second * WRITE_SHARE, WRITE_BURST))
        ip_budget = IpBudget.from_requests_per_second(config.bybit.ip_requests_per_second)

        def start(ctx):
            fresh, secret = self._fresh(account)
            client = BybitClient(self.platforms.bybit_url, str(fresh.settings.get("login") or ""),
                                 api_secret_of(secret), account=fresh.name, limiter=self.limiter, budgets=budgets,
                                 recv_window=config.bybit.recv_window_ms, timeout=config.bybit.request_timeout,
                                 file_base_url=config.bybit.file_base_url or None, ip_budget=ip_budget)
            return BybitAccountActor.start(fresh.name, client, self.store, system.directory, system.events,
                                           config.bybit, context=ctx, lease=self._lease("bybit", fresh.name),
                                           figures=getattr(system, "figures", None))

        return ChildSpec(id=f"bybit:{account.name}", kind="BybitAccount", factory=start,
                         start_timeout=START_TIMEOUT["bybit"], shutdown_timeout=SHUTDOWN_TIMEOUT["bybit"])

    def _mailbox(self, account: Account) -> ChildSpec:
        from actors.mailbox import MailboxActor
        from itrader.mail.intake import intake_from_config

        system = self.system

        def start(ctx):
            fresh, secret = self._fresh(account)
            settings = fresh.settings
            email = dataclasses.replace(
                self.platforms.mail, imap_host=str(settings.get("host") or ""),
                imap_port=int(settings.get("port") or 993), imap_ssl=bool(settings.get("ssl", True)),
                address=str(settings.get("login") or fresh.name), password=password_of(secret),
                folder=str(settings.get("folder") or "INBOX"))
            return MailboxActor.start(fresh.name, intake_from_config, self.store, system.directory, system.events,
                                      email, context=ctx, lease=self._lease("mailbox", email.address))

        return ChildSpec(id=f"mailbox:{account.name}", kind="Mailbox", factory=start,
                         start_timeout=START_TIMEOUT["mailbox"], shutdown_timeout=SHUTDOWN_TIMEOUT["mailbox"])

"""The daemon: assemble the actor tree, serve until a signal, stop in order.

Start-up order (Celery bootsteps style): database → sandbox world (sandbox
profile only) → root supervisor, whose children start in dependency order.
A graceful stop (SIGTERM/SIGINT) stops the tree in reverse within the
shutdown budget and exits 0; a second signal exits at once. Escalation at
the root (a child restarting too often) exits 1 so supervisord restarts us.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import gevent
import gevent.event

from itrader import __version__, config_checks, logs
from itrader.config import Config, ConfigError
from itrader.events import EventLog

log = logging.getLogger("itrader.daemon")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
TOKEN_FILE = "api-token"


class System:
    """What the actors share: config, database, events, and the root's ref."""

    def __init__(self, config: Config, db, events: EventLog) -> None:
        from actors.directory import Directory
        from actors.intake import Intake
        from itrader import metrics
        from itrader.account_figures import AccountFigures
        from itrader.store import Store

        self.config = config
        self.db = db
        self.events = events
        self.directory = Directory()
        self.figures = AccountFigures()  # what the account actors last learned: balances, budget use
        self.intake = Intake(Store(db), events)  # the operator's pause (kept in the store) and the drain
        metrics.follow_intake(self.intake.refusal)
        metrics.LOW_USDT_THRESHOLD.set(float(config.alerts.low_usdt))  # the Prometheus rule's threshold
        self.data_dir = Path(config.daemon.data_dir)
        self.root = None  # set once the root supervisor has started
        self.world = None  # the in-process sandbox, in the sandbox profile
        self.started_at = time.time()
        self.web_address: tuple[str, int] | None = None
        self.web_bound = gevent.event.Event()

    @property
    def profile(self) -> str:
        return "sandbox" if self.config.is_sandbox else "production"

    def accounts_view(self) -> list[dict]:
        """Every stored account (never its secret), with what its actor reports, asked with timeouts."""
        from itrader.store import Store

        allocation = self._ask("allocator", "status") or {}
        assigned = allocation.get("accounts", {})
        draining = {kind: set(self._ask(f"accounts:{kind}", "draining") or ()) for kind in ("gate", "bybit", "mailbox")}
        view = []
        for account in Store(self.db).accounts.list(include_removed=False):
            kind, name = account.kind, account.name
            row = {"platform": kind, "kind": kind, "name": name, "enabled": account.enabled,
                   "draining": name in draining[kind]}
            running = self.directory.get(f"{kind}:{name}") is not None
            if kind == "bybit":
                stats = self._ask(f"bybit:{name}", "stats") or {}
                row.update(running=bool(stats), healthy=assigned.get(name, {}).get("healthy", False),
                           live_ads=stats.get("ads"), open_deals=stats.get("watches"), polls=stats.get("polls"),
                           lease=stats.get("lease"), deals_assigned=assigned.get(name, {}).get("assigned", []))
            elif kind == "gate":
                stats = self._ask(f"gate:{name}", "stats") or {}
                row.update(running=running, healthy=bool(stats.get("healthy")), problem=stats.get("problem"),
                           active=stats.get("active"), lease=stats.get("lease"))
            else:
                status = self._ask(f"mailbox:{name}", "status") or {}
                row.update(running=running, connected=status.get("connected"), last_error=status.get("last_error"),
                           lease=status.get("lease"))
            row.update(self.figures.of(kind, name))  # Gate: balance; Bybit: usdt, budget (no call, no ask)
            view.append(row)
        return view

    def disable_account(self, name: str) -> dict:
        """Take a Bybit account out for good (as `itrader accounts disable bybit NAME`): it is disabled in the
        store, and its group winds it down — its un-taken ads move to healthy accounts."""
        from actors.messages import SyncAccounts
        from itrader.store import Store
        from itrader.web import NotFound

        accounts = Store(self.db).accounts
        account = accounts.find("bybit", name)
        if account is None or account.removed:
            raise NotFound(f"no Bybit account {name}")
        accounts.disable(account.id)
        self.directory.tell("accounts:bybit", SyncAccounts())
        self.events.publish("account_disabled", account=name)
        return {"disabled": name, "message": f"Bybit account {name} disabled; its un-taken ads are being moved"}

    def _ask(self, name: str, method: str):
        import pykka

        ref = self.directory.get(name)
        if ref is None:
            return None
        try:
            return getattr(ref.proxy(), method)().get(timeout=2)
        except (pykka.ActorDeadError, pykka.Timeout, AttributeError):
            return None

    def resolve_deal(self, deal_id: int, resolution) -> dict:
        return resolve_deal(self.directory, deal_id, resolution)

    def confirm_deal(self, deal_id: int) -> dict:
        """An operator's confirm of the step a deal waits for (manual mode, chat receipts)."""
        import pykka

        from actors.messages import DealNews
        from itrader.deal import OperatorConfirmed
        from itrader.web import Conflict

        ref = self.directory.get(f"deal:{deal_id}")
        if ref is None:
            raise Conflict(f"deal {deal_id} is not live")
        try:
            step = ref.proxy().awaiting_step().get(timeout=2)
        except (pykka.ActorDeadError, pykka.Timeout):
            raise Conflict(f"deal {deal_id} did not answer; try again") from None
        if not step:
            raise Conflict(f"deal {deal_id} is not waiting for a confirmation")
        closed = self.intake.refusal()
        if step == "take" and closed:
            raise Conflict(f"deal {deal_id}: no payout is taken now ({closed}); resume first")
        ref.tell(DealNews(deal_id, OperatorConfirmed(step)))
        return {"deal_id": deal_id, "confirmed": step, "message": f"confirmed {step} for deal {deal_id}"}


RESOLVE_TIMEOUT = 25.0  # a resolution waits for its read-back of both platforms (a reconcile re-asks at 15 s)


def resolve_deal(directory, deal_id: int, resolution) -> dict:
    """An operator's resolution, carried out by the deal's actor (started for it if its deal has ended):
    it reads Gate and Bybit back, judges, journals, and answers here."""
    from gevent.event import AsyncResult

    from actors.messages import ResumeDeal, Resolve
    from itrader.deal.resolve import BAD_INPUT, CONFLICT, BadField
    from itrader.web import Conflict, Unavailable

    reply = AsyncResult()
    request = Resolve(deal_id, resolution, reply)
    if not directory.tell(f"deal:{deal_id}", request) and not directory.tell("deals", ResumeDeal(deal_id, request)):
        raise Unavailable("the deal pipeline is not running; try again")
    reply.wait(RESOLVE_TIMEOUT)
    answer = reply.value if reply.successful() else None
    if answer is None:
        raise Unavailable(f"deal {deal_id} did not answer in {RESOLVE_TIMEOUT:.0f} s; read it back and retry "
                          "(a resolution is idempotent)")
    if answer["outcome"] == BAD_INPUT:
        raise BadField(answer["field"] or "body", answer["message"])
    if answer["outcome"] == CONFLICT:
        raise Conflict(answer["message"])
    return {k: answer[k] for k in ("deal_id", "action", "outcome", "message", "state")}


def run_daemon(config: Config) -> int:
    set_aside = _fresh_sandbox_data_dir(config)
    logs.configure(config.daemon.log_level, config.daemon.log_format, config.daemon.log_file)
    _preset_metrics()
    if set_aside:
        log.warning("sandbox profile: the last run's data (its deals were with a world that is gone) moved to %s; "
                    "starting fresh", set_aside)
    logs.REDACTOR.add(config.daemon.api_token, config.security.encryption_key, config.email.password,
                      config.alerts.telegram_token, config.alerts.webhook_secret,
                      config.assistant.api_key, *(a.password for a in config.gate.accounts),
                      *(a.api_secret for a in config.bybit.accounts))  # stored secrets: as each account starts
    data_dir = Path(config.daemon.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    config = _with_token(config, data_dir)
    logs.REDACTOR.add(config.daemon.api_token)
    for warning in config_checks.warnings(config):
        log.warning("config: %s", warning)

    from itrader.store import migrate, open_database

    db = open_database(config.database_url)
    applied = migrate(db)
    log.info("iTrader %s starting: config %s, database %s (%d migration(s) applied)",
             __version__, config.source, _describe_db(config.database_url), len(applied))
    if config.is_sandbox:
        log.warning("SANDBOX PROFILE: no config given — trading against the in-process simulated world, "
                    "mode %s; no real money moves", config.daemon.mode)

    system = System(config, db, EventLog())
    stopping = gevent.event.Event()
    exit_code = {"value": EXIT_OK}

    def escalate(reason: str) -> None:
        system.events.publish("root_escalation", reason=reason)
        log.error("root supervisor gave up (%s); exiting 1 so supervisord restarts the daemon", reason)
        exit_code["value"] = EXIT_FAILURE
        system.intake.drain()
        stopping.set()

    signals_seen = {"count": 0}

    def on_signal(signum: int) -> None:
        signals_seen["count"] += 1
        if signals_seen["count"] > 1:
            log.warning("second %s: exiting at once", signal.Signals(signum).name)
            logging.shutdown()
            os._exit(EXIT_FAILURE)
        log.info("%s received: draining, then stopping gracefully (budget %.0fs)", signal.Signals(signum).name,
                 config.daemon.shutdown_budget)
        system.intake.drain()  # here, not after the wait: no actor may take anything once the signal is in
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, on_signal, signum)

    from actors.tree import build_root

    try:
        build_root(system, on_escalate=escalate)
    except ConfigError:
        raise  # a declared account's secret cannot be read, no ENCRYPTION_KEY...: the CLI says so and exits 2
    except Exception as exc:  # noqa: BLE001 — report and exit non-zero, never a traceback storm
        log.error("start-up failed: %s", exc)
        return EXIT_FAILURE

    if system.web_bound.wait(timeout=30) and system.web_address:
        host, port = system.web_address
        print(f"iTrader {__version__} running ({system.profile} profile, mode {config.daemon.mode}); "
              f"console: http://{host}:{port}/ (sign in with the API token)", flush=True)
        if system.world is not None:
            urls = system.world.urls
            print(f"In-process sandbox: control API {urls.get('sandbox')} (ledger: /ledger, audit: /audit), "
                  f"IMAP {urls.get('imap', 'off')}", flush=True)
    system.events.publish("daemon_started", version=__version__, profile=system.profile, mode=config.daemon.mode)
    stopping.wait()
    system.events.publish("daemon_stopping", reason="the root supervisor gave up" if exit_code["value"]
                          else "asked to stop (signal)")
    started = time.monotonic()
    _stop_tree(system, config.daemon.shutdown_budget)
    log.info("stopped in %.1fs; exit %d", time.monotonic() - started, exit_code["value"])
    logging.shutdown()
    return exit_code["value"]


def _preset_metrics() -> None:
    from actors.receipt_desk import VERDICTS
    from itrader import call_outcomes, metrics
    from itrader.deal.facts import TERMINAL, State

    live_states = tuple(state.value for state in State if state not in TERMINAL)
    metrics.preset(call_outcomes.PLATFORMS, call_outcomes.OUTCOMES, live_states, VERDICTS)


def _fresh_sandbox_data_dir(config: Config) -> Path | None:
    """The in-process sandbox's world lives no longer than the process: its data dir starts empty each run."""
    from itrader.fresh_start import set_aside_previous_run

    if not config.is_sandbox or config.database.url:  # a database of the operator's own is left alone
        return None
    return set_aside_previous_run(Path(config.daemon.data_dir))


def _stop_tree(system: System, budget: float) -> None:
    if system.root is not None:
        try:
            system.root.stop(block=True, timeout=budget)
        except Exception as exc:  # noqa: BLE001
            log.error("stopping the actor tree did not finish within %.0fs: %s", budget, exc)
    if system.world is not None:
        system.world.stop()
    import pykka

    pykka.ActorRegistry.stop_all(block=True, timeout=2)


def _with_token(config: Config, data_dir: Path) -> Config:
    """The API token: configured, or (sandbox profile only) generated and printed once."""
    if config.daemon.api_token:
        return config
    if not config.is_sandbox:
        raise ConfigError("daemon.api_token", "is required outside the sandbox profile (set ITRADER_API_TOKEN)")
    token = secrets.token_urlsafe(24)
    path = data_dir / TOKEN_FILE
    path.write_text(token + "\n")
    path.chmod(0o600)
    print(f"Sandbox API token (also in {path}): {token}", flush=True)
    return replace(config, daemon=replace(config.daemon, api_token=token))


def _describe_db(url: str) -> str:
    if url.startswith("sqlite"):
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://…@{rest.rpartition('@')[2]}"  # never print credentials


def main() -> None:
    from itrader.cli import main as cli_main

    sys.exit(cli_main(["run", *sys.argv[1:]]))

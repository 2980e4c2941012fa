"""PostgreSQL queries must wait on the gevent hub, not block it (psycogreen)."""
from __future__ import annotations

import gevent

from itrader.store import Store, migrate, open_database


def test_a_slow_postgresql_query_lets_other_greenlets_run(fresh_postgres_url):
    db = open_database(fresh_postgres_url)
    ticks: list[int] = []

    def ticker() -> None:
        while True:
            ticks.append(1)
            gevent.sleep(0.01)

    try:
        with db.connection() as conn:
            conn.execute_sql("SELECT 1")  # connect first: only the query is measured
            ticking = gevent.spawn(ticker)
            gevent.sleep(0)
            before = len(ticks)
            conn.execute_sql("SELECT pg_sleep(0.3)")
            during = len(ticks) - before
            ticking.kill()
        assert during >= 5, f"the hub was blocked: only {during} ticks during a 0.3 s query"
    finally:
        db.close()


def test_many_greenlets_share_the_connection_pool(fresh_postgres_url):
    db = open_database(fresh_postgres_url, max_connections=4)
    try:
        migrate(db)
        deals = Store(db).deals
        jobs = [gevent.spawn(deals.create_deal, f"payout-{n}", "100") for n in range(40)]
        gevent.joinall(jobs, raise_error=True)
        assert len(deals.non_terminal_deals()) == 40
    finally:
        db.close()

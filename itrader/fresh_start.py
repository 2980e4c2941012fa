"""The sandbox profile (`make run`) starts from a fresh data dir each run.

Its simulated world lives in the process and dies with it: the next run's world numbers its payouts
from 2600001 again and knows nothing of the last run's orders. Deals left in the data dir would then
point at payouts and orders that no longer exist (and block the new payouts that reuse their ids), so
the last run's database, receipts and mail are set aside in `previous-run/` (kept for a look, replaced by the next run)
rather than resumed. Production and an external sandbox keep their data: their platforms outlive us.
"""
from __future__ import annotations

import shutil
from pathlib import Path

PREVIOUS_RUN = "previous-run"


# What a run of the sandbox profile leaves that belongs to its world: the database (deals, journal,
# accounts), the receipts the bank drew and the mail it sent. Anything else in the data dir (the API
# token, the encryption key, an operator's own log file) is not touched.
WORLD_BOUND = ("itrader.db", "itrader.db-wal", "itrader.db-shm", "itrader.db-journal", "receipts", "sandbox-mail")


def set_aside_previous_run(data_dir: Path) -> Path | None:
    """Move the last run's world-bound files into `data_dir/previous-run` (replacing an older one); the
    folder they went to, or None when there was nothing to move."""
    leftovers = [data_dir / name for name in WORLD_BOUND if (data_dir / name).exists()]
    if not leftovers:
        return None
    target = data_dir / PREVIOUS_RUN
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for path in leftovers:
        path.rename(target / path.name)
    return target

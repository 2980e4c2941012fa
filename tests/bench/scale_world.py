"""A sandbox World with many Bybit accounts, served from its own process for bench_scale.py.

    python tests/bench/scale_world.py --accounts 1000

Prints one JSON line {"urls": ..., "gate": {...}} once it serves, then runs until stdin closes.
The accounts' credentials follow `bybit_account(i)`, so the benchmark knows them without a secret
crossing a pipe. Its own process keeps the World's memory and CPU out of the daemon's measurements,
as in production where the platforms are remote.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from decimal import Decimal  # noqa: E402

import gevent  # noqa: E402
from gevent.fileobject import FileObjectThread  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

GATE_LOGIN, GATE_PASSWORD = "scale@sandbox.local", "scale-gate-password"


def bybit_account(i: int) -> tuple[str, str, str, str]:
    """(uid, api key, api secret, nickname) of the i-th benchmark account."""
    return str(1500000 + i), f"SCALEKEY{i:08d}", f"scale-secret-{i:020d}", f"Scale{i:04d}"


def main() -> int:
    from itrader.sandbox.world import World

    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="itrader-scale-world-") as tmp:
        # One daemon drives every account from one IP: the twin keeps Bybit's per-IP rule (600 per 5 s, then
        # a 10-minute ban), so a daemon over its IP budget fails the step as it would fail live.
        world = World(seed=3, speed=0, maildir=os.path.join(tmp, "mail"), default_accounts=False,
                      bybit_options={"item_side_limit": None})
        world.add_gate_account(GATE_LOGIN, GATE_PASSWORD, Decimal("1000000000"))
        for i in range(args.accounts):
            world.add_bybit_account(*bybit_account(i))
        world.start(listen="127.0.0.1:0", imap=None)
        print(json.dumps({"urls": world.urls, "gate": {"login": GATE_LOGIN, "password": GATE_PASSWORD}}),
              flush=True)
        stdin = FileObjectThread(sys.stdin)
        try:
            while stdin.readline():
                pass
        finally:
            world.stop()
    return 0


if __name__ == "__main__":
    gevent.get_hub()  # the hub exists before the stdin reader thread starts
    sys.exit(main())

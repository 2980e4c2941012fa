"""Times GET /api/v1/status from its own process, as an operator's browser would, for bench_scale.py.

    python tests/bench/status_probe.py BASE_URL [--pause 0.05]

The API token comes on the first line of stdin (never on the command line). Asks the daemon one request
after another (a short pause between) until stdin closes, then prints one JSON line: a list of
[wall-clock start, milliseconds] per request. Its own process keeps the prober's scheduling out of the
daemon's gevent loop: a slow answer is the daemon's, not the prober waiting for the daemon's CPU.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import requests


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--pause", type=float, default=0.05)
    args = parser.parse_args()
    token = sys.stdin.readline().strip()
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    samples: list[list[float]] = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        while not done.is_set():
            wall, started = time.time(), time.perf_counter()
            try:
                session.get(f"{args.base}/api/v1/status", timeout=30).raise_for_status()
                samples.append([wall, (time.perf_counter() - started) * 1000])
            except requests.RequestException:
                samples.append([wall, float("nan")])  # counted as a miss by the bench
            done.wait(args.pause)
    print(json.dumps(samples), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

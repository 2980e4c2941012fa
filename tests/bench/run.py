"""`make bench`: every benchmark, each in its own process (each patches gevent first), tables and a summary.

    python tests/bench/run.py [--only pipeline,scale,receipts] [--quick]

Budget: about 15 minutes in all, and up to an hour more for the scale ladder (each benchmark has its own
time limit here). `--quick` runs smaller loads (20 deals; scale ladder up to 300 accounts) for a fast look;
the targets are judged on the full run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (script, full-run arguments, quick-run arguments, time limit in seconds)
BENCHMARKS = {
    "receipts": ("bench_receipts.py", [], [], 120),
    # 100 deals live at once: payouts spread over 80 s, each buyer 80 s behind its payout (the targets).
    "pipeline": ("bench_pipeline.py", ["--deals", "100"], ["--deals", "20"], 420),
    # Stress: 100 payouts in the same instant, every buyer already waiting (≈500 writes queue on 3
    # accounts allowed 5/s each); shows what the write queue's priorities buy.
    "pipeline-burst": ("bench_pipeline.py", ["--deals", "100", "--load", "burst"],
                       ["--deals", "20", "--load", "burst"], 300),
    # 1,000 accounts behind one IP must poll at most every ~8.3 s to stay under Bybit's 120 requests/s
    # per IP, so the scale run polls every 10 s. The ladder shows where cost bends; the 1,000/5,000 step
    # runs 3 times (min / median / max; a target is met only when all 3 runs meet it).
    "scale": ("bench_scale.py", ["--ladder", "100:500,250:1250,500:2500,750:3750,1000:5000", "--runs", "3",
                                 "--bybit-poll", "10", "--startup-timeout", "120", "--live-timeout", "400"],
              ["--ladder", "50:250", "--runs", "1"], 3600),
}
SUMMARY_TAG = "BENCH-SUMMARY "


def run(name: str, quick: bool, extra: list[str]) -> tuple[str, float, str]:
    script, full, small, limit = BENCHMARKS[name]
    argv = [sys.executable, os.path.join(HERE, script), *(small if quick else full), *extra]
    print(f"\n######## {name}: {' '.join(os.path.basename(a) for a in argv[1:])} (limit {limit} s)", flush=True)
    started = time.monotonic()
    summary = ""
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, bufsize=1)
    except OSError as exc:
        return name, 0.0, f"{name}: could not run ({exc})"
    watchdog = threading.Timer(limit, process.kill)  # a silent, stuck benchmark is stopped too
    watchdog.start()
    try:
        for line in process.stdout:  # streamed: a long benchmark shows its tables as they come
            if line.startswith(SUMMARY_TAG):
                summary = line[len(SUMMARY_TAG):].strip()
            else:
                print(line, end="", flush=True)
        code = process.wait()
    finally:
        watchdog.cancel()
    if time.monotonic() - started >= limit:
        return name, time.monotonic() - started, f"{name}: STOPPED after {limit} s (over its time limit)"
    if code != 0:
        summary = f"{summary} (exit {code})" if summary else f"{name}: FAILED (exit {code})"
    return name, time.monotonic() - started, summary or f"{name}: done (no targets judged)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="smaller loads for a fast look")
    args, extra = parser.parse_known_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results = [run(name, args.quick, extra if name != "receipts" else []) for name in names]
    print("\n======== summary ========")
    width = max(len(n) for n, _, _ in results)
    for name, seconds, summary in results:
        print(f"{name:<{width}}  {seconds:6.0f} s  {summary}")
    print(f"{'total':<{width}}  {sum(s for _, s, _ in results):6.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

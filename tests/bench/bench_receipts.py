"""Receipt reading speed: `python tests/bench/bench_receipts.py` (targets in the printed table).

Text receipts: median in-process extract+parse of a rendered PDF (target ≤ 3 ms), beside
`pdftotext -layout` run as a process. Image receipts: our OCR pipeline (OpenCV clean-up + Tesseract)
beside bare `tesseract IMG - -l rus+eng --psm 6` on the same image (target ≤ 1.3×).
"""
from gevent import monkey

monkey.patch_all()  # as in production: the daemon runs on gevent

import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from itrader.receipts.extract import extract_text  # noqa: E402
from itrader.receipts.parse import parse_receipt  # noqa: E402
from itrader.receipts.render import render_pdf, render_png  # noqa: E402
from tests.receipts.specs import SPECS  # noqa: E402


def median_ms(action, runs: int) -> float:
    action()  # warm-up: imports, font caches, first PDFium/Tesseract load
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run_process(argv, env=None) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def main() -> int:
    spec = SPECS["sbp_other_bank"]
    pdf, png = render_pdf(spec), render_png(spec)
    with tempfile.TemporaryDirectory() as folder:
        pdf_path, png_path = os.path.join(folder, "receipt.pdf"), os.path.join(folder, "receipt.png")
        with open(pdf_path, "wb") as handle:
            handle.write(pdf)
        with open(png_path, "wb") as handle:
            handle.write(png)

        bare_env = {key: value for key, value in os.environ.items() if key != "OMP_THREAD_LIMIT"}
        one_thread_env = {**bare_env, "OMP_THREAD_LIMIT": "1"}
        tesseract = ["tesseract", png_path, "-", "-l", "rus+eng", "--psm", "6"]
        rows = [
            ("text PDF: extract+parse, in process", median_ms(lambda: parse_receipt(extract_text(pdf)), 300), "≤ 3 ms"),
            ("text PDF: extract only", median_ms(lambda: extract_text(pdf), 300), ""),
            ("text PDF: pdftotext -layout (process)", median_ms(lambda: run_process(["pdftotext", "-layout", pdf_path, "-"]), 30), "comparison"),
            ("image: our OCR pipeline, extract+parse", median_ms(lambda: parse_receipt(extract_text(png)), 7), "≤ 1.3× bare"),
            ("image: bare tesseract (default env)", median_ms(lambda: run_process(tesseract, bare_env), 7), "comparison"),
            ("image: bare tesseract, OMP_THREAD_LIMIT=1", median_ms(lambda: run_process(tesseract, one_thread_env), 7), "comparison"),
        ]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'measurement':<{width}}  {'median':>10}  target")
    print("-" * (width + 26))
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>7.2f} ms  {target}")
    ours, bare, one = rows[3][1], rows[4][1], rows[5][1]
    print("-" * (width + 26))
    print(f"OCR pipeline / bare tesseract: {ours / bare:.2f}× (vs one-thread tesseract: {ours / one:.2f}×)")
    print(f"text path: {rows[0][1]:.2f} ms in process vs {rows[2][1]:.2f} ms for a pdftotext process; "
          f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

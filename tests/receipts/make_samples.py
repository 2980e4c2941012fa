"""Regenerate the synthetic sample receipts in test_data/receipts/: `python -m tests.receipts.make_samples`."""
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

from itrader.receipts.render import Degrade, render_jpeg, render_pdf, render_png  # noqa: E402
from tests.receipts.specs import SPECS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = os.path.join(ROOT, "test_data", "receipts")
PDFS = ["sbp_other_bank", "phone_tbank_client", "tbank_client_no_fee_row", "card_with_fee", "card_no_fee_row"]
IMAGES = {"sbp_other_bank": None, "phone_with_fee": Degrade(rotate=2.5, blur=0.7, noise=10, jpeg_quality=55)}


def main() -> None:
    os.makedirs(FOLDER, exist_ok=True)
    for name in PDFS:
        with open(os.path.join(FOLDER, f"{name}.pdf"), "wb") as handle:
            handle.write(render_pdf(SPECS[name]))
    for name, degrade in IMAGES.items():
        if degrade is None:
            path, image = f"{name}.png", render_png(SPECS[name])
        else:  # a noisy photo: JPEG keeps the file small
            path, image = f"{name}_degraded.jpg", render_jpeg(SPECS[name], degrade=degrade)
        with open(os.path.join(FOLDER, path), "wb") as handle:
            handle.write(image)


if __name__ == "__main__":
    main()

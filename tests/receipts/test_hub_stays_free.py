"""Reading an image receipt leaves the gevent hub free: other greenlets keep running meanwhile."""
import gevent

from itrader.receipts import read_receipt
from itrader.receipts.render import render_png

from .specs import SPECS


def test_other_greenlets_run_while_a_receipt_is_ocrd():
    png = render_png(SPECS["card_no_fee_row"])
    ticks = []

    def heartbeat():
        while True:
            ticks.append(1)
            gevent.sleep(0.005)

    beating = gevent.spawn(heartbeat)
    try:
        reading = gevent.spawn(read_receipt, png)
        receipt = reading.get(timeout=120)
        beats_during_ocr = len(ticks)
    finally:
        beating.kill()
    assert receipt.recipient_card == "553691******9876"
    # a blocked hub would allow one or two beats; OCR takes hundreds of milliseconds
    assert beats_during_ocr >= 10

"""iTrader: settles Gate RUB payouts by selling USDT on Bybit P2P.

Keep this module free of imports: `itrader run` must patch gevent before
anything imports sockets, threads or ssl.
"""

__version__ = "0.1.0"

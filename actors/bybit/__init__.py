"""The collaborators of one BybitAccount actor (actors.bybit_account), in the style of a thin actor over
controllers: the link they share, the write queue, chat sync, the ad book, order routing, the reconciler.
They hold the account's in-memory state and call its client; the decisions they make are in
itrader.bybit_rules."""

"""How many more ads a Bybit account may post, and what a refused ad means for it — pure rules (issue 12).

* Bybit limits the online ads of one account on one side (symbolInfo.itemSideLimit; its docs' example shows
  3), counting the ads the account's owner posted by hand in the app, which the daemon learns only by
  listing the account's ads. So an account's room for new ads is the smaller of the configured
  max_ads_per_account and what the side limit leaves after the hand-posted ads and our taken ads.
* An ad Bybit refuses for a reason of the account — that limit, a price too close to its other ads, a
  security check its owner must pass, the bare 912000004 — blocks new ads on that account for a while
  (`AdBlock`): the deal goes to another account or waits, and the create is not repeated here at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

AD_LIMIT = "ad_limit"
PRICE_GAP = "price_gap"
SECURITY_RISK = "security_risk"
PARAMETER_EXCEPTION = "parameter_exception"

# Seconds an account offers no slot after each refusal. The limit and the price rule clear when ads go
# (the hand-posted ads are counted again by then); a risk check or an unexplained refusal waits for a person.
BLOCK_SECONDS = {AD_LIMIT: 60.0, PRICE_GAP: 60.0, SECURITY_RISK: 300.0, PARAMETER_EXCEPTION: 300.0}
_WHY = {
    AD_LIMIT: "Bybit's limit of sell ads on this account is reached",
    PRICE_GAP: "Bybit refused the price as too close to this account's other ads",
    SECURITY_RISK: "Bybit asks for a security check: pass it in the Bybit app",
    PARAMETER_EXCEPTION: "Bybit refused the ad with 912000004 (Parameter exception)",
}
FOREIGN_RECOUNT_SECONDS = 60.0  # while hand-posted ads are up, count them again this often


@dataclass(frozen=True)
class AdBlock:
    kind: str
    reason: str
    until: float

    def active(self, now: float) -> bool:
        return now < self.until


def block_after(kind: str, now: float, detail: str = "") -> AdBlock:
    """The block a refusal of this kind puts on the account; `detail` is Bybit's own message."""
    reason = _WHY[kind] + (f" ({detail})" if detail else "")
    return AdBlock(kind, reason, now + BLOCK_SECONDS[kind])


def foreign_online(listed: Iterable[tuple[str, bool]], ours: Iterable[str]) -> int:
    """How many of the account's online sell ads (id, online) are not the daemon's: posted by hand."""
    known = set(ours)
    return sum(1 for ad_id, online in listed if online and ad_id not in known)


def ad_room(configured_max: int, side_limit: int, taken: int, foreign: int, untaken: int,
            block: AdBlock | None, now: float) -> int:
    """The max_ads the allocator should see: un-taken ads this account may hold. Blocked: no more than it
    has; otherwise what the side limit leaves after the hand-posted and the taken ads, at most the
    configured number."""
    if block is not None and block.active(now):
        return untaken
    return max(0, min(configured_max, side_limit - foreign - taken))


def recount_due(foreign: int, block: AdBlock | None, checked_at: float, now: float) -> bool:
    """List the account's ads again? While hand-posted ads hold slots, or once an ad-limit block ends."""
    stale = now - checked_at >= FOREIGN_RECOUNT_SECONDS
    ended_limit = block is not None and block.kind == AD_LIMIT and not block.active(now) and checked_at < block.until
    return (foreign > 0 and stale) or ended_limit

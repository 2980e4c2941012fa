"""Is the daemon ready to trade? The rule behind `GET /api/v1/ready` and the itrader_ready gauge.

Liveness (`/api/v1/health`) only says the process answers. Ready means it can do its work: the root
supervisor and each of its children are running (not restarting, not escalating), and at least one
Gate and one Bybit account are healthy here. A load balancer or an alert reads the 503 and its reasons.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping


def readiness(tree: Mapping[str, Any], accounts: Iterable[Mapping[str, Any]]) -> tuple[bool, list[str]]:
    reasons = []
    root_state = tree.get("state")
    if root_state != "running":
        reasons.append(f"root supervisor is {root_state}")
    for child in tree.get("children") or ():
        if child and child.get("state") not in ("running", None) and "count" not in child:
            reasons.append(f"{child.get('id')} is {child.get('state')}")
    healthy = {row.get("platform") for row in accounts if row.get("healthy") and row.get("enabled", True)}
    for platform, label in (("gate", "Gate"), ("bybit", "Bybit")):
        if platform not in healthy:
            reasons.append(f"no healthy {label} account")
    return not reasons, reasons

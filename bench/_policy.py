"""The policy the synthetic benchmark histories are judged under (engine, projections,
verifier benches share it, so their figures are comparable)."""

from __future__ import annotations

from typing import Any

DEPLOYMENT = ["threat-modeling", "defense-in-depth", "red-teaming", "monitoring"]
SECURITY = ["access-control", "audits", "insider-risk"]
THRESHOLDS = ["CBRN-3", "AI-RD-4", "CBRN-4"]


def bench_policy(version: int) -> dict[str, Any]:
    return {
        "schema": "rsp-ledger.policy/v1",
        "id": "bench-rsp",
        "version": str(version),
        "levels": ["ASL-2", "ASL-3", "ASL-4"],
        "scopes": ["internal", "trusted", "external"],
        "standards": {
            "ASL-3": {"deployment": DEPLOYMENT, "security": SECURITY},
            "ASL-4": {"deployment": [], "security": []},
        },
        "thresholds": [
            {"id": "CBRN-3", "requires": {"deployment": "ASL-3", "security": "ASL-3"}},
            {"id": "AI-RD-4", "requires": {"security": "ASL-3"}},
            {"id": "CBRN-4", "requires": {"deployment": "ASL-4", "security": "ASL-4"}},
        ],
        "assessment": {
            "max_age_days": 183,
            "effective_compute_multiple": 4.0,
            "cannot_rule_out_counts_as_crossed": True,
            "early_warning_requires_comprehensive": True,
        },
        "safeguards": {"max_validity_days": 365},
        "approvals": {
            "capability_determination": ["ceo", "responsible-scaling-officer"],
            "safeguards_determination": ["ceo", "responsible-scaling-officer"],
            "deployment_decision": ["ceo", "responsible-scaling-officer"],
            "policy_adopted": ["board"],
        },
        "notify_before_deployment": ["board", "ltbt"],
    }

"""The conformance kit: watch one device's traffic and check every clause of the contract."""

from edge_agents.conformance.clauses import (
    CHECKS,
    CheckSettings,
    ClauseResult,
    Observation,
    Verdict,
    check_all,
)

__all__ = ["CHECKS", "CheckSettings", "ClauseResult", "Observation", "Verdict", "check_all"]

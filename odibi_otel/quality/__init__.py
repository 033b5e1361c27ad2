"""Data quality: checks on a step's output and anomalies against the run history.

Pure definitions and rules (no dataframe library here): the engines evaluate checks and profile
frames, the history room supplies earlier runs. See ``docs/checks.md`` and ``docs/history.md``.
"""

from odibi_otel.quality.anomalies import ANOMALY_KINDS, Anomaly, AnomalyRules, NodeBaseline, detect_anomalies
from odibi_otel.quality.checks import (
    CHECK_KINDS,
    Check,
    CheckDefinitionError,
    CheckResult,
    accepted_values,
    custom,
    expression,
    freshness,
    not_null,
    parse_check,
    relationship,
    row_count,
    unique,
)

__all__ = [
    "ANOMALY_KINDS",
    "CHECK_KINDS",
    "Anomaly",
    "AnomalyRules",
    "Check",
    "CheckDefinitionError",
    "CheckResult",
    "NodeBaseline",
    "accepted_values",
    "custom",
    "detect_anomalies",
    "expression",
    "freshness",
    "not_null",
    "parse_check",
    "relationship",
    "row_count",
    "unique",
]

"""Lineage: the Tracker (what each node received and produced), schema diffs, and the lineage
document rebuilt from an exported telemetry file. See ``docs/lineage.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.lineage.from_telemetry import (
        lineage_from_otlp_file,
        lineage_from_telemetry,
        list_runs,
    )
    from odibi_otel.lineage.schema_diff import (
        merge_schemas,
        schema_diff,
    )
    from odibi_otel.lineage.tracker import (
        PII_PATTERN,
        REDACTED,
        Tracker,
        TrackerConfig,
    )

__all__ = [
    "PII_PATTERN",
    "REDACTED",
    "Tracker",
    "TrackerConfig",
    "lineage_from_otlp_file",
    "lineage_from_telemetry",
    "list_runs",
    "merge_schemas",
    "schema_diff",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            (
                "PII_PATTERN",
                "REDACTED",
                "Tracker",
                "TrackerConfig",
            ),
            "odibi_otel.lineage.tracker",
        ),
        **dict.fromkeys(
            (
                "merge_schemas",
                "schema_diff",
            ),
            "odibi_otel.lineage.schema_diff",
        ),
        **dict.fromkeys(
            (
                "lineage_from_otlp_file",
                "lineage_from_telemetry",
                "list_runs",
            ),
            "odibi_otel.lineage.from_telemetry",
        ),
    },
)

"""odibi_otel's own OpenLineage run facet (``odibi``), with a published JSON schema.

It says how a pipeline or node run ended (``skipped`` and cache hits included, which the standard
facets cannot) and which OpenTelemetry trace and span it is, so a catalog entry leads to the
trace. The schema ships in the package (``schemas/OdibiRunFacet.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import attr
from openlineage.client.facet_v2 import RunFacet

__all__ = ["ODIBI_FACET_KEY", "ODIBI_FACET_SCHEMA", "ODIBI_FACET_SCHEMA_URL", "OdibiRunFacet"]

#: The facet's key in ``run.facets``.
ODIBI_FACET_KEY: Final = "odibi"
#: The facet's JSON schema file (in the package).
ODIBI_FACET_SCHEMA: Final = Path(__file__).parent / "schemas" / "OdibiRunFacet.json"
ODIBI_FACET_SCHEMA_URL: Final = (
    "https://raw.githubusercontent.com/odibi-otel/odibi_otel/main/odibi_otel/openlineage/schemas/"
    "OdibiRunFacet.json#/$defs/OdibiRunFacet"
)


@attr.define
class OdibiRunFacet(RunFacet):
    """How an odibi_otel pipeline or node run ended, and its OpenTelemetry trace and span."""

    pipeline: str
    odibiRunId: str
    status: str
    step: str | None = attr.field(default=None)
    traceId: str | None = attr.field(default=None)
    spanId: str | None = attr.field(default=None)
    cacheHit: bool | None = attr.field(default=None)
    skippedReason: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return ODIBI_FACET_SCHEMA_URL

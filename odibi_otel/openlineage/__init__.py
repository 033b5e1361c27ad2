"""OpenLineage: every run also described in the standard that data catalogs read.

:class:`OpenLineageEmitter` sends a START and a COMPLETE / FAIL / ABORT event for the pipeline
run and for each node (a child run), with file and intermediate datasets, schema, statistics,
column lineage, SQL and error facets, and an ``odibi`` run facet that carries the OpenTelemetry
trace and span ids. :func:`events_from_lineage` builds the same events from a ``lineage.json`` or
telemetry file afterwards (``odibi-otel lineage FILE``). Details: ``docs/openlineage.md``.

Needs ``openlineage-python`` (``pip install odibi-otel[openlineage]``); importing
``odibi_otel`` never imports it.
"""

from __future__ import annotations

from odibi_otel.openlineage._facets import ODIBI_FACET_KEY, ODIBI_FACET_SCHEMA, OdibiRunFacet
from odibi_otel.openlineage.convert import events_from_file, events_from_lineage
from odibi_otel.openlineage.emitter import DEFAULT_NAMESPACE, OpenLineageEmitter

__all__ = [
    "DEFAULT_NAMESPACE",
    "ODIBI_FACET_KEY",
    "ODIBI_FACET_SCHEMA",
    "OdibiRunFacet",
    "OpenLineageEmitter",
    "events_from_file",
    "events_from_lineage",
]

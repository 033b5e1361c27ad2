"""Hook payloads read back from odibi_otel's pipeline and node spans.

The keys of each event are described by the TypedDicts of :mod:`odibi_otel.events.payloads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from odibi_otel._internal.timefmt import iso_utc
from odibi_otel.events.payloads import (
    NODE_COMPLETE,
    NODE_ERROR,
    NODE_START,
    PIPELINE_COMPLETE,
    PIPELINE_ERROR,
    PIPELINE_START,
)
from odibi_otel.lineage._run_registry import lookup_tracker
from odibi_otel.otel import semconv

__all__ = ["build_payload"]


def build_payload(event: str, span: ReadableSpan) -> dict[str, Any]:
    """The payload of ``event`` read from an odibi_otel ``span`` (see ``docs/events.md``)."""
    attributes: Mapping[str, Any] = span.attributes or {}
    context = span.context
    started = event in (PIPELINE_START, NODE_START)
    payload: dict[str, Any] = {
        "event_type": event,
        "timestamp": iso_utc(span.start_time if started else span.end_time),
        "pipeline_name": attributes.get(semconv.PIPELINE_NAME),
        "run_id": attributes.get(semconv.RUN_ID),
        "trace_id": f"{context.trace_id if context is not None else 0:032x}",
        "span_id": f"{context.span_id if context is not None else 0:016x}",
    }
    if event in (NODE_START, NODE_COMPLETE, NODE_ERROR):
        payload["step_name"] = attributes.get(semconv.NODE_NAME)
        payload["layer"] = attributes.get(semconv.NODE_LAYER)
        payload["type"] = attributes.get(semconv.NODE_TYPE)
    if event == NODE_COMPLETE:
        payload["duration_ms"] = _duration_ms(span)
        payload["row_count"] = attributes.get(semconv.NODE_ROWS_OUT, 0)
        payload["column_count"] = attributes.get(semconv.NODE_COLUMNS_OUT, 0)
        payload["cache_hit"] = bool(attributes.get(semconv.NODE_CACHE_HIT, False))
        payload["data_size_bytes"] = attributes.get(semconv.NODE_OUTPUT_SIZE_BYTES, 0)
    elif event in (NODE_ERROR, PIPELINE_ERROR):
        payload["duration_ms"] = _duration_ms(span)
        payload["error_message"] = span.status.description or ""
        payload["error_type"] = attributes.get(semconv.ERROR_TYPE)
    elif event == PIPELINE_COMPLETE:
        payload["duration_ms"] = _duration_ms(span)
        payload["success"] = span.status.status_code is not StatusCode.ERROR
        payload["nodes_total"] = attributes.get(semconv.PIPELINE_NODES_TOTAL, 0)
        payload["nodes_succeeded"] = attributes.get(semconv.PIPELINE_NODES_SUCCEEDED, 0)
        payload["nodes_failed"] = attributes.get(semconv.PIPELINE_NODES_FAILED, 0)
        payload["nodes_skipped"] = attributes.get(semconv.PIPELINE_NODES_SKIPPED, 0)
        payload["tracker"] = lookup_tracker(payload["run_id"])
    return payload


def _duration_ms(span: ReadableSpan) -> float:
    if span.start_time is None or span.end_time is None:
        return 0.0
    return round((span.end_time - span.start_time) / 1e6, 3)

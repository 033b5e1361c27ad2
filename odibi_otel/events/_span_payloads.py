"""Hook payloads read back from odibi_otel's pipeline and node spans.

The keys of each event are described by the TypedDicts of :mod:`odibi_otel.events.payloads`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from odibi_otel._internal.timefmt import iso_utc
from odibi_otel.events.payloads import (
    ANOMALY_DETECTED,
    CHECK_FAILED,
    NODE_COMPLETE,
    NODE_ERROR,
    NODE_START,
    PIPELINE_COMPLETE,
    PIPELINE_ERROR,
    PIPELINE_START,
)
from odibi_otel.lineage._run_registry import lookup_tracker
from odibi_otel.otel import semconv
from odibi_otel.otel._span_listeners import SpanRecord

__all__ = ["build_payload", "quality_payloads"]


def build_payload(event: str, span: ReadableSpan) -> dict[str, Any]:
    """The payload of ``event`` read from an odibi_otel ``span`` (see ``docs/events.md``)."""
    attributes: Mapping[str, Any] = span.attributes or {}
    started = event in (PIPELINE_START, NODE_START)
    payload: dict[str, Any] = {
        "event_type": event,
        "timestamp": iso_utc(span.start_time if started else span.end_time),
        **_identity(span),
    }
    if event == NODE_COMPLETE:
        payload["duration_ms"] = _duration_ms(span)
        payload["row_count"] = attributes.get(semconv.NODE_ROWS_OUT)  # None: not computed (Spark)
        payload["column_count"] = attributes.get(semconv.NODE_COLUMNS_OUT, 0)
        payload["cache_hit"] = bool(attributes.get(semconv.NODE_CACHE_HIT, False))
        payload["data_size_bytes"] = attributes.get(semconv.NODE_OUTPUT_SIZE_BYTES)
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


def _identity(span: ReadableSpan) -> Mapping[str, Any]:
    """The keys every event of ``span`` shares: pipeline, run and span ids, and a node's step keys.

    Made once per span: a :class:`SpanRecord` keeps them for its end event (and for its
    checks and anomalies); they are copied into each payload, never handed out themselves.
    """
    if type(span) is SpanRecord and span.shared_keys is not None:
        return span.shared_keys
    attributes: Mapping[str, Any] = span.attributes or {}
    context = span.context
    keys: dict[str, Any] = {
        "pipeline_name": attributes.get(semconv.PIPELINE_NAME),
        "run_id": attributes.get(semconv.RUN_ID),
        "trace_id": f"{context.trace_id if context is not None else 0:032x}",
        "span_id": f"{context.span_id if context is not None else 0:016x}",
    }
    if semconv.NODE_NAME in attributes:
        keys["step_name"] = attributes.get(semconv.NODE_NAME)
        keys["layer"] = attributes.get(semconv.NODE_LAYER)
        keys["type"] = attributes.get(semconv.NODE_TYPE)
    if type(span) is SpanRecord:
        span.shared_keys = keys
    return keys


def _duration_ms(span: ReadableSpan) -> float:
    if span.start_time is None or span.end_time is None:
        return 0.0
    return round((span.end_time - span.start_time) / 1e6, 3)


def quality_payloads(span: ReadableSpan) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event, payload)`` for each failing check and each anomaly recorded on a node ``span``."""
    for span_event in span.events:
        if span_event.name == semconv.EVENT_CHECK:
            found = span_event.attributes or {}
            if found.get(semconv.CHECK_STATUS) == "pass":
                continue
            payload = _node_keys(CHECK_FAILED, span, span_event.timestamp)
            payload.update(
                check_name=found.get(semconv.CHECK_NAME),
                check_kind=found.get(semconv.CHECK_KIND),
                severity=found.get(semconv.CHECK_SEVERITY),
                status=found.get(semconv.CHECK_STATUS),
                failing_count=found.get(semconv.CHECK_FAILING_COUNT, 0),
                message=found.get(semconv.CHECK_MESSAGE, ""),
                failing_rows=json.loads(str(found.get(semconv.CHECK_FAILING_ROWS) or "[]")),
            )
            yield CHECK_FAILED, payload
        elif span_event.name == semconv.EVENT_ANOMALY:
            found = span_event.attributes or {}
            payload = _node_keys(ANOMALY_DETECTED, span, span_event.timestamp)
            payload.update(
                kind=found.get(semconv.ANOMALY_KIND),
                message=found.get(semconv.ANOMALY_MESSAGE, ""),
                column=found.get(semconv.ANOMALY_COLUMN),
                value=found.get(semconv.ANOMALY_VALUE),
                expected=found.get(semconv.ANOMALY_EXPECTED),
            )
            yield ANOMALY_DETECTED, payload


def _node_keys(event: str, span: ReadableSpan, timestamp: int | None) -> dict[str, Any]:
    return {
        "event_type": event,
        "timestamp": iso_utc(timestamp if timestamp is not None else span.end_time),
        **_identity(span),
    }

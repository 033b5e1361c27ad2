"""Timelines of spans: the spans of a run, or a trace of spans not made by odibi_otel.

A timeline entry is a span as JSON (see :mod:`odibi_otel.lineage.from_telemetry`). A file without
odibi_otel spans becomes one trace's document: no steps, just its timeline (:func:`trace_document`).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from typing import Any

from odibi_otel._internal.timefmt import iso_utc
from odibi_otel.lineage._telemetry_runs import Run
from odibi_otel.lineage.document import duration_ms, run_summary
from odibi_otel.otel import semconv
from odibi_otel.otel.otlp_json import STATUS_CODE_ERROR, STATUS_CODE_OK, DecodedSpan

__all__ = ["root_span", "run_timeline", "trace_document"]


def run_timeline(run: Run, spans: list[DecodedSpan]) -> list[dict[str, Any]]:
    """The pipeline span (or, without it, the node spans) and every span under it."""
    roots = run.pipeline_spans or run.node_spans
    if not roots:
        return []
    trace_ids = {span.trace_id for span in roots}
    candidates = [span for span in spans if span.trace_id in trace_ids]
    children: dict[str, list[DecodedSpan]] = {}
    for span in candidates:
        if span.parent_span_id is not None:
            children.setdefault(span.parent_span_id, []).append(span)
    included: dict[tuple[str, str], DecodedSpan] = {}
    pending = list(roots)
    while pending:
        span = pending.pop()
        key = (span.trace_id, span.span_id)
        if key in included:
            continue
        included[key] = span
        pending.extend(children.get(span.span_id, []))
    return _timeline(included.values())


def root_span(spans: list[DecodedSpan]) -> DecodedSpan:
    """The earliest span without a parent in ``spans`` (or the earliest span)."""
    ids = {span.span_id for span in spans}
    roots = [span for span in spans if span.parent_span_id is None or span.parent_span_id not in ids]
    return min(roots or spans, key=lambda span: (span.start_ns, span.line))


def trace_document(spans: list[DecodedSpan]) -> dict[str, Any]:
    """The document of one trace of spans not made by odibi_otel: no steps, its ``timeline``."""
    root = root_span(spans)
    start_ns = min(span.start_ns for span in spans)
    end_ns = max(span.end_ns for span in spans)
    failed = any(span.status_code == STATUS_CODE_ERROR for span in spans)
    return {
        "format": semconv.LINEAGE_FORMAT,
        "version": semconv.LINEAGE_VERSION,
        "pipeline_name": root.name,
        "run_id": None,
        "trace_id": root.trace_id,
        "span_id": root.span_id,
        "start_time": iso_utc(start_ns),
        "end_time": iso_utc(end_ns),
        "duration_ms": duration_ms(start_ns, end_ns),
        "status": semconv.STATUS_FAILED if failed else semconv.STATUS_SUCCESS,
        "steps": [],
        "summary": run_summary([]),
        "timeline": _timeline(spans),
    }


def _timeline(spans: Iterable[DecodedSpan]) -> list[dict[str, Any]]:
    ordered = sorted(spans, key=lambda span: (span.start_ns, span.line))
    return [_timeline_entry(span) for span in ordered]


def _timeline_entry(span: DecodedSpan) -> dict[str, Any]:
    status = {STATUS_CODE_OK: "ok", STATUS_CODE_ERROR: "error"}.get(span.status_code, "unset")
    return {
        "name": span.name,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "scope": span.scope_name,
        "start_time": iso_utc(span.start_ns),
        "end_time": iso_utc(span.end_ns),
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "duration_ms": duration_ms(span.start_ns, span.end_ns),
        "status": status,
        "status_message": span.status_message,
        "attributes": _json_safe(span.attributes),
        "events": [
            {"name": event.name, "time": iso_utc(event.time_ns), "attributes": _json_safe(event.attributes)}
            for event in span.events
        ],
    }


def _json_safe(value: Any) -> Any:
    """Decoded attribute values as JSON: bytes → ``"base64:..."``, NaN → ``None``, ±inf → text."""
    if isinstance(value, bytes):
        return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value

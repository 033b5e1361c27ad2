"""Decoding one OTLP/JSON export request: its resources, scopes, spans and log records.

``ExportTraceServiceRequest`` and ``ExportLogsServiceRequest`` are decoded into
:class:`~odibi_otel.otel.otlp_json.DecodedSpan` / :class:`~odibi_otel.otel.otlp_json.DecodedLogRecord`
records; an ``ExportMetricsServiceRequest`` is recognised and counted, not decoded. The older
``instrumentationLibrary*`` field names are read too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from odibi_otel.otel.otlp_json._reader import OtlpReader, get
from odibi_otel.otel.otlp_json._records import (
    DecodedEvent,
    DecodedLink,
    DecodedLogRecord,
    DecodedSpan,
    TelemetryData,
)

__all__ = ["decode_request"]

_SPAN_KINDS: Final[Mapping[str, int]] = dict(trace_pb2.Span.SpanKind.items())
_STATUS_CODES: Final[Mapping[str, int]] = dict(trace_pb2.Status.StatusCode.items())
_SEVERITIES: Final[Mapping[str, int]] = dict(logs_pb2.SeverityNumber.items())
_REQUEST_KEYS: Final = ("resourceSpans", "resourceLogs", "resourceMetrics")


def decode_request(request: Any, *, source: str = "<otlp-json>", line: int = 1) -> TelemetryData:
    """Decode one parsed OTLP/JSON export request (the ``json.loads`` of one line).

    Args:
        request: The parsed JSON object.
        source: Names the input in error messages.
        line: The line number reported in error messages and stored on the records.

    Raises:
        TelemetryFileError: The object is not an export request or a field is malformed.
    """
    reader = OtlpReader(source, line)
    data = TelemetryData(source=source)
    if not isinstance(request, dict):
        reader.fail(
            "", f"expected a JSON object (one export request per line), got {reader.describe(request)}"
        )
    known = [key for key in _REQUEST_KEYS if get(request, key) is not None]
    if request and not known:
        keys = ", ".join(repr(key) for key in list(request)[:5])
        reader.fail(
            "",
            "not an OTLP/JSON export request (expected resourceSpans, resourceLogs or "
            f"resourceMetrics), got keys {keys}",
        )
    resource_spans = reader.array(get(request, "resourceSpans"), "resourceSpans")
    for index, item in enumerate(resource_spans):
        data.spans.extend(_decode_resource_spans(reader, item, f"resourceSpans[{index}]"))
    resource_logs = reader.array(get(request, "resourceLogs"), "resourceLogs")
    for index, item in enumerate(resource_logs):
        data.logs.extend(_decode_resource_logs(reader, item, f"resourceLogs[{index}]"))
    if get(request, "resourceMetrics") is not None:
        reader.array(get(request, "resourceMetrics"), "resourceMetrics")
        data.metric_requests += 1
    return data


def _decode_resource_spans(reader: OtlpReader, raw: Any, place: str) -> list[DecodedSpan]:
    resource_spans = reader.mapping(raw, place)
    resource_attributes = _resource_attributes(reader, resource_spans, place)
    spans: list[DecodedSpan] = []
    scope_key = (
        "scopeSpans" if get(resource_spans, "scopeSpans") is not None else "instrumentationLibrarySpans"
    )
    for index, raw_scope in enumerate(reader.array(get(resource_spans, scope_key), f"{place}.{scope_key}")):
        scope_place = f"{place}.{scope_key}[{index}]"
        scope_spans = reader.mapping(raw_scope, scope_place)
        scope_name, scope_version = _scope(reader, scope_spans, scope_place)
        for span_index, raw_span in enumerate(
            reader.array(get(scope_spans, "spans"), f"{scope_place}.spans")
        ):
            spans.append(
                _decode_span(
                    reader,
                    raw_span,
                    f"{scope_place}.spans[{span_index}]",
                    resource_attributes,
                    scope_name,
                    scope_version,
                )
            )
    return spans


def _decode_span(
    reader: OtlpReader,
    raw: Any,
    place: str,
    resource_attributes: dict[str, Any],
    scope_name: str,
    scope_version: str,
) -> DecodedSpan:
    span = reader.mapping(raw, place)
    status = reader.mapping(get(span, "status"), f"{place}.status")
    events = _decode_events(reader, get(span, "events"), f"{place}.events")
    links = _decode_links(reader, get(span, "links"), f"{place}.links")
    return DecodedSpan(
        trace_id=reader.required_id(get(span, "traceId"), f"{place}.traceId", 16),
        span_id=reader.required_id(get(span, "spanId"), f"{place}.spanId", 8),
        parent_span_id=reader.optional_id(get(span, "parentSpanId"), f"{place}.parentSpanId", 8),
        name=reader.text(get(span, "name"), f"{place}.name"),
        kind=reader.enum(get(span, "kind"), f"{place}.kind", _SPAN_KINDS),
        start_ns=reader.uint64(get(span, "startTimeUnixNano"), f"{place}.startTimeUnixNano"),
        end_ns=reader.uint64(get(span, "endTimeUnixNano"), f"{place}.endTimeUnixNano"),
        attributes=reader.attributes(get(span, "attributes"), f"{place}.attributes"),
        status_code=reader.enum(get(status, "code"), f"{place}.status.code", _STATUS_CODES),
        status_message=reader.text(get(status, "message"), f"{place}.status.message"),
        events=events,
        links=links,
        resource_attributes=resource_attributes,
        scope_name=scope_name,
        scope_version=scope_version,
        line=reader.line,
    )


def _decode_events(reader: OtlpReader, raw: Any, place: str) -> tuple[DecodedEvent, ...]:
    events = []
    for index, raw_event in enumerate(reader.array(raw, place)):
        event_place = f"{place}[{index}]"
        event = reader.mapping(raw_event, event_place)
        events.append(
            DecodedEvent(
                name=reader.text(get(event, "name"), f"{event_place}.name"),
                time_ns=reader.uint64(get(event, "timeUnixNano"), f"{event_place}.timeUnixNano"),
                attributes=reader.attributes(get(event, "attributes"), f"{event_place}.attributes"),
            )
        )
    return tuple(events)


def _decode_links(reader: OtlpReader, raw: Any, place: str) -> tuple[DecodedLink, ...]:
    links = []
    for index, raw_link in enumerate(reader.array(raw, place)):
        link_place = f"{place}[{index}]"
        link = reader.mapping(raw_link, link_place)
        links.append(
            DecodedLink(
                trace_id=reader.required_id(get(link, "traceId"), f"{link_place}.traceId", 16),
                span_id=reader.required_id(get(link, "spanId"), f"{link_place}.spanId", 8),
                attributes=reader.attributes(get(link, "attributes"), f"{link_place}.attributes"),
            )
        )
    return tuple(links)


def _decode_resource_logs(reader: OtlpReader, raw: Any, place: str) -> list[DecodedLogRecord]:
    resource_logs = reader.mapping(raw, place)
    resource_attributes = _resource_attributes(reader, resource_logs, place)
    records: list[DecodedLogRecord] = []
    scope_key = "scopeLogs" if get(resource_logs, "scopeLogs") is not None else "instrumentationLibraryLogs"
    for index, raw_scope in enumerate(reader.array(get(resource_logs, scope_key), f"{place}.{scope_key}")):
        scope_place = f"{place}.{scope_key}[{index}]"
        scope_logs = reader.mapping(raw_scope, scope_place)
        scope_name, scope_version = _scope(reader, scope_logs, scope_place)
        raw_records = reader.array(get(scope_logs, "logRecords"), f"{scope_place}.logRecords")
        for record_index, raw_record in enumerate(raw_records):
            record_place = f"{scope_place}.logRecords[{record_index}]"
            records.append(
                _decode_log_record(
                    reader, raw_record, record_place, resource_attributes, scope_name, scope_version
                )
            )
    return records


def _decode_log_record(
    reader: OtlpReader,
    raw: Any,
    place: str,
    resource_attributes: dict[str, Any],
    scope_name: str,
    scope_version: str,
) -> DecodedLogRecord:
    record = reader.mapping(raw, place)
    return DecodedLogRecord(
        time_ns=reader.uint64(get(record, "timeUnixNano"), f"{place}.timeUnixNano"),
        observed_time_ns=reader.uint64(get(record, "observedTimeUnixNano"), f"{place}.observedTimeUnixNano"),
        trace_id=reader.optional_id(get(record, "traceId"), f"{place}.traceId", 16),
        span_id=reader.optional_id(get(record, "spanId"), f"{place}.spanId", 8),
        event_name=reader.text(get(record, "eventName"), f"{place}.eventName"),
        severity_number=reader.enum(get(record, "severityNumber"), f"{place}.severityNumber", _SEVERITIES),
        severity_text=reader.text(get(record, "severityText"), f"{place}.severityText"),
        body=reader.any_value(get(record, "body"), f"{place}.body"),
        attributes=reader.attributes(get(record, "attributes"), f"{place}.attributes"),
        resource_attributes=resource_attributes,
        scope_name=scope_name,
        scope_version=scope_version,
        line=reader.line,
    )


def _resource_attributes(reader: OtlpReader, container: Mapping[str, Any], place: str) -> dict[str, Any]:
    resource = reader.mapping(get(container, "resource"), f"{place}.resource")
    return reader.attributes(get(resource, "attributes"), f"{place}.resource.attributes")


def _scope(reader: OtlpReader, container: Mapping[str, Any], place: str) -> tuple[str, str]:
    key = "scope" if get(container, "scope") is not None else "instrumentationLibrary"
    scope = reader.mapping(get(container, key), f"{place}.{key}")
    return (
        reader.text(get(scope, "name"), f"{place}.{key}.name"),
        reader.text(get(scope, "version"), f"{place}.{key}.version"),
    )

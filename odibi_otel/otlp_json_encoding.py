"""Encoding SDK spans and log records as OTLP/JSON text (pure functions, no I/O).

Each function returns one ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` as compact
JSON text, the line an OTLP/JSON file holds. The text is what the protobuf JSON mapping of the
OTLP protobuf encoders (``opentelemetry-exporter-otlp-proto-common``) gives, with the one OTLP/JSON
rule applied on top: ``traceId``/``spanId``/``parentSpanId`` are lowercase hex, not base64
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding). So: camelCase field names,
fields at their default value left out (but a set ``AnyValue`` always written, ``""`` and ``0``
included), enums as integers, 64-bit integers as decimal strings, NaN and infinities as
``"NaN"``/``"Infinity"``/``"-Infinity"``, fields in field-number order. ``tests/test_otlp_json.py``
checks the equivalence against the protobuf path.

Written directly as text rather than built as protobuf messages and converted with
``MessageToDict``: that path cost about 250 µs per node span and 850 µs per lineage log record,
this one about 50 and 100 (``benchmarks/`` case 2), which matters because the file exporter runs
in the pipeline's process.

Values protobuf cannot carry are written as text instead of failing the batch: an integer outside
the signed 64-bit range or an object of an unsupported type as its ``str()``, text with lone
surrogates (e.g. bytes decoded with ``surrogateescape``) with ``\\udcxx`` escapes.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from json.encoder import encode_basestring
from typing import Any, Final, TypeVar

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

__all__ = ["encode_logs_line", "encode_spans_line"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
#: OTLP ``SpanFlags``: the context says whether the parent (or linked span) is remote, and is it.
_FLAGS_HAS_IS_REMOTE: Final = 0x100
_FLAGS_IS_REMOTE: Final = 0x200

_Item = TypeVar("_Item", ReadableSpan, ReadableLogRecord)


def encode_spans_line(spans: Sequence[ReadableSpan]) -> str:
    """One OTLP/JSON ``ExportTraceServiceRequest`` (``{"resourceSpans":[...]}``) as compact text.

    Args:
        spans: Finished spans, as a ``SpanExporter`` receives them.
    """
    return _request(spans, "resourceSpans", "scopeSpans", "spans", _span)


def encode_logs_line(records: Sequence[ReadableLogRecord]) -> str:
    """One OTLP/JSON ``ExportLogsServiceRequest`` (``{"resourceLogs":[...]}``) as compact text.

    Args:
        records: Log records, as a ``LogRecordExporter`` receives them.
    """
    token = _KVLIST_MEMO.set({})
    try:
        return _request(records, "resourceLogs", "scopeLogs", "logRecords", _log_record)
    finally:
        _KVLIST_MEMO.reset(token)


# -- request structure ----------------------------------------------------------------------------


def _request(
    items: Sequence[_Item],
    resources_key: str,
    scopes_key: str,
    items_key: str,
    encode_item: Callable[[_Item], str],
) -> str:
    """Items grouped by resource, then instrumentation scope, as the OTLP encoders group them."""
    # Grouped by identity: Resource.__hash__ serialises every attribute to JSON on each call.
    groups: dict[int, tuple[Resource, dict[int, tuple[InstrumentationScope | None, list[str]]]]] = {}
    for item in items:
        resource = item.resource
        scopes = groups.get(id(resource))
        if scopes is None:
            scopes = groups[id(resource)] = (resource, {})
        scope = item.instrumentation_scope or None
        encoded = scopes[1].get(id(scope))
        if encoded is None:
            encoded = scopes[1][id(scope)] = (scope, [])
        encoded[1].append(encode_item(item))
    parts = []
    for resource, scopes_by_id in groups.values():
        scope_parts = [
            f'{{"scope":{_scope(scope)},"{items_key}":[{",".join(texts)}]{_schema_url(scope)}}}'
            for scope, texts in scopes_by_id.values()
        ]
        parts.append(
            f'{{"resource":{_resource(resource)},"{scopes_key}":[{",".join(scope_parts)}]'
            f"{_schema_url(resource)}}}"
        )
    return f'{{"{resources_key}":[{",".join(parts)}]}}'


def _resource(resource: Resource) -> str:
    attributes = resource.attributes
    return f'{{"attributes":{_key_values(attributes)}}}' if attributes else "{}"


def _scope(scope: InstrumentationScope | None) -> str:
    if scope is None:
        return "{}"
    fields = []
    if scope.name:
        fields.append(f'"name":{_string(scope.name)}')
    if scope.version:
        fields.append(f'"version":{_string(scope.version)}')
    if scope.attributes:
        fields.append(f'"attributes":{_key_values(scope.attributes)}')
    return "{" + ",".join(fields) + "}"


def _schema_url(owner: Resource | InstrumentationScope | None) -> str:
    url = owner.schema_url if owner is not None else None
    return f',"schemaUrl":{_string(url)}' if url else ""


# -- spans ----------------------------------------------------------------------------------------


def _span(span: ReadableSpan) -> str:
    context = span.get_span_context()
    parent = span.parent
    fields = [f'"traceId":"{context.trace_id:032x}","spanId":"{context.span_id:016x}"']
    if context.trace_state:
        state = ",".join(f"{key}={value}" for key, value in context.trace_state.items())
        fields.append(f'"traceState":{_string(state)}')
    if parent:
        fields.append(f'"parentSpanId":"{parent.span_id:016x}"')
    if span.name:
        fields.append(f'"name":{_string(span.name)}')
    fields.append(f'"kind":{span.kind.value + 1}')  # OTLP numbers SPAN_KIND_INTERNAL = 1
    if span.start_time:
        fields.append(f'"startTimeUnixNano":"{span.start_time}"')
    if span.end_time:
        fields.append(f'"endTimeUnixNano":"{span.end_time}"')
    if span.attributes:
        fields.append(f'"attributes":{_key_values(span.attributes)}')
    _count(fields, "droppedAttributesCount", span.dropped_attributes)
    if span.events:
        fields.append(f'"events":[{",".join(_event(event) for event in span.events)}]')
    _count(fields, "droppedEventsCount", span.dropped_events)
    if span.links:
        fields.append(f'"links":[{",".join(_link(link) for link in span.links)}]')
    _count(fields, "droppedLinksCount", span.dropped_links)
    fields.append(f'"status":{_status(span)}')
    fields.append(f'"flags":{_flags(parent)}')
    return "{" + ",".join(fields) + "}"


def _event(event: Any) -> str:
    fields = []
    if event.timestamp:
        fields.append(f'"timeUnixNano":"{event.timestamp}"')
    if event.name:
        fields.append(f'"name":{_string(event.name)}')
    if event.attributes:
        fields.append(f'"attributes":{_key_values(event.attributes)}')
    _count(fields, "droppedAttributesCount", event.dropped_attributes)
    return "{" + ",".join(fields) + "}"


def _link(link: Any) -> str:
    context = link.context
    fields = [f'"traceId":"{context.trace_id:032x}","spanId":"{context.span_id:016x}"']
    if link.attributes:
        fields.append(f'"attributes":{_key_values(link.attributes)}')
    _count(fields, "droppedAttributesCount", link.dropped_attributes)
    fields.append(f'"flags":{_flags(context)}')
    return "{" + ",".join(fields) + "}"


def _status(span: ReadableSpan) -> str:
    status = span.status
    fields = []
    if status.description:
        fields.append(f'"message":{_string(status.description)}')
    if status.status_code.value:
        fields.append(f'"code":{status.status_code.value}')
    return "{" + ",".join(fields) + "}"


def _flags(context: SpanContext | None) -> int:
    if context is not None and context.is_remote:
        return _FLAGS_HAS_IS_REMOTE | _FLAGS_IS_REMOTE
    return _FLAGS_HAS_IS_REMOTE


def _count(fields: list[str], name: str, count: int) -> None:
    if count:
        fields.append(f'"{name}":{count}')


# -- log records ----------------------------------------------------------------------------------


def _log_record(readable: ReadableLogRecord) -> str:
    record = readable.log_record
    fields = []
    if record.timestamp:
        fields.append(f'"timeUnixNano":"{record.timestamp}"')
    severity = getattr(record.severity_number, "value", None)
    if severity:
        fields.append(f'"severityNumber":{severity}')
    if record.severity_text:
        fields.append(f'"severityText":{_string(record.severity_text)}')
    fields.append(f'"body":{_any_value(record.body)}')
    if record.attributes:
        fields.append(f'"attributes":{_key_values(record.attributes)}')
    _count(fields, "droppedAttributesCount", readable.dropped_attributes)
    _count(fields, "flags", int(record.trace_flags or 0))
    if record.trace_id:
        fields.append(f'"traceId":"{record.trace_id:032x}"')
    if record.span_id:
        fields.append(f'"spanId":"{record.span_id:016x}"')
    if record.observed_timestamp:
        fields.append(f'"observedTimeUnixNano":"{record.observed_timestamp}"')
    if record.event_name:
        fields.append(f'"eventName":{_string(record.event_name)}')
    return "{" + ",".join(fields) + "}"


# -- values ---------------------------------------------------------------------------------------


def _string(text: str) -> str:
    """``text`` as a JSON string (non-ASCII kept as is, lone surrogates escaped as text)."""
    return encode_basestring(text if text.isascii() else _utf8_safe(text))


def _utf8_safe(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _key_values(mapping: Mapping[Any, Any]) -> str:
    """A ``KeyValue`` list (an empty key is a default value, so protobuf JSON leaves it out)."""
    prefixes = _KEY_PREFIXES
    pairs = []
    for key, value in mapping.items():
        prefix = prefixes.get(key)
        if prefix is None:
            prefix = _key_prefix(key)
        if type(value) is str and value.isascii():  # most attribute values: no call, no check
            pairs.append(prefix + '{"stringValue":' + encode_basestring(value) + "}}")
        else:
            pairs.append(prefix + _any_value(value) + "}")
    return "[" + ",".join(pairs) + "]"


#: ``{"key":"<key>","value":`` per key: attribute names and lineage fields repeat in every record.
_KEY_PREFIXES: dict[Any, str] = {}
_KEY_PREFIXES_MAX: Final = 4096


def _key_prefix(key: Any) -> str:
    text = key if type(key) is str else str(key)
    prefix = f'{{"key":{_string(text)},"value":' if text else '{"value":'
    if type(key) is str:  # other keys (e.g. 1 and True) may compare equal but print differently
        if len(_KEY_PREFIXES) >= _KEY_PREFIXES_MAX:  # column names are unbounded: start over
            _KEY_PREFIXES.clear()
        _KEY_PREFIXES[key] = prefix
    return prefix


def _any_value(value: Any) -> str:
    """An ``AnyValue``; exact built-in types first (the common case), the rest by isinstance."""
    kind = type(value)
    if kind is str:
        return '{"stringValue":' + _string(value) + "}"
    if kind is int:
        return _integer(value)
    if kind is float:
        return _double(value)
    if kind is bool:
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if value is None:
        return "{}"
    if kind is dict:
        return _kvlist(value)
    if kind is tuple or kind is list:
        return _array(value)
    return _any_value_of_other_type(value)


def _any_value_of_other_type(value: Any) -> str:
    if isinstance(value, str):
        return '{"stringValue":' + _string(value) + "}"
    if isinstance(value, bool):
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if isinstance(value, int):
        return _integer(value)
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, bytes):
        return '{"bytesValue":"' + base64.b64encode(value).decode("ascii") + '"}'
    if isinstance(value, Mapping):
        return _kvlist(value)
    if isinstance(value, Sequence):
        return _array(value)
    return '{"stringValue":' + _string(str(value)) + "}"


def _integer(value: int) -> str:
    if _INT64_MIN <= value <= _INT64_MAX:
        return f'{{"intValue":"{value:d}"}}'
    return f'{{"stringValue":"{value:d}"}}'


def _double(value: float) -> str:
    if math.isfinite(value):
        return '{"doubleValue":' + float.__repr__(value) + "}"
    if math.isnan(value):
        return '{"doubleValue":"NaN"}'
    return '{"doubleValue":"Infinity"}' if value > 0 else '{"doubleValue":"-Infinity"}'


#: Within one log batch, each mapping's text by ``id`` (with the mapping, which keeps the id from
#: being reused): lineage events share snapshot dicts, a producer's "after" being its consumers'
#: "before", so each is encoded once per batch.
_KVLIST_MEMO: ContextVar[dict[int, tuple[Any, str]] | None] = ContextVar("odibi_kvlist_memo", default=None)


def _kvlist(mapping: Mapping[Any, Any]) -> str:
    if not mapping:
        return '{"kvlistValue":{}}'
    memo = _KVLIST_MEMO.get()
    if memo is not None:
        known = memo.get(id(mapping))
        if known is not None and known[0] is mapping:
            return known[1]
    text = '{"kvlistValue":{"values":' + _key_values(mapping) + "}}"
    if memo is not None:
        memo[id(mapping)] = (mapping, text)
    return text


def _array(values: Sequence[Any]) -> str:
    if not values:
        return '{"arrayValue":{}}'
    return '{"arrayValue":{"values":[' + ",".join([_any_value(value) for value in values]) + "]}}"

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
import json
import math
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from json.encoder import encode_basestring
from typing import Any, Final, TypeVar

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from odibi_otel.otel._sdk_compat import ReadableLogRecord

__all__ = ["encode_logs_json", "encode_logs_line", "encode_spans_json", "encode_spans_line"]

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


def encode_spans_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """An OTLP/JSON ``ExportTraceServiceRequest`` (``{"resourceSpans": [...]}``) for SDK spans, as a dict.

    The parsed form of :func:`encode_spans_line` (which the file
    exporter writes): ids are lowercase hex strings, text protobuf cannot carry is escaped.

    Args:
        spans: Finished spans, as a ``SpanExporter`` receives them.
    """
    result: dict[str, Any] = json.loads(encode_spans_line(spans))
    return result


def encode_logs_json(records: Sequence[ReadableLogRecord]) -> dict[str, Any]:
    """An OTLP/JSON ``ExportLogsServiceRequest`` (``{"resourceLogs": [...]}``) for SDK log records, as a dict.

    The parsed form of :func:`encode_logs_line`: values protobuf
    cannot carry (integers outside 64 bits, unsupported objects) are written as text.

    Args:
        records: Log records, as a ``LogRecordExporter`` receives them.
    """
    result: dict[str, Any] = json.loads(encode_logs_line(records))
    return result


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
    fields: list[str] = []
    _attributes(fields, resource.attributes)
    return "{" + ",".join(fields) + "}"


def _scope(scope: InstrumentationScope | None) -> str:
    fields: list[str] = []
    if scope is not None:
        _text(fields, "name", scope.name)
        _text(fields, "version", scope.version)
        _attributes(fields, scope.attributes)
    return "{" + ",".join(fields) + "}"


def _schema_url(owner: Resource | InstrumentationScope | None) -> str:
    url = owner.schema_url if owner is not None else None
    return f',"schemaUrl":{_string(url)}' if url else ""


# -- fields: protobuf JSON leaves out a field at its default value (0, "", empty) -----------------


def _text(fields: list[str], name: str, text: str | None) -> None:
    if text:
        fields.append(f'"{name}":{_string(text)}')


def _nanos(fields: list[str], name: str, time_ns: int | None) -> None:
    if time_ns:  # fixed64: a decimal string
        fields.append(f'"{name}":"{time_ns}"')


def _number(fields: list[str], name: str, number: int | None) -> None:
    if number:
        fields.append(f'"{name}":{number}')


def _attributes(fields: list[str], attributes: Mapping[Any, Any] | None) -> None:
    if attributes:
        fields.append(f'"attributes":{_key_values(attributes)}')


# -- spans ----------------------------------------------------------------------------------------


def _span(span: ReadableSpan) -> str:
    context = _context(span)
    parent = span.parent
    fields = [_ids(context)]  # 16 and 8 bytes, zeros included: never a default value
    if context.trace_state:
        _text(fields, "traceState", ",".join(f"{key}={value}" for key, value in context.trace_state.items()))
    if parent:
        fields.append(f'"parentSpanId":"{parent.span_id:016x}"')
    _text(fields, "name", span.name)
    fields.append(f'"kind":{span.kind.value + 1}')  # OTLP numbers SPAN_KIND_INTERNAL = 1
    _nanos(fields, "startTimeUnixNano", span.start_time)
    _nanos(fields, "endTimeUnixNano", span.end_time)
    _attributes(fields, span.attributes)
    _number(fields, "droppedAttributesCount", span.dropped_attributes)
    if span.events:
        fields.append(f'"events":[{",".join(_event(event) for event in span.events)}]')
    _number(fields, "droppedEventsCount", span.dropped_events)
    if span.links:
        fields.append(f'"links":[{",".join(_link(link) for link in span.links)}]')
    _number(fields, "droppedLinksCount", span.dropped_links)
    fields.append(f'"status":{_status(span)}')
    fields.append(f'"flags":{_flags(parent)}')
    return "{" + ",".join(fields) + "}"


def _context(span: ReadableSpan) -> SpanContext:
    """The span's context; every span the SDK ends has one (a ``ReadableSpan`` made without one
    fails to encode, as reading its ids would)."""
    context = span.get_span_context()
    if context is None:
        raise AttributeError("'NoneType' object has no attribute 'trace_id'")
    return context


def _event(event: Any) -> str:
    fields: list[str] = []
    _nanos(fields, "timeUnixNano", event.timestamp)
    _text(fields, "name", event.name)
    _attributes(fields, event.attributes)
    _number(fields, "droppedAttributesCount", event.dropped_attributes)
    return "{" + ",".join(fields) + "}"


def _link(link: Any) -> str:
    context = link.context
    fields = [_ids(context)]
    _attributes(fields, link.attributes)
    _number(fields, "droppedAttributesCount", link.dropped_attributes)
    fields.append(f'"flags":{_flags(context)}')
    return "{" + ",".join(fields) + "}"


def _status(span: ReadableSpan) -> str:
    status = span.status
    fields: list[str] = []
    _text(fields, "message", status.description)
    _number(fields, "code", status.status_code.value)
    return "{" + ",".join(fields) + "}"


def _ids(context: SpanContext) -> str:
    return f'"traceId":"{context.trace_id:032x}","spanId":"{context.span_id:016x}"'


def _flags(context: SpanContext | None) -> int:
    if context is not None and context.is_remote:
        return _FLAGS_HAS_IS_REMOTE | _FLAGS_IS_REMOTE
    return _FLAGS_HAS_IS_REMOTE


# -- log records ----------------------------------------------------------------------------------


def _log_record(readable: ReadableLogRecord) -> str:
    record = readable.log_record
    fields: list[str] = []
    _nanos(fields, "timeUnixNano", record.timestamp)
    _number(fields, "severityNumber", getattr(record.severity_number, "value", None))
    _text(fields, "severityText", record.severity_text)
    fields.append(f'"body":{_any_value(record.body)}')
    _attributes(fields, record.attributes)
    _number(fields, "droppedAttributesCount", readable.dropped_attributes)
    _number(fields, "flags", int(record.trace_flags or 0))
    if record.trace_id:  # a record outside any span has no ids
        fields.append(f'"traceId":"{record.trace_id:032x}"')
    if record.span_id:
        fields.append(f'"spanId":"{record.span_id:016x}"')
    _nanos(fields, "observedTimeUnixNano", record.observed_timestamp)
    _text(fields, "eventName", record.event_name)
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

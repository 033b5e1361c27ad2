"""Decoding OTLP/JSON lines into spans and log records: the one reader of the file format.

OTLP/JSON follows the protobuf JSON mapping (camelCase field names, enums as integers, 64-bit
integers as decimal strings) with the one rule where it differs from it: ``traceId``, ``spanId``
and ``parentSpanId`` (of spans, links and log records) are hex strings, not base64. See
https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding.

This reads what any OTLP/JSON writer produces (odibi_otel's :class:`OtlpJsonFile`,
the OpenTelemetry Collector's file exporter, other SDKs): one ``ExportTraceServiceRequest``,
``ExportLogsServiceRequest`` or ``ExportMetricsServiceRequest`` JSON object per line. It accepts ids
in upper- or lower-case hex (and base64, as plain protobuf JSON writers emit them), 64-bit numbers
as strings or numbers, enums as integers or names, and snake_case field names. Metrics lines are
recognised and skipped. Anything malformed raises :class:`~odibi_otel.errors.TelemetryFileError`
naming the source, the line and the field, e.g.
``run.jsonl: line 3: resourceSpans[0].scopeSpans[0].spans[1].traceId: bad id 'xyz' (expected 32
hex characters)``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final, NoReturn

from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from odibi_otel.errors import TelemetryFileError

__all__ = [
    "STATUS_CODE_ERROR",
    "STATUS_CODE_OK",
    "STATUS_CODE_UNSET",
    "DecodedEvent",
    "DecodedLink",
    "DecodedLogRecord",
    "DecodedSpan",
    "TelemetryData",
    "decode_lines",
    "decode_request",
    "read_telemetry_file",
]

#: ``Status.code`` values (OTLP ``StatusCode``).
STATUS_CODE_UNSET: Final = 0
STATUS_CODE_OK: Final = 1
STATUS_CODE_ERROR: Final = 2

_SPAN_KINDS: Final[Mapping[str, int]] = dict(trace_pb2.Span.SpanKind.items())
_STATUS_CODES: Final[Mapping[str, int]] = dict(trace_pb2.Status.StatusCode.items())
_SEVERITIES: Final[Mapping[str, int]] = dict(logs_pb2.SeverityNumber.items())
_REQUEST_KEYS: Final = ("resourceSpans", "resourceLogs", "resourceMetrics")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
_MAX_VALUE_DEPTH: Final = 64  # nested arrayValue/kvlistValue levels; lineage bodies use about 10
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
_DECIMAL: Final = re.compile(r"[+-]?[0-9]+")


# -- decoded records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """A span event (``exception`` events carry ``exception.type/message/stacktrace``)."""

    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecodedLink:
    """A span link: the linked span's ids (lowercase hex) and the link's attributes."""

    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecodedSpan:
    """One span of an OTLP/JSON file, with plain Python values.

    Ids are lowercase hex (``parent_span_id`` is ``None`` for a root span); times are Unix epoch
    nanoseconds; ``status_code`` is 0 (unset), 1 (ok) or 2 (error); ``kind`` the OTLP
    ``SpanKind`` number. ``line`` is the file line the span came from.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    events: tuple[DecodedEvent, ...]
    links: tuple[DecodedLink, ...]
    resource_attributes: dict[str, Any]
    scope_name: str
    scope_version: str
    line: int

    @property
    def duration_ns(self) -> int:
        """``end_ns - start_ns`` (never negative)."""
        return max(self.end_ns - self.start_ns, 0)

    @property
    def exception(self) -> DecodedEvent | None:
        """The first ``exception`` event, if the span recorded one."""
        return next((event for event in self.events if event.name == "exception"), None)


@dataclass(frozen=True, slots=True)
class DecodedLogRecord:
    """One log record of an OTLP/JSON file, with plain Python values.

    ``event_name`` is the record's ``eventName`` (empty for a plain log). ``trace_id``/``span_id``
    are lowercase hex or ``None`` when the record is not correlated with a span. ``line`` is the
    file line the record came from.
    """

    time_ns: int
    observed_time_ns: int
    trace_id: str | None
    span_id: str | None
    event_name: str
    severity_number: int
    severity_text: str
    body: Any
    attributes: dict[str, Any]
    resource_attributes: dict[str, Any]
    scope_name: str
    scope_version: str
    line: int


@dataclass
class TelemetryData:
    """Everything decoded from one OTLP/JSON source, in file order."""

    source: str
    spans: list[DecodedSpan] = field(default_factory=list)
    logs: list[DecodedLogRecord] = field(default_factory=list)
    #: Lines holding an ``ExportMetricsServiceRequest`` (recognised, not decoded).
    metric_requests: int = 0


# -- decoding -------------------------------------------------------------------------------------


def read_telemetry_file(path: str | os.PathLike[str]) -> TelemetryData:
    """Decode every span and log record of an OTLP/JSON lines file.

    Args:
        path: The file (one export request JSON object per line).

    Raises:
        TelemetryFileError: The file cannot be read, or a line is malformed (the message names
            the file, the line and the problem; a truncated last line is reported as such).
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as file:
            return decode_lines(file, source)
    except OSError as exc:
        raise TelemetryFileError(source, None, f"cannot read the file: {exc.strerror or exc}") from exc


def decode_lines(lines: Iterable[str | bytes], source: str = "<otlp-json>") -> TelemetryData:
    """Decode OTLP/JSON lines: one export request JSON object per line, blank lines ignored.

    Args:
        lines: The lines (``str``, or UTF-8 ``bytes`` such as a file opened in binary mode yields).
        source: Names the input in error messages (usually the file path).

    Raises:
        TelemetryFileError: A line is not UTF-8, not JSON (a truncated last line is reported as
            such), not an export request, or has a field of the wrong type or a bad id.
    """
    data = TelemetryData(source=source)
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                _fail(source, number, f"not UTF-8 text (byte {exc.start + 1})")
        text = raw.strip().lstrip("\ufeff") if number == 1 else raw.strip()
        if not text:
            continue
        try:
            request = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.pos >= len(text) or exc.msg.startswith("Unterminated string"):
                problem = "truncated line: the JSON object ends early (was the writer stopped mid-write?)"
            else:
                problem = f"not JSON: {exc.msg} (column {exc.colno})"
            _fail(source, number, problem)
        except RecursionError:
            _fail(source, number, "not JSON: nested too deeply")
        except ValueError as exc:  # e.g. an integer with more digits than Python converts
            _fail(source, number, f"not JSON: {exc}")
        try:
            decoded = decode_request(request, source=source, line=number)
        except RecursionError:
            _fail(source, number, "values nested too deeply")
        data.spans.extend(decoded.spans)
        data.logs.extend(decoded.logs)
        data.metric_requests += decoded.metric_requests
    return data


def decode_request(request: Any, *, source: str = "<otlp-json>", line: int = 1) -> TelemetryData:
    """Decode one parsed OTLP/JSON export request (the ``json.loads`` of one line).

    Args:
        request: The parsed JSON object.
        source: Names the input in error messages.
        line: The line number reported in error messages and stored on the records.

    Raises:
        TelemetryFileError: The object is not an export request or a field is malformed.
    """
    reader = _Reader(source, line)
    data = TelemetryData(source=source)
    if not isinstance(request, dict):
        reader.fail("", f"expected a JSON object (one export request per line), got {_describe(request)}")
    known = [key for key in _REQUEST_KEYS if _get(request, key) is not None]
    if request and not known:
        keys = ", ".join(repr(key) for key in list(request)[:5])
        reader.fail(
            "",
            "not an OTLP/JSON export request (expected resourceSpans, resourceLogs or "
            f"resourceMetrics), got keys {keys}",
        )
    resource_spans = reader.array(_get(request, "resourceSpans"), "resourceSpans")
    for index, item in enumerate(resource_spans):
        data.spans.extend(_decode_resource_spans(reader, item, f"resourceSpans[{index}]"))
    resource_logs = reader.array(_get(request, "resourceLogs"), "resourceLogs")
    for index, item in enumerate(resource_logs):
        data.logs.extend(_decode_resource_logs(reader, item, f"resourceLogs[{index}]"))
    if _get(request, "resourceMetrics") is not None:
        reader.array(_get(request, "resourceMetrics"), "resourceMetrics")
        data.metric_requests += 1
    return data


def _decode_resource_spans(reader: _Reader, raw: Any, place: str) -> list[DecodedSpan]:
    resource_spans = reader.mapping(raw, place)
    resource_attributes = _resource_attributes(reader, resource_spans, place)
    spans: list[DecodedSpan] = []
    scope_key = (
        "scopeSpans" if _get(resource_spans, "scopeSpans") is not None else "instrumentationLibrarySpans"
    )
    for index, raw_scope in enumerate(reader.array(_get(resource_spans, scope_key), f"{place}.{scope_key}")):
        scope_place = f"{place}.{scope_key}[{index}]"
        scope_spans = reader.mapping(raw_scope, scope_place)
        scope_name, scope_version = _scope(reader, scope_spans, scope_place)
        for span_index, raw_span in enumerate(
            reader.array(_get(scope_spans, "spans"), f"{scope_place}.spans")
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
    reader: _Reader,
    raw: Any,
    place: str,
    resource_attributes: dict[str, Any],
    scope_name: str,
    scope_version: str,
) -> DecodedSpan:
    span = reader.mapping(raw, place)
    status = reader.mapping(_get(span, "status"), f"{place}.status")
    events = []
    for index, raw_event in enumerate(reader.array(_get(span, "events"), f"{place}.events")):
        event_place = f"{place}.events[{index}]"
        event = reader.mapping(raw_event, event_place)
        events.append(
            DecodedEvent(
                name=reader.text(_get(event, "name"), f"{event_place}.name"),
                time_ns=reader.uint64(_get(event, "timeUnixNano"), f"{event_place}.timeUnixNano"),
                attributes=reader.attributes(_get(event, "attributes"), f"{event_place}.attributes"),
            )
        )
    links = []
    for index, raw_link in enumerate(reader.array(_get(span, "links"), f"{place}.links")):
        link_place = f"{place}.links[{index}]"
        link = reader.mapping(raw_link, link_place)
        links.append(
            DecodedLink(
                trace_id=reader.required_id(_get(link, "traceId"), f"{link_place}.traceId", 16),
                span_id=reader.required_id(_get(link, "spanId"), f"{link_place}.spanId", 8),
                attributes=reader.attributes(_get(link, "attributes"), f"{link_place}.attributes"),
            )
        )
    return DecodedSpan(
        trace_id=reader.required_id(_get(span, "traceId"), f"{place}.traceId", 16),
        span_id=reader.required_id(_get(span, "spanId"), f"{place}.spanId", 8),
        parent_span_id=reader.optional_id(_get(span, "parentSpanId"), f"{place}.parentSpanId", 8),
        name=reader.text(_get(span, "name"), f"{place}.name"),
        kind=reader.enum(_get(span, "kind"), f"{place}.kind", _SPAN_KINDS),
        start_ns=reader.uint64(_get(span, "startTimeUnixNano"), f"{place}.startTimeUnixNano"),
        end_ns=reader.uint64(_get(span, "endTimeUnixNano"), f"{place}.endTimeUnixNano"),
        attributes=reader.attributes(_get(span, "attributes"), f"{place}.attributes"),
        status_code=reader.enum(_get(status, "code"), f"{place}.status.code", _STATUS_CODES),
        status_message=reader.text(_get(status, "message"), f"{place}.status.message"),
        events=tuple(events),
        links=tuple(links),
        resource_attributes=resource_attributes,
        scope_name=scope_name,
        scope_version=scope_version,
        line=reader.line,
    )


def _decode_resource_logs(reader: _Reader, raw: Any, place: str) -> list[DecodedLogRecord]:
    resource_logs = reader.mapping(raw, place)
    resource_attributes = _resource_attributes(reader, resource_logs, place)
    records: list[DecodedLogRecord] = []
    scope_key = "scopeLogs" if _get(resource_logs, "scopeLogs") is not None else "instrumentationLibraryLogs"
    for index, raw_scope in enumerate(reader.array(_get(resource_logs, scope_key), f"{place}.{scope_key}")):
        scope_place = f"{place}.{scope_key}[{index}]"
        scope_logs = reader.mapping(raw_scope, scope_place)
        scope_name, scope_version = _scope(reader, scope_logs, scope_place)
        raw_records = reader.array(_get(scope_logs, "logRecords"), f"{scope_place}.logRecords")
        for record_index, raw_record in enumerate(raw_records):
            record_place = f"{scope_place}.logRecords[{record_index}]"
            record = reader.mapping(raw_record, record_place)
            records.append(
                DecodedLogRecord(
                    time_ns=reader.uint64(_get(record, "timeUnixNano"), f"{record_place}.timeUnixNano"),
                    observed_time_ns=reader.uint64(
                        _get(record, "observedTimeUnixNano"), f"{record_place}.observedTimeUnixNano"
                    ),
                    trace_id=reader.optional_id(_get(record, "traceId"), f"{record_place}.traceId", 16),
                    span_id=reader.optional_id(_get(record, "spanId"), f"{record_place}.spanId", 8),
                    event_name=reader.text(_get(record, "eventName"), f"{record_place}.eventName"),
                    severity_number=reader.enum(
                        _get(record, "severityNumber"), f"{record_place}.severityNumber", _SEVERITIES
                    ),
                    severity_text=reader.text(_get(record, "severityText"), f"{record_place}.severityText"),
                    body=reader.any_value(_get(record, "body"), f"{record_place}.body"),
                    attributes=reader.attributes(_get(record, "attributes"), f"{record_place}.attributes"),
                    resource_attributes=resource_attributes,
                    scope_name=scope_name,
                    scope_version=scope_version,
                    line=reader.line,
                )
            )
    return records


def _resource_attributes(reader: _Reader, container: Mapping[str, Any], place: str) -> dict[str, Any]:
    resource = reader.mapping(_get(container, "resource"), f"{place}.resource")
    return reader.attributes(_get(resource, "attributes"), f"{place}.resource.attributes")


def _scope(reader: _Reader, container: Mapping[str, Any], place: str) -> tuple[str, str]:
    key = "scope" if _get(container, "scope") is not None else "instrumentationLibrary"
    scope = reader.mapping(_get(container, key), f"{place}.{key}")
    return (
        reader.text(_get(scope, "name"), f"{place}.{key}.name"),
        reader.text(_get(scope, "version"), f"{place}.{key}.version"),
    )


@cache
def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def _get(obj: Mapping[str, Any], camel: str) -> Any:
    """``obj[camel]``, else ``obj[snake_case(camel)]``, else ``None``."""
    value = obj.get(camel)
    return value if value is not None else obj.get(_snake(camel))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    kind = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    shown = repr(value) if not isinstance(value, (dict, list)) else ""
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind.get(type(value), type(value).__name__)} {shown}".rstrip()


def _fail(source: str, line: int, problem: str) -> NoReturn:
    raise TelemetryFileError(source, line, problem) from None


class _Reader:
    """Typed field access that reports the source, line and field path of every problem."""

    def __init__(self, source: str, line: int) -> None:
        self.source = source
        self.line = line
        self.depth = 0

    def fail(self, place: str, problem: str) -> NoReturn:
        if len(place) > 240:
            place = place[:80] + "…" + place[-150:]
        _fail(self.source, self.line, f"{place}: {problem}" if place else problem)

    def expect(self, place: str, wanted: str, value: Any) -> NoReturn:
        self.fail(place, f"expected {wanted}, got {_describe(value)}")

    def mapping(self, value: Any, place: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.expect(place, "an object", value)
        return value

    def array(self, value: Any, place: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.expect(place, "an array", value)
        return value

    def text(self, value: Any, place: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            self.expect(place, "a string", value)
        return value

    def integer(self, value: Any, place: str, low: int, high: int, wanted: str) -> int:
        """An integer given as a JSON number or a decimal string (proto3 JSON 64-bit integers)."""
        if value is None:
            return 0
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            text = value.strip()
            if len(text.lstrip("+-0")) > 20:  # more digits than any 64-bit number: never int() it
                self.fail(place, f"{text[:24]}… ({len(text)} characters) is out of range for {wanted}")
            number = int(text)
        if number is None:
            self.expect(place, wanted + " (a number or a decimal string)", value)
        if not low <= number <= high:
            self.fail(place, f"{number} is out of range for {wanted}")
        return number

    def uint64(self, value: Any, place: str) -> int:
        return self.integer(value, place, 0, _UINT64_MAX, "an unsigned 64-bit integer")

    def enum(self, value: Any, place: str, names: Mapping[str, int]) -> int:
        if isinstance(value, str) and value in names:
            return names[value]
        return self.integer(value, place, 0, 2**31 - 1, "an enum number or name")

    def optional_id(self, value: Any, place: str, size: int) -> str | None:
        """A trace (16 bytes) or span (8 bytes) id as lowercase hex; ``None`` if absent or all zero."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.expect(place, f"an id string of {2 * size} hex characters", value)
        text = value.strip()
        if len(text) == 2 * size and _HEX.fullmatch(text):
            identifier = text.lower()
        else:
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != size:
                self.fail(place, f"bad id {value!r} (expected {2 * size} hex characters)")
            identifier = raw.hex()
        return None if identifier.strip("0") == "" else identifier

    def required_id(self, value: Any, place: str, size: int) -> str:
        identifier = self.optional_id(value, place, size)
        if identifier is None:
            what = "missing" if value is None or value == "" else f"invalid all-zero id {value!r}"
            self.fail(place, f"{what} (expected {2 * size} hex characters)")
        return identifier

    def attributes(self, value: Any, place: str) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        for index, raw in enumerate(self.array(value, place)):
            item_place = f"{place}[{index}]"
            item = self.mapping(raw, item_place)
            key = _get(item, "key")
            if not isinstance(key, str):
                self.expect(f"{item_place}.key", "a string", key)
            attributes[key] = self.any_value(_get(item, "value"), f"{item_place}.value")
        return attributes

    def any_value(self, value: Any, place: str) -> Any:
        """An ``AnyValue`` as a plain Python value (``None`` for an empty value)."""
        any_value = self.mapping(value, place)
        if not any_value:
            return None
        for key in _ANY_VALUE_KEYS:
            raw = _get(any_value, key)
            if raw is not None:
                if self.depth >= _MAX_VALUE_DEPTH:
                    self.fail(place, f"values nested too deeply (more than {_MAX_VALUE_DEPTH} levels)")
                self.depth += 1
                try:
                    return _ANY_VALUE_DECODERS[key](self, raw, f"{place}.{key}")
                finally:
                    self.depth -= 1
        return None  # a kind this decoder does not know (forward compatible): no value

    def _string(self, raw: Any, place: str) -> str:
        if not isinstance(raw, str):
            self.expect(place, "a string", raw)
        return raw

    def _bool(self, raw: Any, place: str) -> bool:
        if not isinstance(raw, bool):
            self.expect(place, "true or false", raw)
        return raw

    def _int(self, raw: Any, place: str) -> int:
        return self.integer(raw, place, _INT64_MIN, _INT64_MAX, "a signed 64-bit integer")

    def _double(self, raw: Any, place: str) -> float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
            if raw in special:
                return special[raw]
            try:
                return float(raw)
            except ValueError:
                pass
        self.expect(place, "a number", raw)

    def _bytes(self, raw: Any, place: str) -> bytes:
        if isinstance(raw, str):
            text = raw.strip()
            padded = text + "=" * (-len(text) % 4)
            try:
                if "-" in text or "_" in text:
                    return base64.urlsafe_b64decode(padded)
                return base64.b64decode(padded, validate=True)
            except (binascii.Error, ValueError):
                pass
        self.expect(place, "base64 text", raw)

    def _array(self, raw: Any, place: str) -> list[Any]:
        array = self.mapping(raw, place)
        values = self.array(_get(array, "values"), f"{place}.values")
        return [self.any_value(item, f"{place}.values[{index}]") for index, item in enumerate(values)]

    def _kvlist(self, raw: Any, place: str) -> dict[str, Any]:
        kvlist = self.mapping(raw, place)
        return self.attributes(_get(kvlist, "values"), f"{place}.values")


_ANY_VALUE_KEYS: Final = (
    "stringValue",
    "boolValue",
    "intValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
)
_ANY_VALUE_DECODERS: Final = {
    "stringValue": _Reader._string,
    "boolValue": _Reader._bool,
    "intValue": _Reader._int,
    "doubleValue": _Reader._double,
    "arrayValue": _Reader._array,
    "kvlistValue": _Reader._kvlist,
    "bytesValue": _Reader._bytes,
}

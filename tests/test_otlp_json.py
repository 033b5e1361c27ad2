"""OTLP/JSON encoding and decoding: AnyValue kinds, ids, 64-bit numbers, malformed lines, round trips."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from odibi_otel.errors import OdibiError, TelemetryFileError
from odibi_otel.otel.otlp_json import (
    STATUS_CODE_ERROR,
    DecodedSpan,
    decode_lines,
    decode_request,
    encode_logs_json,
    encode_spans_json,
)

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
PARENT_ID = "eee19b7ec3c1b173"


def span_line(**overrides: Any) -> str:
    """One ExportTraceServiceRequest line holding a single span, with fields overridden."""
    span: dict[str, Any] = {
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "parentSpanId": PARENT_ID,
        "name": "work",
        "kind": 1,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
    }
    span.update(overrides)
    span = {key: value for key, value in span.items() if value is not None}
    request = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "s"}, "spans": [span]}]}]}
    return json.dumps(request)


def log_line(body: Any = None, **overrides: Any) -> str:
    record: dict[str, Any] = {"timeUnixNano": "1544712660300000000", "eventName": "e"}
    if body is not None:
        record["body"] = body
    record.update(overrides)
    request = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    return json.dumps(request)


def decode_span(line: str) -> DecodedSpan:
    (span,) = decode_lines([line], "test.jsonl").spans
    return span


# --- AnyValue -----------------------------------------------------------------------------------

ANY_VALUES = [
    ({"stringValue": "text"}, "text"),
    ({"stringValue": ""}, ""),
    ({"boolValue": True}, True),
    ({"boolValue": False}, False),
    ({"intValue": "42"}, 42),
    ({"intValue": 42}, 42),
    ({"intValue": "-9223372036854775808"}, -(2**63)),
    ({"intValue": 9223372036854775807}, 2**63 - 1),
    ({"intValue": 7.0}, 7),
    ({"doubleValue": 1.5}, 1.5),
    ({"doubleValue": 2}, 2.0),
    ({"doubleValue": "Infinity"}, math.inf),
    ({"doubleValue": "-Infinity"}, -math.inf),
    ({"doubleValue": "2.5"}, 2.5),
    ({"bytesValue": "AAEC/w=="}, b"\x00\x01\x02\xff"),
    ({"bytesValue": "AAEC_w"}, b"\x00\x01\x02\xff"),  # URL-safe, unpadded
    ({"bytesValue": ""}, b""),
    ({"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "a"}, {}]}}, [1, "a", None]),
    ({"arrayValue": {}}, []),
    (
        {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": "1"}}, {"key": "b"}]}},
        {"a": 1, "b": None},
    ),
    ({"kvlistValue": {}}, {}),
    (
        {
            "kvlistValue": {
                "values": [{"key": "n", "value": {"arrayValue": {"values": [{"kvlistValue": {}}]}}}]
            }
        },
        {"n": [{}]},
    ),
    ({}, None),
    ({"string_value": "snake"}, "snake"),
    ({"int_value": 3}, 3),
    ({"kvlist_value": {"values": [{"key": "k", "value": {"bool_value": True}}]}}, {"k": True}),
    ({"someFutureValue": 1}, None),
]


@pytest.mark.parametrize(("any_value", "expected"), ANY_VALUES)
def test_any_value_kinds_decode_to_plain_values(any_value: dict[str, Any], expected: Any) -> None:
    (record,) = decode_lines([log_line(any_value)], "test.jsonl").logs
    assert record.body == expected
    assert type(record.body) is type(expected)


def test_nan_double_decodes_to_nan() -> None:
    (record,) = decode_lines([log_line({"doubleValue": "NaN"})], "test.jsonl").logs
    assert math.isnan(record.body)


def test_attributes_decode_with_every_kind() -> None:
    attributes = [
        {"key": "s", "value": {"stringValue": "v"}},
        {"key": "i", "value": {"intValue": "12"}},
        {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}]}}},
        {"key": "empty"},
    ]
    span = decode_span(span_line(attributes=attributes))
    assert span.attributes == {"s": "v", "i": 12, "a": ["x"], "empty": None}


# --- ids and 64-bit numbers ---------------------------------------------------------------------

IDS = [
    (TRACE_ID.upper(), SPAN_ID.upper(), PARENT_ID.upper(), PARENT_ID),
    (TRACE_ID, SPAN_ID, PARENT_ID, PARENT_ID),
    (TRACE_ID.upper(), SPAN_ID, "", None),  # root span: empty parent
    (TRACE_ID, SPAN_ID, None, None),  # root span: no parent field
    (TRACE_ID, SPAN_ID, "0000000000000000", None),  # all-zero parent = none
    (
        base64.b64encode(bytes.fromhex(TRACE_ID)).decode(),  # protobuf-JSON writers: base64
        base64.b64encode(bytes.fromhex(SPAN_ID)).decode(),
        base64.b64encode(bytes.fromhex(PARENT_ID)).decode(),
        PARENT_ID,
    ),
]


@pytest.mark.parametrize(("trace_id", "span_id", "parent_id", "expected_parent"), IDS)
def test_ids_decode_to_lowercase_hex(
    trace_id: str, span_id: str, parent_id: str | None, expected_parent: str | None
) -> None:
    span = decode_span(span_line(traceId=trace_id, spanId=span_id, parentSpanId=parent_id))
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE_ID, SPAN_ID, expected_parent)


TIMES = [
    ("1544712660000000000", 1544712660000000000),
    (1544712660000000000, 1544712660000000000),
    ("18446744073709551615", 2**64 - 1),
    (None, 0),
]


@pytest.mark.parametrize(("raw", "expected"), TIMES)
def test_uint64_fields_accept_strings_and_numbers(raw: Any, expected: int) -> None:
    assert decode_span(span_line(startTimeUnixNano=raw)).start_ns == expected


def test_enums_accept_numbers_and_names() -> None:
    by_number = decode_span(span_line(kind=2, status={"code": 2, "message": "boom"}))
    by_name = decode_span(span_line(kind="SPAN_KIND_SERVER", status={"code": "STATUS_CODE_ERROR"}))
    assert by_number.kind == by_name.kind == 2  # OTLP SPAN_KIND_SERVER
    assert by_number.status_code == by_name.status_code == STATUS_CODE_ERROR
    assert by_number.status_message == "boom"


def test_snake_case_request_decodes() -> None:
    line = json.dumps(
        {
            "resource_spans": [
                {
                    "scope_spans": [
                        {
                            "scope": {"name": "x"},
                            "spans": [
                                {
                                    "trace_id": TRACE_ID,
                                    "span_id": SPAN_ID,
                                    "name": "n",
                                    "start_time_unix_nano": 5,
                                    "end_time_unix_nano": "9",
                                }
                            ],
                        }
                    ]
                }
            ]
        }
    )
    span = decode_span(line)
    assert (span.trace_id, span.start_ns, span.end_ns, span.scope_name) == (TRACE_ID, 5, 9, "x")


def test_blank_lines_bom_metrics_and_empty_requests_are_accepted() -> None:
    lines = ["\ufeff{}\n", "\n", '{"resourceMetrics": []}\n', "   \n", span_line() + "\n"]
    data = decode_lines(lines, "test.jsonl")
    assert data.metric_requests == 1
    assert [span.line for span in data.spans] == [5]


def test_log_record_fields_decode() -> None:
    line = log_line(
        {"stringValue": "hello"},
        traceId=TRACE_ID.upper(),
        spanId=SPAN_ID,
        severityNumber=9,
        severityText="INFO",
        observedTimeUnixNano=17,
        attributes=[{"key": "k", "value": {"intValue": 1}}],
    )
    (record,) = decode_lines(["", line], "test.jsonl").logs
    assert record.trace_id == TRACE_ID
    assert record.span_id == SPAN_ID
    assert record.event_name == "e"
    assert record.severity_number == 9
    assert record.observed_time_ns == 17
    assert record.time_ns == 1544712660300000000
    assert record.attributes == {"k": 1}
    assert record.line == 2


# --- malformed input ----------------------------------------------------------------------------

MALFORMED = [
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "5b8e', "truncated line"),
    ('{"resourceSpans": [', "truncated line"),
    ("hello", "not JSON"),
    ('{"resourceSpans": []} trailing', "not JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"foo": 1}', "not an OTLP/JSON export request"),
    ('{"resourceSpans": {}}', "resourceSpans: expected an array, got object"),
    ('{"resourceSpans": ["x"]}', "resourceSpans[0]: expected an object, got string 'x'"),
    (span_line(traceId="xyz"), "resourceSpans[0].scopeSpans[0].spans[0].traceId: bad id 'xyz'"),
    (span_line(traceId=TRACE_ID[:-2]), "traceId: bad id"),
    (span_line(spanId=None), "spans[0].spanId: missing"),
    (span_line(spanId="0" * 16), "spanId: invalid all-zero id"),
    (span_line(traceId=7), "traceId: expected an id string of 32 hex characters, got number 7"),
    (span_line(startTimeUnixNano="soon"), "startTimeUnixNano: expected an unsigned 64-bit integer"),
    (span_line(startTimeUnixNano=-1), "startTimeUnixNano: -1 is out of range"),
    (span_line(name=5), "spans[0].name: expected a string, got number 5"),
    (span_line(kind="SPAN_KIND_NOPE"), "kind: expected an enum number or name"),
    (span_line(status=[]), "status: expected an object, got array"),
    (span_line(attributes=[{"key": 1}]), "attributes[0].key: expected a string, got number 1"),
    (span_line(attributes=[{"key": "k", "value": {"intValue": True}}]), "intValue: expected a signed 64-bit"),
    (
        span_line(attributes=[{"key": "k", "value": {"intValue": "1e3"}}]),
        "intValue: expected a signed 64-bit",
    ),
    (span_line(attributes=[{"key": "k", "value": {"intValue": str(2**63)}}]), "is out of range"),
    (span_line(attributes=[{"key": "k", "value": {"stringValue": 3}}]), "stringValue: expected a string"),
    (span_line(attributes=[{"key": "k", "value": {"bytesValue": "***"}}]), "bytesValue: expected base64"),
    (
        span_line(attributes=[{"key": "k", "value": {"boolValue": "true"}}]),
        "boolValue: expected true or false",
    ),
    (span_line(links=[{"traceId": TRACE_ID, "spanId": "nope"}]), "links[0].spanId: bad id 'nope'"),
    (span_line(events=[{"name": "e", "timeUnixNano": {}}]), "events[0].timeUnixNano: expected an unsigned"),
    (log_line(traceId="12"), "logRecords[0].traceId: bad id '12'"),
    (log_line({"arrayValue": {"values": {}}}), "body.arrayValue.values: expected an array"),
]


@pytest.mark.parametrize(("line", "message"), MALFORMED)
def test_malformed_lines_name_file_line_and_problem(line: str, message: str) -> None:
    with pytest.raises(TelemetryFileError) as caught:
        decode_lines([span_line() + "\n", line + "\n"], "spans.jsonl")
    error = caught.value
    assert str(error).startswith("spans.jsonl: line 2: ")
    assert message in str(error)
    assert (error.source, error.line) == ("spans.jsonl", 2)
    assert isinstance(error, OdibiError) and isinstance(error, ValueError)
    assert error.__cause__ is None and error.__suppress_context__  # no chained raw traceback


def test_invalid_utf8_is_reported_with_its_line() -> None:
    with pytest.raises(TelemetryFileError, match=r"^f\.jsonl: line 3: not UTF-8"):
        decode_lines([b"{}\n", b"\n", b'{"resourceSpans": "\xff"}\n'], "f.jsonl")


def test_deeply_nested_values_are_reported_not_crashing() -> None:
    for depth in (65, 400):  # decoder limit; JSON parser recursion
        value = '{"kvlistValue": {"values": [{"key": "k", "value": ' * depth + "{}" + "}]}}" * depth
        line = log_line({"stringValue": "PLACEHOLDER"}).replace('{"stringValue": "PLACEHOLDER"}', value)
        with pytest.raises(TelemetryFileError, match=r"^deep\.jsonl: line 1: .*nested too deeply"):
            decode_lines([line], "deep.jsonl")


def test_decode_request_rejects_non_objects() -> None:
    with pytest.raises(TelemetryFileError, match=r"^src: line 4: expected a JSON object"):
        decode_request("nope", source="src", line=4)


# --- encode → decode round trips ----------------------------------------------------------------


def finished_spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("round.trip", "1.2.3")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
        producer = tracer.start_span("producer")
        producer.set_status(Status(StatusCode.OK))
        producer.end()
        consumer = tracer.start_span(
            "consumer",
            links=[Link(producer.get_span_context(), {"odibi.link.data_keys": ["a", "b"]})],
            attributes={"s": "x", "i": -3, "f": 0.25, "b": True, "list": [1, 2], "strs": ["p", "q"]},
        )
        consumer.add_event("checkpoint", {"rows": 10})
        try:
            raise KeyError("missing <key>")
        except KeyError as exc:
            consumer.record_exception(exc)
        consumer.set_status(Status(StatusCode.ERROR, "KeyError: 'missing <key>'"))
        consumer.end()
        parent.set_attribute("big", 2**62)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_spans_round_trip_through_otlp_json() -> None:
    spans = finished_spans()
    encoded = encode_spans_json(spans)
    # OTLP/JSON ids are lowercase hex strings, never base64
    raw_span = encoded["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert raw_span["traceId"] == trace.format_trace_id(spans[0].context.trace_id)
    text = json.dumps(encoded)
    decoded = {span.name: span for span in decode_lines([text], "rt.jsonl").spans}
    assert set(decoded) == {"parent", "producer", "consumer"}
    for original in spans:
        span = decoded[original.name]
        assert span.trace_id == trace.format_trace_id(original.context.trace_id)
        assert span.span_id == trace.format_span_id(original.context.span_id)
        expected_parent = trace.format_span_id(original.parent.span_id) if original.parent else None
        assert span.parent_span_id == expected_parent
        assert (span.start_ns, span.end_ns) == (original.start_time, original.end_time)
        assert span.attributes == {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in (original.attributes or {}).items()
        }
        assert span.scope_name == "round.trip" and span.scope_version == "1.2.3"
        assert span.resource_attributes["service.name"] == "shop"
        assert span.line == 1
    assert decoded["parent"].kind == 2  # SPAN_KIND_SERVER
    assert decoded["parent"].attributes["big"] == 2**62
    assert decoded["producer"].status_code == 1
    consumer = decoded["consumer"]
    assert consumer.status_code == STATUS_CODE_ERROR
    assert consumer.status_message == "KeyError: 'missing <key>'"
    (link,) = consumer.links
    assert (link.trace_id, link.span_id) == (decoded["producer"].trace_id, decoded["producer"].span_id)
    assert link.attributes == {"odibi.link.data_keys": ["a", "b"]}
    assert [event.name for event in consumer.events] == ["checkpoint", "exception"]
    assert consumer.events[0].attributes == {"rows": 10}
    exception = consumer.exception
    assert exception is not None
    assert exception.attributes["exception.type"] == "KeyError"
    assert exception.attributes["exception.message"] == "'missing <key>'"
    assert "Traceback" in exception.attributes["exception.stacktrace"]
    assert exception.time_ns > 0


def emitted_logs(
    body: Any, event_name: str = "odibi.lineage.snapshot"
) -> tuple[list[ReadableLogRecord], Any]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("odibi_otel", "9.9")
    tracer_provider = TracerProvider()
    with tracer_provider.get_tracer("t").start_as_current_span("s") as span:
        logger.emit(
            _logs.LogRecord(
                timestamp=123,
                severity_number=_logs.SeverityNumber.INFO,
                event_name=event_name,
                body=body,
                attributes={"odibi.run.id": "r1"},
            )
        )
        context = span.get_span_context()
    provider.shutdown()
    return list(exporter.get_finished_logs()), context


def test_logs_round_trip_through_otlp_json() -> None:
    body = {
        "name": "step",
        "rows": 3,
        "ratio": 0.1 + 0.2,
        "none": None,
        "empty_list": [],
        "empty_map": {},
        "flag": False,
        "text": "",
        "nested": {"rows": [[1, "a", None, 1.5, True]], "schema": {"a": "int64"}},
    }
    records, context = emitted_logs(body)
    encoded = encode_logs_json(records)
    raw = encoded["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert raw["traceId"] == trace.format_trace_id(context.trace_id)
    assert raw["spanId"] == trace.format_span_id(context.span_id)
    (record,) = decode_lines([json.dumps(encoded)], "logs.jsonl").logs
    assert record.body == body
    assert json.dumps(record.body) == json.dumps(body)  # same key order, same number text
    assert record.event_name == "odibi.lineage.snapshot"
    assert record.attributes == {"odibi.run.id": "r1"}
    assert (record.trace_id, record.span_id) == (
        trace.format_trace_id(context.trace_id),
        trace.format_span_id(context.span_id),
    )
    assert record.time_ns == 123
    assert record.severity_number == 9
    assert record.scope_name == "odibi_otel"


def test_log_body_values_protobuf_cannot_carry_become_text() -> None:
    records, _ = emitted_logs({"huge": 2**70, "ok": 1, "set": frozenset({1}), "bad\udcff": ["x\udcfe"]})
    (record,) = decode_lines([json.dumps(encode_logs_json(records))], "logs.jsonl").logs
    assert record.body == {"huge": str(2**70), "ok": 1, "set": "frozenset({1})", "bad\\udcff": ["x\\udcfe"]}


def test_lone_surrogates_in_spans_are_escaped_not_failing_the_batch() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("read \udcff.csv", attributes={"path": "a\udcffb", "n": 1}) as span:
        span.add_event("warn\udcfe", {"text": ["ok", "bad\udcfe"]})
        span.set_status(Status(StatusCode.ERROR, "UnicodeError: \udcff"))
    tracer.start_span("fine").end()
    provider.shutdown()

    decoded = decode_lines([json.dumps(encode_spans_json(exporter.get_finished_spans()))], "s.jsonl").spans
    by_name = {span.name: span for span in decoded}
    assert set(by_name) == {"read \\udcff.csv", "fine"}
    bad = by_name["read \\udcff.csv"]
    assert bad.attributes == {"path": "a\\udcffb", "n": 1}
    assert bad.status_message == "UnicodeError: \\udcff"
    assert [(event.name, event.attributes) for event in bad.events] == [
        ("warn\\udcfe", {"text": ["ok", "bad\\udcfe"]})
    ]


def test_empty_batches_encode_to_empty_requests() -> None:
    assert encode_spans_json([]) == {"resourceSpans": []}
    assert encode_logs_json([]) == {"resourceLogs": []}

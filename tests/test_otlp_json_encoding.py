"""The direct OTLP/JSON text encoder against the reference: OTel's protobuf encoders + MessageToDict.

``odibi_otel.otel.otlp_json`` writes JSON text itself for speed. What it must write is what the
protobuf JSON mapping of the official OTLP encoders gives, with ids as lowercase hex (the OTLP/JSON
rule). These tests build that reference from the same SDK objects and compare, byte for byte
where the field order is defined (it is: protobuf JSON lists fields in field-number order).
"""

from __future__ import annotations

import base64
import enum
import json
import math
from typing import Any

import numpy as np
import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import _logs
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from odibi_otel.otel.otlp_json import encode_logs_line, encode_spans_line


def reference(message: Any, resources_key: str) -> dict[str, Any]:
    """The protobuf JSON mapping of an export request, ids rewritten from base64 to hex."""
    data: dict[str, Any] = MessageToDict(message, use_integers_for_enums=True)
    data.setdefault(resources_key, [])
    scopes_key, items_key = (
        ("scopeSpans", "spans") if resources_key == "resourceSpans" else ("scopeLogs", "logRecords")
    )
    for resource in data[resources_key]:
        for scope in resource.get(scopes_key, []):
            for item in scope.get(items_key, []):
                hex_ids(item)
                for link in item.get("links", []):
                    hex_ids(link)
    return data


def hex_ids(message: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "parentSpanId"):
        if message.get(key):
            message[key] = base64.b64decode(message[key]).hex()


def compact(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def assert_spans_match(spans: list[ReadableSpan]) -> None:
    expected = reference(encode_spans(spans), "resourceSpans")
    assert encode_spans_line(spans) == compact(expected)


def assert_logs_match(records: list[ReadableLogRecord]) -> None:
    expected = reference(encode_logs(records), "resourceLogs")
    assert encode_logs_line(records) == compact(expected)


# -- spans ----------------------------------------------------------------------------------------


def varied_spans() -> list[ReadableSpan]:
    """Spans exercising every field: kinds, status, events, links, dropped counts, remote parent."""
    exporter = InMemorySpanExporter()
    resource = Resource({"service.name": "shop", "ünï": "ç", "n": 3}, schema_url="https://x/1.0")
    provider = TracerProvider(
        resource=resource,
        span_limits=SpanLimits(max_span_attributes=6, max_events=2, max_links=1, max_event_attributes=1),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("scope.a", "1.0", schema_url="https://s/2", attributes={"team": "data"})
    bare_tracer = provider.get_tracer("scope.b")
    remote_parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "v1"), ("other", "x=y")]),
    )
    with tracer.start_as_current_span(
        "root", context=set_span_in_context(NonRecordingSpan(remote_parent)), kind=SpanKind.SERVER
    ) as root:
        root.set_attributes({"s": "x", "i": -(2**63), "f": 1e-7, "b": False, "e": "", "": "empty key"})
        root.set_attribute("over the limit", 1)  # dropped
        for kind in (SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER):
            bare_tracer.start_span(f"kind {kind.name}", kind=kind).end()
        producer = tracer.start_span("producer", attributes={"nan": math.nan, "inf": -math.inf})
        producer.set_status(Status(StatusCode.OK))
        producer.end()
        consumer = tracer.start_span(
            'quote " backslash \\ newline \n tab \t control \x01 emoji 🚀 </script>',
            links=[
                Link(
                    producer.get_span_context(), {"keys": ("a", "b"), "n": (1, 2), "f": (0.5,), "b": (True,)}
                ),
                Link(remote_parent),
            ],
            attributes={"empty tuple": (), "strs": ("p", "ü")},
        )
        consumer.add_event("no attributes")
        consumer.add_event("two attributes", {"rows": 10, "dropped": "yes"})
        consumer.add_event("third event is dropped")
        try:
            raise KeyError("missing <key>")
        except KeyError as exc:
            consumer.record_exception(exc)
        consumer.set_status(Status(StatusCode.ERROR, "KeyError: 'missing <key>'"))
        consumer.end()
        unset_with_no_description = tracer.start_span("", attributes={"zero": 0})
        unset_with_no_description.end()
    other_provider = TracerProvider(resource=Resource.create({"service.name": "other"}))
    other_provider.add_span_processor(SimpleSpanProcessor(exporter))
    other_provider.get_tracer("scope.c").start_span("from another resource").end()
    provider.shutdown()
    other_provider.shutdown()
    return list(exporter.get_finished_spans())


def test_spans_encode_as_the_protobuf_json_mapping_does() -> None:
    spans = varied_spans()
    assert len(spans) == 8
    assert_spans_match(spans)
    assert_spans_match(spans[:1])
    assert_spans_match(list(reversed(spans)))  # grouping keeps first-seen order


def test_an_empty_batch_is_an_empty_request() -> None:
    assert encode_spans_line([]) == '{"resourceSpans":[]}'
    assert encode_logs_line([]) == '{"resourceLogs":[]}'


def test_lone_surrogates_are_escaped_where_protobuf_would_fail() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("bad \udcff", attributes={"k\udcfe": "v\udcfd"}).end()
    text = encode_spans_line(exporter.get_finished_spans())
    text.encode("utf-8")  # writable
    span = json.loads(text)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["name"] == "bad \\udcff"
    assert span["attributes"] == [{"key": "k\\udcfe", "value": {"stringValue": "v\\udcfd"}}]


# -- log records ----------------------------------------------------------------------------------


class Colour(enum.IntEnum):
    RED = 1


def emitted(*bodies: Any, **record_fields: Any) -> list[ReadableLogRecord]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("odibi_otel", "9.9", schema_url="https://s/1")
    tracer_provider = TracerProvider()
    with tracer_provider.get_tracer("t").start_as_current_span("s"):
        for body in bodies:
            logger.emit(_logs.LogRecord(body=body, **record_fields))
    logger.emit(_logs.LogRecord(body="outside a span", severity_text="WARN"))
    provider.shutdown()
    return list(exporter.get_finished_logs())


def test_log_records_encode_as_the_protobuf_json_mapping_does() -> None:
    lineage_like = {
        "name": "step",
        "rows": 3,
        "ratio": 0.1 + 0.2,
        "none": None,
        "empty_list": [],
        "empty_map": {},
        "flag": False,
        "text": "",
        "zero": 0,
        "nested": {"rows": [[1, "a", None, 1.5, True]], "schema": {"a": "int64"}},
        "bytes": b"\x00\xffraw",
        "tuple": (1, "two"),
        "numpy float": np.float64(2.5),
        "int enum": Colour.RED,
        "specials": [math.nan, math.inf, -math.inf, -0.0, 1e300, 5e-324],
        1: "integer key",
        "": "empty key",
    }
    records = emitted(
        lineage_like,
        "plain text body",
        None,
        [1, 2],
        timestamp=123,
        severity_number=_logs.SeverityNumber.INFO,
        event_name="odibi.lineage.snapshot",
        attributes={"odibi.run.id": "r1", "odibi.step_index": 4},
    )
    assert len(records) == 5
    assert_logs_match(records)


anything_protobuf_carries = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(exclude_categories=["Cs"]))  # lone surrogates: separate test
    | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(anything_protobuf_carries)
def test_any_log_body_encodes_as_protobuf_json_does(body: Any) -> None:
    assert_logs_match(emitted(body))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (2**70, {"stringValue": str(2**70)}),
        (frozenset({1}), {"stringValue": "frozenset({1})"}),
        ({"bad\udcff": ["x\udcfe"]}, {"kvlistValue": {"values": [
            {"key": "bad\\udcff", "value": {"arrayValue": {"values": [{"stringValue": "x\\udcfe"}]}}}
        ]}}),
    ],
)  # fmt: skip
def test_values_protobuf_cannot_carry_are_written_as_text(body: Any, expected: dict[str, Any]) -> None:
    text = encode_logs_line(emitted(body)[:1])
    text.encode("utf-8")
    assert json.loads(text)["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] == expected


def test_a_mapping_shared_by_records_is_encoded_alike_and_fresh_in_each_batch() -> None:
    shared = {"rows": 3, "sample": {"columns": ["a"], "rows": [[1], [2], [3]]}}
    records = emitted({"before": shared}, {"after": shared})
    assert_logs_match(records)  # the second appearance comes from the batch's memo
    shared["rows"] = 4  # a later batch sees the change
    assert '"rows","value":{"intValue":"4"}' in encode_logs_line(records)

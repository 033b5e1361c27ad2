"""The span/log file: OtlpJsonFile exporters, and the lineage document rebuilt from the file alone."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Status, StatusCode

from odibi_otel import Orchestrator, Step
from odibi_otel.errors import TelemetryFileError
from odibi_otel.lineage.from_telemetry import (
    STEP_INDEX_ATTRIBUTE,
    lineage_from_otlp_file,
    lineage_from_telemetry,
    list_runs,
)
from odibi_otel.lineage.tracker import TrackerConfig
from odibi_otel.otel.otlp_json import OtlpJsonFile, TelemetryData, read_telemetry_file

SECRET = "planted-secret-7f3a"

# --- pipeline -----------------------------------------------------------------------------------


def enrich(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(
        total=orders["amount"] * 1.19, tier=orders["amount"].gt(20).map({True: "big", False: "s"})
    )


def validate(orders: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("amount must be positive <img src=x onerror=alert(1)>")


def publish(checked: pd.DataFrame) -> pd.DataFrame:
    return checked


@pytest.fixture()
def steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Step]:
    monkeypatch.chdir(tmp_path)
    pd.DataFrame(
        {
            "order_id": [1, 2, 3],
            "amount": [5.0, 50.0, float("nan")],
            "email": [SECRET, "b@example.com", None],
            "when": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
        }
    ).to_csv("orders.csv", index=False)
    return [
        Step("read_orders", "ingest", "read", "orders.csv", outputs=["orders"]),
        Step("enrich", "transform", "function", enrich, inputs=["orders"], outputs=["enriched"]),
        Step("validate", "transform", "function", validate, inputs=["orders"], outputs=["checked"]),
        Step("publish", "publish", "function", publish, inputs=["checked"], outputs=["published"]),
        Step("store", "store", "write", "out/enriched.csv", inputs=["enriched"]),
    ]


@dataclass
class FileTelemetry:
    """A test's own providers, each exporting through one OtlpJsonFile (no globals)."""

    path: Path
    file: OtlpJsonFile
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider | None

    def close(self) -> None:
        self.tracer_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()
        self.file.shutdown()


def file_telemetry(path: Path, *, logs: bool = True) -> FileTelemetry:
    file = OtlpJsonFile(path)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(file.span_exporter))
    logger_provider = None
    if logs:
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(file.log_exporter))
    return FileTelemetry(path, file, tracer_provider, logger_provider)


def run_pipeline(
    steps: list[Step], telemetry: FileTelemetry, *, tracker: bool = True, logger_provider: Any = None
) -> dict[str, Any]:
    return Orchestrator(
        steps,
        enable_tracker=tracker,
        fail_fast=False,
        max_workers=2,
        pipeline_name="orders",
        tracer_provider=telemetry.tracer_provider,
        logger_provider=logger_provider or telemetry.logger_provider,
        tracker_config=TrackerConfig(redact_columns=["email"]),
    ).execute()


@pytest.fixture()
def telemetry(tmp_path: Path) -> Iterator[FileTelemetry]:
    created = file_telemetry(tmp_path / "telemetry" / "run.otlp.jsonl")
    yield created
    created.close()


# --- lineage from tracker events ----------------------------------------------------------------


def test_lineage_from_file_equals_the_trackers_document(steps: list[Step], telemetry: FileTelemetry) -> None:
    result = run_pipeline(steps, telemetry)
    telemetry.close()
    expected = result["tracker"].to_dict()
    assert result["failed_nodes"] == ["validate"] and result["skipped_nodes"] == ["publish"]

    document = lineage_from_otlp_file(telemetry.path)

    assert document == expected
    assert json.dumps(document) == json.dumps(expected)  # same key order and number text too
    statuses = {step["name"]: step["status"] for step in document["steps"]}
    assert statuses == {
        "read_orders": "success",
        "enrich": "success",
        "validate": "failed",
        "publish": "skipped",
        "store": "success",
    }
    assert SECRET not in telemetry.path.read_text("utf-8")


def test_timeline_of_an_odibi_run_holds_its_spans(steps: list[Step], telemetry: FileTelemetry) -> None:
    result = run_pipeline(steps, telemetry)
    telemetry.close()

    document = lineage_from_otlp_file(telemetry.path, include_timeline=True)

    timeline = document.pop("timeline")
    assert document == result["tracker"].to_dict()
    names = [entry["name"] for entry in timeline]
    assert names[0] == "pipeline orders"
    assert sorted(names[1:]) == ["node enrich", "node read_orders", "node store", "node validate"]
    by_name = {entry["name"]: entry for entry in timeline}
    assert by_name["node validate"]["status"] == "error"
    assert by_name["node validate"]["parent_span_id"] == result["span_id"]
    assert by_name["node validate"]["events"][0]["name"] == "exception"
    assert by_name["pipeline orders"]["attributes"]["odibi.pipeline.skipped_nodes"] == ["publish"]
    json.dumps(timeline, allow_nan=False)  # JSON-safe


def test_latest_run_is_the_default_and_run_id_picks_another(
    steps: list[Step], telemetry: FileTelemetry
) -> None:
    first = run_pipeline(steps, telemetry)
    second = run_pipeline(steps, telemetry)
    telemetry.close()
    data = read_telemetry_file(telemetry.path)

    assert lineage_from_telemetry(data) == second["tracker"].to_dict()
    assert lineage_from_telemetry(data, first["run_id"]) == first["tracker"].to_dict()
    assert [run["run_id"] for run in list_runs(data)] == [first["run_id"], second["run_id"]]
    with pytest.raises(TelemetryFileError, match="no run 'nope' in the file"):
        lineage_from_telemetry(data, "nope")


def test_collector_style_rewrite_of_the_file_gives_the_same_document(
    steps: list[Step], telemetry: FileTelemetry, tmp_path: Path
) -> None:
    """Upper-case hex ids and 64-bit numbers as JSON numbers, as other writers emit them."""
    result = run_pipeline(steps, telemetry)
    telemetry.close()
    text = telemetry.path.read_text("utf-8")
    text = re.sub(
        r'"(traceId|spanId|parentSpanId)":"([0-9a-f]+)"', lambda m: f'"{m[1]}":"{m[2].upper()}"', text
    )
    text = re.sub(r'"(intValue|timeUnixNano|observedTimeUnixNano)":"(-?\d+)"', r'"\1":\2', text)
    assert '"intValue":"' not in text and re.search(r'"traceId":"[0-9A-F]{32}"', text)
    rewritten = tmp_path / "collector.jsonl"
    rewritten.write_text(text.replace("\n", "\r\n"), "utf-8")

    assert lineage_from_otlp_file(rewritten) == result["tracker"].to_dict()


def test_snapshot_events_are_ordered_by_step_index_when_they_carry_one(
    steps: list[Step], telemetry: FileTelemetry
) -> None:
    result = run_pipeline(steps, telemetry)
    telemetry.close()
    expected = result["tracker"].to_dict()
    data = read_telemetry_file(telemetry.path)
    snapshots = [log for log in data.logs if log.event_name == "odibi.lineage.snapshot"]
    position = {step["name"]: index for index, step in enumerate(expected["steps"])}
    indexed = [
        dataclasses.replace(
            log, attributes={**log.attributes, STEP_INDEX_ATTRIBUTE: position[log.body["name"]]}
        )
        for log in reversed(snapshots)  # as if a pipeline between writer and file reordered them
    ]
    others = [log for log in data.logs if log.event_name != "odibi.lineage.snapshot"]

    reordered = TelemetryData(data.source, data.spans, [*indexed, *others])
    assert lineage_from_telemetry(reordered) == expected


# --- lineage from spans only --------------------------------------------------------------------


def test_spans_only_file_with_the_tracker_off(steps: list[Step], tmp_path: Path) -> None:
    telemetry = file_telemetry(tmp_path / "spans.jsonl", logs=False)
    result = run_pipeline(steps, telemetry, tracker=False)
    telemetry.close()
    assert result["tracker"] is None

    document = lineage_from_otlp_file(telemetry.path)

    assert document["pipeline_name"] == "orders"
    assert document["run_id"] == result["run_id"]
    assert document["trace_id"] == result["trace_id"]
    assert document["span_id"] == result["span_id"]
    assert document["status"] == "failed"
    assert "timeline" not in document
    steps_by_name = {step["name"]: step for step in document["steps"]}
    assert [step["name"] for step in document["steps"]][-1] == "publish"  # skipped steps come last
    assert set(steps_by_name) == {"read_orders", "enrich", "validate", "publish", "store"}
    validate_step = steps_by_name["validate"]
    assert validate_step["status"] == "failed"
    assert validate_step["error"]["type"] == "ValueError"
    assert validate_step["error"]["message"] == "amount must be positive <img src=x onerror=alert(1)>"
    assert "Traceback" in validate_step["error"]["traceback"]
    assert validate_step["rows_out"] is None and validate_step["rows_in"] == 3
    assert steps_by_name["enrich"]["rows_out"] == 3 and steps_by_name["enrich"]["row_delta"] == 0
    assert steps_by_name["store"]["type"] == "write" and steps_by_name["store"]["layer"] == "store"
    assert steps_by_name["publish"]["status"] == "skipped"
    assert document["summary"] == {
        "nodes_total": 5,
        "succeeded": 3,
        "failed": 1,
        "skipped": 1,
        "interrupted": 0,
        "failed_nodes": ["validate"],
        "skipped_nodes": ["publish"],
        "rows_in": 3,
        "rows_out": 3,
    }


def test_spans_only_steps_match_the_trackers_span_facts(steps: list[Step], tmp_path: Path) -> None:
    """With the events not exported, every fact a span carries equals the tracker's."""
    telemetry = file_telemetry(tmp_path / "spans.jsonl", logs=False)
    silent_logs = LoggerProvider()  # the tracker emits its events to a provider with no processor
    result = run_pipeline(steps, telemetry, logger_provider=silent_logs)
    telemetry.close()
    expected = result["tracker"].to_dict()

    document = lineage_from_otlp_file(telemetry.path)

    run_keys = ["pipeline_name", "run_id", "trace_id", "span_id", "start_time", "end_time", "duration_ms"]
    assert {key: document[key] for key in [*run_keys, "status", "summary"]} == {
        key: expected[key] for key in [*run_keys, "status", "summary"]
    }
    by_name = {step["name"]: step for step in document["steps"]}
    span_facts = [
        "status", "span_id", "start_time", "end_time", "duration_ms", "cache_hit",
        "rows_in", "rows_out", "row_delta", "error",
    ]  # fmt: skip
    for step in expected["steps"]:
        rebuilt = by_name[step["name"]]
        assert {key: rebuilt[key] for key in span_facts} == {key: step[key] for key in span_facts}
        if step["status"] != "skipped":
            assert (rebuilt["layer"], rebuilt["type"]) == (step["layer"], step["type"])
            assert (rebuilt["inputs"], rebuilt["outputs"]) == (step["inputs"], step["outputs"])


# --- spans not made by odibi_otel ---------------------------------------------------------------


def foreign_spans_file(path: Path) -> dict[str, str]:
    telemetry = file_telemetry(path, logs=False)
    tracer = telemetry.tracer_provider.get_tracer("shop.web")
    ids = {}
    for request in ("GET /old", "GET /orders"):
        with tracer.start_as_current_span(request, attributes={"http.status_code": 500}) as root:
            with tracer.start_as_current_span("SELECT orders") as query:
                query.set_attribute("db.rows", 3)
                query.set_attribute("raw", b"\x00\xff")
                query.set_status(Status(StatusCode.ERROR, "timeout"))
            with tracer.start_as_current_span("render"):
                pass
        ids[request] = trace.format_trace_id(root.get_span_context().trace_id)
    telemetry.close()
    return ids


def test_foreign_spans_become_a_plain_timeline(tmp_path: Path) -> None:
    path = tmp_path / "foreign.jsonl"
    ids = foreign_spans_file(path)

    document = lineage_from_otlp_file(path)

    assert document["pipeline_name"] == "GET /orders"  # the latest trace, named by its root span
    assert document["trace_id"] == ids["GET /orders"]
    assert document["status"] == "failed"
    assert document["steps"] == [] and document["summary"]["nodes_total"] == 0
    timeline = document["timeline"]
    assert [entry["name"] for entry in timeline] == ["GET /orders", "SELECT orders", "render"]
    root, query, render = timeline
    assert root["parent_span_id"] is None
    assert query["parent_span_id"] == render["parent_span_id"] == root["span_id"]
    assert query["status"] == "error" and query["status_message"] == "timeout"
    assert render["status"] == "unset"
    assert query["attributes"] == {"db.rows": 3, "raw": "base64:AP8="}
    assert root["duration_ms"] >= query["duration_ms"] >= 0
    assert root["start_time"] <= query["start_time"] <= query["end_time"] <= root["end_time"]
    json.dumps(document, allow_nan=False)

    older = lineage_from_otlp_file(path, run_id=ids["GET /old"].upper())
    assert older["pipeline_name"] == "GET /old"


def hand_written_collector_file() -> str:
    """A Collector-style file: upper-case hex ids, int64s as strings and numbers, metrics lines."""
    trace_id = "0AF7651916CD43DD8448EB211C80319C"

    def span(span_id: str, parent: str, name: str, start: Any, end: Any, **extra: Any) -> dict[str, Any]:
        return {"traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name,
                "kind": 1, "startTimeUnixNano": start, "endTimeUnixNano": end, **extra}  # fmt: skip

    def attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
        def value(item: Any) -> dict[str, Any]:
            if isinstance(item, str):
                return {"stringValue": item}
            if isinstance(item, list):
                return {"arrayValue": {"values": [value(x) for x in item]}}
            return {"intValue": str(item)} if item % 2 else {"intValue": item}

        return [{"key": key, "value": value(item)} for key, item in values.items()]

    run = {"odibi.run.id": "r-collector", "odibi.pipeline.name": "daily"}
    pipeline = span(
        "B7AD6B7169203331", "", "pipeline daily", "1700000000000000000", 1700000002000000000,
        attributes=attrs({**run, "odibi.pipeline.status": "failed",
                          "odibi.pipeline.skipped_nodes": ["load"]}),
        status={"code": 2, "message": "1 node(s) failed"},
    )  # fmt: skip
    node_attrs = {"odibi.node.layer": "ingest", "odibi.node.type": "read", "odibi.node.outputs": ["raw"]}
    read = span(
        "00F067AA0BA902B7", "B7AD6B7169203331", "node extract", 1700000000100000000, "1700000000600000000",
        attributes=attrs({**run, "odibi.node.name": "extract", "odibi.node.status": "success",
                          "odibi.node.rows_in": 0, "odibi.node.rows_out": 41, **node_attrs}),
    )  # fmt: skip
    failed = span(
        "00F067AA0BA902B8", "B7AD6B7169203331", "node clean", "1700000000700000000", "1700000000900000000",
        attributes=attrs({**run, "odibi.node.name": "clean", "odibi.node.status": "failed",
                          "odibi.node.rows_in": 41}),
        status={"code": "STATUS_CODE_ERROR", "message": "KeyError: 'id'"},
        events=[{"name": "exception", "timeUnixNano": 1700000000900000000,
                 "attributes": attrs({"exception.type": "KeyError", "exception.message": "'id'",
                                      "exception.stacktrace": "Traceback (most recent call last):\n..."})}],
    )  # fmt: skip
    resource = {"attributes": attrs({"service.name": "etl"})}
    lines = [
        {"resourceMetrics": [{"resource": resource, "scopeMetrics": []}]},
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "odibi_otel"},
                                                                  "spans": [read, failed]}]}]},
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "odibi_otel"},
                                                                  "spans": [pipeline]}]}]},
    ]  # fmt: skip
    return "\n".join(json.dumps(line) for line in lines) + "\n"


def test_hand_written_collector_file_decodes(tmp_path: Path) -> None:
    path = tmp_path / "collector.json"
    path.write_text(hand_written_collector_file(), "utf-8")

    document = lineage_from_otlp_file(path, include_timeline=True)

    assert document["run_id"] == "r-collector"
    assert document["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert document["span_id"] == "b7ad6b7169203331"
    assert document["status"] == "failed"
    assert document["start_time"] == "2023-11-14T22:13:20.000000+00:00"
    assert document["duration_ms"] == 2000.0
    assert [(s["name"], s["status"]) for s in document["steps"]] == [
        ("extract", "success"),
        ("clean", "failed"),
        ("load", "skipped"),
    ]
    extract, clean, _ = document["steps"]
    assert (extract["rows_out"], extract["row_delta"], extract["outputs"]) == (41, 41, ["raw"])
    assert extract["duration_ms"] == 500.0
    assert clean["error"] == {
        "type": "KeyError",
        "message": "'id'",
        "traceback": "Traceback (most recent call last):\n...",
    }
    assert document["summary"]["failed_nodes"] == ["clean"]
    assert [entry["span_id"] for entry in document["timeline"]] == [
        "b7ad6b7169203331",
        "00f067aa0ba902b7",
        "00f067aa0ba902b8",
    ]


# --- malformed files ----------------------------------------------------------------------------


def test_truncated_last_line_after_a_crash_is_reported_with_its_number(
    steps: list[Step], telemetry: FileTelemetry
) -> None:
    run_pipeline(steps, telemetry)
    telemetry.close()
    lines = telemetry.path.read_text("utf-8").splitlines(keepends=True)
    telemetry.path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2], "utf-8")

    with pytest.raises(TelemetryFileError) as caught:
        lineage_from_otlp_file(telemetry.path)
    assert str(caught.value).startswith(f"{telemetry.path}: line {len(lines)}: truncated line")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "holds no spans and no odibi_otel lineage events"),
        ('{"resourceMetrics": []}\n', "holds no spans and no odibi_otel lineage events"),
        ('{}\n{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 1}]}]}]}\n', "line 2: resourceSpans[0]"),
        (
            '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"eventName":"odibi.lineage.run",'
            '"body":{"stringValue":"x"},"attributes":[{"key":"odibi.run.id","value":{"stringValue":"r"}}]}]}]}]}',
            "line 1: odibi.lineage.run event: expected a map body",
        ),
    ],
)
def test_unusable_files_raise_telemetry_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, "utf-8")
    with pytest.raises(TelemetryFileError, match=re.escape(message)):
        lineage_from_otlp_file(path)


def test_missing_file_is_a_telemetry_file_error(tmp_path: Path) -> None:
    with pytest.raises(TelemetryFileError, match=r"missing\.jsonl: cannot read the file"):
        read_telemetry_file(tmp_path / "missing.jsonl")


# --- the exporter -------------------------------------------------------------------------------


def some_spans(count: int) -> list[ReadableSpan]:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for index in range(count):
        provider.get_tracer("t").start_span(f"span {index}").end()
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_exporter_creates_folders_and_writes_one_line_per_export_from_many_threads(tmp_path: Path) -> None:
    spans = some_spans(3)
    file = OtlpJsonFile(tmp_path / "a" / "b" / "spans.jsonl")
    results: list[SpanExportResult] = []

    def export() -> None:
        for _ in range(50):
            results.append(file.span_exporter.export(spans))

    threads = [threading.Thread(target=export) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert file.span_exporter.export([]) is SpanExportResult.SUCCESS  # empty batch: no line
    file.shutdown()

    assert results == [SpanExportResult.SUCCESS] * 400
    lines = (tmp_path / "a" / "b" / "spans.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 400
    data = read_telemetry_file(tmp_path / "a" / "b" / "spans.jsonl")
    assert len(data.spans) == 1200


def test_file_closes_when_both_exporters_shut_down(tmp_path: Path) -> None:
    file = OtlpJsonFile(tmp_path / "x.jsonl")
    file.span_exporter.shutdown()
    assert not file.closed
    file.log_exporter.shutdown()
    assert file.closed
    file.shutdown()  # idempotent


class FullDisk:
    """A file whose writes put a few bytes on disk, then fail like a full disk."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, data: memoryview) -> int:
        self.real.write(bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_write_failures_are_reported_logged_once_and_leave_no_partial_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "full.jsonl"
    spans = some_spans(1)
    file = OtlpJsonFile(path)
    assert file.span_exporter.export(spans) is SpanExportResult.SUCCESS
    real = file._file
    file._file = FullDisk(real)  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="odibi_otel"):
        assert file.span_exporter.export(spans) is SpanExportResult.FAILURE
        assert file.span_exporter.export(spans) is SpanExportResult.FAILURE
    file._file = real
    assert file.span_exporter.export(spans) is SpanExportResult.SUCCESS
    file.shutdown()
    with caplog.at_level(logging.WARNING, logger="odibi_otel"):
        assert file.span_exporter.export(spans) is SpanExportResult.FAILURE  # closed
        assert file.log_exporter.export([object()]) is LogRecordExportResult.FAILURE  # type: ignore[list-item]

    warnings = [record for record in caplog.records if "full.jsonl" in record.getMessage()]
    assert len(warnings) == 1 and "No space left on device" in warnings[0].getMessage()
    assert len(read_telemetry_file(path).spans) == 2  # the failed writes left nothing behind


def test_file_is_appended_unless_truncated(tmp_path: Path) -> None:
    path = tmp_path / "append.jsonl"
    spans = some_spans(1)
    for _ in range(2):
        with OtlpJsonFile(path) as file:
            file.span_exporter.export(spans)
    assert len(path.read_text("utf-8").splitlines()) == 2
    with OtlpJsonFile(path, truncate=True) as file:
        file.span_exporter.export(spans)
    assert len(path.read_text("utf-8").splitlines()) == 1

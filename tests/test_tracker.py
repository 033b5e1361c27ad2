"""The lineage Tracker on real runs: snapshots, diffs, log-based events, export, cost and redaction.

Every test gets its own SDK TracerProvider and LoggerProvider with in-memory exporters, passed to
the Orchestrator explicitly (no global provider is ever set).
"""

from __future__ import annotations

import gc
import json
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import odibi_otel.lineage._snapshot as snapshot_module
from odibi_otel import Orchestrator, Step
from odibi_otel.lineage import PII_PATTERN, REDACTED, Tracker, TrackerConfig
from tests.conftest import node_spans_by_step, pipeline_spans_of

SNAPSHOT_EVENT = "odibi.lineage.snapshot"
RUN_EVENT = "odibi.lineage.run"


# -- fixtures and helpers -----------------------------------------------------------------------


@dataclass
class Otel:
    tracer_provider: TracerProvider
    span_exporter: InMemorySpanExporter
    logger_provider: LoggerProvider
    log_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.span_exporter.get_finished_spans())

    def node_spans(self) -> dict[str, ReadableSpan]:
        return node_spans_by_step(self.spans())

    def pipeline_span(self) -> ReadableSpan:
        (span,) = pipeline_spans_of(self.spans())
        return span

    def logs(self) -> list[ReadableLogRecord]:
        return list(self.log_exporter.get_finished_logs())

    def events(self, name: str) -> list[ReadableLogRecord]:
        return [record for record in self.logs() if record.log_record.event_name == name]

    def run(self, steps: list[Step], **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("enable_tracker", True)
        return Orchestrator(
            steps,
            tracer_provider=self.tracer_provider,
            logger_provider=self.logger_provider,
            **kwargs,
        ).execute()


@pytest.fixture()
def otel() -> Iterator[Otel]:
    tracer_provider = TracerProvider()
    span_exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider()
    log_exporter = InMemoryLogRecordExporter()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    yield Otel(tracer_provider, span_exporter, logger_provider, log_exporter)
    tracer_provider.shutdown()
    logger_provider.shutdown()


def fn(
    name: str,
    function: Callable[..., Any],
    inputs: list[str] | dict[str, str] | None = None,
    outputs: list[str] | None = None,
    layer: str = "transform",
) -> Step:
    return Step(name, layer, "function", function, inputs=inputs, outputs=outputs)


def steps_by_name(tracker: Tracker) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in tracker.to_dict()["steps"]}


def orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5],
            "customer_id": [10, 20, 10, 30, 20],
            "amount": [5, 15, 25, 35, 45],
            "email": ["a@x.io", "b@x.io", "a@x.io", "c@x.io", "b@x.io"],
        }
    )


def customers() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [10, 20, 30], "name": ["Ann", "Bob", "Cy"]})


def enrich(frame: pd.DataFrame) -> pd.DataFrame:
    """Filters 5 → 3 rows, adds ``total``, removes ``email``, changes ``amount`` int64 → float64."""
    out = frame[frame["amount"] > 20].drop(columns=["email"])
    out = out.assign(amount=out["amount"].astype("float64"), total=out["amount"] * 1.2)
    return out.reset_index(drop=True)


def join(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    return left.merge(right, on="customer_id").assign(joined=True)


def split(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"big": frame[frame["amount"] >= 25], "small": frame[frame["amount"] < 25][["order_id"]]}


def basic_steps() -> list[Step]:
    return [
        fn("load_orders", orders, outputs=["orders"], layer="ingest"),
        fn("load_customers", customers, outputs=["customers"], layer="ingest"),
        fn("enrich", enrich, ["orders"], ["enriched"]),
        fn("join", join, {"left": "enriched", "right": "customers"}, ["joined"]),
        fn("split", split, ["orders"], ["big", "small"]),
    ]


# -- snapshots, schema diff, row delta --------------------------------------------------------


def test_before_snapshot_per_input_key_and_after_snapshot_per_output_key(otel: Otel) -> None:
    result = otel.run(basic_steps(), tracker_config=TrackerConfig(sample_rows=2))
    assert result["success"]
    steps = steps_by_name(result["tracker"])

    load = steps["load_orders"]
    assert load["before"] == {}
    assert list(load["after"]) == ["orders"]
    snapshot = load["after"]["orders"]
    assert snapshot["rows"] == 5
    assert snapshot["columns"] == 4
    assert snapshot["schema"] == {
        "order_id": "int64",
        "customer_id": "int64",
        "amount": "int64",
        "email": str(orders()["email"].dtype),
    }
    assert snapshot["sample"] == {
        "columns": ["order_id", "customer_id", "amount", "email"],
        "rows": [[1, 10, 5, "a@x.io"], [2, 20, 15, "b@x.io"]],
    }
    assert isinstance(snapshot["size_bytes"], int)
    assert snapshot["size_bytes"] >= 5 * 3 * 8
    assert snapshot["redacted_columns"] == []

    # a consumer's "before" is its producer's "after" of the same key, named by the data key
    assert steps["enrich"]["before"] == {"orders": snapshot}
    assert steps["split"]["before"] == {"orders": snapshot}
    # dict inputs: keyed by data key, not by parameter name
    join_step = steps["join"]
    assert list(join_step["before"]) == ["enriched", "customers"]
    assert join_step["before"]["enriched"] == steps["enrich"]["after"]["enriched"]
    assert join_step["before"]["customers"]["rows"] == 3
    assert join_step["rows_in"] == 6
    assert join_step["after"]["joined"]["rows"] == 3

    # several outputs: one "after" snapshot each
    after = steps["split"]["after"]
    assert list(after) == ["big", "small"]
    assert (after["big"]["rows"], after["big"]["columns"]) == (3, 4)
    assert (after["small"]["rows"], after["small"]["columns"]) == (2, 1)
    assert after["small"]["sample"] == {"columns": ["order_id"], "rows": [[1], [2]]}
    assert steps["split"]["rows_out"] == 5
    assert steps["split"]["row_delta"] == 0


def test_schema_diff_and_row_delta_per_step_and_on_node_spans(otel: Otel) -> None:
    result = otel.run(basic_steps())
    steps = steps_by_name(result["tracker"])
    spans = otel.node_spans()

    enrich_step = steps["enrich"]
    assert enrich_step["schema_diff"] == {
        "added": [{"column": "total", "dtype": "float64"}],
        "removed": [{"column": "email", "dtype": str(orders()["email"].dtype)}],
        "changed": [{"column": "amount", "before": "int64", "after": "float64"}],
    }
    assert (enrich_step["rows_in"], enrich_step["rows_out"], enrich_step["row_delta"]) == (5, 3, -2)
    attributes = spans["enrich"].attributes
    assert attributes["odibi.node.schema.added"] == 1
    assert attributes["odibi.node.schema.removed"] == 1
    assert attributes["odibi.node.schema.changed"] == 1
    assert attributes["odibi.node.row_delta"] == -2

    # a source adds all its columns; its row delta is its row count
    load_step = steps["load_orders"]
    assert [c["column"] for c in load_step["schema_diff"]["added"]] == [
        "order_id",
        "customer_id",
        "amount",
        "email",
    ]
    assert load_step["row_delta"] == 5
    assert spans["load_orders"].attributes["odibi.node.schema.added"] == 4
    assert spans["load_orders"].attributes["odibi.node.row_delta"] == 5

    # several inputs: the union of the input schemas against the union of the output schemas
    join_step = steps["join"]
    assert join_step["schema_diff"] == {
        "added": [{"column": "joined", "dtype": "bool"}],
        "removed": [],
        "changed": [],
    }
    assert join_step["row_delta"] == 3 - 6
    assert spans["join"].attributes["odibi.node.schema.added"] == 1
    assert spans["join"].attributes["odibi.node.schema.removed"] == 0
    assert spans["join"].attributes["odibi.node.row_delta"] == -3

    # several outputs: "small" lacks three columns, but "big" still has them
    assert steps["split"]["schema_diff"] == {"added": [], "removed": [], "changed": []}


def test_step_record_carries_layer_type_timing_and_span_id(otel: Otel) -> None:
    result = otel.run(basic_steps())
    document = result["tracker"].to_dict()
    spans = otel.node_spans()
    assert [s["name"] for s in document["steps"]] == [
        "load_orders",
        "load_customers",
        "enrich",
        "join",
        "split",
    ]
    for step in document["steps"]:
        span = spans[step["name"]]
        assert step["layer"] == span.attributes["odibi.node.layer"]
        assert step["type"] == "function"
        assert step["status"] == "success"
        assert step["span_id"] == trace.format_span_id(span.context.span_id)
        assert step["duration_ms"] == round((span.end_time - span.start_time) / 1e6, 3)
        assert step["start_time"] < step["end_time"] or step["duration_ms"] == 0
        assert step["cache_hit"] is None
        assert step["error"] is None
    assert document["steps"][0]["inputs"] == []
    assert document["steps"][3]["inputs"] == ["enriched", "customers"]
    assert document["steps"][4]["outputs"] == ["big", "small"]


def test_read_and_write_steps(otel: Otel, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2, 3, 4], "value": [1.5, 2.5, 3.5, 4.5]}).to_csv(source, index=False)
    target = tmp_path / "out" / "result.csv"

    def keep_big(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["value"] > 2]

    steps = [
        Step("read", "ingest", "read", str(source), outputs=["raw"]),
        fn("filter", keep_big, ["raw"], ["clean"]),
        Step("write", "store", "write", str(target), inputs=["clean"]),
    ]
    result = otel.run(steps)
    assert result["success"]
    document = result["tracker"].to_dict()
    by_name = {s["name"]: s for s in document["steps"]}

    read = by_name["read"]
    assert read["type"] == "read"
    assert read["before"] == {}
    assert read["after"]["raw"]["rows"] == 4
    assert read["after"]["raw"]["schema"] == {"id": "int64", "value": "float64"}
    assert (read["rows_in"], read["rows_out"], read["row_delta"]) == (0, 4, 4)

    write = by_name["write"]
    assert write["type"] == "write"
    assert list(write["before"]) == ["clean"]
    # a write step's "after" is keyed by its target path and is the frame it wrote
    assert write["after"] == {str(target): write["before"]["clean"]}
    assert write["after"][str(target)]["rows"] == 3
    assert write["schema_diff"] == {"added": [], "removed": [], "changed": []}
    assert (write["rows_in"], write["rows_out"], write["row_delta"]) == (3, 3, 0)
    attributes = otel.node_spans()["write"].attributes
    assert attributes["odibi.node.row_delta"] == 0
    assert attributes["odibi.node.schema.added"] == 0

    assert document["summary"]["rows_in"] == 4
    assert document["summary"]["rows_out"] == 3


def test_a_function_step_without_outputs_has_zero_rows_out(otel: Otel) -> None:
    seen: list[int] = []

    def sink(frame: pd.DataFrame) -> None:
        seen.append(len(frame))

    result = otel.run([fn("load", orders, outputs=["orders"]), fn("sink", sink, ["orders"], [])])
    step = steps_by_name(result["tracker"])["sink"]
    assert seen == [5]
    assert step["after"] == {}
    assert (step["rows_in"], step["rows_out"], step["row_delta"]) == (5, 0, -5)
    assert otel.node_spans()["sink"].attributes["odibi.node.row_delta"] == -5


def test_failed_node_has_error_and_its_descendants_are_skipped(otel: Otel) -> None:
    def explode(frame: pd.DataFrame) -> pd.DataFrame:
        raise ValueError(f"bad batch of {len(frame)} rows")

    steps = [
        fn("load_orders", orders, outputs=["orders"]),
        fn("explode", explode, ["orders"], ["broken"]),
        fn("after_explode", enrich, ["broken"], ["never"]),
        fn("load_customers", customers, outputs=["customers"]),
    ]
    result = otel.run(steps, fail_fast=False)
    assert not result["success"]
    document = result["tracker"].to_dict()
    by_name = {s["name"]: s for s in document["steps"]}

    failed = by_name["explode"]
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "ValueError"
    assert failed["error"]["message"] == "bad batch of 5 rows"
    assert failed["error"]["traceback"].startswith("Traceback (most recent call last):")
    assert "in explode" in failed["error"]["traceback"]
    assert failed["error"]["traceback"].rstrip().endswith("ValueError: bad batch of 5 rows")
    assert list(failed["before"]) == ["orders"]  # what it received is kept
    assert failed["after"] == {}
    assert failed["rows_in"] == 5
    assert failed["rows_out"] is None
    assert failed["row_delta"] is None
    assert failed["schema_diff"] is None
    assert failed["span_id"] == trace.format_span_id(otel.node_spans()["explode"].context.span_id)
    assert failed["duration_ms"] is not None

    skipped = by_name["after_explode"]
    assert skipped["status"] == "skipped"
    assert skipped["before"] == {} and skipped["after"] == {}
    assert skipped["span_id"] is None
    assert skipped["start_time"] is None and skipped["duration_ms"] is None
    assert skipped["row_delta"] is None and skipped["schema_diff"] is None and skipped["error"] is None
    assert "after_explode" not in otel.node_spans()

    assert by_name["load_customers"]["status"] == "success"
    assert document["status"] == "failed"
    assert document["summary"] == {
        "nodes_total": 4,
        "succeeded": 2,
        "failed": 1,
        "skipped": 1,
        "interrupted": 0,
        "failed_nodes": ["explode"],
        "skipped_nodes": ["after_explode"],
        "rows_in": 0,
        "rows_out": 0,
    }


def test_fail_fast_records_unstarted_nodes_as_skipped(otel: Otel) -> None:
    def explode() -> pd.DataFrame:
        raise RuntimeError("no source")

    steps = [fn("first", explode, outputs=["a"]), fn("second", customers, outputs=["b"])]
    result = otel.run(steps)
    by_name = steps_by_name(result["tracker"])
    assert by_name["first"]["status"] == "failed"
    assert by_name["second"]["status"] == "skipped"
    assert result["skipped_nodes"] == ["second"]


# -- thread safety ------------------------------------------------------------------------------


def _parallel_steps(
    barrier: threading.Barrier,
) -> tuple[list[Step], dict[str, tuple[dict[str, int], dict[str, int]]]]:
    """40 nodes: 10 sources, 10 grow, 10 mix, 10 cut; expected (before rows, after rows) per node."""
    steps: list[Step] = []
    expected: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    rows = {i: i + 1 for i in range(10)}

    def source(i: int) -> Callable[[], pd.DataFrame]:
        def run() -> pd.DataFrame:
            if i < 4:  # the first four sources provably run at the same time
                barrier.wait()
            return pd.DataFrame({"id": range(rows[i]), f"s{i}": i})

        return run

    def grow(i: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
        return lambda frame: pd.concat([frame, frame], ignore_index=True).assign(**{f"g{i}": 1.0})

    def mix(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([left, right], ignore_index=True)

    def cut(i: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
        return lambda frame: frame.head(i)

    for i in range(10):
        steps.append(fn(f"src{i}", source(i), outputs=[f"k_src{i}"], layer="ingest"))
        expected[f"src{i}"] = ({}, {f"k_src{i}": rows[i]})
    for i in range(10):
        steps.append(fn(f"grow{i}", grow(i), [f"k_src{i}"], [f"k_grow{i}"]))
        expected[f"grow{i}"] = ({f"k_src{i}": rows[i]}, {f"k_grow{i}": 2 * rows[i]})
    for i in range(10):
        j = (i + 3) % 10
        steps.append(fn(f"mix{i}", mix, [f"k_grow{i}", f"k_src{j}"], [f"k_mix{i}"]))
        expected[f"mix{i}"] = (
            {f"k_grow{i}": 2 * rows[i], f"k_src{j}": rows[j]},
            {f"k_mix{i}": 2 * rows[i] + rows[j]},
        )
    for i in range(10):
        steps.append(fn(f"cut{i}", cut(i), [f"k_mix{i}"], [f"k_cut{i}"], layer="publish"))
        expected[f"cut{i}"] = ({f"k_mix{i}": 2 * rows[i] + rows[(i + 3) % 10]}, {f"k_cut{i}": i})
    return steps, expected


@pytest.mark.parametrize("repeat", range(3))
def test_parallel_nodes_get_their_own_snapshots(otel: Otel, repeat: int) -> None:
    steps, expected = _parallel_steps(threading.Barrier(4, timeout=10))
    assert len(steps) == 40
    result = otel.run(steps, max_workers=4, pipeline_name=f"parallel{repeat}")
    assert result["success"], result["errors"]
    document = result["tracker"].to_dict()
    spans = otel.node_spans()
    assert len(document["steps"]) == 40
    for step in document["steps"]:
        name = step["name"]
        before_rows, after_rows = expected[name]
        assert {key: s["rows"] for key, s in step["before"].items()} == before_rows, name
        assert {key: s["rows"] for key, s in step["after"].items()} == after_rows, name
        assert step["row_delta"] == sum(after_rows.values()) - sum(before_rows.values()), name
        assert step["span_id"] == trace.format_span_id(spans[name].context.span_id), name
        assert spans[name].attributes["odibi.node.row_delta"] == step["row_delta"], name
        # the schema proves the snapshot is of this node's own frame
        index = int(name[len(name.rstrip("0123456789")) :])
        (after,) = step["after"].values()
        if name.startswith("src"):
            assert list(after["schema"]) == ["id", f"s{index}"], name
        elif name.startswith("grow"):
            assert list(after["schema"]) == ["id", f"s{index}", f"g{index}"], name
            assert [c["column"] for c in step["schema_diff"]["added"]] == [f"g{index}"], name
        else:
            assert f"g{index}" in after["schema"] and f"s{(index + 3) % 10}" in after["schema"], name
    events = {
        record.log_record.attributes["odibi.node.name"]: record for record in otel.events(SNAPSHOT_EVENT)
    }
    assert len(events) == 40
    for name, record in events.items():
        assert record.log_record.span_id == spans[name].context.span_id, name
        assert record.log_record.body["name"] == name


# -- log-based events ---------------------------------------------------------------------------


def test_one_snapshot_event_per_step_correlated_with_its_node_span(otel: Otel) -> None:
    def explode(frame: pd.DataFrame) -> pd.DataFrame:
        raise KeyError("missing")

    steps = [*basic_steps(), fn("explode", explode, ["joined"], ["x"]), fn("later", enrich, ["x"], ["y"])]
    result = otel.run(steps, fail_fast=False, pipeline_name="events")
    document = result["tracker"].to_dict()
    spans = otel.node_spans()
    pipeline = otel.pipeline_span()

    events = otel.events(SNAPSHOT_EVENT)
    assert len(events) == len(steps) == len(document["steps"])
    for index, (record, step) in enumerate(zip(events, document["steps"], strict=True)):
        log = record.log_record
        assert log.body == step
        assert log.attributes == {
            "odibi.pipeline.name": "events",
            "odibi.run.id": result["run_id"],
            "odibi.node.name": step["name"],
            "odibi.lineage.step_index": index,
        }
        assert log.severity_number is SeverityNumber.INFO
        assert record.instrumentation_scope.name == "odibi_otel"
        assert log.trace_id == pipeline.context.trace_id
        if step["status"] == "skipped":  # no node span: correlated with the pipeline span
            assert log.span_id == pipeline.context.span_id
            assert log.timestamp == pipeline.end_time
        else:
            span = spans[step["name"]]
            assert (log.trace_id, log.span_id) == (span.context.trace_id, span.context.span_id)
            assert log.timestamp == span.end_time
    assert [r.log_record.body["status"] for r in events][-2:] == ["failed", "skipped"]

    (run_event,) = otel.events(RUN_EVENT)
    log = run_event.log_record
    assert (log.trace_id, log.span_id) == (pipeline.context.trace_id, pipeline.context.span_id)
    assert log.body == {key: value for key, value in document.items() if key != "steps"}
    assert log.attributes == {"odibi.pipeline.name": "events", "odibi.run.id": result["run_id"]}
    assert log.timestamp == pipeline.end_time
    assert len(otel.logs()) == len(steps) + 1  # nothing else

    # lineage travels as log-based events, not as span events
    for span in otel.spans():
        assert not [event for event in span.events if event.name.startswith("odibi.lineage")]


def test_document_ids_and_times_match_the_pipeline_span(otel: Otel) -> None:
    result = otel.run(basic_steps(), pipeline_name="ids")
    document = result["tracker"].to_dict()
    pipeline = otel.pipeline_span()
    assert document["format"] == "odibi_otel.lineage"
    assert document["version"] == 1
    assert document["pipeline_name"] == "ids"
    assert document["run_id"] == result["run_id"]
    assert document["trace_id"] == result["trace_id"] == trace.format_trace_id(pipeline.context.trace_id)
    assert document["span_id"] == result["span_id"]
    assert document["status"] == "success"
    assert document["duration_ms"] == round((pipeline.end_time - pipeline.start_time) / 1e6, 3)
    assert document["start_time"].endswith("+00:00")
    assert document["start_time"] <= document["steps"][0]["start_time"]
    assert document["steps"][-1]["end_time"] <= document["end_time"]


def test_document_has_every_documented_key(otel: Otel) -> None:
    def explode(frame: pd.DataFrame) -> pd.DataFrame:
        raise ValueError("x")

    steps = [fn("load", orders, outputs=["orders"]), fn("explode", explode, ["orders"], ["x"])]
    document = otel.run(steps).get("tracker").to_dict()
    assert set(document) == {
        "format",
        "version",
        "pipeline_name",
        "run_id",
        "trace_id",
        "span_id",
        "start_time",
        "end_time",
        "duration_ms",
        "status",
        "steps",
        "summary",
    }
    step_keys = {
        "name",
        "layer",
        "type",
        "status",
        "inputs",
        "outputs",
        "span_id",
        "start_time",
        "end_time",
        "duration_ms",
        "cache_hit",
        "rows_in",
        "rows_out",
        "row_delta",
        "before",
        "after",
        "schema_diff",
        "error",
        "source",
    }
    assert all(set(step) == step_keys for step in document["steps"])
    snapshot = document["steps"][0]["after"]["orders"]
    assert set(snapshot) == {"rows", "columns", "schema", "size_bytes", "sample", "redacted_columns"}
    assert set(snapshot["sample"]) == {"columns", "rows"}
    assert set(document["steps"][0]["schema_diff"]) == {"added", "removed", "changed"}
    assert set(document["steps"][1]["error"]) == {"type", "message", "traceback"}
    assert set(document["summary"]) == {
        "nodes_total",
        "succeeded",
        "failed",
        "skipped",
        "interrupted",
        "failed_nodes",
        "skipped_nodes",
        "rows_in",
        "rows_out",
    }


def test_steps_property_lists_the_step_records(otel: Otel) -> None:
    tracker = otel.run(basic_steps())["tracker"]
    assert tracker.steps == tracker.to_dict()["steps"]
    tracker.steps.clear()
    assert len(tracker.steps) == 5


# -- export ------------------------------------------------------------------------------------


def test_export_lineage_writes_the_document_atomically(otel: Otel, tmp_path: Path) -> None:
    tracker = otel.run(basic_steps())["tracker"]
    target = tmp_path / "nested" / "lineage.json"
    tracker.export_lineage(target)
    assert os.listdir(target.parent) == ["lineage.json"]  # no temporary file left behind
    text = target.read_text("utf-8")

    def reject(token: str) -> None:
        raise AssertionError(f"not strict JSON: {token}")

    assert json.loads(text, parse_constant=reject) == tracker.to_dict()

    # overwriting replaces the file whole; a str path works too
    target.write_text("old", "utf-8")
    tracker.export_lineage(str(target))
    assert json.loads(target.read_text("utf-8")) == tracker.to_dict()
    assert os.listdir(target.parent) == ["lineage.json"]


def test_failed_export_leaves_the_old_file_and_no_temporary_file(
    otel: Otel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = otel.run(basic_steps())["tracker"]
    target = tmp_path / "lineage.json"
    target.write_text("previous", "utf-8")
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if Path(dst) == target:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        tracker.export_lineage(target)
    assert target.read_text("utf-8") == "previous"
    assert os.listdir(tmp_path) == ["lineage.json"]


def test_undecodable_text_does_not_break_the_export(otel: Otel, tmp_path: Path) -> None:
    def source() -> pd.DataFrame:  # e.g. bytes read with errors="surrogateescape"
        frame = pd.DataFrame({"c": pd.Series(["caf\udce9"], dtype=object)})
        return frame.set_axis(pd.Index(["name\udce9"], dtype=object), axis=1)

    def explode(frame: pd.DataFrame) -> pd.DataFrame:
        raise ValueError("bad value caf\udce9")

    result = otel.run([fn("source", source, outputs=["s"]), fn("explode", explode, ["s"], ["x"])])
    tracker = result["tracker"]
    tracker.export_lineage(tmp_path / "lineage.json")
    document = json.loads((tmp_path / "lineage.json").read_text("utf-8"))
    snapshot = document["steps"][0]["after"]["s"]
    assert snapshot["sample"] == {"columns": ["name\\udce9"], "rows": [["caf\\udce9"]]}
    assert document["steps"][1]["error"]["message"] == "bad value caf\\udce9"  # escaped, like samples
    assert len(otel.events(SNAPSHOT_EVENT)) == 2


def test_exported_file_path_accepts_pathlike(otel: Otel, tmp_path: Path) -> None:
    tracker = otel.run(basic_steps())["tracker"]
    tracker.export_lineage(tmp_path / "lineage.json")
    assert json.loads((tmp_path / "lineage.json").read_text("utf-8"))["run_id"] == tracker.run_id


# -- cost --------------------------------------------------------------------------------------


def test_tracker_never_calls_deep_memory_usage(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def forbidden(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(self).__name__)
        raise AssertionError("memory_usage must not be called")

    monkeypatch.setattr(pd.DataFrame, "memory_usage", forbidden)
    monkeypatch.setattr(pd.Series, "memory_usage", forbidden)

    def wide() -> pd.DataFrame:  # object columns longer than the size estimator's sample
        n = 3000
        return pd.DataFrame(
            {
                "obj": pd.Series(["text"] * n, dtype=object),
                "mixed": pd.Series([{"a": 1}, [1, 2], None] * (n // 3), dtype=object),
                "num": np.arange(n),
            }
        )

    result = otel.run([fn("wide", wide, outputs=["w"]), fn("same", lambda f: f, ["w"], ["w2"])])
    assert result["success"]
    assert calls == []
    snapshot = steps_by_name(result["tracker"])["same"]["after"]["w2"]
    assert snapshot["rows"] == 3000
    assert snapshot["size_bytes"] > 3000 * 8 * 3


def test_sample_conversion_is_bounded_and_happens_after_the_run(
    otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversions = [0]
    real_json_safe = snapshot_module.json_safe

    def counting(value: Any, *args: Any) -> Any:
        conversions[0] += 1
        return real_json_safe(value, *args)

    monkeypatch.setattr(snapshot_module, "json_safe", counting)

    def run_with(rows: int) -> int:
        conversions[0] = 0

        def source() -> pd.DataFrame:
            return pd.DataFrame({"a": range(rows), "b": ["x"] * rows})

        def check(frame: pd.DataFrame) -> pd.DataFrame:
            # nothing has been serialised while the pipeline is running
            assert conversions[0] == 0, "samples converted on the hot path"
            return frame

        result = otel.run([fn("source", source, outputs=["s"]), fn("check", check, ["s"], ["c"])])
        assert result["success"], result["errors"]
        count = conversions[0]
        result["tracker"].to_dict()  # the document is built once, at run end
        assert conversions[0] == count
        return count

    # distinct snapshots x sample rows x columns: the consumer's "before" is the producer's "after"
    # snapshot, converted once (3 appearances in the document, 2 snapshots)
    assert run_with(10) == run_with(20_000) == 2 * 5 * 2


def _assert_samples_share_no_memory(tracker: Tracker, frames: list[pd.DataFrame]) -> None:
    for record in tracker._records.values():
        for snapshot in [*record.before.values(), *record.after.values()]:
            assert snapshot.sample_values.shape == (5, len(snapshot.sample_columns))
            for frame in frames:
                for column in frame.columns:
                    assert not np.shares_memory(snapshot.sample_values, frame[column].to_numpy())


def test_samples_are_detached_copies_and_frames_are_not_kept(otel: Otel) -> None:
    refs: list[weakref.ref[pd.DataFrame]] = []

    def make() -> pd.DataFrame:
        frame = pd.DataFrame({"a": np.arange(10_000), "s": ["x" * 20] * 10_000})
        refs.append(weakref.ref(frame))
        return frame

    def double(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.assign(b=frame["a"] * 2)
        refs.append(weakref.ref(out))
        return out

    result = otel.run([fn("make", make, outputs=["m"]), fn("double", double, ["m"], ["d"])])
    tracker = result["tracker"]
    assert len(refs) == 2 and all(ref() is not None for ref in refs)
    _assert_samples_share_no_memory(tracker, list(result["outputs"].values()))
    del result["outputs"]
    gc.collect()
    assert [ref() is None for ref in refs] == [True, True]  # the tracker pins no frame
    assert steps_by_name(tracker)["double"]["after"]["d"]["sample"]["rows"][0] == [0, "x" * 20, 0]


# -- sample values -----------------------------------------------------------------------------


def test_sample_values_are_json_safe_and_faithful(otel: Otel) -> None:
    def source() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "when": pd.to_datetime(["2024-05-01 10:00", None]).tz_localize("Europe/Paris"),
                "naive": pd.to_datetime(["2024-05-01", None]),
                "price": [Decimal("19.990"), None],
                "ratio": [np.inf, np.nan],
                "neg": [-np.inf, 1.0],
                "nested": [{"tags": ["a", "b"], "n": np.int64(1)}, [pd.Timestamp("2024-01-01"), None]],
                "blob": [b"\x00\x01", None],
                "text": ["y" * 500, pd.NA],
                "flag": pd.array([True, None], dtype="boolean"),
                "count": pd.array([7, None], dtype="Int64"),
            }
        )

    result = otel.run(
        [fn("source", source, outputs=["s"])], tracker_config=TrackerConfig(max_string_length=50)
    )
    sample = steps_by_name(result["tracker"])["source"]["after"]["s"]["sample"]
    assert sample["rows"] == [
        [
            "2024-05-01T10:00:00+02:00",
            "2024-05-01T00:00:00",
            "19.990",
            "Infinity",
            "-Infinity",
            {"tags": ["a", "b"], "n": 1},
            "base64:AAE=",
            "y" * 50 + "… [+450 chars]",
            True,
            7,
        ],
        [None, None, None, None, 1.0, ["2024-01-01T00:00:00", None], None, None, None, None],
    ]
    json.dumps(result["tracker"].to_dict(), allow_nan=False)


def test_long_column_names_are_truncated_in_samples(otel: Otel) -> None:
    long_name = "c" * 40

    def source() -> pd.DataFrame:
        return pd.DataFrame({long_name: [1]})

    result = otel.run(
        [fn("source", source, outputs=["s"])], tracker_config=TrackerConfig(max_string_length=10)
    )
    snapshot = steps_by_name(result["tracker"])["source"]["after"]["s"]
    assert snapshot["sample"]["columns"] == ["c" * 10 + "… [+30 chars]"]
    assert snapshot["schema"] == {long_name: "int64"}


def test_odd_column_labels_in_snapshots(otel: Otel) -> None:
    def source() -> pd.DataFrame:
        frame = pd.DataFrame([[1, 2.0, 3]], columns=["a", "a", "b"])
        frame.columns = pd.MultiIndex.from_tuples([("k", 1), ("k", 1), ("v", "b")])
        return frame

    result = otel.run([fn("source", source, outputs=["s"])])
    snapshot = steps_by_name(result["tracker"])["source"]["after"]["s"]
    assert snapshot["schema"] == {"k.1": "int64", "k.1#2": "float64", "v.b": "int64"}
    assert snapshot["sample"] == {"columns": ["k.1", "k.1", "v.b"], "rows": [[1, 2.0, 3]]}


@pytest.mark.parametrize(("sample_rows", "expected"), [(1, 1), (3, 3), (5, 5), (100, 7)])
def test_sample_rows_is_honoured(otel: Otel, sample_rows: int, expected: int) -> None:
    def source() -> pd.DataFrame:
        return pd.DataFrame({"n": range(7)})

    result = otel.run(
        [fn("source", source, outputs=["s"])], tracker_config=TrackerConfig(sample_rows=sample_rows)
    )
    sample = steps_by_name(result["tracker"])["source"]["after"]["s"]["sample"]
    assert sample["rows"] == [[i] for i in range(expected)]


def test_default_sample_is_five_rows(otel: Otel) -> None:
    result = otel.run([fn("load", orders, outputs=["o"])])
    assert len(steps_by_name(result["tracker"])["load"]["after"]["o"]["sample"]["rows"]) == 5


@pytest.mark.parametrize("config", [TrackerConfig(sample_rows=0), TrackerConfig(capture_samples=False)])
def test_no_samples_keeps_counts_and_schemas(otel: Otel, config: TrackerConfig) -> None:
    result = otel.run(basic_steps(), tracker_config=config)
    for step in result["tracker"].to_dict()["steps"]:
        for snapshot in [*step["before"].values(), *step["after"].values()]:
            assert snapshot["sample"] is None
            assert snapshot["rows"] >= 0 and snapshot["schema"]
    assert steps_by_name(result["tracker"])["enrich"]["row_delta"] == -2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"sample_rows": -1}, ValueError),
        ({"sample_rows": 1.5}, ValueError),
        ({"redact_columns": "email"}, TypeError),
        ({"redact_pattern": "("}, ValueError),
    ],
)
def test_tracker_config_rejects_bad_values(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        TrackerConfig(**kwargs)


@pytest.mark.parametrize(
    ("label", "redacted"),
    [
        ("email", True),
        ("User_EMail", True),
        ("e_mail", True),
        ("ssn", True),
        ("customer_ssn_hash", True),
        ("password", True),
        ("api_key", True),
        ("ApiKey", True),
        ("auth_token", True),
        ("phone_number", True),
        ("credit_card", True),
        ("iban", True),
        ("notes", True),  # by exact name
        ("notes2", False),
        ("amount", False),
        ("customer_id", False),
        ("name", False),
    ],
)
def test_redaction_by_name_and_pattern(label: str, redacted: bool) -> None:
    config = TrackerConfig(redact_columns=["notes"], redact_pattern=PII_PATTERN)
    assert config.is_redacted(label) is redacted


def test_tracker_off_gives_none_and_emits_nothing(otel: Otel) -> None:
    result = otel.run(basic_steps(), enable_tracker=False)
    assert result["success"]
    assert result["tracker"] is None
    assert otel.logs() == []
    attributes = otel.node_spans()["enrich"].attributes
    assert "odibi.node.row_delta" not in attributes
    assert "odibi.node.schema.added" not in attributes


# -- redaction: a planted secret reaches no output --------------------------------------------

SECRET = "PLANTED-S3CRET-4f9c2e"
SECRET_CORE = "S3CRET-4f9c2e"


def _secret_pipeline(tmp_path: Path) -> list[Step]:
    def people() -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "customer_id": [1, 2, 3],
                "ssn": [SECRET, "000-00-0000", SECRET + "-2"],
                "notes": [f"call re {SECRET}", "", None],
                "Contact_EMail": [f"{SECRET}@x.io", "b@x.io", "c@x.io"],
                "secrets": [[SECRET], {"k": SECRET}, b"x"],
                "amount": [1.0, 2.0, 3.0],
            }
        )
        return frame

    def with_total(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(total=frame["amount"] * 2)

    def wide(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[["customer_id", "ssn"]].copy()
        out.columns = pd.MultiIndex.from_tuples([("id", "customer"), ("contact", "ssn")])
        return out

    return [
        fn("people", people, outputs=["people"], layer="ingest"),
        fn("with_total", with_total, ["people"], ["enriched"]),
        fn("wide", wide, ["enriched"], ["wide"]),
        Step("store", "store", "write", str(tmp_path / "out.csv"), inputs=["enriched"]),
    ]


def _everything_emitted(otel: Otel, tracker: Tracker, tmp_path: Path) -> dict[str, str]:
    lineage = tmp_path / "lineage.json"
    tracker.export_lineage(lineage)
    texts = {"lineage file": lineage.read_text("utf-8"), "to_dict": json.dumps(tracker.to_dict())}
    for index, record in enumerate(otel.logs()):
        log = record.log_record
        texts[f"log {index}"] = record.to_json() + repr(log.body) + repr(dict(log.attributes or {}))
    for span in otel.spans():
        parts = [span.to_json(), repr(dict(span.attributes or {})), repr(span.status.description)]
        for event in span.events:
            parts += [event.name, repr(dict(event.attributes or {}))]
        for link in span.links:
            parts.append(repr(dict(link.attributes or {})))
        texts[f"span {span.name}"] = "".join(parts)
    return texts


def test_redacted_secret_appears_in_no_output(otel: Otel, tmp_path: Path) -> None:
    config = TrackerConfig(redact_columns=["notes", "secrets"], redact_pattern=PII_PATTERN)
    result = otel.run(_secret_pipeline(tmp_path), tracker_config=config)
    assert result["success"], result["errors"]
    tracker = result["tracker"]
    texts = _everything_emitted(otel, tracker, tmp_path)
    assert len(otel.events(SNAPSHOT_EVENT)) == 4
    leaks = [where for where, text in texts.items() if SECRET_CORE in text]
    assert leaks == []

    steps = steps_by_name(tracker)
    people = steps["people"]["after"]["people"]
    assert people["redacted_columns"] == ["ssn", "notes", "Contact_EMail", "secrets"]
    assert people["sample"]["columns"] == [
        "customer_id",
        "ssn",
        "notes",
        "Contact_EMail",
        "secrets",
        "amount",
    ]
    assert people["sample"]["rows"][0] == [1, REDACTED, REDACTED, REDACTED, REDACTED, 1.0]
    assert list(people["schema"])[:3] == ["customer_id", "ssn", "notes"]  # names and dtypes stay
    # MultiIndex labels are matched as joined text; the write step's snapshot is redacted too
    assert steps["wide"]["after"]["wide"]["redacted_columns"] == ["contact.ssn"]
    assert steps["wide"]["after"]["wide"]["sample"]["rows"][0] == [1, REDACTED]
    (written,) = steps["store"]["after"].values()
    assert written["sample"]["rows"][2][1] == REDACTED


def test_without_redaction_the_secret_would_be_found(otel: Otel, tmp_path: Path) -> None:
    """Control for the test above: the search really covers the places a value can reach."""
    result = otel.run(_secret_pipeline(tmp_path))
    texts = _everything_emitted(otel, result["tracker"], tmp_path)
    found = {where for where, text in texts.items() if SECRET_CORE in text}
    assert {"lineage file", "to_dict"} <= found
    # all four snapshot events carry it; the run event has no samples
    assert sum(where.startswith("log ") for where in found) == 4
    assert not any(where.startswith("span ") for where in found)


def test_capture_samples_off_keeps_every_value_out(otel: Otel, tmp_path: Path) -> None:
    result = otel.run(_secret_pipeline(tmp_path), tracker_config=TrackerConfig(capture_samples=False))
    assert result["success"]
    texts = _everything_emitted(otel, result["tracker"], tmp_path)
    assert [where for where, text in texts.items() if SECRET_CORE in text] == []
    assert [where for where, text in texts.items() if "000-00-0000" in text] == []
    people = steps_by_name(result["tracker"])["people"]["after"]["people"]
    assert people["sample"] is None
    assert people["rows"] == 3 and "ssn" in people["schema"]


def test_cache_hits_are_recorded_with_full_snapshots(otel: Otel, tmp_path: Path) -> None:
    steps = basic_steps()[:3]
    first = otel.run(steps, enable_cache=True, cache_dir=tmp_path / "cache")
    second = otel.run(steps, enable_cache=True, cache_dir=tmp_path / "cache")
    assert second["cache_hits"] == ["load_orders", "load_customers", "enrich"]
    cold, warm = steps_by_name(first["tracker"]), steps_by_name(second["tracker"])
    for name in ("load_orders", "enrich"):
        assert cold[name]["cache_hit"] is False and warm[name]["cache_hit"] is True
        assert warm[name]["after"] == cold[name]["after"]
        assert warm[name]["schema_diff"] == cold[name]["schema_diff"]
        assert warm[name]["row_delta"] == cold[name]["row_delta"]


def test_tracker_works_without_a_logger_provider(otel: Otel) -> None:
    result = Orchestrator(basic_steps(), enable_tracker=True, tracer_provider=otel.tracer_provider).execute()
    assert result["tracker"].to_dict()["summary"]["succeeded"] == 5
    assert otel.logs() == []

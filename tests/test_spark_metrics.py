"""MetricsManager on the Spark engine: rows "not computed" (never 0), late row counts, Spark's figures.

Most tests hand the manager node spans made by hand, with the attributes a Spark node span
carries (no JVM): a successful span without ``odibi.node.rows_out`` (its frame was computed by a
later node's job), the late count through ``node_rows_counted``, the Spark totals as the
``odibi_spark_*`` counters and peak execution memory as the node's memory. The last test runs a
real pipeline on the session's ``local[2]`` Spark and checks the exposition end to end.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from odibi_otel import MetricsManager, Orchestrator, Step
from odibi_otel._internal.safety import telemetry_failures
from odibi_otel.metrics._observed_values import NODE_COLUMNS, SeriesTable, series_key
from odibi_otel.otel import semconv

if TYPE_CHECKING:
    from tests.conftest import Tracing

MB = 1024 * 1024
SCOPE_LABELS = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
DASHBOARD = (
    Path(__file__).resolve().parents[1]
    / "collector-config"
    / "grafana"
    / "dashboards"
    / "odibi-pipelines.json"
)
SPARK_FAMILIES = {
    "odibi_spark_tasks_total": "status",
    "odibi_spark_shuffle_size_bytes_total": "direction",
    "odibi_spark_spill_size_bytes_total": "medium",
}
#: The Spark totals of a node that ran a shuffle and spilled (what ``LazyNode.attributes`` sets).
SPARK_TOTALS: dict[str, Any] = {
    semconv.SPARK_JOBS: 2,
    semconv.SPARK_STAGES: 3,
    semconv.SPARK_TASKS: 10,
    semconv.SPARK_TASKS_FAILED: 2,
    semconv.SPARK_SHUFFLE_READ_BYTES: 600,
    semconv.SPARK_SHUFFLE_WRITE_BYTES: 700,
    semconv.SPARK_SPILL_MEMORY_BYTES: 4096,
    semconv.SPARK_SPILL_DISK_BYTES: 1024,
    semconv.SPARK_OUTPUT_BYTES: 1366,
    semconv.SPARK_PEAK_EXECUTION_MEMORY: 3 * MB,
    semconv.NODE_OUTPUT_SIZE_BYTES: 1366,
}


# -- spans made by hand ----------------------------------------------------------------------------


class Spans:
    """Pipeline and node spans of one made-up run, with increasing timestamps."""

    def __init__(self, pipeline: str = "spark_pipe") -> None:
        self.pipeline = pipeline
        self.run_id = uuid.uuid4().hex
        self.clock = 1_700_000_000_000_000_000

    def _times(self, seconds: float) -> tuple[int, int]:
        start = self.clock
        self.clock += int(seconds * 1e9)
        return start, self.clock

    def pipeline_span(self, status: str | None = None) -> ReadableSpan:
        attributes: dict[str, Any] = {semconv.PIPELINE_NAME: self.pipeline, semconv.RUN_ID: self.run_id}
        if status is not None:
            attributes[semconv.PIPELINE_STATUS] = status
        start, end = self._times(0.001)
        return ReadableSpan(
            name=semconv.PIPELINE_SPAN_PREFIX + self.pipeline,
            attributes=attributes,
            start_time=start,
            end_time=end if status is not None else None,
        )

    def node(
        self, name: str, layer: str = "transform", *, failed: bool = False, **attributes: Any
    ) -> ReadableSpan:
        start, end = self._times(0.5)
        status = Status(StatusCode.ERROR, "boom") if failed else Status(StatusCode.UNSET)
        base = {
            semconv.PIPELINE_NAME: self.pipeline,
            semconv.RUN_ID: self.run_id,
            semconv.NODE_NAME: name,
            semconv.NODE_LAYER: layer,
            semconv.NODE_STATUS: semconv.STATUS_FAILED if failed else semconv.STATUS_SUCCESS,
        }
        if failed:
            base[semconv.ERROR_TYPE] = "TASK_WRITE_FAILED"
        return ReadableSpan(
            name=semconv.NODE_SPAN_PREFIX + name,
            attributes={**base, **attributes},
            start_time=start,
            end_time=end,
            status=status,
        )


def run_spans(
    manager: MetricsManager, spans: Spans, *nodes: ReadableSpan, counted: dict[str, int] | None = None
) -> None:
    """One run: the pipeline span starts, the nodes end, the late counts arrive, the pipeline ends."""
    manager.on_start(spans.pipeline_span())
    for node in nodes:
        manager.on_end(node)
    for name, rows in (counted or {}).items():
        layer = next(
            str(n.attributes[semconv.NODE_LAYER]) for n in nodes if n.attributes[semconv.NODE_NAME] == name
        )
        manager.node_rows_counted(spans.pipeline, name, layer, rows)
    manager.on_end(spans.pipeline_span(semconv.STATUS_SUCCESS))


# -- reading the exposition ------------------------------------------------------------------------


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, {k: v for k, v in sample.labels.items() if k not in SCOPE_LABELS}, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def values(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples ``name`` whose labels include ``labels``."""
    return [value for found, got, value in samples(text) if found == name and labels.items() <= got.items()]


def value(text: str, name: str, **labels: str) -> float:
    (found,) = values(text, name, **labels)
    return found


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: install the Debian package 'prometheus' (CI installs it)")
    return path


def assert_promtool_clean(text: str) -> None:
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


@pytest.fixture()
def manager() -> Iterator[MetricsManager]:
    with MetricsManager(share=False) as metrics_manager:
        yield metrics_manager


def text_of(manager: MetricsManager) -> str:
    return manager.generate_latest().decode("utf-8")


# -- rows "not computed" ---------------------------------------------------------------------------


def test_a_successful_node_without_rows_is_not_computed_never_zero(
    manager: MetricsManager, tmp_path: Path
) -> None:
    spans = Spans()
    run_spans(manager, spans, spans.node("plan_only", "transform", **{semconv.SPARK_JOBS: 0}))
    text = text_of(manager)
    labels = {"pipeline": "spark_pipe", "node": "plan_only", "layer": "transform"}
    assert values(text, "odibi_node_rows_total", **labels) == []  # no rows recorded, not 0
    assert values(text, "odibi_node_throughput_per_second", **labels) == []
    assert values(text, "odibi_node_last_run_rows", **labels) == []
    assert value(text, "odibi_node_last_run_status", **labels) == 1
    assert value(text, "odibi_node_duration_seconds_count", **labels, status="success") == 1
    assert values(text, "odibi_node_output_size_bytes", **labels) == []
    figures = manager.get_summary()["nodes"]["plan_only"]
    assert figures["row_count"] is None and figures["throughput"] is None
    assert figures["data_size_bytes"] is None and figures["status"] == "success"
    manager.save_to_file(tmp_path / "metrics.json")
    saved = json.loads((tmp_path / "metrics.json").read_text("utf-8"))["nodes"]["plan_only"]
    assert saved["row_count"] is None and saved["throughput"] is None and saved["data_size_bytes"] is None


def test_a_later_run_not_computed_keeps_the_rows_total_and_claims_no_last_rows(
    manager: MetricsManager,
) -> None:
    spans = Spans()
    run_spans(manager, spans, spans.node("load", "ingest", **{semconv.NODE_ROWS_OUT: 5}))
    run_spans(manager, spans, spans.node("load", "ingest"))  # the second run's frame is counted by nobody
    text = text_of(manager)
    labels = {"pipeline": "spark_pipe", "node": "load", "layer": "ingest"}
    assert value(text, "odibi_node_rows_total", **labels) == 5
    assert values(text, "odibi_node_last_run_rows", **labels) == []  # neither 0 nor the previous run's 5
    assert value(text, "odibi_node_last_run_status", **labels) == 1
    assert value(text, "odibi_node_throughput_per_second", **labels) == 10  # the first run's 5 rows / 0.5 s


def test_a_failed_node_still_counts_as_zero_rows(manager: MetricsManager) -> None:
    spans = Spans()
    run_spans(manager, spans, spans.node("store", "store", failed=True, **SPARK_TOTALS))
    text = text_of(manager)
    labels = {"pipeline": "spark_pipe", "node": "store", "layer": "store"}
    assert value(text, "odibi_node_last_run_rows", **labels) == 0
    assert value(text, "odibi_node_last_run_status", **labels) == 0
    assert value(text, "odibi_node_errors_total", **labels, error_type="TASK_WRITE_FAILED") == 1
    assert values(text, "odibi_node_rows_total", **labels) == []
    figures = manager.get_summary()["nodes"]["store"]
    assert (figures["row_count"], figures["throughput"], figures["status"]) == (0, 0.0, "failed")
    # its Spark figures are recorded all the same: failed tasks are what a failure is made of
    assert value(text, "odibi_spark_tasks_total", **labels, status="failed") == 2


def test_the_series_table_tells_not_computed_from_failed() -> None:
    table = SeriesTable(NODE_COLUMNS)
    labels = {"pipeline": "p", "node": "n", "layer": "l"}
    key = series_key(labels)

    def observed(column: str) -> list[float]:
        return [observation.value for observation in table.observe(NODE_COLUMNS.index(column))]

    table.node_ended(key, labels, seconds=0.5, memory=1, rows=4, size=40, throughput=8.0, failed=False)
    table.node_ended(key, labels, seconds=0.5, memory=2, rows=None, size=None, throughput=None, failed=False)
    assert observed("last_status") == [1] and observed("last_rows") == [] and observed("rows") == [4]
    assert observed("data_size") == [40] and observed("throughput") == [8.0]
    table.rows_counted(key, labels, 6)
    table.rows_counted(key, labels, -1)  # ignored: a counter never decreases
    assert observed("rows") == [10] and observed("last_rows") == [6]
    table.node_ended(key, labels, seconds=0.5, memory=3, rows=None, size=None, throughput=None, failed=True)
    assert observed("last_status") == [0] and observed("last_rows") == [0] and observed("rows") == [10]


# -- late counts: node_rows_counted ----------------------------------------------------------------


def test_node_rows_counted_gives_the_rows_to_the_nodes_series_and_summary(manager: MetricsManager) -> None:
    spans = Spans()
    nodes = [
        spans.node("read_orders", "ingest", **{semconv.SPARK_JOBS: 1, semconv.SPARK_TASKS: 1}),
        spans.node("keep_completed", **{semconv.SPARK_JOBS: 0}),
        spans.node("store", "store", **{semconv.NODE_ROWS_OUT: 37, **SPARK_TOTALS}),
    ]
    for _ in range(2):
        run_spans(manager, spans, *nodes, counted={"read_orders": 1000, "keep_completed": 900})
    text = text_of(manager)
    for node, layer, rows in (("read_orders", "ingest", 1000), ("keep_completed", "transform", 900)):
        labels = {"pipeline": "spark_pipe", "node": node, "layer": layer}
        # one series each, with exactly the node's labels (those of its duration, without status)
        assert [
            got for name, got, _ in samples(text) if name == "odibi_node_rows_total" and got["node"] == node
        ] == [labels]
        assert value(text, "odibi_node_rows_total", **labels) == 2 * rows
        assert value(text, "odibi_node_last_run_rows", **labels) == rows
        assert value(text, "odibi_node_last_run_status", **labels) == 1
        assert value(text, "odibi_node_duration_seconds_count", **labels, status="success") == 2
        assert (
            values(text, "odibi_node_throughput_per_second", **labels) == []
        )  # its duration computed nothing
        figures = manager.get_summary()["nodes"][node]
        assert figures["row_count"] == rows and figures["throughput"] is None
    store = {"pipeline": "spark_pipe", "node": "store", "layer": "store"}
    assert value(text, "odibi_node_rows_total", **store) == 74
    assert value(text, "odibi_node_throughput_per_second", **store) == 74
    summary = manager.get_summary()
    assert summary["total_nodes"] == 3 and summary["runs"] == 2


def test_node_rows_counted_waits_for_the_nodes_own_end_in_the_batch(manager: MetricsManager) -> None:
    """Node spans are recorded in batches; a late count must not land before (and be undone by) its node."""
    spans = Spans()
    manager.on_start(spans.pipeline_span())
    manager.on_end(spans.node("keep_completed"))
    assert manager._recording.pending  # still waiting in the batch
    manager.node_rows_counted("spark_pipe", "keep_completed", "transform", 900)
    assert manager.get_summary()["nodes"]["keep_completed"]["row_count"] == 900
    labels = {"pipeline": "spark_pipe", "node": "keep_completed", "layer": "transform"}
    assert value(text_of(manager), "odibi_node_last_run_rows", **labels) == 900


def test_node_rows_counted_on_an_application_meter_provider() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    spans = Spans()
    with MetricsManager(meter_provider=provider) as manager:
        run_spans(manager, spans, spans.node("load", "ingest", **{semconv.NODE_ROWS_OUT: 7}))
        run_spans(manager, spans, spans.node("load", "ingest"), counted={"load": 11})
        data = reader.get_metrics_data()
        assert data is not None
        metrics: dict[str, Metric] = {
            metric.name: metric
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }
        labels = {"pipeline": "spark_pipe", "node": "load", "layer": "ingest"}

        def point(name: str) -> float:
            (found,) = [p.value for p in metrics[name].data.data_points if dict(p.attributes or {}) == labels]
            return float(found)

        assert point(semconv.METRIC_NODE_ROWS) == 18
        assert point(semconv.METRIC_NODE_LAST_RUN_ROWS) == 11
        assert point(semconv.METRIC_NODE_LAST_RUN_STATUS) == 1
        assert manager.get_summary()["nodes"]["load"]["row_count"] == 11
    provider.shutdown()


@pytest.mark.parametrize("rows", ["900", None, -1, True, 2.5])
def test_node_rows_counted_ignores_what_is_not_a_count(manager: MetricsManager, rows: Any) -> None:
    spans = Spans()
    run_spans(manager, spans, spans.node("keep_completed"))
    manager.node_rows_counted("spark_pipe", "keep_completed", "transform", rows)
    assert manager.get_summary()["nodes"]["keep_completed"]["row_count"] is None
    assert "odibi_node_rows_total" not in text_of(manager)


def test_node_rows_counted_never_raises(manager: MetricsManager, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("recording is broken")

    monkeypatch.setattr(manager._recording, "rows_counted", broken)
    before = telemetry_failures().get("MetricsManager.node_rows_counted", 0)
    manager.node_rows_counted("spark_pipe", "keep_completed", "transform", 900)
    assert telemetry_failures()["MetricsManager.node_rows_counted"] == before + 1
    monkeypatch.undo()
    manager.shutdown()
    manager.node_rows_counted("spark_pipe", "keep_completed", "transform", 900)  # after shutdown too


# -- Spark's figures -------------------------------------------------------------------------------


def test_spark_totals_become_tasks_shuffle_and_spill_counters(manager: MetricsManager) -> None:
    spans = Spans()
    for _ in range(2):
        run_spans(manager, spans, spans.node("store", "store", **{semconv.NODE_ROWS_OUT: 37, **SPARK_TOTALS}))
    text = text_of(manager)
    labels = {"pipeline": "spark_pipe", "node": "store", "layer": "store"}
    assert value(text, "odibi_spark_tasks_total", **labels, status="success") == 16
    assert value(text, "odibi_spark_tasks_total", **labels, status="failed") == 4
    assert value(text, "odibi_spark_shuffle_size_bytes_total", **labels, direction="read") == 1200
    assert value(text, "odibi_spark_shuffle_size_bytes_total", **labels, direction="write") == 1400
    assert value(text, "odibi_spark_spill_size_bytes_total", **labels, medium="memory") == 8192
    assert value(text, "odibi_spark_spill_size_bytes_total", **labels, medium="disk") == 2048
    # memory is Spark's peak execution memory, not the driver's RSS; the size what the jobs wrote
    assert value(text, "odibi_node_memory_usage_bytes", **labels) == 3 * MB
    assert value(text, "odibi_node_output_size_bytes", **labels) == 1366
    figures = manager.get_summary()["nodes"]["store"]
    assert figures["memory_mb"] == 3.0 and figures["data_size_bytes"] == 1366 and figures["row_count"] == 37
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert {name.removesuffix("_total"): "counter" for name in SPARK_FAMILIES}.items() <= families.items()
    for name, extra in SPARK_FAMILIES.items():
        assert {frozenset(got) for found, got, _ in samples(text) if found == name} == {
            frozenset({"pipeline", "node", "layer", extra})
        }
    assert (
        "# HELP odibi_spark_tasks_total " in text
        and "# TYPE odibi_spark_shuffle_size_bytes_total counter" in text
    )


def test_spark_totals_on_an_application_meter_provider_too() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    spans = Spans()
    with MetricsManager(meter_provider=provider) as manager:
        run_spans(manager, spans, spans.node("store", "store", **{semconv.NODE_ROWS_OUT: 37, **SPARK_TOTALS}))
        data = reader.get_metrics_data()
        assert data is not None
        found = {
            (metric.name, tuple(sorted((p.attributes or {}).items()))): p
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            for p in metric.data.data_points
        }
        base = (("layer", "store"), ("node", "store"), ("pipeline", "spark_pipe"))

        def point(name: str, *extra: tuple[str, str]) -> Any:
            return found[(name, tuple(sorted(base + extra)))]

        assert point(semconv.METRIC_SPARK_TASKS, ("status", "success")).value == 8
        assert point(semconv.METRIC_SPARK_SHUFFLE, ("direction", "write")).value == 700
        assert point(semconv.METRIC_SPARK_SPILL, ("medium", "disk")).value == 1024
        assert point(semconv.METRIC_NODE_MEMORY_USAGE).value == 3 * MB
        units = {
            metric.name: metric.unit
            for r in data.resource_metrics
            for s in r.scope_metrics
            for metric in s.metrics
        }
        assert units[semconv.METRIC_SPARK_SHUFFLE] == units[semconv.METRIC_SPARK_SPILL] == "By"
    provider.shutdown()


def test_a_spark_node_that_ran_no_job_adds_no_spark_series_and_no_driver_memory(
    manager: MetricsManager,
) -> None:
    spans = Spans()
    run_spans(manager, spans, spans.node("keep_completed", **{semconv.SPARK_JOBS: 0}))
    text = text_of(manager)
    assert "odibi_spark_" not in text
    labels = {"pipeline": "spark_pipe", "node": "keep_completed", "layer": "transform"}
    assert value(text, "odibi_node_memory_usage_bytes", **labels) == 0  # no Spark job, no execution memory


def test_pandas_runs_record_no_spark_series_and_keep_their_figures(
    manager: MetricsManager, tmp_path: Path
) -> None:
    source = tmp_path / "orders.csv"
    pd.DataFrame({"order_id": [1, 2, 3], "amount": [1.0, 2.0, 3.0]}).to_csv(source, index=False)
    steps = [
        Step("read_orders", "ingest", "read", str(source), outputs=["orders"]),
        Step("store", "store", "write", str(tmp_path / "out.csv"), inputs=["orders"]),
    ]
    assert Orchestrator(steps, metrics_manager=manager, pipeline_name="pandas_pipe").execute()["success"]
    text = text_of(manager)
    assert "spark" not in text
    for figures in manager.get_summary()["nodes"].values():
        assert figures["row_count"] == 3 and figures["memory_mb"] > 1  # the process's RSS
        assert isinstance(figures["throughput"], float) and isinstance(figures["data_size_bytes"], int)


def test_the_exposition_of_spark_nodes_passes_promtool_and_parses_as_openmetrics(
    manager: MetricsManager,
) -> None:
    spans = Spans()
    nodes = [
        spans.node("read_orders", "ingest", **{semconv.SPARK_JOBS: 1, semconv.SPARK_TASKS: 1}),
        spans.node("keep_completed", **{semconv.SPARK_JOBS: 0}),
        spans.node("never_counted", **{semconv.SPARK_JOBS: 0}),
        spans.node("store", "store", **{semconv.NODE_ROWS_OUT: 37, **SPARK_TOTALS}),
        spans.node("publish", "store", failed=True, **SPARK_TOTALS),
    ]
    run_spans(manager, spans, *nodes, counted={"read_orders": 1000, "keep_completed": 900})
    assert_promtool_clean(text_of(manager))
    body = manager.exposition(openmetrics=True).decode("utf-8")
    families = {family.name: family.type for family in openmetrics_families(body)}
    assert {"odibi_spark_tasks", "odibi_spark_shuffle_size_bytes", "odibi_spark_spill_size_bytes"} <= set(
        families
    )


def test_the_dashboards_spark_row_queries_series_a_spark_node_has(manager: MetricsManager) -> None:
    spans = Spans()
    run_spans(manager, spans, spans.node("store", "store", **{semconv.NODE_ROWS_OUT: 37, **SPARK_TOTALS}))
    exposed: dict[str, set[str]] = {}
    for name, labels, _ in samples(text_of(manager)):
        exposed.setdefault(name, set()).update(labels)
    board = json.loads(DASHBOARD.read_text("utf-8"))
    row = next(panel for panel in board["panels"] if panel["type"] == "row" and panel["title"] == "Spark")
    spark_panels = [
        panel
        for panel in board["panels"]
        if panel["type"] != "row" and panel["gridPos"]["y"] == row["gridPos"]["y"] + 1
    ]
    assert len(spark_panels) == 3
    used: set[str] = set()
    for panel in spark_panels:
        for target in panel["targets"]:
            names = set(re.findall(r"\b(odibi_\w+)\s*\{", target["expr"]))
            grouping = {
                label.strip()
                for group in re.findall(r"by \(([^)]*)\)", target["expr"])
                for label in group.split(",")
            }
            matchers = set(re.findall(r"(\w+)=~", target["expr"])) - {"job"}
            assert names, target["expr"]
            for name in names:
                assert name in exposed, name
                assert grouping | matchers <= exposed[name], (name, grouping | matchers)
            used |= names
    assert used == set(SPARK_FAMILIES)


# -- a real Spark run ------------------------------------------------------------------------------


def keep_completed(orders: Any) -> Any:
    """A Spark transform: completed orders with amounts as doubles (builds a plan, runs no job)."""
    from pyspark.sql import functions as F

    return orders.where(F.col("status") == "completed").withColumn("amount", F.col("amount").cast("double"))


def _spark_steps(tmp_path: Path) -> list[Step]:
    source = tmp_path / "orders.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "amount", "status"])
        for index in range(1000):
            writer.writerow(
                [
                    index,
                    index % 37,
                    f"{(index % 50) + 0.5:.2f}",
                    "cancelled" if index % 10 == 0 else "completed",
                ]
            )
    return [
        Step(name="read_orders", layer="ingest", type="read", value=str(source), outputs=["raw"]),
        Step(
            "keep_completed", "transform", "function", keep_completed, inputs=["raw"], outputs=["completed"]
        ),
        Step(
            "per_customer",
            "transform",
            "sql",
            "SELECT customer_id, count(*) AS orders, sum(amount) AS revenue FROM completed "
            "GROUP BY customer_id",
            inputs=["completed"],
            outputs=["per_customer"],
        ),
        Step(
            "store", "store", "write", str(tmp_path / "out" / "per_customer.parquet"), inputs=["per_customer"]
        ),
    ]


@pytest.mark.spark
@pytest.mark.integration
def test_a_spark_run_exposes_late_rows_spark_series_and_passes_promtool(
    spark_session: Any,
    tracing: Tracing,
    tmp_path: Path,
    manager: MetricsManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted: list[tuple[str, str, str, int]] = []
    original = manager.node_rows_counted

    def spy(pipeline: str, node: str, layer: str, rows: int) -> None:
        counted.append((pipeline, node, layer, rows))
        original(pipeline, node, layer, rows)

    monkeypatch.setattr(manager, "node_rows_counted", spy)
    result = Orchestrator(
        _spark_steps(tmp_path),
        engine_type="spark",
        spark=spark_session,
        metrics_manager=manager,
        tracer_provider=tracing.provider,
        pipeline_name="spark_metrics",
    ).execute()
    assert result["success"], result["errors"]
    nodes = tracing.node_spans()
    # keep_completed's frame was computed by the store node's job: its span has no rows...
    assert semconv.NODE_ROWS_OUT not in nodes["keep_completed"].attributes
    assert ("spark_metrics", "keep_completed", "transform", 900) in counted  # ...they came after the run
    text = text_of(manager)
    labels = {"pipeline": "spark_metrics", "node": "keep_completed", "layer": "transform"}
    assert value(text, "odibi_node_rows_total", **labels) == 900
    assert value(text, "odibi_node_last_run_rows", **labels) == 900
    assert value(text, "odibi_node_last_run_status", **labels) == 1
    assert values(text, "odibi_node_throughput_per_second", **labels) == []
    summary = manager.get_summary()
    assert {name: figures["row_count"] for name, figures in summary["nodes"].items()} == {
        "read_orders": 1000,
        "keep_completed": 900,
        "per_customer": 37,
        "store": 37,
    }
    store = nodes["store"].attributes
    store_labels = {"pipeline": "spark_metrics", "node": "store", "layer": "store"}
    tasks = store[semconv.SPARK_TASKS] - store.get(semconv.SPARK_TASKS_FAILED, 0)
    assert value(text, "odibi_spark_tasks_total", **store_labels, status="success") == tasks >= 2
    assert value(text, "odibi_spark_tasks_total", **store_labels, status="failed") == 0
    shuffle = value(text, "odibi_spark_shuffle_size_bytes_total", **store_labels, direction="write")
    assert shuffle == store[semconv.SPARK_SHUFFLE_WRITE_BYTES] > 0
    assert values(text, "odibi_spark_spill_size_bytes_total", **store_labels, medium="disk") == [
        store[semconv.SPARK_SPILL_DISK_BYTES]
    ]
    memory = value(text, "odibi_node_memory_usage_bytes", **store_labels)
    assert memory == store[semconv.SPARK_PEAK_EXECUTION_MEMORY]
    assert (
        value(text, "odibi_node_output_size_bytes", **store_labels) == store[semconv.SPARK_OUTPUT_BYTES] > 0
    )
    assert_promtool_clean(text)
    families = {family.name for family in openmetrics_families(manager.exposition(openmetrics=True).decode())}
    assert {"odibi_spark_tasks", "odibi_spark_shuffle_size_bytes", "odibi_spark_spill_size_bytes"} <= families

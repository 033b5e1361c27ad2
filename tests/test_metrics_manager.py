"""MetricsManager: every seed metric from real runs, one measurement with the spans, the seed API.

Each test gets its own SDK ``MeterProvider`` with an ``InMemoryMetricReader`` (passed as
``MetricsManager(meter_provider=...)``) and its own ``TracerProvider`` (passed to the
Orchestrator): no global provider is ever set.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client import REGISTRY
from prometheus_client import Counter as PromCounter
from prometheus_client import generate_latest as prometheus_generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_generate_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

import odibi_otel
from odibi_otel import MetricsManager, MetricType, Orchestrator, Step
from odibi_otel.metrics.manager import DEFAULT_CARDINALITY_LIMIT
from odibi_otel.metrics.server import DEFAULT_HOST, DEFAULT_PORT, resolve_endpoint
from odibi_otel.otel import semconv

if TYPE_CHECKING:
    from tests.conftest import Tracing

MB = 1024 * 1024
NODE_LABELS = {"pipeline", "node", "layer"}
SCOPE_LABELS = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
ENV_HOST = "OTEL_EXPORTER_PROMETHEUS_HOST"
ENV_PORT = "OTEL_EXPORTER_PROMETHEUS_PORT"


# --- pipeline functions ---------------------------------------------------------------------------


def double(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(amount=orders["amount"] * 2)


def triple(doubled: pd.DataFrame) -> pd.DataFrame:
    return doubled.assign(amount=doubled["amount"] * 3)


def explode(orders: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("bad order")


def make_frame() -> pd.DataFrame:
    return pd.DataFrame({"value": [1, 2]})


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture()
def orders_csv(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5],
            "amount": [1.5, 2.0, 3.0, 4.0, 5.5],
            "country": ["DE", "FR", "DE", "IT", "FR"],
        }
    ).to_csv(path, index=False)
    return path


def good_steps(folder: Path, with_triple: bool = False) -> list[Step]:
    steps = [
        Step("read_orders", "ingest", "read", str(folder / "orders.csv"), outputs=["orders"]),
        Step("double", "transform", "function", double, inputs=["orders"], outputs=["doubled"]),
        Step("store", "store", "write", str(folder / "doubled.csv"), inputs=["doubled"]),
    ]
    if with_triple:
        steps.append(Step("triple", "transform", "function", triple, inputs=["doubled"], outputs=["tripled"]))
    return steps


def broken_steps(folder: Path) -> list[Step]:
    return [
        Step("read_orders", "ingest", "read", str(folder / "orders.csv"), outputs=["orders"]),
        Step("explode", "transform", "function", explode, inputs=["orders"], outputs=["never"]),
        Step("double", "transform", "function", double, inputs=["orders"], outputs=["doubled"]),
    ]


@pytest.fixture()
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture()
def manager(reader: InMemoryMetricReader) -> Iterator[MetricsManager]:
    provider = MeterProvider(metric_readers=[reader])
    with MetricsManager(meter_provider=provider) as metrics_manager:
        yield metrics_manager
    provider.shutdown()


def run(
    steps: list[Step], manager: MetricsManager | None, provider: TracerProvider, name: str, **kwargs: Any
) -> dict[str, Any]:
    return Orchestrator(
        steps, metrics_manager=manager, pipeline_name=name, tracer_provider=provider, **kwargs
    ).execute()


def metrics_of(reader: InMemoryMetricReader) -> dict[str, Metric]:
    data = reader.get_metrics_data()
    assert data is not None, "nothing was recorded"
    found: dict[str, Metric] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            assert scope_metrics.scope.name == semconv.INSTRUMENTATION_SCOPE
            for metric in scope_metrics.metrics:
                assert metric.name not in found, metric.name
                found[metric.name] = metric
    return found


def point(metric: Metric, **labels: str) -> Any:
    """The one data point of ``metric`` whose attributes are exactly ``labels``."""
    matches = [p for p in metric.data.data_points if dict(p.attributes or {}) == labels]
    assert len(matches) == 1, (labels, [dict(p.attributes or {}) for p in metric.data.data_points])
    return matches[0]


def label_sets(metric: Metric) -> list[dict[str, Any]]:
    return [dict(p.attributes or {}) for p in metric.data.data_points]


def seconds(span: ReadableSpan) -> float:
    assert span.start_time is not None and span.end_time is not None
    return (span.end_time - span.start_time) / 1e9


def node_spans(exporter: InMemorySpanExporter, pipeline: str, node: str) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.name == "node " + node and (span.attributes or {})[semconv.PIPELINE_NAME] == pipeline
    ]


def prometheus_samples(text: str) -> list[Any]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def prometheus_value(text: str, name: str, **labels: str) -> float:
    """The value of the one sample ``name`` whose labels (without scope labels) are ``labels``."""
    matches = [
        sample.value
        for sample in prometheus_samples(text)
        if sample.name == name and {k: v for k, v in sample.labels.items() if k not in SCOPE_LABELS} == labels
    ]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def exposition(manager: MetricsManager) -> str:
    return manager.generate_latest().decode("utf-8")


# --- the seed's metric types, from real runs ------------------------------------------------------


def test_metric_type_has_the_seed_members() -> None:
    assert [member.name for member in MetricType] == [
        "NODE_DURATION",
        "THROUGHPUT",
        "CACHE_HIT",
        "CACHE_MISS",
        "ERROR_COUNT",
        "MEMORY_USAGE",
        "DATA_SIZE",
        "ROW_COUNT",
    ]
    assert odibi_otel.MetricsManager is MetricsManager
    assert odibi_otel.MetricType is MetricType


def test_every_metric_is_recorded_by_real_runs(
    manager: MetricsManager, reader: InMemoryMetricReader, tracing: Tracing, tmp_path: Path, orders_csv: Path
) -> None:
    cache = tmp_path / "cache"
    first = run(good_steps(tmp_path), manager, tracing.provider, "shop", enable_cache=True, cache_dir=cache)
    second = run(good_steps(tmp_path), manager, tracing.provider, "shop", enable_cache=True, cache_dir=cache)
    broken = run(broken_steps(tmp_path), manager, tracing.provider, "broken", fail_fast=False)
    assert first["success"] and second["success"] and not broken["success"]
    assert first["cache_hits"] == [] and second["cache_hits"] == ["read_orders", "double"]
    spans = tracing.exporter
    metrics = metrics_of(reader)
    assert set(metrics) == {
        semconv.METRIC_NODE_DURATION,
        semconv.METRIC_NODE_ROWS,
        semconv.METRIC_NODE_THROUGHPUT,
        semconv.METRIC_NODE_MEMORY_USAGE,
        semconv.METRIC_NODE_OUTPUT_SIZE,
        semconv.METRIC_NODE_ERRORS,
        semconv.METRIC_CACHE_HITS,
        semconv.METRIC_CACHE_MISSES,
        semconv.METRIC_PIPELINE_RUNS,
        semconv.METRIC_PIPELINE_DURATION,
        semconv.METRIC_PIPELINE_LAST_SUCCESS,
        semconv.METRIC_PIPELINE_LAST_RUN_TIMESTAMP,
        semconv.METRIC_PIPELINE_LAST_RUN_DURATION,
        semconv.METRIC_PIPELINE_LAST_RUN_STATUS,
        semconv.METRIC_NODE_LAST_RUN_ROWS,
        semconv.METRIC_NODE_LAST_RUN_DURATION,
        semconv.METRIC_NODE_LAST_RUN_STATUS,
    }
    shop = {"read_orders": "ingest", "double": "transform", "store": "store"}

    # NODE_DURATION: a histogram in seconds with the seconds-shaped buckets, one point per status
    # (executions served from the cache are status="cached", so they don't skew the percentiles).
    duration = metrics[semconv.METRIC_NODE_DURATION]
    assert isinstance(duration.data, Histogram) and duration.unit == "s"
    cached_nodes = {"read_orders", "double"}
    for node, layer in shop.items():
        runs = node_spans(spans, "shop", node)
        data_point = point(duration, pipeline="shop", node=node, layer=layer, status="success")
        assert isinstance(data_point, HistogramDataPoint)
        assert data_point.explicit_bounds == semconv.DURATION_BUCKETS_SECONDS
        if node in cached_nodes:
            cached = point(duration, pipeline="shop", node=node, layer=layer, status="cached")
            assert (data_point.count, cached.count) == (1, 1)
            assert data_point.sum == pytest.approx(seconds(runs[0]))
            assert cached.sum == pytest.approx(seconds(runs[1]))
        else:
            assert data_point.count == 2
            assert data_point.sum == pytest.approx(sum(seconds(s) for s in runs))
    failed_point = point(duration, pipeline="broken", node="explode", layer="transform", status="failed")
    assert failed_point.count == 1
    assert failed_point.sum == pytest.approx(seconds(node_spans(spans, "broken", "explode")[0]))

    # ROW_COUNT: a counter of rows out (a write node counts the rows it wrote).
    rows = metrics[semconv.METRIC_NODE_ROWS]
    assert isinstance(rows.data, Sum) and rows.data.is_monotonic and rows.unit == "{row}"
    for node, layer in shop.items():
        assert point(rows, pipeline="shop", node=node, layer=layer).value == 10
    assert point(rows, pipeline="broken", node="double", layer="transform").value == 5
    assert {"pipeline": "broken", "node": "explode", "layer": "transform"} not in label_sets(rows)

    # THROUGHPUT: rows per second of the latest execution, from the span's own duration.
    throughput = metrics[semconv.METRIC_NODE_THROUGHPUT]
    assert isinstance(throughput.data, Gauge) and throughput.unit == "{row}/s"
    for node, layer in shop.items():
        executed = [
            s for s in node_spans(spans, "shop", node) if not (s.attributes or {}).get(semconv.NODE_CACHE_HIT)
        ]
        last = executed[-1]  # cache hits leave the throughput of the last real execution
        expected = (last.attributes or {})[semconv.NODE_ROWS_OUT] / seconds(last)
        assert point(throughput, pipeline="shop", node=node, layer=layer).value == pytest.approx(expected)

    # CACHE_HIT / CACHE_MISS: cacheable nodes only (write steps never are), one outcome per run.
    hits, misses = metrics[semconv.METRIC_CACHE_HITS], metrics[semconv.METRIC_CACHE_MISSES]
    for counter in (hits, misses):
        assert isinstance(counter.data, Sum) and counter.data.is_monotonic
        assert sorted(labels["node"] for labels in label_sets(counter)) == ["double", "read_orders"]
    for node in ("read_orders", "double"):
        assert point(hits, pipeline="shop", node=node, layer=shop[node]).value == 1
        assert point(misses, pipeline="shop", node=node, layer=shop[node]).value == 1

    # ERROR_COUNT: failed nodes by error.type.
    errors = metrics[semconv.METRIC_NODE_ERRORS]
    assert isinstance(errors.data, Sum) and errors.data.is_monotonic
    assert label_sets(errors) == [
        {"pipeline": "broken", "node": "explode", "layer": "transform", "error.type": "ValueError"}
    ]
    assert errors.data.data_points[0].value == 1

    # MEMORY_USAGE: process RSS in bytes after every node, failed ones included.
    memory = metrics[semconv.METRIC_NODE_MEMORY_USAGE]
    assert isinstance(memory.data, Gauge) and memory.unit == "By"
    assert len(memory.data.data_points) == 6
    for data_point in memory.data.data_points:
        assert data_point.value > MB  # a Python process with pandas holds far more than 1 MiB

    # DATA_SIZE: the output's in-memory size in bytes, as the node span reports it.
    size = metrics[semconv.METRIC_NODE_OUTPUT_SIZE]
    assert isinstance(size.data, Gauge) and size.unit == "By"
    for node, layer in shop.items():
        last = node_spans(spans, "shop", node)[-1]
        expected_size = (last.attributes or {})[semconv.NODE_OUTPUT_SIZE_BYTES]
        assert expected_size > 0
        assert point(size, pipeline="shop", node=node, layer=layer).value == expected_size

    # Pipeline runs by status, pipeline duration, last-success timestamp.
    runs = metrics[semconv.METRIC_PIPELINE_RUNS]
    assert isinstance(runs.data, Sum) and runs.data.is_monotonic
    assert point(runs, pipeline="shop", status="success").value == 2
    assert point(runs, pipeline="broken", status="failed").value == 1
    pipeline_duration = metrics[semconv.METRIC_PIPELINE_DURATION]
    assert isinstance(pipeline_duration.data, Histogram) and pipeline_duration.unit == "s"
    shop_spans = [s for s in tracing.pipeline_spans() if s.name == "pipeline shop"]
    shop_point = point(pipeline_duration, pipeline="shop", status="success")
    assert shop_point.count == 2
    assert shop_point.explicit_bounds == semconv.DURATION_BUCKETS_SECONDS
    assert shop_point.sum == pytest.approx(sum(seconds(s) for s in shop_spans))
    assert point(pipeline_duration, pipeline="broken", status="failed").count == 1
    last_success = metrics[semconv.METRIC_PIPELINE_LAST_SUCCESS]
    assert isinstance(last_success.data, Gauge) and last_success.unit == "s"
    assert label_sets(last_success) == [{"pipeline": "shop"}]
    assert point(last_success, pipeline="shop").value == shop_spans[-1].end_time / 1e9

    # Batch-job gauges: the latest run of each pipeline and node, whatever its outcome.
    broken_span = next(s for s in tracing.pipeline_spans() if s.name == "pipeline broken")
    for span, status in ((shop_spans[-1], 1), (broken_span, 0)):
        name = str((span.attributes or {})[semconv.PIPELINE_NAME])
        ended = metrics[semconv.METRIC_PIPELINE_LAST_RUN_TIMESTAMP]
        assert point(ended, pipeline=name).value == span.end_time / 1e9
        took = metrics[semconv.METRIC_PIPELINE_LAST_RUN_DURATION]
        assert point(took, pipeline=name).value == pytest.approx(seconds(span))
        assert point(metrics[semconv.METRIC_PIPELINE_LAST_RUN_STATUS], pipeline=name).value == status
    for node, layer in shop.items():
        last = node_spans(spans, "shop", node)[-1]
        labels = {"pipeline": "shop", "node": node, "layer": layer}
        assert point(metrics[semconv.METRIC_NODE_LAST_RUN_ROWS], **labels).value == 10 // 2
        assert point(metrics[semconv.METRIC_NODE_LAST_RUN_DURATION], **labels).value == pytest.approx(
            seconds(last)
        )
        assert point(metrics[semconv.METRIC_NODE_LAST_RUN_STATUS], **labels).value == 1
    failed_node = {"pipeline": "broken", "node": "explode", "layer": "transform"}
    assert point(metrics[semconv.METRIC_NODE_LAST_RUN_STATUS], **failed_node).value == 0

    # Labels: exactly pipeline/node/layer (+status on durations, +error.type on errors).
    for name in (
        semconv.METRIC_NODE_ROWS,
        semconv.METRIC_NODE_THROUGHPUT,
        semconv.METRIC_NODE_MEMORY_USAGE,
        semconv.METRIC_NODE_OUTPUT_SIZE,
        semconv.METRIC_CACHE_HITS,
        semconv.METRIC_CACHE_MISSES,
    ):
        assert all(set(labels) == NODE_LABELS for labels in label_sets(metrics[name])), name
    assert all(set(labels) == NODE_LABELS | {"status"} for labels in label_sets(duration))
    assert all(set(labels) == NODE_LABELS | {"error.type"} for labels in label_sets(errors))
    assert all(set(labels) == {"pipeline", "status"} for labels in label_sets(runs))
    assert all(set(labels) == {"pipeline", "status"} for labels in label_sets(pipeline_duration))

    # Never a run id or trace id, neither in OpenTelemetry nor in the Prometheus exposition.
    text = exposition(manager)
    all_values = {
        str(v) for metric in metrics.values() for labels in label_sets(metric) for v in labels.values()
    }
    for result in (first, second, broken):
        assert result["run_id"] not in all_values and result["run_id"] not in text
        assert result["trace_id"] not in text
    for sample in prometheus_samples(text):
        if sample.name.startswith("odibi_"):
            assert set(sample.labels) - SCOPE_LABELS - {"le"} <= NODE_LABELS | {"status", "error_type"}


def test_sampled_out_runs_still_record_metrics(
    manager: MetricsManager, reader: InMemoryMetricReader, orders_csv: Path, tmp_path: Path
) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    assert run(good_steps(tmp_path), manager, provider, "shop")["success"]
    metrics = metrics_of(reader)
    assert point(metrics[semconv.METRIC_NODE_ROWS], pipeline="shop", node="store", layer="store").value == 5
    assert point(metrics[semconv.METRIC_PIPELINE_RUNS], pipeline="shop", status="success").value == 1


# --- one measurement ------------------------------------------------------------------------------


def test_durations_are_the_span_durations_exactly(
    manager: MetricsManager, reader: InMemoryMetricReader, tracing: Tracing, tmp_path: Path, orders_csv: Path
) -> None:
    run(good_steps(tmp_path), manager, tracing.provider, "shop")
    metrics = metrics_of(reader)
    text = exposition(manager)
    summary = manager.get_summary()
    node_spans_by_name = tracing.node_spans()
    assert set(node_spans_by_name) == {"read_orders", "double", "store"}
    for node, span in node_spans_by_name.items():
        labels = {"pipeline": "shop", "node": node, "layer": str((span.attributes or {})[semconv.NODE_LAYER])}
        data_point = point(metrics[semconv.METRIC_NODE_DURATION], **labels, status="success")
        assert data_point.count == 1
        assert data_point.sum == seconds(span)  # the same measurement, not a second clock
        assert data_point.min == data_point.max == seconds(span)
        exposed = prometheus_value(text, "odibi_node_duration_seconds_sum", **labels, status="success")
        assert exposed == seconds(span)
        assert summary["nodes"][node]["duration_ms"] == round(seconds(span) * 1000, 3)
    pipeline_span = tracing.pipeline_span()
    pipeline_point = point(metrics[semconv.METRIC_PIPELINE_DURATION], pipeline="shop", status="success")
    assert pipeline_point.sum == seconds(pipeline_span)
    assert summary["total_duration_ms"] == round(seconds(pipeline_span) * 1000, 3)


# --- the summary and its JSON file ----------------------------------------------------------------


def test_summary_matches_what_happened(
    manager: MetricsManager, tracing: Tracing, tmp_path: Path, orders_csv: Path
) -> None:
    cache = tmp_path / "cache"
    run(good_steps(tmp_path), manager, tracing.provider, "shop", enable_cache=True, cache_dir=cache)
    summary = manager.get_summary()
    assert (summary["cache_hits"], summary["cache_misses"], summary["cache_hit_rate"]) == (0, 2, 0.0)

    # Same cache, one more node: read_orders and double come from the cache, triple runs.
    tracing.clear()
    steps = good_steps(tmp_path, with_triple=True)
    result = run(steps, manager, tracing.provider, "shop2", enable_cache=True, cache_dir=cache)
    assert result["cache_hits"] == ["read_orders", "double"]
    summary = manager.get_summary()
    assert summary["pipeline_name"] == "shop2"
    assert summary["status"] == "success"
    assert summary["total_nodes"] == 4
    assert (summary["cache_hits"], summary["cache_misses"]) == (2, 1)
    assert summary["cache_hit_rate"] == pytest.approx(2 / 3)
    assert summary["error_count"] == 0
    assert summary["runs"] == 2
    pipeline_span = tracing.pipeline_span()
    started = datetime.fromisoformat(summary["timestamp"])
    assert int(started.timestamp()) == pipeline_span.start_time // 1_000_000_000
    assert summary["total_duration_ms"] == round(seconds(pipeline_span) * 1000, 3)
    for node, span in tracing.node_spans().items():
        attributes = span.attributes or {}
        figures = summary["nodes"][node]
        assert figures["row_count"] == attributes[semconv.NODE_ROWS_OUT]
        assert figures["data_size_bytes"] == attributes[semconv.NODE_OUTPUT_SIZE_BYTES]
        assert figures["throughput"] == round(attributes[semconv.NODE_ROWS_OUT] / seconds(span), 1)
        assert figures["cache_hit"] == attributes.get(semconv.NODE_CACHE_HIT)
        assert figures["layer"] == attributes[semconv.NODE_LAYER]
        assert figures["status"] == "success"
        assert figures["memory_mb"] > 1
    assert [summary["nodes"][n]["cache_hit"] for n in ("read_orders", "double", "triple", "store")] == [
        True,
        True,
        False,
        None,
    ]

    # A failing run: the summary describes it alone.
    tracing.clear()
    run(broken_steps(tmp_path), manager, tracing.provider, "broken", fail_fast=False)
    summary = manager.get_summary()
    assert summary["pipeline_name"] == "broken"
    assert summary["status"] == "failed"
    assert summary["total_nodes"] == 3
    assert summary["error_count"] == 1
    assert (summary["cache_hits"], summary["cache_misses"], summary["cache_hit_rate"]) == (0, 0, 0.0)
    assert summary["runs"] == 3
    assert summary["nodes"]["explode"]["status"] == "failed"
    assert summary["nodes"]["explode"]["row_count"] == 0
    assert summary["nodes"]["double"]["row_count"] == 5


def test_save_to_file_writes_the_seed_layout(
    manager: MetricsManager, tracing: Tracing, tmp_path: Path, orders_csv: Path
) -> None:
    run(good_steps(tmp_path), manager, tracing.provider, "shop")
    target = tmp_path / "metrics.json"
    manager.save_to_file(target)
    document = json.loads(target.read_text("utf-8"))
    assert document == manager.get_summary()
    seed_keys = {
        "timestamp",
        "pipeline_name",
        "total_duration_ms",
        "total_nodes",
        "cache_hit_rate",
        "error_count",
    }
    assert set(document) == seed_keys | {"status", "cache_hits", "cache_misses", "runs", "nodes"}
    assert document["pipeline_name"] == "shop" and document["total_nodes"] == 3
    for key in ("total_duration_ms", "cache_hit_rate"):
        assert isinstance(document[key], float)
    for key in ("total_nodes", "error_count"):
        assert isinstance(document[key], int)
    seed_node_keys = {"duration_ms", "row_count", "memory_mb", "throughput"}
    for figures in document["nodes"].values():
        assert set(figures) == seed_node_keys | {"data_size_bytes", "cache_hit", "status", "layer"}
        assert isinstance(figures["row_count"], int) and figures["row_count"] == 5
        assert all(isinstance(figures[key], float) for key in ("duration_ms", "memory_mb", "throughput"))
    assert list(document["nodes"]) == ["read_orders", "double", "store"]


# --- record() / increment() -----------------------------------------------------------------------


def test_record_and_increment_use_the_same_instruments(reader: InMemoryMetricReader) -> None:
    provider = MeterProvider(metric_readers=[reader])
    manager = MetricsManager(meter_provider=provider, pipeline_name="manual")
    manager.record(MetricType.NODE_DURATION, "load", 1500)  # seed unit: ms
    manager.record("memory_usage", "load", 2)  # seed unit: MB
    manager.record("THROUGHPUT", "load", 250.0)
    manager.record(MetricType.DATA_SIZE, "load", 4096)
    manager.record(MetricType.ROW_COUNT, "load", 10)
    manager.increment("row_count", "load", 5)
    manager.record(MetricType.CACHE_HIT, "load", 1)  # a counter type given to record() is added
    manager.increment(MetricType.CACHE_MISS, "load", 2)
    manager.increment("cache_hit")  # the seed's bare form: no step
    manager.increment(MetricType.ERROR_COUNT, "load")
    manager.record("node_start", "load", 1714566600.0)  # a custom measurement (seed flow)
    manager.increment("files.seen", "load", 3)  # a custom counter
    manager.increment("files_seen_total", "load")  # the same counter, as Prometheus names it
    with pytest.raises(ValueError, match="measurement"):
        manager.increment(MetricType.THROUGHPUT, "load")

    load = {"pipeline": "manual", "node": "load"}
    metrics = metrics_of(reader)
    histogram = point(metrics[semconv.METRIC_NODE_DURATION], **load)
    assert (histogram.count, histogram.sum) == (1, 1.5)
    assert histogram.explicit_bounds == semconv.DURATION_BUCKETS_SECONDS
    assert point(metrics[semconv.METRIC_NODE_MEMORY_USAGE], **load).value == 2 * MB
    assert point(metrics[semconv.METRIC_NODE_THROUGHPUT], **load).value == 250.0
    assert point(metrics[semconv.METRIC_NODE_OUTPUT_SIZE], **load).value == 4096
    assert point(metrics[semconv.METRIC_NODE_ROWS], **load).value == 15
    assert point(metrics[semconv.METRIC_CACHE_HITS], **load).value == 1
    assert point(metrics[semconv.METRIC_CACHE_HITS], pipeline="manual").value == 1
    assert point(metrics[semconv.METRIC_CACHE_MISSES], **load).value == 2
    assert point(metrics[semconv.METRIC_NODE_ERRORS], **load, **{"error.type": "unspecified"}).value == 1
    custom_gauge = metrics["odibi.custom.node_start"]
    assert isinstance(custom_gauge.data, Gauge)
    assert point(custom_gauge, **load).value == 1714566600.0
    custom_counter = metrics["odibi.custom.files.seen"]
    assert isinstance(custom_counter.data, Sum) and custom_counter.data.is_monotonic
    assert point(custom_counter, **load).value == 4

    # The same measurements on the manager's own Prometheus registry.
    text = exposition(manager)
    assert prometheus_value(text, "odibi_node_duration_seconds_sum", **load) == 1.5
    assert prometheus_value(text, "odibi_node_duration_seconds_count", **load) == 1
    assert prometheus_value(text, "odibi_node_memory_usage_bytes", **load) == 2 * MB
    assert prometheus_value(text, "odibi_node_throughput_per_second", **load) == 250.0
    assert prometheus_value(text, "odibi_node_output_size_bytes", **load) == 4096
    assert prometheus_value(text, "odibi_node_rows_total", **load) == 15
    assert prometheus_value(text, "odibi_cache_hits_total", **load) == 1
    assert prometheus_value(text, "odibi_cache_hits_total", pipeline="manual", node="") == 1
    assert prometheus_value(text, "odibi_cache_misses_total", **load) == 2
    assert prometheus_value(text, "odibi_node_errors_total", **load, error_type="unspecified") == 1
    assert prometheus_value(text, "odibi_custom_node_start", **load) == 1714566600.0
    assert prometheus_value(text, "odibi_custom_files_seen_total", **load) == 4

    # The summary keeps the seed units.
    summary = manager.get_summary()
    figures = summary["nodes"]["load"]
    assert (figures["duration_ms"], figures["memory_mb"], figures["throughput"]) == (1500.0, 2.0, 250.0)
    assert (figures["row_count"], figures["data_size_bytes"]) == (10, 4096)
    assert (summary["cache_hits"], summary["cache_misses"], summary["error_count"]) == (2, 2, 1)
    assert summary["cache_hit_rate"] == 0.5
    assert summary["pipeline_name"] == "manual" and summary["runs"] == 0
    manager.shutdown()
    provider.shutdown()


def test_custom_names_keep_one_kind_so_the_exposition_stays_valid() -> None:
    with MetricsManager() as manager:
        manager.record("queue_depth", "load", 3)
        with pytest.raises(ValueError, match="gauge"):
            manager.increment("queue_depth", "load")
        with pytest.raises(ValueError, match="gauge"):
            manager.increment("queue.depth", "load")  # the same Prometheus name
        manager.increment("retries", "load")
        with pytest.raises(ValueError, match="counter"):
            manager.record("retries", "load", 1)
        with pytest.raises(ValueError, match="_total"):
            manager.record("backlog_total", "load", 1)
        with pytest.raises(ValueError, match="invalid custom metric name"):
            manager.record("...", "load", 1)
        # Both exposition formats parse (OpenMetrics rejects a family name used twice).
        families = {f.name for f in text_string_to_metric_families(exposition(manager))}
        assert {"odibi_custom_queue_depth", "odibi_custom_retries"} <= families
        om_text = openmetrics_generate_latest(manager.registry).decode()
        assert {f.name for f in openmetrics_families(om_text)} >= {
            "odibi_custom_queue_depth",
            "odibi_custom_retries",
        }


# --- isolation ------------------------------------------------------------------------------------


def test_two_managers_do_not_see_each_others_series(
    tracing: Tracing, tmp_path: Path, orders_csv: Path
) -> None:
    readers = [InMemoryMetricReader(), InMemoryMetricReader()]
    providers = [MeterProvider(metric_readers=[r]) for r in readers]
    first, second = (MetricsManager(meter_provider=p) for p in providers)
    run(good_steps(tmp_path), first, tracing.provider, "first_pipeline")
    run(good_steps(tmp_path), second, tracing.provider, "second_pipeline")
    run(good_steps(tmp_path), second, tracing.provider, "second_pipeline")
    first_text, second_text = exposition(first), exposition(second)
    assert "first_pipeline" in first_text and "second_pipeline" not in first_text
    assert "second_pipeline" in second_text and "first_pipeline" not in second_text
    labels = {"pipeline": "first_pipeline", "node": "store", "layer": "store"}
    assert prometheus_value(first_text, "odibi_node_rows_total", **labels) == 5
    labels["pipeline"] = "second_pipeline"
    assert prometheus_value(second_text, "odibi_node_rows_total", **labels) == 10
    assert first.get_summary()["runs"] == 1 and second.get_summary()["runs"] == 2
    for manager, provider in zip((first, second), providers, strict=True):
        manager.shutdown()
        provider.shutdown()


def test_host_registry_and_manager_registry_stay_apart(
    manager: MetricsManager, tracing: Tracing, tmp_path: Path, orders_csv: Path
) -> None:
    host_name = f"host_app_requests_{uuid.uuid4().hex[:8]}"
    host_counter = PromCounter(host_name, "A host application's own metric")
    try:
        host_counter.inc(7)
        pipeline = f"isolated_{uuid.uuid4().hex[:8]}"
        run(good_steps(tmp_path), manager, tracing.provider, pipeline)
        ours = exposition(manager)
        theirs = prometheus_generate_latest(REGISTRY).decode()
        assert host_name in theirs and host_name not in ours
        assert pipeline in ours and pipeline not in theirs
        assert "odibi_node_rows_total" in ours
    finally:
        REGISTRY.unregister(host_counter)


# --- cardinality ----------------------------------------------------------------------------------


def test_cardinality_limit_folds_extra_series_into_an_overflow_series(tracing: Tracing) -> None:
    steps = [
        Step(f"node_{i:02d}", "transform", "function", make_frame, outputs=[f"out_{i}"]) for i in range(10)
    ]
    with pytest.raises(ValueError, match="cardinality_limit"):
        MetricsManager(cardinality_limit=0)
    assert DEFAULT_CARDINALITY_LIMIT == 20_000
    with MetricsManager(cardinality_limit=5) as manager:
        run(steps, manager, tracing.provider, "wide")
        text = exposition(manager)
    rows = [s for s in prometheus_samples(text) if s.name == "odibi_node_rows_total"]
    named = [s for s in rows if s.labels.get("otel_metric_overflow") != "true"]
    overflow = [s for s in rows if s.labels.get("otel_metric_overflow") == "true"]
    assert len(named) == 5 and all(s.value == 2 for s in named)
    assert len(overflow) == 1 and overflow[0].value == 5 * 2  # the other 5 nodes' rows, folded
    assert overflow[0].labels["node"] == "" and overflow[0].labels["pipeline"] == ""
    for family in ("odibi_node_duration_seconds_count", "odibi_node_memory_usage_bytes"):
        samples = [s for s in prometheus_samples(text) if s.name == family]
        assert len(samples) == 6, family
        assert sum(s.labels.get("otel_metric_overflow") == "true" for s in samples) == 1, family
    durations = [s for s in prometheus_samples(text) if s.name == "odibi_node_duration_seconds_count"]
    assert sum(s.value for s in durations) == 10  # nothing lost, only folded


# --- the /metrics endpoint ------------------------------------------------------------------------


def test_resolve_endpoint_defaults_environment_and_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_HOST, raising=False)
    monkeypatch.delenv(ENV_PORT, raising=False)
    assert resolve_endpoint() == (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 9464)
    monkeypatch.setenv(ENV_HOST, "0.0.0.0")
    monkeypatch.setenv(ENV_PORT, "9999")
    assert resolve_endpoint() == ("0.0.0.0", 9999)
    assert resolve_endpoint("localhost", 9100) == ("localhost", 9100)
    assert resolve_endpoint(port=0) == ("0.0.0.0", 0)
    assert resolve_endpoint(host="::1") == ("::1", 9999)
    monkeypatch.setenv(ENV_PORT, "not-a-port")
    with pytest.raises(ValueError, match=ENV_PORT):
        resolve_endpoint()
    assert resolve_endpoint(port=8000) == ("0.0.0.0", 8000)
    with pytest.raises(ValueError, match="between 0 and 65535"):
        resolve_endpoint(port=70000)


def test_start_server_on_port_zero_serves_metrics_on_loopback(
    manager: MetricsManager,
    tracing: Tracing,
    tmp_path: Path,
    orders_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_HOST, raising=False)
    monkeypatch.delenv(ENV_PORT, raising=False)
    server = manager.start_server(port=0)
    assert manager.start_server() is server  # one endpoint per manager
    assert server.host == "127.0.0.1"
    assert server._server.server_address[0] == "127.0.0.1"
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    run(good_steps(tmp_path), manager, tracing.provider, "served")
    with urllib.request.urlopen(server.url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        body = response.read().decode("utf-8")
    labels = {"pipeline": "served", "node": "store", "layer": "store"}
    assert prometheus_value(body, "odibi_node_rows_total", **labels) == 5
    assert prometheus_value(body, "odibi_pipeline_runs_total", pipeline="served", status="success") == 1
    manager.stop_server()
    manager.stop_server()  # idempotent
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=5)


def test_start_server_honours_the_environment(
    manager: MetricsManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_HOST, "127.0.0.1")
    monkeypatch.setenv(ENV_PORT, "0")
    server = manager.start_server()
    try:
        assert server.host == "127.0.0.1" and server.port > 0
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.status == 200
    finally:
        manager.stop_server()


# --- as a span processor of the application's provider --------------------------------------------


def test_added_to_a_foreign_provider_it_ignores_foreign_spans(
    manager: MetricsManager, reader: InMemoryMetricReader, tmp_path: Path, orders_csv: Path
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(manager)
    tracer = provider.get_tracer("host.app")
    with tracer.start_as_current_span("pipeline nightly", attributes={semconv.PIPELINE_NAME: "nightly"}):
        with tracer.start_as_current_span("node load", attributes={semconv.NODE_NAME: "load"}):
            pass
        with tracer.start_as_current_span("GET /health"):
            pass
    assert reader.get_metrics_data() is None or not metrics_of(reader)
    assert manager.get_summary()["runs"] == 0 and manager.get_summary()["nodes"] == {}
    assert "odibi_node" not in exposition(manager)

    # An orchestrator on that provider, without metrics_manager=: the provider delivers its spans.
    result = Orchestrator(good_steps(tmp_path), pipeline_name="hosted", tracer_provider=provider).execute()
    assert result["success"]
    metrics = metrics_of(reader)
    assert point(metrics[semconv.METRIC_PIPELINE_RUNS], pipeline="hosted", status="success").value == 1
    assert (
        point(metrics[semconv.METRIC_NODE_ROWS], pipeline="hosted", node="double", layer="transform").value
        == 5
    )
    assert manager.get_summary()["total_nodes"] == 3
    provider.shutdown()


def test_passed_and_added_counts_each_span_once(
    manager: MetricsManager, reader: InMemoryMetricReader, tmp_path: Path, orders_csv: Path
) -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(manager)
    for _ in range(2):
        assert run(good_steps(tmp_path), manager, provider, "twice")["success"]
    metrics = metrics_of(reader)
    assert point(metrics[semconv.METRIC_PIPELINE_RUNS], pipeline="twice", status="success").value == 2
    for node, layer in (("read_orders", "ingest"), ("double", "transform"), ("store", "store")):
        assert point(metrics[semconv.METRIC_NODE_ROWS], pipeline="twice", node=node, layer=layer).value == 10
        data_point = point(
            metrics[semconv.METRIC_NODE_DURATION], pipeline="twice", node=node, layer=layer, status="success"
        )
        assert data_point.count == 2
    text = exposition(manager)
    labels = {"pipeline": "twice", "node": "store", "layer": "store", "status": "success"}
    assert prometheus_value(text, "odibi_node_duration_seconds_count", **labels) == 2
    summary = manager.get_summary()
    assert summary["runs"] == 2 and summary["total_nodes"] == 3
    assert isinstance(
        point(metrics[semconv.METRIC_PIPELINE_RUNS], pipeline="twice", status="success"), NumberDataPoint
    )
    provider.shutdown()

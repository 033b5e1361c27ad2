"""A real Prometheus server scrapes the /metrics endpoint while pipelines run.

Prometheus (Debian package ``prometheus``) is started on loopback with a config written to a
temporary folder and a 1 s scrape interval; the test waits for a scrape that saw the runs and
compares what Prometheus stored with what the runs did.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from odibi_otel import MetricsManager, Orchestrator, Step
from tests.servers import PrometheusServer, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture()
def manager() -> Iterator[MetricsManager]:
    metrics = MetricsManager()
    metrics.start_server(host="127.0.0.1", port=0)
    yield metrics
    metrics.shutdown()


@pytest.fixture()
def prometheus(tmp_path: Path, manager: MetricsManager) -> Iterator[PrometheusServer]:
    assert manager._server is not None
    server = PrometheusServer(tmp_path, f"127.0.0.1:{manager._server.port}")
    yield server
    server.stop()


def _pipeline(tmp_path: Path) -> list[Step]:
    source = tmp_path / "orders.csv"
    pd.DataFrame({"order_id": range(250), "amount": [float(i % 17) for i in range(250)]}).to_csv(
        source, index=False
    )

    def large_orders(orders: pd.DataFrame) -> pd.DataFrame:
        return orders[orders["amount"] > 8]

    def totals(orders: pd.DataFrame) -> pd.DataFrame:
        return orders.groupby("amount", as_index=False).size()

    return [
        Step("read_orders", "ingest", "read", str(source), outputs=["orders"]),
        Step("large_orders", "transform", "function", large_orders, inputs=["orders"], outputs=["large"]),
        Step("totals", "transform", "function", totals, inputs=["large"], outputs=["totals"]),
        Step("store_totals", "store", "write", str(tmp_path / "totals.parquet"), inputs=["totals"]),
    ]


def test_prometheus_scrapes_the_runs(
    tmp_path: Path, manager: MetricsManager, prometheus: PrometheusServer
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    steps = _pipeline(tmp_path)
    runs = 3
    for _ in range(runs):
        result = Orchestrator(
            steps, metrics_manager=manager, tracer_provider=provider, pipeline_name="orders_daily"
        ).execute()
        assert result["success"], result["errors"]

    wait_for(
        lambda: prometheus.by_label("odibi_pipeline_runs_total", "pipeline").get("orders_daily") == runs,
        30,
        "a scrape that saw every run",
    )

    node_spans = [span for span in exporter.get_finished_spans() if span.name.startswith("node ")]
    expected_counts: dict[str, float] = {}
    expected_rows: dict[str, float] = {}
    expected_seconds: dict[str, float] = {}
    for span in node_spans:
        node = span.attributes["odibi.node.name"]
        expected_counts[node] = expected_counts.get(node, 0) + 1
        expected_rows[node] = expected_rows.get(node, 0) + span.attributes["odibi.node.rows_out"]
        duration = (span.end_time - span.start_time) / 1e9
        expected_seconds[node] = expected_seconds.get(node, 0) + duration

    counts = prometheus.by_label("sum by (node) (odibi_node_duration_seconds_count)", "node")
    rows = prometheus.by_label("sum by (node) (odibi_node_rows_total)", "node")
    seconds = prometheus.by_label("sum by (node) (odibi_node_duration_seconds_sum)", "node")
    assert counts == {node: float(runs) for node in expected_counts} == expected_counts
    assert rows == expected_rows
    assert rows["large_orders"] == runs * sum(1 for i in range(250) if i % 17 > 8)
    for node, total in expected_seconds.items():
        assert seconds[node] == pytest.approx(total, rel=1e-9)

    last_success = prometheus.query('odibi_pipeline_last_success_timestamp_seconds{pipeline="orders_daily"}')
    assert len(last_success) == 1
    assert abs(float(last_success[0]["value"][1]) - time.time()) < 120

    up = prometheus.by_label('up{job="odibi_otel"}', "job")
    assert up == {"odibi_otel": 1.0}

"""A real pipeline run exported over OTLP to a real receiver (the ``oteltest`` sink).

The run happens in a subprocess through the ``odibi-otel`` CLI, so ``configure()`` installs its
providers exactly as it does for users; the test process only hosts the receiver.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from oteltest.sink import GrpcSink, HttpSink
from oteltest.sink.handler import RequestHandler

pytestmark = pytest.mark.integration

PIPELINE = """\
name: otlp_orders
steps:
  - {name: read_orders, layer: ingest, type: read, value: orders.csv, outputs: [orders]}
  - {name: read_customers, layer: ingest, type: read, value: customers.csv, outputs: [customers]}
  - name: join
    layer: transform
    type: function
    value: "steps:join"
    inputs: [orders, customers]
    outputs: [joined]
  - {name: store, layer: store, type: write, value: out/joined.parquet, inputs: [joined]}
"""

STEPS_MODULE = """\
import pandas as pd


def join(orders: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    return orders.merge(customers, on="customer_id")
"""


class Collector(RequestHandler):
    """Keeps every OTLP request received, as OTLP/JSON dicts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.traces: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []

    def handle_trace(self, request: Any, headers: Any) -> None:
        with self.lock:
            self.traces.append(MessageToDict(request))

    def handle_metrics(self, request: Any, headers: Any) -> None:
        with self.lock:
            self.metrics.append(MessageToDict(request))

    def handle_logs(self, request: Any, headers: Any) -> None:
        with self.lock:
            self.logs.append(MessageToDict(request))

    def spans(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                span
                for request in self.traces
                for resource_spans in request.get("resourceSpans", [])
                for scope_spans in resource_spans.get("scopeSpans", [])
                for span in scope_spans.get("spans", [])
            ]

    def resources(self) -> list[dict[str, Any]]:
        with self.lock:
            return [rs.get("resource", {}) for request in self.traces for rs in request["resourceSpans"]]

    def metric_names(self) -> set[str]:
        with self.lock:
            return {
                metric["name"]
                for request in self.metrics
                for rm in request.get("resourceMetrics", [])
                for sm in rm.get("scopeMetrics", [])
                for metric in sm.get("metrics", [])
            }

    def metric(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                metric
                for request in self.metrics
                for rm in request.get("resourceMetrics", [])
                for sm in rm.get("scopeMetrics", [])
                for metric in sm.get("metrics", [])
                if metric["name"] == name
            ]

    def log_records(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                record
                for request in self.logs
                for rl in request.get("resourceLogs", [])
                for sl in rl.get("scopeLogs", [])
                for record in sl.get("logRecords", [])
            ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def pipeline_file(tmp_path: Path) -> Path:
    (tmp_path / "orders.csv").write_text("order_id,customer_id,amount\n1,10,5.0\n2,11,7.5\n3,10,1.0\n")
    (tmp_path / "customers.csv").write_text("customer_id,name\n10,Ada\n11,Grace\n")
    (tmp_path / "steps.py").write_text(STEPS_MODULE)
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE)
    return path


def _run_cli(
    pipeline: Path, out: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OTEL_METRIC_EXPORT_INTERVAL": "500", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "odibi_otel.cli.main", "run", str(pipeline), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )


def _hex(value: str) -> str:
    """MessageToDict renders ids as base64; OTLP/JSON files use hex. Compare in hex."""
    import base64

    return base64.b64decode(value).hex()


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest) -> Iterator[tuple[str, Collector, int]]:
    collector = Collector()
    port = _free_port()
    logger = logging.getLogger("oteltest-sink")
    if request.param == "grpc":
        sink: Any = GrpcSink(collector, logger, port=port)
    else:
        sink = HttpSink(collector, logger, port=port)
    sink.start()
    yield request.param, collector, port
    sink.stop()


def _wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_arrives_at_a_real_otlp_receiver(
    receiver: tuple[str, Collector, int], pipeline_file: Path, tmp_path: Path
) -> None:
    protocol, collector, port = receiver
    completed = _run_cli(
        pipeline_file,
        tmp_path / "artifacts",
        "--otlp-endpoint",
        f"http://127.0.0.1:{port}",
        "--otlp-protocol",
        protocol,
    )
    assert completed.returncode == 0, completed.stderr
    # The CLI flushes on exit, so everything has arrived once it returned.
    spans = collector.spans()
    names = sorted(span["name"] for span in spans)
    assert names == sorted(
        ["pipeline otlp_orders", "node read_orders", "node read_customers", "node join", "node store"]
    )
    assert len({span["traceId"] for span in spans}) == 1
    pipeline = next(span for span in spans if span["name"].startswith("pipeline "))
    by_name = {span["name"]: span for span in spans}
    for span in spans:
        if span is not pipeline:
            assert span["parentSpanId"] == pipeline["spanId"]
    join_links = {_hex(link["spanId"]) for link in by_name["node join"]["links"]}
    assert join_links == {
        _hex(by_name["node read_orders"]["spanId"]),
        _hex(by_name["node read_customers"]["spanId"]),
    }
    resource = {item["key"]: item["value"] for item in collector.resources()[0]["attributes"]}
    # service.name names the deployed service (OpenTelemetry's convention), not the pipeline:
    # the pipeline is the odibi.pipeline.name attribute and the metrics' pipeline label
    assert resource["service.name"] == {"stringValue": "odibi_otel"}
    assert {"key": "odibi.pipeline.name", "value": {"stringValue": "otlp_orders"}} in pipeline["attributes"]
    assert "service.version" in resource

    _wait_until(lambda: "odibi.node.duration" in collector.metric_names(), 10, "metric points")
    histogram_points = collector.metric("odibi.node.duration")[-1]["histogram"]["dataPoints"]
    counts = {
        next(a["value"]["stringValue"] for a in point["attributes"] if a["key"] == "node"): int(
            point["count"]
        )
        for point in histogram_points
    }
    assert counts == {"read_orders": 1, "read_customers": 1, "join": 1, "store": 1}

    records = collector.log_records()
    events = [record for record in records if record.get("eventName") == "odibi.lineage.snapshot"]
    assert sorted(
        record["body"]["kvlistValue"]["values"][0]["value"]["stringValue"] for record in events
    ) == sorted(["read_orders", "read_customers", "join", "store"])
    for record in events:
        assert record["traceId"] == pipeline["traceId"]
    assert any(record.get("eventName") == "odibi.lineage.run" for record in records)


def _rows_points(collector: Collector) -> list[tuple[str, dict[str, Any]]]:
    """(temporality, point) of every ``odibi.node.rows`` data point received."""
    return [
        (metric["sum"].get("aggregationTemporality", ""), point)
        for metric in collector.metric("odibi.node.rows")
        for point in metric["sum"].get("dataPoints", [])
    ]


def _node(point: dict[str, Any]) -> str:
    return next(a["value"]["stringValue"] for a in point["attributes"] if a["key"] == "node")


@pytest.mark.parametrize("preference", [None, "cumulative"])
def test_cli_runs_send_delta_metrics_that_add_up_across_runs(
    preference: str | None, pipeline_file: Path, tmp_path: Path
) -> None:
    collector = Collector()
    port = _free_port()
    sink = HttpSink(collector, logging.getLogger("oteltest-sink"), port=port)
    sink.start()
    try:
        env = {} if preference is None else {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": preference}
        for out in ("first", "second"):  # two short-lived processes, like two cron runs
            completed = _run_cli(
                pipeline_file, tmp_path / out, "--otlp-endpoint", f"http://127.0.0.1:{port}", env=env
            )
            assert completed.returncode == 0, completed.stderr
        points = _rows_points(collector)
        expected = (
            "AGGREGATION_TEMPORALITY_DELTA" if preference is None else "AGGREGATION_TEMPORALITY_CUMULATIVE"
        )
        assert points and {temporality for temporality, _ in points} == {expected}
        totals: dict[str, int] = {}
        for _, point in points:
            totals[_node(point)] = totals.get(_node(point), 0) + int(point["asInt"])
        if preference is None:  # deltas: what a Collector's deltatocumulative adds up is both runs
            assert totals == {"read_orders": 6, "read_customers": 4, "join": 6, "store": 6}
        # a stable identity: both processes send the same resource, so their streams are one series
        with collector.lock:
            resources = [
                sorted((a["key"], json.dumps(a["value"])) for a in rm["resource"]["attributes"])
                for request in collector.metrics
                for rm in request["resourceMetrics"]
            ]
        assert len({tuple(resource) for resource in resources}) == 1
    finally:
        sink.stop()

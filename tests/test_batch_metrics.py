"""Batch runs reach Prometheus: Pushgateway, node_exporter's textfile collector, one endpoint.

Unit tests for the pure parts (group URLs, what a failed run sends, the process-wide view), then
the real parts: a real Pushgateway and a real node_exporter, each scraped by a real Prometheus,
store exactly the run's values.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from odibi_otel import MetricsManager, Orchestrator, Step, telemetry_failures
from odibi_otel.metrics.batch import (
    BatchExport,
    run_exposition,
    set_batch_export,
    textfile_path,
)
from odibi_otel.metrics.process import ProcessMetrics
from odibi_otel.metrics.pushgateway import PushgatewayError, group_url, push_exposition
from tests.servers import NodeExporter, PrometheusServer, Pushgateway, free_port, wait_for
from tests.test_prometheus_format import check_metrics

PIPELINE = """\
name: batch_orders
variables: {limit: "1000"}
steps:
  - {name: read_orders, layer: ingest, type: read, value: orders.csv, outputs: [orders]}
  - name: double
    layer: transform
    type: function
    value: "batch_steps:double"
    inputs: [orders]
    outputs: [doubled]
    params: {limit: "${limit}"}
  - {name: store, layer: store, type: write, value: out/doubled.csv, inputs: [doubled]}
"""

STEPS = """\
def double(orders, limit):
    doubled = orders.assign(amount=orders["amount"] * 2)
    if (doubled["amount"] > float(limit)).any():
        raise ValueError("amount over the limit")
    return doubled
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "orders.csv").write_text("id,amount\n1,5\n2,7\n3,9\n4,1\n")
    (tmp_path / "batch_steps.py").write_text(STEPS)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    return tmp_path


def run_cli(project: Path, out: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "odibi_otel.cli.main", "run", "pipeline.yaml", "--out", out, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
        check=False,
    )


def frame_steps(pipeline_rows: int, fail: bool = False) -> list[Step]:
    def make() -> pd.DataFrame:
        return pd.DataFrame({"v": range(pipeline_rows)})

    def check(frame: pd.DataFrame) -> pd.DataFrame:
        if fail:
            raise ValueError("planted failure")
        return frame

    return [
        Step("make", "ingest", "function", make, outputs=["frame"]),
        Step("check", "transform", "function", check, inputs=["frame"], outputs=["checked"]),
    ]


def run(manager: MetricsManager, name: str, rows: int = 3, fail: bool = False) -> dict[str, Any]:
    result = Orchestrator(frame_steps(rows, fail), pipeline_name=name, metrics_manager=manager).execute()
    return dict(result)


def samples(text: str, name: str) -> dict[str, float]:
    """``{pipeline/node: value}`` of one series name in a text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                key = sample.labels.get("node") or sample.labels.get("pipeline", "")
                found[key] = sample.value
    return found


# -- pure parts -----------------------------------------------------------------------------------


def test_group_urls_encode_labels_the_pushgateway_way() -> None:
    assert group_url("http://gw:9091", "odibi", {"pipeline": "orders"}) == (
        "http://gw:9091/metrics/job/odibi/pipeline/orders"
    )
    # a slash or an empty value: base64 (URL-safe) with the @base64 suffix; credentials left out
    assert group_url("https://u:p@gw:9091/prefix/", "my job", {"pipeline": "a/b", "instance": ""}) == (
        "https://gw:9091/prefix/metrics/job/my%20job/pipeline@base64/YS9i/instance@base64/="
    )
    with pytest.raises(PushgatewayError, match="must be http"):
        group_url("gw:9091", "odibi", {})


def test_a_failed_run_is_sent_without_last_success_and_only_its_pipeline() -> None:
    with MetricsManager() as manager:
        run(manager, "good")
        run(manager, "bad", fail=True)
        data = manager.collect_data()
        good = run_exposition(data, "good", succeeded=True).decode()
        bad = run_exposition(data, "bad", succeeded=False).decode()
    assert samples(good, "odibi_pipeline_last_success_timestamp_seconds").keys() == {"good"}
    assert 'pipeline="bad"' not in good
    assert "odibi_pipeline_last_success_timestamp_seconds" not in bad
    assert samples(bad, "odibi_pipeline_last_run_status") == {"bad": 0.0}
    assert samples(bad, "odibi_node_last_run_status") == {"make": 1.0, "check": 0.0}
    for text in (good, bad):
        checked = check_metrics(text)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_a_textfile_keeps_the_last_success_when_a_later_run_fails(tmp_path: Path) -> None:
    with MetricsManager() as manager:
        run(manager, "orders", rows=4)
        path = manager.write_textfile(tmp_path)
        first = samples(path.read_text(), "odibi_pipeline_last_success_timestamp_seconds")
        run(manager, "orders", rows=2, fail=True)
        assert manager.write_textfile(tmp_path) == path == textfile_path(tmp_path, "orders")
    text = path.read_text()
    assert samples(text, "odibi_pipeline_last_success_timestamp_seconds") == first
    assert samples(text, "odibi_pipeline_last_run_status") == {"orders": 0.0}
    assert samples(text, "odibi_node_last_run_rows")["make"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["odibi_orders.prom"]  # no temporary file left
    checked = check_metrics(text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


@pytest.fixture()
def hanging_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_an_unreachable_or_hanging_gateway_costs_one_warning_and_never_the_run(
    hanging_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    before = telemetry_failures().get("Pushgateway push", 0)
    with MetricsManager() as manager:
        for url in (f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{hanging_server}"):
            set_batch_export(BatchExport(pushgateway_url=url, timeout=0.5))
            caplog.clear()
            started = time.monotonic()
            with caplog.at_level(logging.WARNING, logger="odibi_otel"):
                result = run(manager, "orders")
            assert result["success"], result["errors"]
            assert time.monotonic() - started < 5  # the push is bounded by its timeout
            warnings = [r.getMessage() for r in caplog.records if "not pushed" in r.getMessage()]
            assert len(warnings) == 1 and "'orders'" in warnings[0], warnings
    assert telemetry_failures()["Pushgateway push"] == before + 2
    with pytest.raises(PushgatewayError, match=r"timed out|failed"):
        push_exposition(f"http://127.0.0.1:{hanging_server}", b"", timeout=0.3)


def test_two_managers_share_one_view_and_one_pipeline_name_shows_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    view = ProcessMetrics()
    with MetricsManager(share=False) as first, MetricsManager(share=False) as second:
        view.add(first)
        view.add(second)
        run(first, "orders", rows=4)
        run(second, "customers", rows=2)
        text = view.exposition().decode()
        assert samples(text, "odibi_pipeline_last_run_status") == {"orders": 1.0, "customers": 1.0}
        checked = check_metrics(text)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
        with caplog.at_level(logging.WARNING, logger="odibi_otel"):
            run(second, "orders", rows=7)
            shown = view.exposition().decode()
            view.exposition()  # warned once, not per scrape
    rows = [line for line in shown.splitlines() if line.startswith("odibi_node_last_run_rows{")]
    assert [line.split()[-1] for line in rows if 'pipeline="orders"' in line] == ["4.0", "4.0"]
    assert len([r for r in caplog.records if "recorded by two MetricsManagers" in r.getMessage()]) == 1


CONFIGURED_APP = """
import json, sys, urllib.request
import pandas as pd
from opentelemetry.sdk.metrics import MeterProvider
import odibi_otel
from odibi_otel import MetricsManager, Orchestrator, Step

def steps():
    return [Step("make", "ingest", "function", lambda: pd.DataFrame({"v": [1, 2]}), outputs=["k"])]

early = MetricsManager()  # created before configure()
handle = odibi_otel.configure(prometheus_port=0)
late = MetricsManager()  # the tutorial's pattern, after configure()
private = MetricsManager(meter_provider=MeterProvider())  # has its own provider: not shown
for name, manager in (("early", early), ("late", late), ("private", private), ("default", None)):
    Orchestrator(steps(), pipeline_name=name, metrics_manager=manager).execute()
with urllib.request.urlopen(handle.prometheus_url, timeout=5) as response:
    sys.stdout.write(response.read().decode())
handle.shutdown()
"""


def test_configure_serves_every_shared_manager_of_the_process(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(CONFIGURED_APP))
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    text = completed.stdout
    assert samples(text, "odibi_pipeline_last_run_status") == {"early": 1.0, "late": 1.0, "default": 1.0}
    checked = check_metrics(text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


# -- real servers -----------------------------------------------------------------------------


@pytest.mark.integration
def test_pushed_runs_reach_prometheus_through_a_real_pushgateway(project: Path, tmp_path: Path) -> None:
    gateway = Pushgateway(tmp_path)
    prometheus = None
    try:
        prometheus = PrometheusServer(tmp_path, f"127.0.0.1:{gateway.port}", honor_labels=True)
        good = run_cli(project, "good", "--pushgateway", gateway.url)
        assert good.returncode == 0, good.stderr
        summary = json.loads((project / "good" / "metrics.json").read_text())
        selector = '{job="odibi",pipeline="batch_orders"}'
        rows = wait_for(
            lambda: prometheus.by_label(f"odibi_node_last_run_rows{selector}", "node"), 30, "pushed rows"
        )
        assert rows == {node: figures["row_count"] for node, figures in summary["nodes"].items()}
        durations = prometheus.by_label(f"odibi_node_last_run_duration_seconds{selector}", "node")
        for node, figures in summary["nodes"].items():
            assert durations[node] == pytest.approx(figures["duration_ms"] / 1000, abs=1e-3)
        success = prometheus.by_label(f"odibi_pipeline_last_success_timestamp_seconds{selector}", "pipeline")
        assert prometheus.by_label(f"odibi_pipeline_last_run_status{selector}", "pipeline") == {
            "batch_orders": 1.0
        }

        bad = run_cli(project, "bad", "--pushgateway", gateway.url, "--var", "limit=10")
        assert bad.returncode == 1, bad.stderr
        assert "warning" not in bad.stderr
        status = f"odibi_pipeline_last_run_status{selector}"
        wait_for(lambda: prometheus.by_label(status, "pipeline") == {"batch_orders": 0.0}, 30, "failed run")
        # the failed run did not advance (nor lose) the last success; its node status says which failed
        last_success = f"odibi_pipeline_last_success_timestamp_seconds{selector}"
        assert prometheus.by_label(last_success, "pipeline") == success
        node_status = prometheus.by_label(f"odibi_node_last_run_status{selector}", "node")
        # the push replaced each family: `store` did not run this time, so it has no series
        assert node_status == {"read_orders": 1.0, "double": 0.0}
        staleness = prometheus.query(f"time() - {last_success}")
        assert 0 <= float(staleness[0]["value"][1]) < 120
    finally:
        if prometheus is not None:
            prometheus.stop()
        gateway.stop()


@pytest.mark.integration
def test_textfile_runs_reach_prometheus_through_a_real_node_exporter(project: Path, tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    exporter = NodeExporter(tmp_path, textfiles)
    prometheus = None
    try:
        prometheus = PrometheusServer(tmp_path, f"127.0.0.1:{exporter.port}")
        completed = run_cli(project, "out", "--textfile-dir", str(textfiles))
        assert completed.returncode == 0, completed.stderr
        assert [p.name for p in textfiles.iterdir()] == ["odibi_batch_orders.prom"]
        summary = json.loads((project / "out" / "metrics.json").read_text())
        assert "node_textfile_scrape_error 0" in exporter.exposition()
        selector = '{pipeline="batch_orders"}'
        rows = wait_for(
            lambda: prometheus.by_label(f"odibi_node_last_run_rows{selector}", "node"), 30, "textfile rows"
        )
        assert rows == {node: figures["row_count"] for node, figures in summary["nodes"].items()}
        took = prometheus.by_label(f"odibi_pipeline_last_run_duration_seconds{selector}", "pipeline")
        assert took["batch_orders"] == pytest.approx(summary["total_duration_ms"] / 1000, abs=1e-3)
    finally:
        if prometheus is not None:
            prometheus.stop()
        exporter.stop()

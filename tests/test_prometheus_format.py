"""The Prometheus exposition is valid: ``promtool check metrics`` is silent, parsers read it back.

``promtool`` comes with the Debian package ``prometheus``; CI installs it, so a missing promtool
is a failure, not a skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from odibi_otel import MetricsManager, Orchestrator, Step
from odibi_otel.otel import semconv

if TYPE_CHECKING:
    from tests.conftest import Tracing

SCOPE_LABELS = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
OPENMETRICS = "application/openmetrics-text; version=1.0.0"

#: Every metric family the manager exposes (prometheus_client strips a counter's ``_total``).
FAMILIES = {
    "target_info": "gauge",
    "odibi_node_duration_seconds": "histogram",
    "odibi_node_rows": "counter",
    "odibi_node_throughput_per_second": "gauge",
    "odibi_node_memory_usage_bytes": "gauge",
    "odibi_node_output_size_bytes": "gauge",
    "odibi_node_errors": "counter",
    "odibi_cache_hits": "counter",
    "odibi_cache_misses": "counter",
    "odibi_pipeline_runs": "counter",
    "odibi_pipeline_duration_seconds": "histogram",
    "odibi_pipeline_last_success_timestamp_seconds": "gauge",
    "odibi_pipeline_last_run_timestamp_seconds": "gauge",
    "odibi_pipeline_last_run_duration_seconds": "gauge",
    "odibi_pipeline_last_run_status": "gauge",
    "odibi_node_last_run_rows": "gauge",
    "odibi_node_last_run_duration_seconds": "gauge",
    "odibi_node_last_run_status": "gauge",
    "odibi_custom_batch_id": "gauge",
    "odibi_custom_files_seen": "counter",
}


def double(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(amount=orders["amount"] * 2)


def explode(orders: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("bad order")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: install the Debian package 'prometheus' "
            "(apt-get install prometheus); CI installs it and these tests must not be skipped"
        )
    return path


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )


@dataclass
class Runs:
    manager: MetricsManager
    tracing: Tracing
    results: list[dict[str, Any]]
    url: str


@pytest.fixture()
def runs(tracing: Tracing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runs]:
    """A manager with its endpoint on, after two cached runs of ``shop`` and a failing ``broken`` run."""
    monkeypatch.delenv("OTEL_EXPORTER_PROMETHEUS_HOST", raising=False)
    source = tmp_path / "orders.csv"
    pd.DataFrame({"order_id": [1, 2, 3, 4], "amount": [1.5, 2.0, 3.0, 4.0]}).to_csv(source, index=False)
    read = Step("read_orders", "ingest", "read", str(source), outputs=["orders"])
    shop = [
        read,
        Step("double", "transform", "function", double, inputs=["orders"], outputs=["doubled"]),
        Step("store", "store", "write", str(tmp_path / "doubled.csv"), inputs=["doubled"]),
    ]
    broken = [read, Step("explode", "transform", "function", explode, inputs=["orders"], outputs=["x"])]
    with MetricsManager() as manager:
        server = manager.start_server(port=0)
        results = []
        for steps, name in ((shop, "shop"), (shop, "shop"), (broken, "broken")):
            orchestrator = Orchestrator(
                steps,
                metrics_manager=manager,
                pipeline_name=name,
                tracer_provider=tracing.provider,
                enable_cache=True,
                cache_dir=tmp_path / "cache",
            )
            results.append(orchestrator.execute())
        manager.record("batch_id", "store", 42)  # custom metrics are part of the exposition too
        manager.increment("files_seen", "read_orders", 3)
        yield Runs(manager, tracing, results, server.url)


def fetch(url: str, accept: str | None = None) -> str:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return response.read().decode("utf-8")


def check_values(text: str, runs: Runs) -> None:
    """The parsed exposition holds every family, with the values of the runs."""
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert {name: family.type for name, family in families.items()} == FAMILIES

    def value(name: str, **labels: str) -> float:
        family_name = name.removesuffix("_total")
        for suffix in ("_bucket", "_count", "_sum"):
            family_name = family_name.removesuffix(suffix)
        matches = [
            sample.value
            for sample in families[family_name].samples
            if sample.name == name
            and {k: v for k, v in sample.labels.items() if k not in SCOPE_LABELS} == labels
        ]
        assert len(matches) == 1, (name, labels, matches)
        return matches[0]

    spans = runs.tracing.spans()
    shop_nodes = {"read_orders": "ingest", "double": "transform", "store": "store"}
    for node, layer in shop_nodes.items():
        labels = {"pipeline": "shop", "node": node, "layer": layer}
        node_spans = [
            s for s in spans if s.name == "node " + node and s.attributes[semconv.PIPELINE_NAME] == "shop"
        ]
        assert len(node_spans) == 2
        rows = sum(s.attributes[semconv.NODE_ROWS_OUT] for s in node_spans)
        assert value("odibi_node_rows_total", **labels) == rows == 8
        statuses = ["cached" if s.attributes.get(semconv.NODE_CACHE_HIT) else "success" for s in node_spans]
        for status in set(statuses):
            runs_with_status = [s for s, st in zip(node_spans, statuses, strict=True) if st == status]
            count = len(runs_with_status)
            assert value("odibi_node_duration_seconds_count", **labels, status=status) == count
            assert value("odibi_node_duration_seconds_bucket", **labels, status=status, le="+Inf") == count
            durations = sum((s.end_time - s.start_time) / 1e9 for s in runs_with_status)
            assert value("odibi_node_duration_seconds_sum", **labels, status=status) == pytest.approx(
                durations
            )
        size = node_spans[-1].attributes[semconv.NODE_OUTPUT_SIZE_BYTES]
        assert value("odibi_node_output_size_bytes", **labels) == size
        assert value("odibi_node_memory_usage_bytes", **labels) > 0
        assert value("odibi_node_throughput_per_second", **labels) > 0
    for node in ("read_orders", "double"):
        labels = {"pipeline": "shop", "node": node, "layer": shop_nodes[node]}
        assert value("odibi_cache_misses_total", **labels) == 1
        assert value("odibi_cache_hits_total", **labels) == 1
    # broken: read_orders comes from shop's cache; explode fails (a miss) and is counted as an error.
    assert value("odibi_cache_hits_total", pipeline="broken", node="read_orders", layer="ingest") == 1
    assert value("odibi_cache_misses_total", pipeline="broken", node="explode", layer="transform") == 1
    errors = {"pipeline": "broken", "node": "explode", "layer": "transform", "error_type": "ValueError"}
    assert value("odibi_node_errors_total", **errors) == 1
    assert value("odibi_pipeline_runs_total", pipeline="shop", status="success") == 2
    assert value("odibi_pipeline_runs_total", pipeline="broken", status="failed") == 1
    assert value("odibi_pipeline_duration_seconds_count", pipeline="shop", status="success") == 2
    assert value("odibi_pipeline_duration_seconds_count", pipeline="broken", status="failed") == 1
    last_shop = [s for s in spans if s.name == "pipeline shop"][-1]
    assert value("odibi_pipeline_last_success_timestamp_seconds", pipeline="shop") == last_shop.end_time / 1e9
    assert value("odibi_custom_batch_id", pipeline="broken", node="store") == 42
    assert value("odibi_custom_files_seen_total", pipeline="broken", node="read_orders") == 3
    buckets = [
        float(sample.labels["le"])
        for sample in families["odibi_node_duration_seconds"].samples
        if sample.name.endswith("_bucket") and sample.labels["node"] == "store"
    ]
    assert buckets == [*semconv.DURATION_BUCKETS_SECONDS, float("inf")]
    for result in runs.results:
        assert result["run_id"] not in text and result["trace_id"] not in text


def test_endpoint_output_passes_promtool_and_parses_back(runs: Runs) -> None:
    assert [r["success"] for r in runs.results] == [True, True, False]
    body = fetch(runs.url)
    checked = check_metrics(body)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    check_values(body, runs)


def test_export_prometheus_file_passes_promtool_and_parses_back(runs: Runs, tmp_path: Path) -> None:
    target = tmp_path / "metrics_prometheus.txt"
    runs.manager.export_prometheus(target)
    text = target.read_text("utf-8")
    checked = check_metrics(text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    check_values(text, runs)
    assert text == fetch(runs.url)  # the file and the endpoint read the same registry


def test_endpoint_openmetrics_output_parses(runs: Runs) -> None:
    """Prometheus asks for OpenMetrics first; that exposition must parse too."""
    body = fetch(runs.url, accept=OPENMETRICS)
    assert body.endswith("# EOF\n")
    families = {family.name: family.type for family in openmetrics_families(body)}
    expected = {name: kind for name, kind in FAMILIES.items() if name != "target_info"}
    assert families == {**expected, "target": "info"}


def test_promtool_is_not_silent_about_bad_input() -> None:
    """The checks above would prove nothing if promtool accepted anything."""
    checked = check_metrics("# TYPE broken_total gauge\nbroken_total 1\n")
    assert checked.returncode != 0 or checked.stdout or checked.stderr


def test_documented_promql_queries_are_valid(tmp_path: Path) -> None:
    """Every ```promql block of docs/metrics.md parses (``promtool check rules``)."""
    document = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text("utf-8")
    queries = re.findall(r"```promql\n(.*?)```", document, flags=re.DOTALL)
    assert len(queries) >= 8
    for query in queries:
        assert "odibi_" in query
    rules = {
        "groups": [
            {
                "name": "docs_metrics_md",
                "rules": [{"record": f"docs:query_{i}", "expr": q.strip()} for i, q in enumerate(queries)],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules), "utf-8")  # JSON is YAML
    checked = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout

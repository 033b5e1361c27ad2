"""collector-config/: the Collector, Prometheus, Grafana and Compose files agree with each other and
with what odibi_otel really exposes.

Nothing here starts a container: promtool (which CI installs) checks the Prometheus config and runs
unit tests of the alert rules, and every metric name in the dashboard's, the data sources' and the
alerts' PromQL is looked up in the Prometheus exposition of a real pipeline run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pytest
import yaml
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from prometheus_client.parser import text_string_to_metric_families

from odibi_otel import MetricsManager, Orchestrator, Step
from odibi_otel.otel import semconv

CONFIG = Path(__file__).resolve().parents[1] / "collector-config"
COLLECTOR = CONFIG / "otel-collector.yaml"
PROMETHEUS = CONFIG / "prometheus.yml"
ALERTS = CONFIG / "alerts.yml"
COMPOSE = CONFIG / "docker-compose.yml"
DATASOURCES = CONFIG / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS = CONFIG / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
DASHBOARD = CONFIG / "grafana" / "dashboards" / "odibi-pipelines.json"

#: Component types a contrib collector knows, for the ones this stack may use.
KNOWN_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "deltatocumulative", "batch"},
    "exporters": {"otlp", "otlp_grpc", "otlphttp", "otlp_http", "prometheus", "file", "debug"},
}
COMPONENT_ID = re.compile(r"^(?P<type>[a-z][a-z0-9_]*)(?:/(?P<name>[^/\s]+))?$")
SIGNALS = {"traces", "metrics", "logs"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


# -- PromQL ----------------------------------------------------------------------------------------

#: PromQL keywords that look like identifiers (functions and aggregations are recognised by "(").
PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*")
_SELECTOR = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<expr>.+),)?\s*(?P<label>\w+)\s*\)\s*$", re.S)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and label names left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        if name.lower() in PROMQL_KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(name)
    return names


def matcher_labels(expr: str) -> dict[str, set[str]]:
    """Label names each selector ``metric{...}`` of an expression matches on."""
    text = _STRING.sub('""', expr)
    found: dict[str, set[str]] = {}
    for name, body in _SELECTOR.findall(text):
        found.setdefault(name, set()).update(_MATCHER_LABEL.findall(_VARIABLE.sub("", body)))
    return found


def grouping_labels(expr: str) -> set[str]:
    labels: set[str] = set()
    for group in _GROUPING.findall(_MATCHERS.sub(" ", _STRING.sub('""', expr))):
        labels.update(label.strip() for label in group.split(",") if label.strip())
    return labels


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, node) (rate(odibi_node_duration_seconds_bucket{job=~"$job",'
        ' node="a b"}[$__rate_interval]))) > 1e3 or time() - max_over_time(last_ts[7d] offset 15m) '
        "unless on (pipeline) vector(0) and bool_metric"
    )
    assert metric_names(expr) == {"odibi_node_duration_seconds_bucket", "last_ts", "bool_metric"}
    assert matcher_labels(expr) == {"odibi_node_duration_seconds_bucket": {"job", "node"}}
    assert grouping_labels(expr) == {"le", "node", "pipeline"}
    assert metric_names("sum(rate(x{$__tags}[5m]))") == {"x"}


# -- the exposition of a real run ------------------------------------------------------------------


def _make() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3], "v": [10, 20, 30]})


def _double(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(v=frame["v"] * 2)


def _explode(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("no publishing today")


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, set[str]]]:
    """Series name -> label names, from ``MetricsManager.generate_latest()`` after real runs.

    The same failing pipeline runs twice with the cache on (misses, then hits, and errors both
    times), then its healthy part runs once so the last-success gauge exists too.
    """
    cache_dir = tmp_path_factory.mktemp("collector-config-cache")
    steps = [
        Step("make", "ingest", "function", _make, outputs=["raw"]),
        Step("double", "transform", "function", _double, inputs=["raw"], outputs=["doubled"]),
        Step("publish", "publish", "function", _explode, inputs=["doubled"], outputs=["published"]),
    ]
    provider = TracerProvider()
    manager = MetricsManager()
    try:
        for _ in range(2):
            result = Orchestrator(
                steps, metrics_manager=manager, tracer_provider=provider, enable_cache=True,
                cache_dir=cache_dir, pipeline_name="collector_config_check",
            ).execute()  # fmt: skip
            assert result["success"] is False
        assert result["cache_hits"] == ["make", "double"]
        healthy = Orchestrator(
            steps[:2],
            metrics_manager=manager,
            tracer_provider=provider,
            pipeline_name="collector_config_check",
        ).execute()
        assert healthy["success"] is True
        _quality_runs(manager, provider, tmp_path_factory.mktemp("collector-config-history"))
        _spark_node(manager)
        series: dict[str, set[str]] = {}
        for family in text_string_to_metric_families(manager.generate_latest().decode("utf-8")):
            for sample in family.samples:
                series.setdefault(sample.name, set()).update(sample.labels)
        yield series
    finally:
        manager.shutdown()
        provider.shutdown()


def _quality_runs(manager: MetricsManager, provider: TracerProvider, folder: Path) -> None:
    """Check results (pass, warn, fail) and a schema anomaly, so their series exist too."""
    from odibi_otel.quality import not_null, unique

    checks = [not_null("id"), unique("v", severity="warn"), unique("id", severity="error", name="id_unique")]
    for frame in (_make(), pd.DataFrame({"id": [1, 1], "v": [2, 2], "new": [0, 0]})):
        Orchestrator(
            [Step("load", "ingest", "function", lambda f=frame: f, outputs=["raw"], checks=checks)],
            metrics_manager=manager, tracer_provider=provider, history=folder / "history.sqlite",
            pipeline_name="collector_config_quality",
        ).execute()  # fmt: skip


def _spark_node(manager: MetricsManager) -> None:
    """A node span with the Spark totals a Spark node's span carries, so the Spark series exist too.

    No JVM here: tests/test_spark_metrics.py checks the same series against a real Spark run.
    """
    totals = {
        semconv.SPARK_JOBS: 1, semconv.SPARK_TASKS: 2, semconv.SPARK_TASKS_FAILED: 0,
        semconv.SPARK_SHUFFLE_READ_BYTES: 600, semconv.SPARK_SHUFFLE_WRITE_BYTES: 600,
        semconv.SPARK_SPILL_MEMORY_BYTES: 0, semconv.SPARK_SPILL_DISK_BYTES: 0,
    }  # fmt: skip
    attributes = {
        semconv.PIPELINE_NAME: "collector_config_spark", semconv.RUN_ID: "collector-config-spark",
        semconv.NODE_NAME: "store", semconv.NODE_LAYER: "store", semconv.NODE_ROWS_OUT: 37, **totals,
    }  # fmt: skip
    manager.on_end(ReadableSpan(name="node store", attributes=attributes, start_time=1, end_time=2))


def target_labels() -> set[str]:
    """Labels Prometheus adds at scrape time (job, instance and static_configs labels)."""
    labels = {"job", "instance"}
    for job in load_yaml(PROMETHEUS)["scrape_configs"]:
        for static in job.get("static_configs", []):
            labels.update(static.get("labels", {}))
    return labels


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text("utf-8"))


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def dashboard_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def all_promql() -> list[tuple[str, str]]:
    """(where, PromQL) for the dashboard's targets and variables, data-source links and alerts."""
    found: list[tuple[str, str]] = []
    board = dashboard()
    for panel in dashboard_panels(board):
        for target in panel.get("targets", []):
            if isinstance(target.get("expr"), str):
                found.append((f"dashboard panel {panel['title']!r} query {target['refId']}", target["expr"]))
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(text)
        assert match and match["expr"], f"variable {variable['name']}: expected label_values(metric, label)"
        found.append((f"dashboard variable {variable['name']}", match["expr"]))
    for source in load_yaml(DATASOURCES)["datasources"]:
        for query in source.get("jsonData", {}).get("tracesToMetrics", {}).get("queries", []):
            found.append((f"data source {source['name']} query {query['name']!r}", query["query"]))
    for group in load_yaml(ALERTS)["groups"]:
        for rule in group["rules"]:
            found.append((f"alerts.yml {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return found


def test_every_metric_in_dashboard_datasources_and_alerts_exists_in_a_real_exposition(
    exposition: dict[str, set[str]],
) -> None:
    queries = all_promql()
    used: dict[str, list[str]] = {}
    for where, expr in queries:
        names = metric_names(expr)
        assert names, f"{where}: no metric name found in {expr!r}"
        for name in names:
            used.setdefault(name, []).append(where)
    missing = {name: places for name, places in sorted(used.items()) if name not in exposition}
    assert not missing, (
        "metric names not in the Prometheus exposition of a real run:\n"
        + "\n".join(f"  {name}: used by {', '.join(places)}" for name, places in missing.items())
        + f"\nexposed: {sorted(exposition)}"
    )
    # The panels the spec asks for are all there (and the check above is not vacuous).
    assert {
        "odibi_node_duration_seconds_bucket",
        "odibi_node_duration_seconds_count",
        "odibi_node_rows_total",
        "odibi_node_throughput_per_second",
        "odibi_node_errors_total",
        "odibi_cache_hits_total",
        "odibi_cache_misses_total",
        "odibi_pipeline_runs_total",
        "odibi_pipeline_last_success_timestamp_seconds",
        "odibi_checks_total",
        "odibi_check_failures_total",
        "odibi_anomalies_total",
    } <= set(used)


def test_every_label_in_the_promql_exists_on_its_metric(exposition: dict[str, set[str]]) -> None:
    scrape_labels = target_labels()
    problems = []
    for where, expr in all_promql():
        for name, labels in matcher_labels(expr).items():
            unknown = labels - exposition.get(name, set()) - scrape_labels
            if unknown:
                problems.append(f"{where}: {name} has no label(s) {sorted(unknown)}")
        available = set().union(*(exposition.get(name, set()) for name in metric_names(expr))) | scrape_labels
        if unknown := grouping_labels(expr) - available:
            problems.append(f"{where}: grouping by label(s) {sorted(unknown)} no selected metric has")
    assert not problems, "\n".join(problems)


# -- Prometheus and its alert rules ----------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed, so collector-config/prometheus.yml cannot be checked: install "
            "Prometheus's promtool (Debian/Ubuntu: `apt-get install prometheus`, or the promtool binary "
            "from a https://prometheus.io/download release) and put it on PATH",
            pytrace=False,
        )
    return path


def run_promtool(promtool: str, *args: str) -> str:
    completed = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


@pytest.mark.integration
def test_promtool_accepts_the_prometheus_config_and_its_rule_files(promtool: str) -> None:
    output = run_promtool(promtool, "check", "config", str(PROMETHEUS))
    assert "1 rule files found" in output, output  # rule_files resolved relative to prometheus.yml
    run_promtool(promtool, "check", "rules", str(ALERTS))


#: Grafana variables replaced by values Prometheus accepts, so promtool can parse the queries.
GRAFANA_SUBSTITUTES = {
    "$__rate_interval": "5m",
    "$__interval": "5m",
    "$__range": "1h",
    "$__tags": 'pipeline="p", node="n"',
}


@pytest.mark.integration
def test_promtool_parses_every_dashboard_and_data_source_query(promtool: str, tmp_path: Path) -> None:
    """Each query, its Grafana variables filled in, as a recording rule that promtool checks."""
    rules = []
    for index, (where, expr) in enumerate(all_promql()):
        if where.startswith("alerts.yml"):
            continue
        for variable, value in GRAFANA_SUBSTITUTES.items():
            expr = expr.replace(variable, value)
        expr = re.sub(r"\$\{?\w+\}?", ".*", expr)
        rules.append({"record": f"odibi:grafana_query_{index}", "expr": expr, "labels": {"where": where}})
    assert len(rules) >= 10
    rule_file = tmp_path / "grafana-queries.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}), "utf-8")
    run_promtool(promtool, "check", "rules", str(rule_file))


def test_prometheus_scrapes_odibi_the_collector_exporter_and_the_collector() -> None:
    config = load_yaml(PROMETHEUS)
    assert config["global"]["scrape_interval"] == "5s"
    assert config["rule_files"] == ["alerts.yml"]
    targets = {
        job["job_name"]: [target for static in job["static_configs"] for target in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert "host.docker.internal:9464" in targets["odibi-direct"]
    assert targets["otel-collector-exporter"] == ["otel-collector:8889"]
    assert targets["otel-collector"] == ["otel-collector:8888"]
    alerts = {rule["alert"] for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]}
    assert {"OdibiPipelineFailed", "OdibiPipelineStale", "OdibiNodeSlow"} <= alerts


#: promtool unit tests of alerts.yml (``rule_files`` is filled in), including the cases of short-lived
#: processes whose counters appear already at their final value.
ALERT_TESTS = """
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # A run's process first exposes its failed-runs counter at minute 20, already at 1.
      - series: 'odibi_pipeline_runs_total{pipeline="fresh", status="failed"}'
        values: '_x20 1x30'
      # A long-lived process whose failed-runs counter goes from 1 to 2 at minute 10.
      - series: 'odibi_pipeline_runs_total{pipeline="steady", status="failed"}'
        values: '1x9 2x40'
      - series: 'odibi_pipeline_runs_total{pipeline="fine", status="success"}'
        values: '0+1x50'
      - series: 'odibi_node_errors_total{pipeline="fresh", node="publish", error_type="ValueError"}'
        values: '_x20 1x30'
      # Pushed batch gauges: a failed run at minute 5, a successful one at minute 20.
      - series: 'odibi_pipeline_last_run_status{job="odibi", pipeline="pushed"}'
        values: '_x4 0x15 1x30'
      # A batch run's failed error check and its anomaly appear at minute 20, already at 1.
      - series: 'odibi_check_failures_total{pipeline="p", node="clean", check="unique(id)", severity="error"}'
        values: '_x20 1x30'
      - series: 'odibi_check_failures_total{pipeline="p", node="clean", check="has_email", severity="warn"}'
        values: '0x9 1x40'
      - series: 'odibi_anomalies_total{pipeline="p", node="load", kind="volume"}'
        values: '_x20 1x30'
    alert_rule_test:
      - eval_time: 22m
        alertname: OdibiCheckFailed
        exp_alerts:
          - exp_labels: {severity: critical, pipeline: p, node: clean, check: unique(id)}
            exp_annotations:
              summary: Check unique(id) failed on clean of p
              description: >-
                The error check unique(id) on the output of node clean in pipeline p failed in
                the last 15 minutes; the node failed and its downstream nodes were skipped. The
                run's story lists the failing rows.
      - eval_time: 45m
        alertname: OdibiCheckFailed
        exp_alerts: []
      - eval_time: 12m
        alertname: OdibiCheckWarning
        exp_alerts:
          - exp_labels: {severity: warning, pipeline: p, node: clean, check: has_email}
            exp_annotations:
              summary: Check has_email warned on clean of p
              description: >-
                The warn check has_email on the output of node clean in pipeline p did not
                pass in the last 15 minutes (the run went on).
      - eval_time: 22m
        alertname: OdibiAnomalyDetected
        exp_alerts:
          - exp_labels: {severity: warning, pipeline: p, node: load, kind: volume}
            exp_annotations:
              summary: volume anomaly on load of p
              description: >-
                Node load in pipeline p differed from its recent successful runs (volume) in the
                last 15 minutes; `odibi-otel diff previous latest` shows what changed.
      - eval_time: 10m
        alertname: OdibiPipelineLastRunFailed
        exp_alerts:
          - exp_labels: {severity: critical, pipeline: pushed}
            exp_annotations:
              summary: The latest run of pipeline pushed failed
              description: >-
                The latest run of pipeline pushed did not succeed (failed or interrupted); the
                alert clears when a run succeeds.
      - eval_time: 25m
        alertname: OdibiPipelineLastRunFailed
        exp_alerts: []
      - eval_time: 12m
        alertname: OdibiPipelineFailed
        exp_alerts:
          - exp_labels: {severity: critical, pipeline: steady}
            exp_annotations:
              summary: Pipeline steady failed
              description: >-
                At least one run of pipeline steady ended with status "failed" in the last 15
                minutes. The Jaeger trace of the run names the failing node and its error.
      - eval_time: 30m
        alertname: OdibiPipelineFailed
        exp_alerts:
          - exp_labels: {severity: critical, pipeline: fresh}
            exp_annotations:
              summary: Pipeline fresh failed
              description: >-
                At least one run of pipeline fresh ended with status "failed" in the last 15
                minutes. The Jaeger trace of the run names the failing node and its error.
      - eval_time: 45m
        alertname: OdibiPipelineFailed
        exp_alerts: []
      - eval_time: 30m
        alertname: OdibiNodeErrors
        exp_alerts:
          - exp_labels: {severity: warning, pipeline: fresh, node: publish, error_type: ValueError}
            exp_annotations:
              summary: Node publish of fresh raised ValueError
              description: Node publish in pipeline fresh failed with ValueError in the last 15 minutes.
  # Last success at time 0, then nothing: stale once a day has passed.
  - interval: 1h
    input_series:
      - series: 'odibi_pipeline_last_success_timestamp_seconds{pipeline="nightly"}'
        values: '0x30'
    alert_rule_test:
      - eval_time: 23h
        alertname: OdibiPipelineStale
        exp_alerts: []
      - eval_time: 25h
        alertname: OdibiPipelineStale
        exp_alerts:
          - exp_labels: {severity: warning, pipeline: nightly}
            exp_annotations:
              summary: Pipeline nightly has not succeeded for more than a day
              description: The last successful run of pipeline nightly ended 1d 1h 0m 0s ago.
  # Every execution of node "load" takes between 5 and 10 minutes: p95 above 300 s.
  - interval: 1m
    input_series:
      - series: 'odibi_node_duration_seconds_bucket{pipeline="p", node="load", le="60.0"}'
        values: '0x60'
      - series: 'odibi_node_duration_seconds_bucket{pipeline="p", node="load", le="300.0"}'
        values: '0x60'
      - series: 'odibi_node_duration_seconds_bucket{pipeline="p", node="load", le="600.0"}'
        values: '0+1x60'
      - series: 'odibi_node_duration_seconds_bucket{pipeline="p", node="load", le="+Inf"}'
        values: '0+1x60'
    alert_rule_test:
      - eval_time: 5m
        alertname: OdibiNodeSlow
        exp_alerts: []
      - eval_time: 30m
        alertname: OdibiNodeSlow
        exp_alerts:
          - exp_labels: {severity: warning, pipeline: p, node: load}
            exp_annotations:
              summary: Node load of p is slow
              description: >-
                The 95th percentile duration of node load in pipeline p over the last 30 minutes
                is 9m 45s (threshold 5 minutes).
"""


@pytest.mark.integration
def test_alert_rules_fire_when_they_should(promtool: str, tmp_path: Path) -> None:
    tests = {"rule_files": [str(ALERTS)], **yaml.safe_load(ALERT_TESTS)}
    test_file = tmp_path / "alerts.test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False), "utf-8")
    run_promtool(promtool, "test", "rules", str(test_file))


def test_alert_annotations_only_use_labels_the_expression_keeps() -> None:
    for group in load_yaml(ALERTS)["groups"]:
        for rule in group["rules"]:
            kept = grouping_labels(rule["expr"])
            used = set()
            for text in rule.get("annotations", {}).values():
                used.update(re.findall(r"\$labels\.(\w+)", text))
            assert used <= kept, f"{rule['alert']}: annotations use {sorted(used - kept)} that sum by drops"


# -- the collector ---------------------------------------------------------------------------------


def test_collector_config_is_internally_consistent() -> None:
    config = load_yaml(COLLECTOR)
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == SIGNALS
    used: dict[str, set[str]] = {kind: set() for kind in KNOWN_TYPES}
    for pipeline_id, pipeline in pipelines.items():
        match = COMPONENT_ID.match(pipeline_id)
        assert match and match["type"] in SIGNALS, f"pipeline id {pipeline_id!r}"
        assert pipeline.get("receivers"), f"pipeline {pipeline_id} has no receivers"
        assert pipeline.get("exporters"), f"pipeline {pipeline_id} has no exporters"
        for kind in KNOWN_TYPES:
            for component in pipeline.get(kind, []):
                assert component in (config.get(kind) or {}), (
                    f"{pipeline_id} uses undefined {kind} {component}"
                )
                used[kind].add(component)
            assert len(pipeline.get(kind, [])) == len(set(pipeline.get(kind, []))), (
                f"{pipeline_id}: duplicates"
            )
    for kind, known in KNOWN_TYPES.items():
        defined = set(config.get(kind) or {})
        assert defined == used[kind], f"{kind} defined but unused: {sorted(defined - used[kind])}"
        for component in defined:
            match = COMPONENT_ID.match(component)
            assert match, f"{kind} id {component!r} is not type[/name]"
            assert match["type"] in known, f"unknown {kind} type {match['type']!r} in {component!r}"
    assert set(config) <= {"receivers", "processors", "exporters", "connectors", "extensions", "service"}


def test_collector_config_matches_the_spec() -> None:
    config = load_yaml(COLLECTOR)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    limiter = config["processors"]["memory_limiter"]
    assert limiter["check_interval"] and 0 < limiter["spike_limit_mib"] < limiter["limit_mib"]
    for signal, pipeline in config["service"]["pipelines"].items():
        assert pipeline["receivers"] == ["otlp"], signal
        assert pipeline["processors"][0] == "memory_limiter", f"{signal}: memory_limiter must come first"
        assert pipeline["processors"][-1] == "batch", f"{signal}: batch must come last"
    exporters = config["exporters"]
    assert exporters["otlp/jaeger"] == {"endpoint": "jaeger:4317", "tls": {"insecure": True}}
    prometheus = exporters["prometheus"]
    assert prometheus["endpoint"] == "0.0.0.0:8889"
    assert prometheus["resource_to_telemetry_conversion"] == {"enabled": False}
    assert "namespace" not in prometheus, "a namespace would rename odibi_* metrics and break the dashboard"
    assert exporters["file"] == {"path": "/var/lib/otelcol/odibi-telemetry.jsonl", "format": "json"}
    assert exporters["debug"] == {"verbosity": "basic"}
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp/jaeger", "file", "debug"]
    assert pipelines["metrics"]["exporters"] == ["prometheus", "debug"]
    # batch runs send deltas: they are added up before the Prometheus exporter
    assert pipelines["metrics"]["processors"] == ["memory_limiter", "deltatocumulative", "batch"]
    assert config["processors"]["deltatocumulative"]["max_stale"] == "24h"
    assert pipelines["logs"]["exporters"] == ["file", "debug"]
    assert collector_ports(config)["telemetry"] == 8888


def collector_ports(config: dict[str, Any]) -> dict[str, int]:
    metrics = config["service"]["telemetry"]["metrics"]
    if "readers" in metrics:
        (reader,) = metrics["readers"]
        telemetry = int(reader["pull"]["exporter"]["prometheus"]["port"])
    else:
        telemetry = port_of(metrics["address"])
    protocols = config["receivers"]["otlp"]["protocols"]
    return {
        "otlp_grpc": port_of(protocols["grpc"]["endpoint"]),
        "otlp_http": port_of(protocols["http"]["endpoint"]),
        "prometheus_exporter": port_of(config["exporters"]["prometheus"]["endpoint"]),
        "telemetry": telemetry,
    }


# -- docker compose --------------------------------------------------------------------------------


def compose_services() -> dict[str, Any]:
    return load_yaml(COMPOSE)["services"]


def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> local source of a service's bind mounts (short syntax)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts[target] = source
    return mounts


def published_ports(service: dict[str, Any]) -> dict[int, str]:
    """Container port -> host address of a service's published ports."""
    ports = {}
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        ports[int(parts[-1].split("/")[0])] = host_ip
    return ports


def test_compose_file_parses_and_every_mounted_file_exists() -> None:
    services = compose_services()
    assert {"otel-collector", "jaeger", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image version ({image})"
        for target, source in bind_mounts(service).items():
            local = (COMPOSE.parent / source).resolve()
            assert local.exists(), f"{name} mounts {source} at {target}, which does not exist"
        for container_port, host_ip in published_ports(service).items():
            assert host_ip == "127.0.0.1", f"{name} publishes {container_port} beyond loopback"
    named = {volume.split(":")[0] for service in services.values() for volume in service.get("volumes", [])}
    declared = set(load_yaml(COMPOSE).get("volumes") or {})
    assert {volume for volume in named if not volume.startswith((".", "/"))} <= declared


def test_compose_collector_matches_the_collector_config() -> None:
    service = compose_services()["otel-collector"]
    assert service["image"].startswith("otel/opentelemetry-collector-contrib:")
    mounts = bind_mounts(service)
    (config_flag,) = [arg for arg in service["command"] if arg.startswith("--config=")]
    assert (COMPOSE.parent / mounts[config_flag.removeprefix("--config=")]).resolve() == COLLECTOR
    assert set(published_ports(service)) == set(collector_ports(load_yaml(COLLECTOR)).values())
    # The file exporter writes into ./data, where `odibi-otel story collector-config/data/...` finds it.
    file_path = PurePosixPath(load_yaml(COLLECTOR)["exporters"]["file"]["path"])
    assert (COMPOSE.parent / mounts[str(file_path.parent)]).resolve() == CONFIG / "data"
    assert (CONFIG / "data").is_dir()


def test_compose_prometheus_and_grafana_mount_what_their_configs_expect() -> None:
    services = compose_services()
    prometheus = services["prometheus"]
    mounts = bind_mounts(prometheus)
    (config_flag,) = [arg for arg in prometheus["command"] if arg.startswith("--config.file=")]
    config_target = PurePosixPath(config_flag.removeprefix("--config.file="))
    assert (COMPOSE.parent / mounts[str(config_target)]).resolve() == PROMETHEUS
    for rule_file in load_yaml(PROMETHEUS)["rule_files"]:
        target = str(config_target.parent / rule_file)
        assert target in mounts, f"rule file {rule_file} is not mounted at {target}"
        assert (COMPOSE.parent / mounts[target]).resolve() == PROMETHEUS.parent / rule_file
    assert "host.docker.internal:host-gateway" in prometheus["extra_hosts"]
    assert 9090 in published_ports(prometheus)

    grafana = services["grafana"]
    mounts = bind_mounts(grafana)
    for kind, path in (("datasources", DATASOURCES), ("dashboards", DASHBOARD_PROVIDERS)):
        assert (COMPOSE.parent / mounts[f"/etc/grafana/provisioning/{kind}"]).resolve() == path.parent
    (provider,) = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert (COMPOSE.parent / mounts[provider["options"]["path"]]).resolve() == DASHBOARD.parent
    assert 3000 in published_ports(grafana)
    assert 16686 in published_ports(services["jaeger"])


def test_hosts_and_ports_across_files_point_at_compose_services() -> None:
    services = compose_services()
    collector = collector_ports(load_yaml(COLLECTOR))
    for job in load_yaml(PROMETHEUS)["scrape_configs"]:
        for target in (target for static in job["static_configs"] for target in static["targets"]):
            host, port = target.rsplit(":", 1)
            assert host in services or host == "host.docker.internal", f"{job['job_name']}: unknown {host}"
            if host == "otel-collector":
                assert int(port) in (collector["prometheus_exporter"], collector["telemetry"]), target
    jaeger_host, jaeger_port = load_yaml(COLLECTOR)["exporters"]["otlp/jaeger"]["endpoint"].split(":")
    assert jaeger_host in services and jaeger_port == "4317"
    for source in load_yaml(DATASOURCES)["datasources"]:
        match = re.fullmatch(r"http://([\w-]+):(\d+)/?", source["url"])
        assert match, source["url"]
        assert match[1] in services, f"data source {source['name']}: no service {match[1]}"
        assert int(match[2]) in published_ports(services[match[1]]), source["url"]


# -- grafana ---------------------------------------------------------------------------------------


def datasource_uids() -> dict[str, str]:
    return {source["uid"]: source["type"] for source in load_yaml(DATASOURCES)["datasources"]}


def test_grafana_provisioning_parses() -> None:
    sources = load_yaml(DATASOURCES)
    assert sources["apiVersion"] == 1
    by_type = {source["type"]: source for source in sources["datasources"]}
    assert by_type["prometheus"]["url"] == "http://prometheus:9090"
    assert by_type["jaeger"]["url"] == "http://jaeger:16686"
    assert len(datasource_uids()) == len(sources["datasources"]), "duplicate data source uid"
    for source in sources["datasources"]:
        linked = source.get("jsonData", {}).get("tracesToMetrics", {}).get("datasourceUid")
        assert linked is None or linked in datasource_uids()
    assert load_yaml(DASHBOARD_PROVIDERS)["apiVersion"] == 1


def test_dashboard_is_a_grafana_dashboard_referring_to_provisioned_datasources() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    assert board["uid"] and board["title"]
    uids = datasource_uids()
    references = [
        (path, node["datasource"])
        for path, node in walk(board)
        if isinstance(node, dict) and isinstance(node.get("datasource"), dict)
    ]
    assert references
    for path, reference in references:
        assert reference.get("uid") in uids, (
            f"{path}: data source uid {reference.get('uid')!r} not provisioned"
        )
        assert reference.get("type") == uids[reference["uid"]], f"{path}: type does not match the uid"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, f"panel {panel['title']} is off the grid"
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no queries"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), f"panel {panel['title']!r}: duplicate refIds"
        for target in panel["targets"]:
            if target["datasource"]["type"] == "prometheus":
                assert target["expr"].strip(), f"panel {panel['title']!r}: empty query"


def test_dashboard_has_the_panels_and_variables_the_spec_asks_for() -> None:
    board = dashboard()
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    for name in ("pipeline", "node"):
        query = variables[name]["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(text)
        assert match and match["label"] == name
        assert metric_names(match["expr"]) == {"odibi_node_duration_seconds_count"}
    exprs = [node["expr"] for _, node in walk(board["panels"]) if isinstance(node, dict) and "expr" in node]
    squashed = [re.sub(r"\s+", " ", expr) for expr in exprs]

    def has(*fragments: str) -> bool:
        return any(all(fragment in expr for fragment in fragments) for expr in squashed)

    assert has("histogram_quantile(0.5,", "by (le, node)", "rate(odibi_node_duration_seconds_bucket")
    assert has("histogram_quantile(0.95,", "by (le, node)", "rate(odibi_node_duration_seconds_bucket")
    assert has("by (node)", "odibi_node_rows_total")
    assert has("by (node)", "odibi_node_throughput_per_second")
    assert has("error_type", "odibi_node_errors_total")
    assert has("odibi_cache_hits_total", "odibi_cache_misses_total", "/")
    assert has("time() -", "odibi_pipeline_last_success_timestamp_seconds")
    assert has("by (status)", "odibi_pipeline_runs_total")
    assert has("by (node, check, severity)", "odibi_check_failures_total")  # the data-quality row
    assert has("by (status)", "odibi_checks_total")
    assert has("by (kind)", "odibi_anomalies_total")
    for expr in exprs:
        for name, labels in matcher_labels(expr).items():
            if name.startswith(("odibi_node_", "odibi_check", "odibi_anomalies")):
                assert {"pipeline", "node"} <= labels, f"{name} ignores the pipeline/node variables: {expr}"


def test_readme_documents_ports_and_the_start_command() -> None:
    readme = (CONFIG / "README.md").read_text("utf-8")
    assert "docker compose -f collector-config/docker-compose.yml up -d" in readme
    for port in (4317, 4318, 8888, 8889, 9090, 16686, 3000, 9464):
        assert str(port) in readme, f"README does not mention port {port}"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317" in readme
    assert "odibi-otel story collector-config/data/odibi-telemetry.jsonl" in readme

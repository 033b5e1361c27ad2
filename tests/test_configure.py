"""``configure()`` sets process-wide OpenTelemetry globals, so every case runs in a fresh subprocess.

Each case is a small script written to ``tmp_path``; it prints one JSON object as its last line,
which the test checks.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import odibi_otel
from odibi_otel.setup import build_resource

pytestmark = pytest.mark.integration

PRELUDE = """\
import json, logging, os, sys, time
import pandas as pd
from opentelemetry import _logs, metrics, trace
import odibi_otel
from odibi_otel import Orchestrator, Step


def make():
    return pd.DataFrame({"a": [1, 2, 3]})


def double(df):
    return df.assign(a=df["a"] * 2)


STEPS = [
    Step("make", "ingest", "function", make, outputs=["raw"]),
    Step("double", "transform", "function", double, inputs=["raw"], outputs=["doubled"]),
]


def kinds():
    return {
        "tracer": type(trace.get_tracer_provider()).__name__,
        "meter": type(metrics.get_meter_provider()).__name__,
        "logger": type(_logs.get_logger_provider()).__name__,
    }


def file_records(path):
    spans, logs, resources = [], [], []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            request = json.loads(line)
            for rs in request.get("resourceSpans", []):
                resources.append({a["key"]: a["value"] for a in rs["resource"]["attributes"]})
                spans += [s for ss in rs["scopeSpans"] for s in ss["spans"]]
            for rl in request.get("resourceLogs", []):
                logs += [r for sl in rl["scopeLogs"] for r in sl["logRecords"]]
    return spans, logs, resources


def report(**values):
    print(json.dumps(values, default=str))
"""

# Variables that would change what configure() does; each case sets what it needs.
_OTEL_VARIABLES = [name for name in os.environ if name.startswith(("OTEL_", "ODIBI_"))]


@pytest.fixture()
def run_script(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    def run(body: str, env: dict[str, str] | None = None, name: str = "case.py") -> dict[str, Any]:
        script = tmp_path / name
        script.write_text(PRELUDE + "\n" + textwrap.dedent(body), encoding="utf-8")
        environment = {k: v for k, v in os.environ.items() if k not in _OTEL_VARIABLES}
        environment.update(env or {})
        completed = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=environment,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        lines = completed.stdout.strip().splitlines()
        assert lines, completed.stderr
        result: dict[str, Any] = json.loads(lines[-1])
        result["_stderr"] = completed.stderr
        return result

    return run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _value(attribute: dict[str, Any]) -> Any:
    return next(iter(attribute.values()))


# -- (a) a fresh process ----------------------------------------------------------------------------

FRESH = """\
before = kinds()
handle = odibi_otel.configure(SERVICE_NAME, spans_file="telemetry.jsonl", resource_attributes=EXTRA)
after = kinds()
result = Orchestrator(STEPS, pipeline_name="fresh", enable_tracker=True).execute()
started = time.monotonic()
finished = handle.shutdown()
shutdown_s = time.monotonic() - started
spans, logs, resources = file_records("telemetry.jsonl")
report(
    before=before, after=after, success=result["success"], trace_id=result["trace_id"],
    owns=[handle.owns_tracer_provider, handle.owns_logger_provider, handle.owns_meter_provider],
    is_global=handle.tracer_provider is trace.get_tracer_provider(),
    manager=handle.metrics_manager is not None, disabled=handle.disabled,
    export_timeout=handle.export_timeout, finished=finished, shutdown_s=shutdown_s,
    span_names=sorted(s["name"] for s in spans), trace_ids=sorted({s["traceId"] for s in spans}),
    resource={k: next(iter(v.values())) for k, v in resources[0].items()},
    lineage_events=sorted({r.get("eventName", "") for r in logs}),
)
"""


def test_fresh_process_gets_sdk_providers_with_a_resource(run_script: Callable[..., dict[str, Any]]) -> None:
    env = {
        "OTEL_SERVICE_NAME": "from-env",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,deployment.environment=test,team=data%20eng",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "3000",
    }
    body = FRESH.replace("SERVICE_NAME", '"from-arg"').replace("EXTRA", '{"extra.attr": "x"}')
    out = run_script(body, env)
    assert out["before"] == {
        "tracer": "ProxyTracerProvider",
        "meter": "_ProxyMeterProvider",
        "logger": "ProxyLoggerProvider",
    }
    # tracer and logger providers are always installed; a meter provider only with an exporter
    # (the MetricsManager keeps its own for Prometheus and metrics.json)
    assert out["after"] == {
        "tracer": "TracerProvider",
        "meter": "_ProxyMeterProvider",
        "logger": "LoggerProvider",
    }
    assert out["owns"] == [True, True, False]
    assert out["is_global"] and out["manager"] and not out["disabled"]
    assert out["success"] is True
    assert out["span_names"] == ["node double", "node make", "pipeline fresh"]
    assert out["trace_ids"] == [out["trace_id"]]
    resource = out["resource"]
    assert resource["service.name"] == "from-arg"  # the argument wins over both variables
    assert resource["service.version"] == odibi_otel.__version__
    assert resource["deployment.environment"] == "test"
    assert resource["team"] == "data eng"  # values are URL-decoded
    assert resource["extra.attr"] == "x"
    assert resource["telemetry.sdk.language"] == "python"
    assert out["lineage_events"] == ["odibi.lineage.run", "odibi.lineage.snapshot"]
    assert out["export_timeout"] == 3.0
    assert out["finished"] is True
    assert out["shutdown_s"] < 3.0
    assert out["_stderr"] == ""


# (id, service_name argument, resource_attributes argument, environment, expected service.name)
SERVICE_NAME_CASES: list[tuple[str, str | None, dict[str, str] | None, dict[str, str], str]] = [
    ("argument wins", "arg", {"service.name": "attr-arg"},
     {"OTEL_SERVICE_NAME": "env", "OTEL_RESOURCE_ATTRIBUTES": "service.name=env-attrs"}, "arg"),
    ("resource_attributes argument next", None, {"service.name": "attr-arg"},
     {"OTEL_SERVICE_NAME": "env"}, "attr-arg"),
    ("OTEL_SERVICE_NAME next", None, None,
     {"OTEL_SERVICE_NAME": "env", "OTEL_RESOURCE_ATTRIBUTES": "service.name=env-attrs"}, "env"),
    ("OTEL_RESOURCE_ATTRIBUTES next", None, None, {"OTEL_RESOURCE_ATTRIBUTES": "service.name=env-attrs"},
     "env-attrs"),
    ("default last", None, None, {"OTEL_SERVICE_NAME": " "}, "the-default"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("service_name", "attributes", "environ", "expected"),
    [case[1:] for case in SERVICE_NAME_CASES],
    ids=[case[0] for case in SERVICE_NAME_CASES],
)
def test_service_name_precedence(
    service_name: str | None, attributes: dict[str, str] | None, environ: dict[str, str], expected: str
) -> None:
    # build_resource() is what configure() uses; it is pure, so no subprocess is needed
    resource = build_resource(service_name, attributes, default_service_name="the-default", environ=environ)
    assert resource.attributes["service.name"] == expected


@pytest.mark.parametrize(
    ("environ", "attributes", "expected"),
    [
        ({}, None, odibi_otel.__version__),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.version=2.1.0,bad-pair,k=v"}, None, "2.1.0"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.version=2.1.0"}, {"service.version": "3"}, "3"),
    ],
    ids=["odibi_otel's version", "from the environment", "argument wins"],
)
def test_service_version(environ: dict[str, str], attributes: dict[str, str] | None, expected: str) -> None:
    assert build_resource(None, attributes, environ=environ).attributes["service.version"] == expected


# -- (b) an application with its own providers ---------------------------------------------------------

APP = """\
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

resource = Resource.create({"service.name": "the-app"})
spans = InMemorySpanExporter()
app_tracer_provider = TracerProvider(resource=resource)
app_tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(app_tracer_provider)
reader = InMemoryMetricReader()
app_meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
metrics.set_meter_provider(app_meter_provider)
log_records = InMemoryLogRecordExporter()
app_logger_provider = LoggerProvider(resource=resource)
app_logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_records))
_logs.set_logger_provider(app_logger_provider)

handle = odibi_otel.configure(service_name="ignored", prometheus_port=0)
tracer = trace.get_tracer("the-app")
with tracer.start_as_current_span("app request") as app_span:
    result = Orchestrator(STEPS, pipeline_name="inside", enable_tracker=True).execute()
prometheus_url = handle.prometheus_url
handle.shutdown()

finished = {span.name: span for span in spans.get_finished_spans()}
pipeline = finished["pipeline inside"]
app = finished["app request"]
metric_names = sorted(
    metric.name
    for rm in reader.get_metrics_data().resource_metrics
    for sm in rm.scope_metrics
    for metric in sm.metrics
)
lineage = [r for r in log_records.get_finished_logs() if r.log_record.event_name == "odibi.lineage.snapshot"]
report(
    returned=[
        handle.tracer_provider is app_tracer_provider,
        handle.meter_provider is app_meter_provider,
        handle.logger_provider is app_logger_provider,
    ],
    owns=[handle.owns_tracer_provider, handle.owns_meter_provider, handle.owns_logger_provider],
    still_global=[
        trace.get_tracer_provider() is app_tracer_provider,
        metrics.get_meter_provider() is app_meter_provider,
        _logs.get_logger_provider() is app_logger_provider,
    ],
    success=result["success"],
    names=sorted(finished),
    pipeline_parent=pipeline.parent.span_id if pipeline.parent else None,
    app_span_id=app.context.span_id,
    trace_ids=sorted({span.context.trace_id for span in finished.values()}),
    result_trace_id=int(result["trace_id"], 16),
    node_parents=sorted({s.parent.span_id for n, s in finished.items() if n.startswith("node ")}),
    pipeline_span_id=pipeline.context.span_id,
    service_name=pipeline.resource.attributes["service.name"],
    metric_names=metric_names,
    lineage_trace_ids=sorted({r.log_record.trace_id for r in lineage}),
    prometheus=prometheus_url is not None,
)
"""


def test_app_providers_are_kept_and_the_pipeline_joins_the_app_trace(
    run_script: Callable[..., dict[str, Any]],
) -> None:
    out = run_script(APP)
    assert out["returned"] == [True, True, True]
    assert out["owns"] == [False, False, False]
    assert out["still_global"] == [True, True, True]
    assert out["success"] is True
    # everything went to the application's own exporter
    assert out["names"] == ["app request", "node double", "node make", "pipeline inside"]
    assert out["pipeline_parent"] == out["app_span_id"]
    assert out["trace_ids"] == [out["result_trace_id"]]
    assert out["node_parents"] == [out["pipeline_span_id"]]
    assert out["service_name"] == "the-app"
    assert "odibi.node.duration" in out["metric_names"]
    assert out["lineage_trace_ids"] == [out["result_trace_id"]]
    assert out["prometheus"] is True
    assert "Overriding" not in out["_stderr"]


# -- (c) OTEL_SDK_DISABLED ----------------------------------------------------------------------------


def test_sdk_disabled_sets_nothing_up_and_pipelines_still_run(
    run_script: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    out = run_script(
        """\
        from odibi_otel.cli.run_folder import run_to_folder

        handle = odibi_otel.configure(
            otlp_endpoint="http://127.0.0.1:9", prometheus_port=0, spans_file="never.jsonl"
        )
        after = kinds()
        result = Orchestrator(STEPS, pipeline_name="plain").execute()
        handle.shutdown()
        report_ = run_to_folder(STEPS, "folder", "out")
        report(
            disabled=handle.disabled, after=after, manager=handle.metrics_manager,
            prometheus=handle.prometheus_url, success=result["success"], trace_id=result["trace_id"],
            file_exists=os.path.exists("never.jsonl"), folder_success=report_.result["success"],
            artifacts=sorted(report_.artifacts),
        )
        """,
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_PROMETHEUS_PORT": "0"},
    )
    assert out["disabled"] is True
    assert out["after"] == {
        "tracer": "ProxyTracerProvider",
        "meter": "_ProxyMeterProvider",
        "logger": "ProxyLoggerProvider",
    }
    assert out["manager"] is None and out["prometheus"] is None
    # the SDK honours the variable too: spans are no-ops, so there is no trace id
    assert out["success"] is True and out["trace_id"] == "0" * 32
    assert out["file_exists"] is False
    assert out["folder_success"] is True
    assert out["artifacts"] == ["lineage", "log", "metrics", "prometheus", "story"]
    assert (tmp_path / "out" / "story.html").is_file()
    assert not (tmp_path / "out" / "telemetry.jsonl").exists()
    assert out["_stderr"] == ""


# -- (d) Prometheus endpoint ----------------------------------------------------------------------------

PROMETHEUS = """\
import urllib.request


def scrape(port):
    handle = odibi_otel.configure(prometheus_port=port)
    url = handle.prometheus_url
    Orchestrator(STEPS, pipeline_name="scraped").execute()
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    handle.shutdown()
    try:
        urllib.request.urlopen(url, timeout=2)
        still_serving = True
    except OSError:
        still_serving = False
    return {"url": url, "has_duration": "odibi_node_duration" in body, "still_serving": still_serving}


# a second configure() in one process: the first handle's providers are spent, fresh ones are made
report(argument=scrape(0), variable=scrape(None))
"""


def test_prometheus_endpoint_port_zero_and_variable(run_script: Callable[..., dict[str, Any]]) -> None:
    env_port = _free_port()
    out = run_script(PROMETHEUS, {"OTEL_EXPORTER_PROMETHEUS_PORT": str(env_port)})
    argument, variable = out["argument"], out["variable"]
    # prometheus_port=0 picks a free port on loopback; the argument wins over the variable
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", argument["url"])
    assert argument["url"] != f"http://127.0.0.1:{env_port}/metrics"
    # without the argument, OTEL_EXPORTER_PROMETHEUS_PORT is honoured
    assert variable["url"] == f"http://127.0.0.1:{env_port}/metrics"
    for case in (argument, variable):
        assert case["has_duration"] is True
        assert case["still_serving"] is False  # shutdown() released the port
    assert out["_stderr"] == ""


def test_configuration_errors_leave_nothing_installed(run_script: Callable[..., dict[str, Any]]) -> None:
    out = run_script(
        """\
        import socket

        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cases = {
            "bad port variable": ({"OTEL_EXPORTER_PROMETHEUS_PORT": "http"}, None),
            "bad protocol variable": ({"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, None),
            "bad timeout variable": ({"OTEL_EXPORTER_OTLP_TIMEOUT": "-5"}, None),
            "port in use": ({}, busy.getsockname()[1]),
        }
        errors = {}
        for name, (variables, port) in cases.items():
            os.environ.update(variables)
            try:
                odibi_otel.configure(prometheus_port=port, spans_file="t.jsonl")
                errors[name] = None
            except odibi_otel.OdibiError as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
            for variable in variables:
                del os.environ[variable]
        report(errors=errors, after=kinds(), handlers=len(logging.getLogger("odibi_otel").handlers))
        """,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
    )
    errors = out["errors"]
    assert errors["bad port variable"].startswith("PrometheusEndpointError: OTEL_EXPORTER_PROMETHEUS_PORT")
    assert errors["bad protocol variable"].startswith("OtlpConfigurationError: OTEL_EXPORTER_OTLP_PROTOCOL")
    assert errors["bad timeout variable"].startswith("OtlpConfigurationError: OTEL_EXPORTER_OTLP_TIMEOUT")
    assert errors["port in use"].startswith("PrometheusEndpointError: cannot serve /metrics on 127.0.0.1:")
    assert out["after"] == {
        "tracer": "ProxyTracerProvider",
        "meter": "_ProxyMeterProvider",
        "logger": "ProxyLoggerProvider",
    }
    assert out["handlers"] == 0
    assert out["_stderr"] == ""


# -- (e) odibi_otel's log records become OpenTelemetry log records ----------------------------------------


def test_odibi_log_records_are_exported_with_trace_context(run_script: Callable[..., dict[str, Any]]) -> None:
    out = run_script(
        """\
        handle = odibi_otel.configure(spans_file="telemetry.jsonl")
        log = logging.getLogger("odibi_otel.app_code")
        tracer = trace.get_tracer("test")
        with tracer.start_as_current_span("outer") as span:
            log.warning("inside a span %s", 42)
            log.debug("too detailed")
            context = span.get_span_context()
        logging.getLogger("odibi_otel").info("outside any span")
        logging.getLogger("somebody_else").warning("not ours")
        handle.shutdown()
        spans, logs, resources = file_records("telemetry.jsonl")
        report(
            records=[
                {
                    "body": r["body"].get("stringValue"),
                    "severity": r.get("severityText"),
                    "trace_id": r.get("traceId"),
                    "span_id": r.get("spanId"),
                }
                for r in logs
            ],
            trace_id=trace.format_trace_id(context.trace_id),
            span_id=trace.format_span_id(context.span_id),
            handlers=[type(h).__name__ for h in logging.getLogger("odibi_otel").handlers],
        )
        """
    )
    by_body = {record["body"]: record for record in out["records"]}
    assert set(by_body) == {"inside a span 42", "outside any span"}
    inside = by_body["inside a span 42"]
    assert (inside["trace_id"], inside["span_id"]) == (out["trace_id"], out["span_id"])
    assert inside["severity"] == "WARN"
    outside = by_body["outside any span"]
    assert not outside.get("trace_id") and outside["severity"] == "INFO"
    assert out["handlers"] == []  # shutdown() detached the handler


# -- repeated use in one process --------------------------------------------------------------------------


def test_run_to_folder_twice_in_one_process_exports_both_runs(
    run_script: Callable[..., dict[str, Any]],
) -> None:
    out = run_script(
        """\
        from odibi_otel.cli.run_folder import run_to_folder

        first = run_to_folder(STEPS, "first", "out1")
        second = run_to_folder(STEPS, "second", "out2")
        report(
            first=sorted(s["name"] for s in file_records("out1/telemetry.jsonl")[0]),
            second=sorted(s["name"] for s in file_records("out2/telemetry.jsonl")[0]),
            results=[first.result["success"], second.result["success"]],
        )
        """
    )
    assert out["results"] == [True, True]
    assert out["first"] == ["node double", "node make", "pipeline first"]
    assert out["second"] == ["node double", "node make", "pipeline second"]
    assert out["_stderr"] == ""

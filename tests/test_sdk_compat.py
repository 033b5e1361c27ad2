"""The OpenTelemetry internals odibi_otel relies on, each pinned here.

Everything odibi_otel uses that OpenTelemetry does not promise to keep lives in
``odibi_otel/otel/_sdk_compat.py``. Each test below names the SDK behaviour it relies on, so an
``opentelemetry-*`` release that changes it fails here, loudly, before it can fail a pipeline. The
``opentelemetry-*`` version bounds in ``pyproject.toml`` are the range these tests passed on.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from odibi_otel.otel import _sdk_compat as compat
from odibi_otel.otel._processor_guard import guard_tracer

PACKAGE = Path(__file__).resolve().parents[1] / "odibi_otel"
COMPAT = PACKAGE / "otel" / "_sdk_compat.py"


class Recorder(SpanProcessor):
    """A span processor remembering which of its hooks the SDK called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        self.calls.append("on_start")

    def _on_ending(self, span: Any) -> None:
        self.calls.append("_on_ending")

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append("on_end")


def test_only_the_compat_module_imports_underscore_opentelemetry_names() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == COMPAT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("opentelemetry"):
                names = [node.module, *(alias.name for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("opentelemetry")]
            else:
                continue
            if any(part.startswith("_") for name in names for part in name.split(".")):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == [], "OpenTelemetry internals outside otel/_sdk_compat.py: " + ", ".join(offenders)


def test_every_lazy_name_resolves_on_the_installed_release() -> None:
    for name in compat._LAZY:
        assert getattr(compat, name) is not None, name


def test_unset_global_providers_are_recognised_in_a_fresh_process() -> None:
    code = (
        "from opentelemetry import metrics, trace\n"
        "from odibi_otel.otel._sdk_compat import is_unset_provider, logs_api\n"
        "print(all(is_unset_provider(p) for p in (trace.get_tracer_provider(),"
        " metrics.get_meter_provider(), logs_api.get_logger_provider())))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True", "the API's global placeholder providers were renamed"


def test_no_op_and_sdk_providers_are_told_apart() -> None:
    assert compat.is_unset_provider(trace.NoOpTracerProvider())
    assert compat.is_unset_provider(metrics.NoOpMeterProvider())
    assert compat.is_unset_provider(compat.logs_api.NoOpLoggerProvider())
    assert not compat.is_unset_provider(TracerProvider())
    assert not compat.is_unset_provider(MeterProvider())
    assert not compat.is_unset_provider(compat.LoggerProvider())


def test_member_processors_follow_add_span_processor() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    multi = compat.sdk_span_processor(tracer)
    assert multi is not None, "the SDK tracer no longer keeps its provider's span processor"
    first, second = Recorder(), Recorder()
    provider.add_span_processor(first)
    assert compat.member_processors(multi) == (first,)
    provider.add_span_processor(second)  # added after the tracer was made: still seen
    assert compat.member_processors(multi) == (first, second)
    assert compat.member_processors(first) == (first,)


def test_the_sdk_calls_on_ending_between_on_start_and_on_end() -> None:
    provider = TracerProvider()
    recorder = Recorder()
    provider.add_span_processor(recorder)
    provider.get_tracer("t").start_span("s").end()
    assert recorder.calls == ["on_start", compat.ON_ENDING, "on_end"]


def test_a_tracer_copy_sends_its_spans_to_the_given_processor_only() -> None:
    provider = TracerProvider()
    original, redirected = Recorder(), Recorder()
    provider.add_span_processor(original)
    tracer = provider.get_tracer("t")
    copied = compat.tracer_with_processor(tracer, redirected)
    assert copied is not None and copied is not tracer
    copied.start_span("copy").end()
    assert redirected.calls == ["on_start", "_on_ending", "on_end"]
    assert original.calls == []
    tracer.start_span("original").end()
    assert original.calls == ["on_start", "_on_ending", "on_end"]
    assert compat.tracer_with_processor(trace.NoOpTracer(), redirected) is None


def test_the_guard_reaches_every_processor_despite_one_raising() -> None:
    class Raising(Recorder):
        def on_end(self, span: ReadableSpan) -> None:
            raise RuntimeError("broken exporter")

    provider = TracerProvider()
    raising, after = Raising(), Recorder()
    provider.add_span_processor(raising)
    provider.add_span_processor(after)
    guard_tracer(provider.get_tracer("t")).start_span("s").end()
    assert after.calls == ["on_start", "_on_ending", "on_end"]


def test_gauge_instrument_is_the_class_create_gauge_returns() -> None:
    reader = InMemoryMetricReader(cardinality_limits={compat.GaugeInstrument: 1})
    provider = MeterProvider(metric_readers=[reader])
    gauge = provider.get_meter("m").create_gauge("g")
    assert isinstance(gauge, compat.GaugeInstrument)
    gauge.set(1, {"k": "a"})
    gauge.set(2, {"k": "b"})  # over the limit of 1: folded into the overflow series
    points = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert any(point.attributes.get("otel.metric.overflow") for point in points)


@pytest.mark.parametrize(
    ("function", "argument", "expected"),
    [
        ("sanitize_full_name", "odibi.node.duration", "odibi_node_duration"),
        ("sanitize_full_name", "1bad-name", "_bad_name"),
        ("sanitize_attribute", "error.type", "error_type"),
        ("map_unit", "s", "seconds"),
        ("map_unit", "By", "bytes"),
        ("map_unit", "{row}", ""),
    ],
)
def test_prometheus_name_mapping(function: str, argument: str, expected: str) -> None:
    assert getattr(compat, function)(argument) == expected


def test_the_prometheus_component_type_is_accepted_by_metric_readers() -> None:
    from odibi_otel.metrics.prometheus_text import MetricsDataReader

    value = compat.OtelComponentTypeValues.PROMETHEUS_HTTP_TEXT_METRIC_EXPORTER
    assert value.value == "prometheus_http_text_metric_exporter"
    MeterProvider(metric_readers=[MetricsDataReader()]).shutdown()


def test_logs_api_takes_event_names() -> None:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()
    provider = compat.LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = compat.logs_api.get_logger("t", logger_provider=provider)
    logger.emit(compat.logs_api.LogRecord(event_name="odibi.test", body={"a": 1}))
    (record,) = exporter.get_finished_logs()
    assert isinstance(record, compat.ReadableLogRecord)
    assert record.log_record.event_name == "odibi.test"


@pytest.mark.parametrize("logger_name", compat.EXPORT_LOGGERS)
def test_export_loggers_name_modules_of_the_installed_release(logger_name: str) -> None:
    assert importlib.util.find_spec(logger_name) is not None, f"{logger_name} no longer exists"


def test_cardinality_limits_reach_the_reader_where_the_sdk_takes_them() -> None:
    """SDK 1.45.2 added ``MetricReader(cardinality_limits=...)``; 1.45.1 (distro pins) has none."""
    import inspect

    from opentelemetry.sdk.metrics import Counter
    from opentelemetry.sdk.metrics.export import MetricReader

    from odibi_otel.otel._sdk_compat import CARDINALITY_LIMITS_SUPPORTED, cardinality_reader_arguments

    takes = "cardinality_limits" in inspect.signature(MetricReader.__init__).parameters
    assert takes == CARDINALITY_LIMITS_SUPPORTED
    limits = {Counter: 5}
    assert cardinality_reader_arguments(limits) == ({"cardinality_limits": limits} if takes else {})
    assert cardinality_reader_arguments(None) == {}

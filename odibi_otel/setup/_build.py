"""Building the SDK providers, exporters and log handler :func:`~odibi_otel.configure` sets up."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

from odibi_otel.metrics.manager import MetricsManager
from odibi_otel.otel._sdk_compat import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LoggerProvider,
    LoggingHandler,
    is_unset_provider,
)
from odibi_otel.otel._sdk_compat import logs_api as _logs
from odibi_otel.setup.handle import TelemetryHandle, spent_providers
from odibi_otel.setup.otlp_settings import (
    OtlpTarget,
)

__all__ = ["attach_log_handler", "build_providers", "is_reusable", "open_telemetry_file"]

_logger = logging.getLogger("odibi_otel")


def is_reusable(provider: Any) -> bool:
    """Whether ``provider`` is the application's (or a live earlier configure()'s) provider."""
    return not is_unset_provider(provider) and provider not in spent_providers


def build_providers(
    handle: TelemetryHandle,
    resource: Resource,
    targets: Mapping[str, OtlpTarget],
    interval: float,
    console: bool,
    metrics_temporality: str | None = None,
) -> None:
    file = handle.telemetry_file
    existing_tracer = trace.get_tracer_provider()
    if is_reusable(existing_tracer):
        handle.tracer_provider = existing_tracer
        if file is not None and isinstance(existing_tracer, TracerProvider):
            processor = BatchSpanProcessor(file.span_exporter)
            existing_tracer.add_span_processor(processor)
            handle._local_processors.append(processor)
    else:
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        handle.tracer_provider, handle.owns_tracer_provider = tracer_provider, True
        if file is not None:  # first: a slow OTLP exporter must not delay the local file
            processor = BatchSpanProcessor(file.span_exporter)
            tracer_provider.add_span_processor(processor)
            handle._local_processors.append(processor)
        if "traces" in targets:
            exporter = _otlp_exporter(targets["traces"])
            handle._otlp_exporters.append(exporter)
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        if console:
            tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))

    existing_logger = _logs.get_logger_provider()
    if is_reusable(existing_logger):
        handle.logger_provider = existing_logger
        if file is not None and isinstance(existing_logger, LoggerProvider):
            log_processor = BatchLogRecordProcessor(file.log_exporter)
            existing_logger.add_log_record_processor(log_processor)
            handle._local_processors.append(log_processor)
    else:
        logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        handle.logger_provider, handle.owns_logger_provider = logger_provider, True
        if file is not None:
            log_processor = BatchLogRecordProcessor(file.log_exporter)
            logger_provider.add_log_record_processor(log_processor)
            handle._local_processors.append(log_processor)
        if "logs" in targets:
            exporter = _otlp_exporter(targets["logs"])
            handle._otlp_exporters.append(exporter)
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
        if console:
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogRecordExporter()))

    existing_meter = metrics.get_meter_provider()
    external_meter: metrics.MeterProvider | None = None
    if is_reusable(existing_meter):
        handle.meter_provider = external_meter = existing_meter
    else:
        readers: list[MetricReader] = []
        if "metrics" in targets:
            target = targets["metrics"]
            exporter = _otlp_exporter(target, metrics_temporality)
            handle._otlp_exporters.append(exporter)
            readers.append(
                PeriodicExportingMetricReader(
                    exporter,
                    export_interval_millis=interval * 1000,
                    export_timeout_millis=target.timeout * 1000,
                )
            )
        if console:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(), interval * 1000))
        if readers:  # else nothing would leave the process: the MetricsManager's own reader suffices
            meter_provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)
            handle.meter_provider = external_meter = meter_provider
            handle.owns_meter_provider = True
    # The manager always has its own provider (Prometheus registry, metrics.json); it records into
    # the external one too, so OTLP (or the application's readers) get the same measurements.
    handle.metrics_manager = MetricsManager(meter_provider=external_meter, resource=resource)


def _otlp_exporter(target: OtlpTarget, metrics_temporality: str | None = None) -> Any:
    """Import the OTLP exporter for the target lazily (gRPC pulls in grpcio, slow to import)."""
    transport = "grpc" if target.protocol == "grpc" else "http"
    module_name = {"traces": "trace_exporter", "logs": "_log_exporter", "metrics": "metric_exporter"}[
        target.signal
    ]
    class_name = {"traces": "OTLPSpanExporter", "logs": "OTLPLogExporter", "metrics": "OTLPMetricExporter"}[
        target.signal
    ]
    module = __import__(f"opentelemetry.exporter.otlp.proto.{transport}.{module_name}", fromlist=[class_name])
    exporter_class = getattr(module, class_name)
    kwargs: dict[str, Any] = {"endpoint": target.endpoint, "timeout": target.timeout}
    if target.headers is not None:
        kwargs["headers"] = dict(target.headers)
    if transport == "grpc":
        kwargs["insecure"] = target.endpoint.startswith("http://")
    if target.signal == "metrics" and metrics_temporality is not None:
        kwargs["preferred_temporality"] = _temporalities(metrics_temporality)
    return exporter_class(**kwargs)


def open_telemetry_file(path: str | os.PathLike[str] | None) -> Any:
    if path is None:
        return None
    from odibi_otel.otel.otlp_json import OtlpJsonFile

    return OtlpJsonFile(path)


class _OdibiLoggingHandler(LoggingHandler):
    """The SDK's ``LoggingHandler`` (stdlib records → OpenTelemetry log records, with trace context)."""

    def __init__(self, level: int, logger_provider: Any) -> None:
        with warnings.catch_warnings():  # deprecated in favour of a separate package; still works
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(level=level, logger_provider=logger_provider)


def attach_log_handler(handle: TelemetryHandle, log_level: int) -> None:
    handler = _OdibiLoggingHandler(log_level, handle.logger_provider)
    previous_level = _logger.level
    _logger.addHandler(handler)
    if _logger.level == logging.NOTSET or _logger.level > log_level:
        _logger.setLevel(log_level)

    def detach() -> None:
        _logger.removeHandler(handler)
        if _logger.level == log_level:
            _logger.setLevel(previous_level)

    handle._cleanups.append(detach)


def _temporalities(preference: str) -> dict[type, AggregationTemporality]:
    """Per instrument kind, as the OTLP exporter maps ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``.

    ``delta``: counters, histograms and observable counters send deltas; up-down counters and
    gauges stay cumulative (a delta of a level means nothing).
    """
    kind = AggregationTemporality.DELTA if preference == "delta" else AggregationTemporality.CUMULATIVE
    return {
        Counter: kind,
        Histogram: kind,
        ObservableCounter: kind,
        UpDownCounter: AggregationTemporality.CUMULATIVE,
        ObservableUpDownCounter: AggregationTemporality.CUMULATIVE,
        ObservableGauge: AggregationTemporality.CUMULATIVE,
    }

"""``configure()``: set up OpenTelemetry for odibi_otel, unless the application already did.

This is the one place odibi_otel installs global providers, and only where the application has
none: an app that configured OpenTelemetry itself (by hand or with ``opentelemetry-instrument``)
keeps its providers, and odibi_otel's spans, metrics and logs flow into them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

from odibi_otel import semconv
from odibi_otel.defaults import set_default_metrics_manager
from odibi_otel.metrics_manager import MetricsManager
from odibi_otel.otlp_settings import OtlpTarget, resolve_otlp_target, sdk_disabled

__all__ = ["TelemetryHandle", "configure"]

_logger = logging.getLogger("odibi_otel")
_DEFAULT_EXPORT_TIMEOUT_S = 10.0


@dataclass
class TelemetryHandle:
    """What :func:`configure` set up; call :meth:`shutdown` to flush and stop it.

    ``owns_*`` tell which providers odibi_otel created (and will shut down) and which belong to
    the application (left alone).
    """

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    logger_provider: Any
    metrics_manager: MetricsManager | None
    owns_tracer_provider: bool = False
    owns_meter_provider: bool = False
    owns_logger_provider: bool = False
    disabled: bool = False
    export_timeout: float = _DEFAULT_EXPORT_TIMEOUT_S
    telemetry_file: Any = None
    _cleanups: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def prometheus_url(self) -> str | None:
        """The ``/metrics`` URL when the endpoint was started."""
        server = self.metrics_manager._server if self.metrics_manager else None
        return server.url if server else None

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush and stop what odibi_otel created, waiting at most ``timeout`` seconds in all.

        An unreachable OTLP endpoint therefore delays shutdown by the export timeout at most.
        """
        if self._closed:
            return
        self._closed = True
        budget = self.export_timeout if timeout is None else timeout
        stoppers: list[Callable[[], Any]] = list(reversed(self._cleanups))
        if self.owns_tracer_provider:
            stoppers.append(self.tracer_provider.shutdown)  # type: ignore[attr-defined]
        if self.owns_logger_provider:
            stoppers.append(self.logger_provider.shutdown)
        if self.owns_meter_provider:
            stoppers.append(self.meter_provider.shutdown)  # type: ignore[attr-defined]
        if self.telemetry_file is not None:  # after the providers flushed into it
            stoppers.append(self.telemetry_file.shutdown)
        worker = threading.Thread(target=_run_all, args=(stoppers,), name="odibi-otel-shutdown", daemon=True)
        worker.start()
        worker.join(budget)
        if worker.is_alive():
            _logger.warning(
                "odibi_otel: telemetry shutdown did not finish within %.1fs (exporter unreachable?); "
                "unsent telemetry is dropped",
                budget,
            )


def configure(
    service_name: str | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    prometheus_port: int | None = None,
    prometheus_host: str | None = None,
    spans_file: str | os.PathLike[str] | None = None,
    console: bool = False,
    *,
    resource_attributes: Mapping[str, str] | None = None,
    otlp_headers: Mapping[str, str] | None = None,
    export_timeout: float | None = None,
    metric_export_interval: float = 10.0,
    log_level: int = logging.INFO,
    environ: Mapping[str, str] | None = None,
) -> TelemetryHandle:
    """Set up tracer, meter and logger providers for odibi_otel and return a handle.

    Args:
        service_name: ``service.name``; default ``OTEL_SERVICE_NAME``, else ``odibi_otel``.
        otlp_endpoint: Base URL of an OTLP receiver (like ``OTEL_EXPORTER_OTLP_ENDPOINT``).
        otlp_protocol: ``"grpc"`` or ``"http/protobuf"`` (default per ``OTEL_EXPORTER_OTLP_PROTOCOL``,
            else ``http/protobuf``).
        prometheus_port: Serve ``/metrics`` on this port (0 = any free port); ``None`` keeps it
            off unless ``OTEL_EXPORTER_PROMETHEUS_PORT`` is set.
        prometheus_host: Address to bind; default ``OTEL_EXPORTER_PROMETHEUS_HOST``, else 127.0.0.1.
        spans_file: Write spans and log events as OTLP/JSON lines to this file.
        console: Also print spans, metrics and logs to stdout.
        resource_attributes: Extra resource attributes (``OTEL_RESOURCE_ATTRIBUTES`` is read too).
        otlp_headers: Headers for the OTLP exporters (default ``OTEL_EXPORTER_OTLP_HEADERS``).
        export_timeout: Seconds an export may take; also bounds :meth:`TelemetryHandle.shutdown`.
        metric_export_interval: Seconds between OTLP metric exports.
        log_level: Level of the ``odibi_otel`` logger records exported as OTel logs.
        environ: The environment to read (default ``os.environ``); explicit arguments win.

    With ``OTEL_SDK_DISABLED=true`` nothing is set up and a disabled handle is returned.
    """
    env = os.environ if environ is None else environ
    timeout = export_timeout if export_timeout is not None else _env_timeout(env)
    if sdk_disabled(env):
        return TelemetryHandle(
            trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider(),
            None, disabled=True, export_timeout=timeout,
        )  # fmt: skip
    resource = _resource(service_name, resource_attributes, env)
    targets = {
        signal: resolve_otlp_target(signal, otlp_endpoint, otlp_protocol, env)  # type: ignore[arg-type]
        for signal in ("traces", "metrics", "logs")
    }
    handle_cleanups: list[Callable[[], None]] = []
    telemetry_file = _open_file(spans_file)
    tracer_provider, owns_tracer = _tracer_provider(resource, targets["traces"], otlp_headers, timeout,
                                                    telemetry_file, console)  # fmt: skip
    logger_provider, owns_logger = _logger_provider(resource, targets["logs"], otlp_headers, timeout,
                                                    telemetry_file, console)  # fmt: skip
    meter_provider, owns_meter = _meter_provider(resource, targets["metrics"], otlp_headers, timeout,
                                                 metric_export_interval, console)  # fmt: skip
    if owns_logger:
        handler = LoggingHandler(level=log_level, logger_provider=logger_provider)
        _logger.addHandler(handler)
        handle_cleanups.append(lambda: _logger.removeHandler(handler))
        if _logger.level == logging.NOTSET or _logger.level > log_level:
            _logger.setLevel(log_level)
    manager = MetricsManager(meter_provider=meter_provider if owns_meter or not _is_unset(meter_provider)
                             else None, resource=resource)  # fmt: skip
    set_default_metrics_manager(manager)
    handle_cleanups.append(lambda: set_default_metrics_manager(None))
    handle_cleanups.append(manager.shutdown)
    if prometheus_port is not None or env.get("OTEL_EXPORTER_PROMETHEUS_PORT"):
        manager.start_server(prometheus_host or None, prometheus_port)
    return TelemetryHandle(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
        metrics_manager=manager,
        owns_tracer_provider=owns_tracer,
        owns_meter_provider=owns_meter,
        owns_logger_provider=owns_logger,
        export_timeout=timeout,
        telemetry_file=telemetry_file,
        _cleanups=handle_cleanups,
    )


def _run_all(stoppers: list[Callable[[], Any]]) -> None:
    for stop in stoppers:
        try:
            stop()
        except Exception as exc:  # one failing exporter must not keep the others from stopping
            _logger.warning("odibi_otel: error during telemetry shutdown: %s", exc)


def _env_timeout(env: Mapping[str, str]) -> float:
    text = env.get("OTEL_EXPORTER_OTLP_TIMEOUT")
    if not text:
        return _DEFAULT_EXPORT_TIMEOUT_S
    try:
        return float(text) / 1000.0  # the variable is in milliseconds
    except ValueError:
        raise ValueError(f"OTEL_EXPORTER_OTLP_TIMEOUT must be milliseconds, got {text!r}") from None


def _resource(service_name: str | None, extra: Mapping[str, str] | None, env: Mapping[str, str]) -> Resource:
    attributes: dict[str, str] = {"service.version": semconv.INSTRUMENTATION_VERSION}
    from_env = Resource.create({})  # reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
    name = service_name or env.get("OTEL_SERVICE_NAME") or from_env.attributes.get("service.name")
    if not name or str(name).startswith("unknown_service"):
        name = "odibi_otel"
    attributes["service.name"] = str(name)
    attributes.update(extra or {})
    return Resource.create(attributes)


def _open_file(path: str | os.PathLike[str] | None) -> Any:
    if path is None:
        return None
    from odibi_otel.file_exporter import OtlpJsonFile

    return OtlpJsonFile(path)


def _is_unset(provider: object) -> bool:
    return type(provider).__name__ in (
        "ProxyTracerProvider", "NoOpTracerProvider",
        "_ProxyMeterProvider", "NoOpMeterProvider",
        "ProxyLoggerProvider", "NoOpLoggerProvider",
    )  # fmt: skip


def _tracer_provider(
    resource: Resource,
    target: OtlpTarget | None,
    headers: Mapping[str, str] | None,
    timeout: float,
    telemetry_file: Any,
    console: bool,
) -> tuple[trace.TracerProvider, bool]:
    existing = trace.get_tracer_provider()
    if not _is_unset(existing):
        if telemetry_file is not None and isinstance(existing, TracerProvider):
            existing.add_span_processor(BatchSpanProcessor(telemetry_file.span_exporter))
        return existing, False
    provider = TracerProvider(resource=resource)
    timeout_ms = timeout * 1000
    if target is not None:
        exporter = _otlp_exporter("trace", target, headers, timeout)
        provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=timeout_ms))
    if telemetry_file is not None:
        provider.add_span_processor(BatchSpanProcessor(telemetry_file.span_exporter))
    if console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider, True


def _logger_provider(
    resource: Resource,
    target: OtlpTarget | None,
    headers: Mapping[str, str] | None,
    timeout: float,
    telemetry_file: Any,
    console: bool,
) -> tuple[Any, bool]:
    existing = _logs.get_logger_provider()
    if not _is_unset(existing):
        if telemetry_file is not None and isinstance(existing, LoggerProvider):
            existing.add_log_record_processor(BatchLogRecordProcessor(telemetry_file.log_exporter))
        return existing, False
    provider = LoggerProvider(resource=resource)
    if target is not None:
        exporter = _otlp_exporter("log", target, headers, timeout)
        provider.add_log_record_processor(
            BatchLogRecordProcessor(exporter, export_timeout_millis=timeout * 1000)
        )
    if telemetry_file is not None:
        provider.add_log_record_processor(BatchLogRecordProcessor(telemetry_file.log_exporter))
    if console:
        provider.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogRecordExporter()))
    _logs.set_logger_provider(provider)
    return provider, True


def _meter_provider(
    resource: Resource,
    target: OtlpTarget | None,
    headers: Mapping[str, str] | None,
    timeout: float,
    interval: float,
    console: bool,
) -> tuple[metrics.MeterProvider, bool]:
    existing = metrics.get_meter_provider()
    if not _is_unset(existing):
        return existing, False
    readers: list[MetricReader] = []
    if target is not None:
        exporter = _otlp_exporter("metric", target, headers, timeout)
        readers.append(
            PeriodicExportingMetricReader(
                exporter, export_interval_millis=interval * 1000, export_timeout_millis=timeout * 1000
            )
        )
    if console:
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(), interval * 1000))
    if not readers:  # nothing would leave the process: the MetricsManager's own reader suffices
        return existing, False
    provider = MeterProvider(metric_readers=readers, resource=resource)
    metrics.set_meter_provider(provider)
    return provider, True


def _otlp_exporter(kind: str, target: OtlpTarget, headers: Mapping[str, str] | None, timeout: float) -> Any:
    """Import the OTLP exporter for ``kind`` lazily (gRPC pulls in grpcio, slow to import)."""
    transport = "grpc" if target.protocol == "grpc" else "http"
    module_name = {"trace": "trace_exporter", "log": "_log_exporter", "metric": "metric_exporter"}[kind]
    class_name = {"trace": "OTLPSpanExporter", "log": "OTLPLogExporter", "metric": "OTLPMetricExporter"}[kind]
    module = __import__(f"opentelemetry.exporter.otlp.proto.{transport}.{module_name}", fromlist=[class_name])
    exporter_class = getattr(module, class_name)
    kwargs: dict[str, Any] = {"endpoint": target.endpoint, "timeout": timeout}
    if headers is not None:
        kwargs["headers"] = dict(headers)
    if transport == "grpc" and target.endpoint is not None:
        kwargs["insecure"] = target.endpoint.startswith("http://")
    return exporter_class(**kwargs)

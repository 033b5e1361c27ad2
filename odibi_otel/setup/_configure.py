"""``configure()``: set up OpenTelemetry for odibi_otel, unless the application already did.

This is the one place odibi_otel installs global providers, and only where the application has
none: an app that configured OpenTelemetry itself (by hand or with ``opentelemetry-instrument``)
keeps its providers, and odibi_otel's spans, metrics and logs flow into them.

An OTLP endpoint that is down, black-holed or slow never breaks or stalls a run: exports happen
in background threads, :meth:`TelemetryHandle.shutdown` waits at most the export timeout, and the
exporters' per-batch warnings are folded into one odibi_otel warning per endpoint (the rest are
counted in :func:`odibi_otel._internal.safety.telemetry_failures`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

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

from odibi_otel._internal.safety import record_failure
from odibi_otel.errors import OdibiError
from odibi_otel.metrics.defaults import set_default_metrics_manager
from odibi_otel.metrics.manager import MetricsManager
from odibi_otel.otel import semconv
from odibi_otel.setup.otlp_settings import (
    DEFAULT_EXPORT_TIMEOUT_S,
    SIGNALS,
    OtlpConfigurationError,
    OtlpExportError,
    OtlpTarget,
    resolve_export_timeout,
    resolve_otlp_target,
    sdk_disabled,
)

__all__ = ["EXPORT_LOGGERS", "PrometheusEndpointError", "TelemetryHandle", "build_resource", "configure"]

_logger = logging.getLogger("odibi_otel")
_DEFAULT_METRIC_INTERVAL_S: Final = 10.0
_DEFAULT_PROMETHEUS_HOST: Final = "127.0.0.1"

#: Loggers through which the OpenTelemetry SDK and OTLP exporters report failed exports.
EXPORT_LOGGERS: Final = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._logs._internal.export",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk.metrics._internal",
)
# What a bounded shutdown makes the SDK say; the one odibi_otel warning already covers it.
_SHUTDOWN_NOISE: Final = (
    "already shutdown",
    "shutdown in progress",
    "shutdown can only be called once",
    "can't shutdown multiple times",
    "shutdown called",
)


class PrometheusEndpointError(OdibiError, ValueError):
    """The Prometheus ``/metrics`` endpoint is misconfigured or cannot listen on its port."""


@dataclass
class TelemetryHandle:
    """What :func:`configure` set up; call :meth:`shutdown` to flush and stop it.

    ``owns_*`` tell which providers odibi_otel created (and will shut down) and which belong to
    the application (left alone). ``otlp_targets`` maps each exported signal to its endpoint.
    """

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    logger_provider: Any
    metrics_manager: MetricsManager | None
    owns_tracer_provider: bool = False
    owns_meter_provider: bool = False
    owns_logger_provider: bool = False
    disabled: bool = False
    export_timeout: float = DEFAULT_EXPORT_TIMEOUT_S
    telemetry_file: Any = None
    otlp_targets: dict[str, OtlpTarget] = field(default_factory=dict)
    _local_processors: list[Any] = field(default_factory=list, repr=False)
    _otlp_exporters: list[Any] = field(default_factory=list, repr=False)
    _cleanups: list[Callable[[], Any]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def prometheus_url(self) -> str | None:
        """The ``/metrics`` URL while the endpoint is being served."""
        server = self.metrics_manager._server if self.metrics_manager else None
        return server.url if server else None

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` has been called."""
        return self._closed

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop what odibi_otel created, waiting at most ``timeout`` seconds in all.

        The default bound is the export timeout. The local span/log file is completed first;
        then the OTLP exporters, the meter provider and the ``/metrics`` endpoint stop at once.
        Telemetry an unreachable endpoint has not taken by then is dropped (warned once).
        Returns whether everything finished in time. Later calls do nothing.
        """
        budget = self.export_timeout if timeout is None else max(0.0, float(timeout))
        return self._stop(budget, report=True)

    def _stop(self, budget: float, *, report: bool) -> bool:
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        atexit.unregister(self.shutdown)
        deadline = time.monotonic() + budget
        for cleanup in self._cleanups:  # detach the log handler and defaults first: quick, local
            _call_logged(cleanup)
        local_done = _run_until(deadline, [processor.shutdown for processor in self._local_processors])
        stoppers: list[Callable[[], Any]] = []
        if self.metrics_manager is not None:
            stoppers.append(self.metrics_manager.shutdown)
        if self.owns_tracer_provider:
            stoppers.append(self.tracer_provider.shutdown)  # type: ignore[attr-defined]
        if self.owns_logger_provider:
            stoppers.append(self.logger_provider.shutdown)
        if self.owns_meter_provider:
            provider = self.meter_provider

            def stop_meter_provider() -> None:
                remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
                provider.shutdown(timeout_millis=remaining_ms)  # type: ignore[attr-defined]

            stoppers.append(stop_meter_provider)
        done = _run_until(deadline, stoppers) and local_done
        if self.telemetry_file is not None:
            self.telemetry_file.shutdown()
        for owned, provider in (
            (self.owns_tracer_provider, self.tracer_provider),
            (self.owns_logger_provider, self.logger_provider),
            (self.owns_meter_provider, self.meter_provider),
        ):
            if owned:
                _spent.add(provider)
        if not done:
            self._give_up(budget, report)
        return done

    def _give_up(self, budget: float, report: bool) -> None:
        if report:
            self._report_give_up(budget)
        # Stop the exporters' retries so abandoned threads end soon; never wait for them.
        for exporter in self._otlp_exporters:
            with contextlib.suppress(RuntimeError):  # at interpreter exit: nothing to stop for
                threading.Thread(target=_call_logged, args=(exporter.shutdown,), daemon=True).start()

    def _report_give_up(self, budget: float) -> None:
        if self.otlp_targets:
            signals = ", ".join(self.otlp_targets)
            record_failure(
                _component(self.otlp_targets.values()),
                OtlpExportError(
                    f"{signals} not delivered within {budget:g} s (endpoint unreachable or not "
                    "answering); unsent telemetry is dropped"
                ),
            )
        else:
            _logger.warning(
                "odibi_otel: telemetry shutdown did not finish within %.1f s; unsent telemetry is dropped",
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
    metric_export_interval: float | None = None,
    log_level: int = logging.INFO,
    default_service_name: str = "odibi_otel",
    environ: Mapping[str, str] | None = None,
) -> TelemetryHandle:
    """Set up tracer, meter and logger providers for odibi_otel and return a handle.

    Providers the application already set are kept and returned (``owns_*`` is then false);
    odibi_otel only adds the ``spans_file`` processors to them. Explicit arguments win over the
    environment variables named below.

    Args:
        service_name: ``service.name``; default ``OTEL_SERVICE_NAME``, else ``service.name`` in
            ``OTEL_RESOURCE_ATTRIBUTES``, else ``default_service_name``.
        otlp_endpoint: Base URL of an OTLP receiver, like ``OTEL_EXPORTER_OTLP_ENDPOINT`` (for
            HTTP ``/v1/traces``, ``/v1/metrics`` and ``/v1/logs`` are appended). Default: the
            ``OTEL_EXPORTER_OTLP_[<SIGNAL>_]ENDPOINT`` variables; none means no OTLP export.
        otlp_protocol: ``"grpc"`` or ``"http/protobuf"`` (default per
            ``OTEL_EXPORTER_OTLP_[<SIGNAL>_]PROTOCOL``, else ``http/protobuf``).
        prometheus_port: Serve ``/metrics`` on this port (0 = any free port); ``None`` keeps it
            off unless ``OTEL_EXPORTER_PROMETHEUS_PORT`` is set.
        prometheus_host: Address to bind; default ``OTEL_EXPORTER_PROMETHEUS_HOST``, else 127.0.0.1.
        spans_file: Write spans and log records as OTLP/JSON lines to this file (appended).
        console: Also print spans, metrics and logs to stdout.
        resource_attributes: Extra resource attributes (over ``OTEL_RESOURCE_ATTRIBUTES``).
        otlp_headers: Headers for the OTLP exporters (default ``OTEL_EXPORTER_OTLP_[<SIGNAL>_]HEADERS``).
        export_timeout: Seconds one export may take (default ``OTEL_EXPORTER_OTLP_[<SIGNAL>_]TIMEOUT``
            in milliseconds, else 10); also bounds :meth:`TelemetryHandle.shutdown`.
        metric_export_interval: Seconds between OTLP metric exports (default
            ``OTEL_METRIC_EXPORT_INTERVAL`` in milliseconds, else 10).
        log_level: Lowest level of ``odibi_otel`` log records exported as OpenTelemetry logs.
        default_service_name: ``service.name`` when neither the argument nor a variable gives one.
        environ: The environment to read (default ``os.environ``).

    Raises:
        OtlpConfigurationError: An OTLP argument or variable is unusable (nothing is set up).
        PrometheusEndpointError: The ``/metrics`` endpoint cannot be served (nothing is set up).
        OSError: ``spans_file`` cannot be opened.

    With ``OTEL_SDK_DISABLED=true`` nothing is set up and a handle with ``disabled=True`` is returned.
    """
    env = os.environ if environ is None else environ
    if sdk_disabled(env):
        return TelemetryHandle(
            trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider(),
            None, disabled=True, export_timeout=_disabled_timeout(export_timeout, env),
        )  # fmt: skip
    # Resolve every setting first: a bad value fails before anything is created.
    targets: dict[str, OtlpTarget] = {}
    for signal in SIGNALS:
        target = resolve_otlp_target(
            signal, otlp_endpoint, otlp_protocol, env, headers=otlp_headers, timeout=export_timeout
        )
        if target is not None:
            targets[signal] = target
    timeout = (
        max(target.timeout for target in targets.values())
        if targets
        else resolve_export_timeout(export_timeout, env)
    )
    interval = _metric_interval(metric_export_interval, env)
    resource = build_resource(
        service_name, resource_attributes, default_service_name=default_service_name, environ=env
    )
    prometheus = _prometheus_endpoint(prometheus_host, prometheus_port, env)

    handle = TelemetryHandle(
        trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider(),
        None, export_timeout=timeout, otlp_targets=targets,
    )  # fmt: skip
    handle.telemetry_file = _open_file(spans_file)
    try:
        _build(handle, resource, targets, interval, console)
        if prometheus is not None:
            assert handle.metrics_manager is not None
            host, port = prometheus
            try:
                handle.metrics_manager.start_server(host, port)
            except OSError as exc:
                raise PrometheusEndpointError(
                    f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}"
                ) from exc
    except BaseException:
        handle._stop(1.0, report=False)  # nothing was exported yet: this is quick
        raise
    # Everything was built: now make it global (only where the application set nothing).
    if handle.owns_tracer_provider and _is_unset(trace.get_tracer_provider()):
        trace.set_tracer_provider(handle.tracer_provider)
    if handle.owns_logger_provider and _is_unset(_logs.get_logger_provider()):
        _logs.set_logger_provider(handle.logger_provider)
    if handle.owns_meter_provider and _is_unset(metrics.get_meter_provider()):
        metrics.set_meter_provider(handle.meter_provider)
    if targets:
        _EXPORT_FAILURES.watch(targets)
    if handle.owns_logger_provider:
        _attach_log_handler(handle, log_level)
    assert handle.metrics_manager is not None
    set_default_metrics_manager(handle.metrics_manager)
    handle._cleanups.append(lambda: set_default_metrics_manager(None))
    atexit.register(handle.shutdown)
    return handle


# -- building -------------------------------------------------------------------------------------

#: Providers of handles that were shut down: a later configure() builds fresh ones instead.
_spent: weakref.WeakSet[Any] = weakref.WeakSet()


def _reusable(provider: Any) -> bool:
    """Whether ``provider`` is the application's (or a live earlier configure()'s) provider."""
    return not _is_unset(provider) and provider not in _spent


def _is_unset(provider: object) -> bool:
    return type(provider).__name__ in (
        "ProxyTracerProvider", "NoOpTracerProvider",
        "_ProxyMeterProvider", "NoOpMeterProvider",
        "ProxyLoggerProvider", "NoOpLoggerProvider",
    )  # fmt: skip


def _build(
    handle: TelemetryHandle,
    resource: Resource,
    targets: Mapping[str, OtlpTarget],
    interval: float,
    console: bool,
) -> None:
    file = handle.telemetry_file
    existing_tracer = trace.get_tracer_provider()
    if _reusable(existing_tracer):
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
    if _reusable(existing_logger):
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
    if _reusable(existing_meter):
        handle.meter_provider = external_meter = existing_meter
    else:
        readers: list[MetricReader] = []
        if "metrics" in targets:
            target = targets["metrics"]
            exporter = _otlp_exporter(target)
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


def _otlp_exporter(target: OtlpTarget) -> Any:
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
    return exporter_class(**kwargs)


def _open_file(path: str | os.PathLike[str] | None) -> Any:
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


def _attach_log_handler(handle: TelemetryHandle, log_level: int) -> None:
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


# -- settings -------------------------------------------------------------------------------------


def build_resource(
    service_name: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    *,
    default_service_name: str = "odibi_otel",
    environ: Mapping[str, str] | None = None,
) -> Resource:
    """The resource :func:`configure` gives its providers (pure: sets nothing global).

    ``service.name``: ``service_name``, else ``resource_attributes["service.name"]``, else
    ``OTEL_SERVICE_NAME``, else ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``, else
    ``default_service_name``. Other attributes: ``resource_attributes`` over
    ``OTEL_RESOURCE_ATTRIBUTES`` over ``service.version`` = odibi_otel's version, plus the SDK's
    ``telemetry.sdk.*``.
    """
    env = os.environ if environ is None else environ
    extra = dict(resource_attributes or {})
    from_env = _parse_resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
    attributes: dict[str, Any] = {"service.version": semconv.INSTRUMENTATION_VERSION, **from_env, **extra}
    attributes["service.name"] = (
        service_name
        or extra.get("service.name")
        or env.get("OTEL_SERVICE_NAME", "").strip()
        or from_env.get("service.name")
        or default_service_name
    )
    return Resource.create(attributes)


def _parse_resource_attributes(text: str) -> dict[str, str]:
    """``key=value,key2=value2`` with URL-encoded values; malformed pairs are skipped (as the SDK does)."""
    attributes: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = unquote(value.strip())
    return attributes


def _metric_interval(explicit: float | None, env: Mapping[str, str]) -> float:
    if explicit is not None:
        if not explicit > 0:
            raise OtlpConfigurationError(f"metric_export_interval must be positive seconds, got {explicit!r}")
        return float(explicit)
    text = env.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
    if not text:
        return _DEFAULT_METRIC_INTERVAL_S
    try:
        milliseconds = float(text)
    except ValueError:
        milliseconds = -1.0
    if not milliseconds > 0:
        raise OtlpConfigurationError(
            f"OTEL_METRIC_EXPORT_INTERVAL must be positive milliseconds, got {text!r}"
        )
    return milliseconds / 1000.0


def _prometheus_endpoint(
    host: str | None, port: int | None, env: Mapping[str, str]
) -> tuple[str, int] | None:
    """(host, port) of the ``/metrics`` endpoint, or ``None`` when it stays off."""
    source = "prometheus_port"
    if port is None:
        text = env.get("OTEL_EXPORTER_PROMETHEUS_PORT", "").strip()
        if not text:
            return None
        source = "OTEL_EXPORTER_PROMETHEUS_PORT"
        try:
            port = int(text)
        except ValueError:
            raise PrometheusEndpointError(f"{source} must be a port number, got {text!r}") from None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise PrometheusEndpointError(f"{source} must be a port number from 0 to 65535, got {port!r}")
    chosen_host = host or env.get("OTEL_EXPORTER_PROMETHEUS_HOST", "").strip() or _DEFAULT_PROMETHEUS_HOST
    return chosen_host, port


def _disabled_timeout(explicit: float | None, env: Mapping[str, str]) -> float:
    try:
        return resolve_export_timeout(explicit, env)
    except OtlpConfigurationError:  # nothing is exported anyway
        return DEFAULT_EXPORT_TIMEOUT_S


# -- shutdown ---------------------------------------------------------------------------------------


def _call_logged(function: Callable[[], Any]) -> None:
    try:
        function()
    except Exception as exc:  # one failing component must not keep the others from stopping
        _logger.warning("odibi_otel: error during telemetry shutdown: %s: %s", type(exc).__name__, exc)


def _run_until(deadline: float, functions: list[Callable[[], Any]]) -> bool:
    """Run ``functions`` at once in daemon threads; whether all returned before ``deadline``."""
    threads = []
    for function in functions:
        thread = threading.Thread(
            target=_call_logged, args=(function,), name="odibi-otel-shutdown", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no new threads at interpreter exit (atexit, Python 3.12+): run it here
            _call_logged(function)
            continue
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


# -- one warning per endpoint -------------------------------------------------------------------------


def _component(targets: Any) -> str:
    endpoints = sorted({f"{target.base_url} ({target.protocol})" for target in targets})
    return "OTLP export to " + ", ".join(endpoints)


class _ExportFailureFilter(logging.Filter):
    """Folds the OpenTelemetry exporters' warnings into one odibi_otel warning per endpoint.

    Installed on :data:`EXPORT_LOGGERS` by :func:`configure` when it sets up OTLP exporters.
    Retry notices and shutdown noise are dropped; a failed export goes to
    :func:`~odibi_otel._internal.safety.record_failure`, which logs the first one per endpoint (naming the
    endpoint, signal, timeout and cause) and counts the rest.
    """

    _LOGGER_SIGNALS: Final = {
        "trace_exporter": "traces",
        "metric_exporter": "metrics",
        "_log_exporter": "logs",
    }

    def __init__(self) -> None:
        super().__init__("odibi_otel.export_failures")
        self._lock = threading.Lock()
        self._targets: dict[str, OtlpTarget] = {}
        self._last_error: dict[str, str] = {}

    def watch(self, targets: Mapping[str, OtlpTarget]) -> None:
        with self._lock:
            self._targets = dict(targets)
        for name in EXPORT_LOGGERS:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        with self._lock:
            targets = dict(self._targets)
        if not targets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        lowered = text.lower()
        if any(noise in lowered for noise in _SHUTDOWN_NOISE):
            return False
        signal = self._signal(record.name, lowered)
        if "transient error" in lowered or "retrying" in lowered:
            with self._lock:
                self._last_error[signal or ""] = text
            return False
        if "export" not in lowered and "dropping" not in lowered:
            return True  # not about exporting: let it through
        target = targets.get(signal or "") or next(iter(targets.values()))
        with self._lock:
            last = self._last_error.get(signal or "")
        cause = text
        if record.exc_info and record.exc_info[1] is not None:
            cause += f" {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        if last and last not in cause:
            cause += f" (last error: {last})"
        record_failure(
            _component(targets.values()),
            OtlpExportError(
                f"{signal or 'telemetry'} not delivered to {target.endpoint} (export timeout "
                f"{target.timeout:g} s): {_shorten(cause)}"
            ),
        )
        return False

    def _signal(self, logger_name: str, lowered: str) -> str | None:
        for part, signal in self._LOGGER_SIGNALS.items():
            if logger_name.endswith(part):
                return signal
        if "metric" in lowered:
            return "metrics"
        if "span" in lowered or "trace" in lowered:
            return "traces"
        if "log" in lowered:
            return "logs"
        return None


def _shorten(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_EXPORT_FAILURES = _ExportFailureFilter()

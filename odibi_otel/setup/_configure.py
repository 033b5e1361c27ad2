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
import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace

from odibi_otel.metrics._defaults import (
    set_default_history,
    set_default_metrics_manager,
    set_default_openlineage,
)
from odibi_otel.metrics.batch import set_batch_export
from odibi_otel.metrics.pushgateway import DEFAULT_JOB
from odibi_otel.otel._sdk_compat import (
    EXPORT_LOGGERS,
    is_unset_provider,
)
from odibi_otel.otel._sdk_compat import logs_api as _logs
from odibi_otel.setup._build import attach_log_handler, build_providers, open_telemetry_file
from odibi_otel.setup._export_failures import EXPORT_FAILURES
from odibi_otel.setup.handle import TelemetryHandle
from odibi_otel.setup.otlp_settings import (
    SIGNALS,
    OtlpConfigurationError,
    OtlpTarget,
    resolve_export_timeout,
    resolve_otlp_target,
    sdk_disabled,
)
from odibi_otel.setup.settings import (
    PrometheusEndpointError,
    batch_settings,
    build_resource,
    disabled_timeout,
    metric_interval,
    metrics_temporality_preference,
    openlineage_requested,
    prometheus_endpoint,
)

__all__ = ["EXPORT_LOGGERS", "PrometheusEndpointError", "TelemetryHandle", "build_resource", "configure"]


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
    pushgateway_url: str | None = None,
    pushgateway_job: str = DEFAULT_JOB,
    pushgateway_grouping_key: Mapping[str, str] | None = None,
    pushgateway_headers: Mapping[str, str] | None = None,
    textfile_dir: str | os.PathLike[str] | None = None,
    metrics_temporality: str | None = None,
    openlineage: Any = None,
    history: Any = None,
    history_keep: int | None = None,
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
        pushgateway_url: At the end of every run, push its metrics to this Prometheus
            Pushgateway (default ``ODIBI_PUSHGATEWAY_URL``; see :mod:`odibi_otel.metrics.batch`).
        pushgateway_job: The pushed group's ``job`` label.
        pushgateway_grouping_key: More labels of the pushed group (e.g. ``{"instance": "host1"}``).
        pushgateway_headers: Extra HTTP headers of each push.
        textfile_dir: At the end of every run, write its metrics to
            ``<textfile_dir>/odibi_<pipeline>.prom`` for node_exporter's textfile collector.
        openlineage: Emit OpenLineage events for every run: ``True`` (the client's own
            configuration: ``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``, ``openlineage.yml``),
            a file path (one JSON event per line), an ``OpenLineageEmitter``, or ``False``. Default:
            on when that client configuration is present (see ``docs/openlineage.md``).
        history: Record every run in a run history and compare each node with its earlier runs:
            a URL or path (``sqlite:///runs.sqlite``, ``postgresql://...``), a ``HistoryStore`` or a
            ``HistoryConfig``; default ``ODIBI_HISTORY_URL``, else none (see ``docs/history.md``).
        history_keep: Runs kept per pipeline in the history (default 200).
        metrics_temporality: ``"delta"`` or ``"cumulative"`` for the OTLP metric exporter
            (default: ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``, else cumulative).

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
            None, disabled=True, export_timeout=disabled_timeout(export_timeout, env),
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
    interval = metric_interval(metric_export_interval, env)
    resource = build_resource(
        service_name, resource_attributes, default_service_name=default_service_name, environ=env
    )
    prometheus = prometheus_endpoint(prometheus_host, prometheus_port, env)
    batch = batch_settings(
        pushgateway_url,
        pushgateway_job,
        pushgateway_grouping_key,
        pushgateway_headers,
        textfile_dir,
        timeout,
        env,
    )
    temporality = metrics_temporality_preference(metrics_temporality)
    emitter = lineage_emitter(openlineage, env, timeout)
    history_settings = run_history(history, history_keep, env)

    handle = TelemetryHandle(
        trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider(),
        None, export_timeout=timeout, otlp_targets=targets,
    )  # fmt: skip
    handle.telemetry_file = open_telemetry_file(spans_file)
    try:
        build_providers(handle, resource, targets, interval, console, temporality)
        if prometheus is not None:
            assert handle.metrics_manager is not None
            host, port = prometheus
            try:
                handle.metrics_manager.start_server(host, port, whole_process=True)
            except OSError as exc:
                raise PrometheusEndpointError(
                    f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}"
                ) from exc
    except BaseException:
        handle._stop(1.0, report=False)  # nothing was exported yet: this is quick
        raise
    # Everything was built: now make it global (only where the application set nothing).
    if handle.owns_tracer_provider and is_unset_provider(trace.get_tracer_provider()):
        trace.set_tracer_provider(handle.tracer_provider)
    if handle.owns_logger_provider and is_unset_provider(_logs.get_logger_provider()):
        _logs.set_logger_provider(handle.logger_provider)
    if handle.owns_meter_provider and is_unset_provider(metrics.get_meter_provider()):
        metrics.set_meter_provider(handle.meter_provider)
    if targets:
        EXPORT_FAILURES.watch(targets)
    if handle.owns_logger_provider:
        attach_log_handler(handle, log_level)
    assert handle.metrics_manager is not None
    set_default_metrics_manager(handle.metrics_manager)
    handle._cleanups.append(lambda: set_default_metrics_manager(None))
    if batch is not None:
        set_batch_export(batch)
        handle._cleanups.append(lambda: set_batch_export(None))
    if emitter is not None:
        set_default_openlineage(emitter)
        handle._cleanups.append(lambda: set_default_openlineage(None))
        handle._cleanups.append(emitter.shutdown)
    if history_settings is not None:
        set_default_history(history_settings)
        handle._cleanups.append(lambda: set_default_history(None))
    atexit.register(handle.shutdown)
    return handle


def run_history(history: Any, keep: int | None, env: Mapping[str, str]) -> Any | None:
    """The ``HistoryConfig`` ``configure(history=..., history_keep=...)`` asks for, or ``None``."""
    from odibi_otel.history.recorder import HISTORY_URL_ENV, history_config

    if history is None:
        history = env.get(HISTORY_URL_ENV) or None
    config = history_config(history)
    if config is not None and keep is not None:
        config = dataclasses.replace(config, keep=keep)
    return config


def lineage_emitter(openlineage: Any, env: Mapping[str, str], timeout: float) -> Any | None:
    """The OpenLineage emitter ``configure(openlineage=...)`` asks for (imported only then)."""
    if not openlineage_requested(openlineage, env):
        return None
    if not isinstance(openlineage, (bool, str, os.PathLike)) and openlineage is not None:
        return openlineage  # an emitter of the caller's
    try:
        from odibi_otel.openlineage import OpenLineageEmitter
    except ImportError as exc:
        raise OtlpConfigurationError(
            "OpenLineage needs the openlineage-python package: pip install 'odibi-otel[openlineage]'"
        ) from exc
    if isinstance(openlineage, (str, os.PathLike)):
        return OpenLineageEmitter.to_file(openlineage, timeout=timeout)
    return OpenLineageEmitter(timeout=timeout)

"""The settings :func:`~odibi_otel.configure` resolves before it builds anything (pure: nothing global)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote

from opentelemetry.sdk.resources import Resource

from odibi_otel.errors import OdibiError
from odibi_otel.metrics.batch import BatchExport
from odibi_otel.metrics.pushgateway import PushgatewayError, group_url
from odibi_otel.otel import semconv
from odibi_otel.setup.otlp_settings import (
    DEFAULT_EXPORT_TIMEOUT_S,
    OtlpConfigurationError,
    resolve_export_timeout,
)

__all__ = [
    "PrometheusEndpointError",
    "batch_settings",
    "build_resource",
    "disabled_timeout",
    "metric_interval",
    "metrics_temporality_preference",
    "openlineage_requested",
    "prometheus_endpoint",
]


_DEFAULT_METRIC_INTERVAL_S: Final = 10.0
_DEFAULT_PROMETHEUS_HOST: Final = "127.0.0.1"


class PrometheusEndpointError(OdibiError, ValueError):
    """The Prometheus ``/metrics`` endpoint is misconfigured or cannot listen on its port."""


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


def metric_interval(explicit: float | None, env: Mapping[str, str]) -> float:
    """Seconds between OTLP metric exports: ``explicit``, else ``OTEL_METRIC_EXPORT_INTERVAL``, else 10."""
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


def prometheus_endpoint(host: str | None, port: int | None, env: Mapping[str, str]) -> tuple[str, int] | None:
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


def disabled_timeout(explicit: float | None, env: Mapping[str, str]) -> float:
    """The export timeout of a disabled SDK's handle; unusable settings fall back to the default."""
    try:
        return resolve_export_timeout(explicit, env)
    except OtlpConfigurationError:  # nothing is exported anyway
        return DEFAULT_EXPORT_TIMEOUT_S


def batch_settings(
    pushgateway_url: str | None,
    job: str,
    grouping_key: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    textfile_dir: str | os.PathLike[str] | None,
    timeout: float,
    env: Mapping[str, str],
) -> BatchExport | None:
    """Where every run's metrics go at its end, or ``None``; a bad Pushgateway URL fails here."""
    url = pushgateway_url or env.get("ODIBI_PUSHGATEWAY_URL", "").strip() or None
    if url is None and textfile_dir is None:
        return None
    if url is not None:
        try:
            group_url(url, job, grouping_key or {})
        except PushgatewayError as exc:
            raise PrometheusEndpointError(str(exc)) from None
    return BatchExport(
        pushgateway_url=url,
        job=job,
        grouping_key=dict(grouping_key or {}),
        headers=dict(headers or {}),
        timeout=timeout,
        textfile_dir=textfile_dir,
    )


def metrics_temporality_preference(preference: str | None) -> str | None:
    """``"delta"``, ``"cumulative"`` or ``None`` (the exporter's default); anything else fails."""
    if preference is None:
        return None
    chosen = preference.strip().lower()
    if chosen not in ("delta", "cumulative"):
        raise OtlpConfigurationError(
            f"metrics_temporality must be 'delta' or 'cumulative', got {preference!r}"
        )
    return chosen


def openlineage_requested(explicit: object, env: Mapping[str, str]) -> bool:
    """Whether to emit OpenLineage: ``explicit`` if given, else the client's own configuration.

    That is ``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, an ``OPENLINEAGE__TRANSPORT__*`` variable
    or an ``openlineage.yml`` in the working directory (``OPENLINEAGE_DISABLED=true`` wins).
    """
    if explicit is not None:
        return explicit is not False
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL", "").strip() or env.get("OPENLINEAGE_CONFIG", "").strip():
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT__") for name in env):
        return True
    return os.path.isfile("openlineage.yml")

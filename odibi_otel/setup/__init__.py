"""Setting OpenTelemetry up: :func:`configure` creates SDK providers, OTLP exporters, the span/log
file and the ``/metrics`` endpoint, only where the application has not set its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.setup._configure import (
        PrometheusEndpointError,
        TelemetryHandle,
        build_resource,
        configure,
    )
    from odibi_otel.setup.otlp_settings import (
        OtlpConfigurationError,
        OtlpExportError,
        OtlpTarget,
        resolve_otlp_target,
    )

__all__ = [
    "OtlpConfigurationError",
    "OtlpExportError",
    "OtlpTarget",
    "PrometheusEndpointError",
    "TelemetryHandle",
    "build_resource",
    "configure",
    "resolve_otlp_target",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            (
                "PrometheusEndpointError",
                "TelemetryHandle",
                "build_resource",
                "configure",
            ),
            "odibi_otel.setup._configure",
        ),
        **dict.fromkeys(
            (
                "OtlpConfigurationError",
                "OtlpExportError",
                "OtlpTarget",
                "resolve_otlp_target",
            ),
            "odibi_otel.setup.otlp_settings",
        ),
    },
)

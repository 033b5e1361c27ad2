"""Setting OpenTelemetry up: :func:`configure` creates SDK providers, OTLP exporters, the span/log
file and the ``/metrics`` endpoint, only where the application has not set its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.setup._configure import configure
    from odibi_otel.setup.handle import TelemetryHandle
    from odibi_otel.setup.otlp_settings import (
        OtlpConfigurationError,
        OtlpExportError,
        OtlpTarget,
        resolve_otlp_target,
    )
    from odibi_otel.setup.settings import PrometheusEndpointError, build_resource

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
        "configure": "odibi_otel.setup._configure",
        "TelemetryHandle": "odibi_otel.setup.handle",
        **dict.fromkeys(
            ("OtlpConfigurationError", "OtlpExportError", "OtlpTarget", "resolve_otlp_target"),
            "odibi_otel.setup.otlp_settings",
        ),
        **dict.fromkeys(("PrometheusEndpointError", "build_resource"), "odibi_otel.setup.settings"),
    },
)

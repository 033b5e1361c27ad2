"""Metrics: the MetricsManager (OpenTelemetry instruments fed from the run's spans), its Prometheus
exposition, the ``/metrics`` endpoint and the layout of its summary (``MetricsSummary``). See
``docs/metrics.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.metrics.manager import (
        DEFAULT_CARDINALITY_LIMIT,
        MetricsManager,
        MetricType,
    )
    from odibi_otel.metrics.prometheus_text import (
        PrometheusRenderer,
    )
    from odibi_otel.metrics.server import (
        MetricsServer,
        resolve_endpoint,
    )
    from odibi_otel.metrics.summary import (
        MetricsSummary,
        NodeMetrics,
    )

__all__ = [
    "DEFAULT_CARDINALITY_LIMIT",
    "MetricType",
    "MetricsManager",
    "MetricsServer",
    "MetricsSummary",
    "NodeMetrics",
    "PrometheusRenderer",
    "resolve_endpoint",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            (
                "DEFAULT_CARDINALITY_LIMIT",
                "MetricType",
                "MetricsManager",
            ),
            "odibi_otel.metrics.manager",
        ),
        **dict.fromkeys(
            (
                "MetricsServer",
                "resolve_endpoint",
            ),
            "odibi_otel.metrics.server",
        ),
        **dict.fromkeys(
            ("PrometheusRenderer",),
            "odibi_otel.metrics.prometheus_text",
        ),
        **dict.fromkeys(
            (
                "MetricsSummary",
                "NodeMetrics",
            ),
            "odibi_otel.metrics.summary",
        ),
    },
)

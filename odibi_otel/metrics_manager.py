"""The odibi_core tutorial's import path ``odibi_otel.metrics_manager``, kept as it is.

The code lives in :mod:`odibi_otel.metrics.manager`; this module re-exports it.
"""

from odibi_otel.metrics.manager import MetricsManager, MetricType

__all__ = ["MetricsManager", "MetricType"]

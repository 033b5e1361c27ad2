"""A :class:`~odibi_otel.metrics.manager.MetricsManager`'s exposition, rendered once per change.

:class:`ExpositionCache` collects from the manager's own reader, renders the Prometheus text (or
OpenMetrics) exposition and keeps the bytes, plain and gzip-compressed, until the
:class:`~odibi_otel.metrics._recording.Recorder` records something new.
"""

from __future__ import annotations

import gzip
import os
import threading
from typing import Final

from opentelemetry.sdk.environment_variables import OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED
from opentelemetry.sdk.metrics.export import MetricsData

from odibi_otel.metrics._recording import Recorder
from odibi_otel.metrics.prometheus_text import MetricsDataReader, PrometheusRenderer
from odibi_otel.otel import semconv

__all__ = ["ExpositionCache"]

#: gzip level of compressed scrapes: the exposition is so repetitive that level 1 already shrinks
#: it ~40x, in a fraction of level 9's time (prometheus_client's choice).
_GZIP_LEVEL: Final = 1


class ExpositionCache:
    """The rendered exposition per (openmetrics, gzip), kept until something is recorded.

    Every recording path sets ``recorder.changed`` after its measurements landed, and a render
    clears it before it collects, so a measurement is never hidden behind the cache.

    Args:
        reader: The manager's own pull reader.
        recorder: The manager's recorder (its pending node spans are recorded before collecting).
    """

    def __init__(self, reader: MetricsDataReader, recorder: Recorder) -> None:
        self._reader = reader
        self._recorder = recorder
        self._renderer = PrometheusRenderer()
        self._lock = threading.Lock()
        self._bodies: dict[tuple[bool, bool], bytes] = {}
        # With the SDK's own metrics on, each collection records one (into this provider too).
        self._always_render = _sdk_internal_metrics_enabled()

    def collect_data(self) -> MetricsData | None:
        """Record what is pending, then collect the reader's current data."""
        self._recorder.record_pending()
        return self._reader.collect_data()

    def render(self, openmetrics: bool, compressed: bool) -> bytes:
        """The exposition in the format asked for, from the cache or rendered anew."""
        key = (openmetrics, compressed)
        recorder = self._recorder
        recorder.record_pending()
        with self._lock:
            if recorder.changed:
                recorder.changed = False  # before collecting: a measurement landing later re-sets it
                self._bodies.clear()
            body = self._bodies.get(key)
            if body is None:
                plain = self._bodies.get((openmetrics, False))
                if plain is None:
                    data = self.collect_data()
                    plain = self._renderer.render(data, openmetrics=openmetrics)
                    if self._always_render or not _only_own_instruments(data):
                        recorder.changed = True  # their values change without a recording here
                    self._bodies[(openmetrics, False)] = plain
                body = gzip.compress(plain, compresslevel=_GZIP_LEVEL, mtime=0) if compressed else plain
                self._bodies[key] = body
            return body


def _only_own_instruments(data: MetricsData | None) -> bool:
    """Whether all of ``data`` comes from odibi_otel's instruments, which change only when recorded.

    Anything else on the manager's provider (e.g. the SDK's own metrics) must not be cached.
    """
    if data is None:
        return True
    return all(
        scope_metrics.scope.name == semconv.INSTRUMENTATION_SCOPE
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
    )


def _sdk_internal_metrics_enabled() -> bool:
    """``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``, read as the SDK reads it when a provider starts."""
    return os.environ.get(OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED, "").strip().lower() == "true"

"""The pull reader of a manager's own provider, and a prometheus_client collector of its data.

- :class:`MetricsDataReader`: an SDK ``MetricReader`` that collects on demand (a pull reader,
  cumulative temporality like the Prometheus exporter) and hands the ``MetricsData`` back.
- :class:`MetricsDataCollector`: a prometheus_client collector yielding the exporter's families,
  for registries (OpenMetrics via prometheus_client, ``start_http_server``, ...); not optimised.

Both are part of :mod:`odibi_otel.metrics.prometheus_text`'s API (import them from there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any, cast

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    MetricReader,
    MetricsData,
    NumberDataPoint,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.metrics_core import Metric as PrometheusFamily

from odibi_otel.metrics._families import (
    COUNTER,
    GAUGE,
    TARGET_INFO_DESCRIPTION,
    TARGET_INFO_NAME,
    Family,
    Translator,
    bucket_bounds,
)
from odibi_otel.otel._sdk_compat import OtelComponentTypeValues, cardinality_reader_arguments

__all__ = ["MetricsDataCollector", "MetricsDataReader"]


class MetricsDataReader(MetricReader):
    """An SDK metric reader that collects when asked and returns the ``MetricsData``.

    Temporality is cumulative for every instrument, as with OpenTelemetry's Prometheus reader, so
    collecting any number of times (from several callers) never resets a value. After
    :meth:`shutdown`, :meth:`collect_data` returns ``None``.

    Args:
        cardinality_limits: Per instrument class, the series kept per collection before the SDK
            folds new ones into an ``otel.metric.overflow=true`` series (SDK default: 2,000; an
            SDK before 1.45.2 keeps its default whatever is asked).
    """

    def __init__(self, cardinality_limits: dict[type, int] | None = None) -> None:
        cumulative = AggregationTemporality.CUMULATIVE
        super().__init__(
            preferred_temporality={
                kind: cumulative
                for kind in (
                    Counter,
                    UpDownCounter,
                    Histogram,
                    ObservableCounter,
                    ObservableUpDownCounter,
                    ObservableGauge,
                )
            },
            **cardinality_reader_arguments(cardinality_limits),
            otel_component_type=OtelComponentTypeValues.PROMETHEUS_HTTP_TEXT_METRIC_EXPORTER,
        )
        self._collecting = threading.Lock()
        self._received: MetricsData | None = None
        self._is_shut_down = False

    def collect_data(self, timeout_millis: float = 10_000) -> MetricsData | None:
        """Collect now; the provider's current data, or ``None`` (no series yet, or shut down)."""
        if self._is_shut_down:
            return None
        with self._collecting:  # one collection at a time: each caller gets its own data back
            self._received = None
            self.collect(timeout_millis=timeout_millis)
            data, self._received = self._received, None
        return data

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._received = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop answering :meth:`collect_data` (the meter provider's shutdown calls this)."""
        self._is_shut_down = True


class MetricsDataCollector:
    """A prometheus_client collector: the same families, as prometheus_client ``Metric`` objects.

    Register it in a ``CollectorRegistry`` to use prometheus_client's own exposition (OpenMetrics
    ``generate_latest``, ``start_http_server``, ...). Each ``collect()`` collects anew from
    ``collect_data``; it is as slow as the exporter it mirrors.

    Args:
        collect_data: Returns the current ``MetricsData`` (e.g. :meth:`MetricsDataReader.collect_data`).
    """

    def __init__(self, collect_data: Callable[[], MetricsData | None]) -> None:
        self._collect_data = collect_data
        self._translator = Translator()
        self._lock = threading.Lock()

    def describe(self) -> list[PrometheusFamily]:
        """Nothing: the registry must not collect at registration (names are not known yet)."""
        return []

    def collect(self) -> Iterator[PrometheusFamily]:
        """The current families: ``target_info`` first, then one per exporter family."""
        data = self._collect_data()
        if data is None:
            return
        with self._lock:
            attributes = self._translator.target_info(data)
            families = self._translator.families(data)
            info = InfoMetricFamily(TARGET_INFO_NAME, TARGET_INFO_DESCRIPTION, labels=list(attributes))
            info.add_metric(labels=list(attributes), value=attributes)
            built = [info] + [self._build(family) for family in families]
        yield from built

    def _build(self, family: Family) -> PrometheusFamily:
        factory: Any = {COUNTER: CounterMetricFamily, GAUGE: GaugeMetricFamily}.get(
            family.kind, HistogramMetricFamily
        )
        built = factory(
            name=family.name, documentation=family.documentation, labels=family.label_names, unit=family.unit
        )
        for part in family.parts:
            for point in part.points:
                values = self._translator.label_values(part, point.attributes)
                if isinstance(point, HistogramDataPoint):
                    cumulative = accumulate(point.bucket_counts)
                    buckets = list(zip(bucket_bounds(point.explicit_bounds), cumulative, strict=False))
                    built.add_metric(labels=values, buckets=buckets, sum_value=point.sum)
                else:
                    assert isinstance(point, NumberDataPoint)
                    built.add_metric(labels=values, value=point.value)
        return cast(PrometheusFamily, built)  # the factories' subclasses of Metric

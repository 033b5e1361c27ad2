"""The instruments a :class:`~odibi_otel.metrics.manager.MetricsManager` records into, and its own provider.

:class:`Instruments` is one set of odibi_otel's instruments on one meter (the manager keeps one
on its own meter provider and, when the application has one, one on the application's);
:func:`own_meter_provider` builds the manager's own provider, read by its pull reader.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    Counter,
    ExemplarReservoir,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from odibi_otel.metrics._observed_values import NODE_COLUMNS, SeriesTable
from odibi_otel.metrics.prometheus_text import MetricsDataReader
from odibi_otel.otel import semconv
from odibi_otel.otel._sdk_compat import GaugeInstrument, is_unset_provider

__all__ = [
    "Instruments",
    "configured_global_meter_provider",
    "custom_name",
    "meter",
    "own_meter_provider",
]


class Instruments:
    """One set of odibi_otel instruments on one meter.

    With ``observed``, the per-node gauges and the rows counter are asynchronous instruments
    reading one :class:`~odibi_otel.metrics._observed_values.SeriesTable` at collection time (a
    node's end writes its row once): used on the manager's own provider, which nothing else
    shares. On an application's provider they are synchronous instruments, because a second
    manager creating the same asynchronous instrument there would get the first one back, with
    the first manager's callback.
    """

    def __init__(self, meter: metrics.Meter, *, observed: bool = False) -> None:
        self.meter = meter
        #: The per-node values the asynchronous instruments read (``None``: synchronous ones).
        self.node_series: SeriesTable | None = SeriesTable(NODE_COLUMNS) if observed else None
        self.node_duration = meter.create_histogram(
            semconv.METRIC_NODE_DURATION,
            unit="s",
            description="Node execution duration (the node span's duration)",
            explicit_bucket_boundaries_advisory=semconv.DURATION_BUCKETS_SECONDS,
        )
        self.rows: Any = self._per_node(
            "rows",
            "counter",
            semconv.METRIC_NODE_ROWS,
            unit="{row}",
            description="Rows produced (or written) by nodes",
        )
        self.throughput: Any = self._per_node(
            "throughput",
            "gauge",
            semconv.METRIC_NODE_THROUGHPUT,
            unit="{row}/s",
            description="Rows per second of the node's latest execution",
        )
        self.memory: Any = self._per_node(
            "memory",
            "gauge",
            semconv.METRIC_NODE_MEMORY_USAGE,
            unit="By",
            description="Process resident memory right after the node finished",
        )
        self.data_size: Any = self._per_node(
            "data_size",
            "gauge",
            semconv.METRIC_NODE_OUTPUT_SIZE,
            unit="By",
            description="Estimated in-memory size of the node's output DataFrames",
        )
        self.errors = meter.create_counter(
            semconv.METRIC_NODE_ERRORS, unit="{error}", description="Failed node executions"
        )
        self.cache_hits = meter.create_counter(
            semconv.METRIC_CACHE_HITS, unit="{hit}", description="Node outputs served from the cache"
        )
        self.cache_misses = meter.create_counter(
            semconv.METRIC_CACHE_MISSES, unit="{miss}", description="Cacheable nodes that had to run"
        )
        self.pipeline_runs = meter.create_counter(
            semconv.METRIC_PIPELINE_RUNS, unit="{run}", description="Pipeline runs by final status"
        )
        self.pipeline_duration = meter.create_histogram(
            semconv.METRIC_PIPELINE_DURATION,
            unit="s",
            description="Pipeline run duration (the pipeline span's duration)",
            explicit_bucket_boundaries_advisory=semconv.DURATION_BUCKETS_SECONDS,
        )
        self.last_success = meter.create_gauge(
            semconv.METRIC_PIPELINE_LAST_SUCCESS,
            unit="s",
            description="Unix time of the pipeline's last successful run (alert on its age)",
        )
        self.last_run_timestamp = meter.create_gauge(
            semconv.METRIC_PIPELINE_LAST_RUN_TIMESTAMP,
            unit="s",
            description="Unix time the pipeline's latest run ended, whatever its outcome",
        )
        self.last_run_duration = meter.create_gauge(
            semconv.METRIC_PIPELINE_LAST_RUN_DURATION,
            unit="s",
            description="Duration of the pipeline's latest run",
        )
        self.last_run_status = meter.create_gauge(
            semconv.METRIC_PIPELINE_LAST_RUN_STATUS,
            description="Outcome of the pipeline's latest run: 1 success, 0 failed or interrupted",
        )
        self.node_last_rows: Any = self._per_node(
            "last_rows",
            "gauge",
            semconv.METRIC_NODE_LAST_RUN_ROWS,
            unit="{row}",
            description="Rows the node produced (or wrote) in its latest run",
        )
        self.node_last_duration: Any = self._per_node(
            "last_duration", "gauge", semconv.METRIC_NODE_LAST_RUN_DURATION, unit="s",
            description="Duration of the node's latest run",
        )  # fmt: skip
        self.node_last_status: Any = self._per_node(
            "last_status", "gauge", semconv.METRIC_NODE_LAST_RUN_STATUS, unit="",
            description="Outcome of the node's latest run: 1 success (cache hits too), 0 failed",
        )  # fmt: skip
        self.checks = meter.create_counter(
            semconv.METRIC_CHECKS, unit="{check}", description="Data check results on node outputs, by status"
        )
        self.check_failures = meter.create_counter(
            semconv.METRIC_CHECK_FAILURES,
            unit="{check}",
            description="Data checks that did not pass (warn or fail), by severity",
        )
        self.anomalies = meter.create_counter(
            semconv.METRIC_ANOMALIES,
            unit="{anomaly}",
            description="Anomalies found against the run history, by kind",
        )
        # Spark nodes only (a node span with odibi.spark.jobs): pandas nodes record nothing here
        self.spark_tasks = meter.create_counter(
            semconv.METRIC_SPARK_TASKS,
            unit="{task}",
            description="Spark tasks of the node's stages, by outcome (failed: failed task attempts)",
        )
        self.spark_shuffle = meter.create_counter(
            semconv.METRIC_SPARK_SHUFFLE,
            unit="By",
            description="Bytes the node's Spark stages read and wrote in shuffles, by direction",
        )
        self.spark_spill = meter.create_counter(
            semconv.METRIC_SPARK_SPILL,
            unit="By",
            description="Bytes the node's Spark stages spilled, by medium (memory: deserialized size)",
        )
        self._custom: dict[str, tuple[str, Any]] = {}
        self._custom_lock = threading.Lock()

    def _per_node(self, column: str, kind: str, name: str, *, unit: str, description: str) -> Any:
        """A per-node ``"counter"`` or ``"gauge"``: the asynchronous one reading ``column`` of
        :attr:`node_series` (its view is returned), or the synchronous one."""
        counter = kind == "counter"
        if self.node_series is None:
            create = self.meter.create_counter if counter else self.meter.create_gauge
            return create(name, unit=unit, description=description)
        values = self.node_series.column(column)
        observe = self.meter.create_observable_counter if counter else self.meter.create_observable_gauge
        observe(name, [values.observe], unit=unit, description=description)
        return values

    def custom(self, kind: str, name: str) -> Any:
        """A lazily created custom counter or gauge named ``odibi.custom.<name>``.

        Names are compared as Prometheus exposes them (``a.b`` is ``a_b``; a counter's ``_total``
        suffix is implied), and a name keeps the kind it was first used with: a gauge and a
        counter of one name would be clashing metric families that break the scrape.
        """
        if kind == "counter":
            name = name.removesuffix("_total") or name
        exposed = name.replace(".", "_")
        entry = self._custom.get(exposed)
        if entry is None:
            with self._custom_lock:
                entry = self._custom.get(exposed)
                if entry is None:
                    if kind == "gauge" and exposed.endswith("_total"):
                        raise ValueError(f"custom gauge {name!r}: the '_total' suffix is for counters")
                    full_name = semconv.METRIC_CUSTOM_PREFIX + name
                    create = self.meter.create_counter if kind == "counter" else self.meter.create_gauge
                    entry = (kind, create(full_name, description=f"Custom metric {name!r}"))
                    self._custom[exposed] = entry
        if entry[0] != kind:
            raise ValueError(f"custom metric {name!r} is a {entry[0]}; a {kind} needs another name")
        return entry[1]


def custom_name(name: object) -> str:
    """A custom metric's name: lower case, ``[a-z0-9._]`` only, no leading or trailing ``.``/``_``."""
    text = str(name).strip().lower()
    cleaned = "".join(ch if ch.isalnum() or ch in "._" else "_" for ch in text).strip("._")
    if not cleaned:
        raise ValueError(f"invalid custom metric name: {name!r}")
    return cleaned


def meter(provider: metrics.MeterProvider) -> metrics.Meter:
    """odibi_otel's meter (its instrumentation scope) on ``provider``."""
    return provider.get_meter(semconv.INSTRUMENTATION_SCOPE, semconv.INSTRUMENTATION_VERSION)


def own_meter_provider(
    cardinality_limit: int, resource: Resource | None
) -> tuple[MetricsDataReader, MeterProvider]:
    """A manager's own meter provider and the pull reader that is its only reader."""
    kinds = (Counter, Histogram, GaugeInstrument, ObservableCounter, ObservableGauge)
    reader = MetricsDataReader(cardinality_limits={kind: cardinality_limit for kind in kinds})
    # Exemplars: the Prometheus text format carries none, so none are offered or kept (the
    # SDK's default reservoirs cost time on every new series and at every collection)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=resource or _default_resource(),
        exemplar_filter=AlwaysOffExemplarFilter(),
        views=[View(instrument_name="*", exemplar_reservoir_factory=_no_exemplar_reservoir)],
    )
    return reader, provider


def configured_global_meter_provider() -> metrics.MeterProvider | None:
    """The global meter provider if the application set one, else ``None``."""
    provider = metrics.get_meter_provider()
    return None if is_unset_provider(provider) else provider


class _NoExemplars(ExemplarReservoir):
    """An exemplar reservoir that keeps nothing (the manager's provider serves Prometheus text)."""

    def __init__(self, **_: Any) -> None:
        pass

    def offer(self, value: float, time_unix_nano: int, attributes: Any, context: Context) -> None:
        """Drop the measurement."""

    def collect(self, point_attributes: Any) -> list[Any]:
        """No exemplars."""
        return []


def _no_exemplar_reservoir(aggregation_type: type) -> Callable[..., ExemplarReservoir]:
    return _NoExemplars


def _default_resource() -> Resource:
    attributes: Mapping[str, str] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes = {"service.name": "odibi_otel"}
    return Resource.create({**attributes, "service.version": semconv.INSTRUMENTATION_VERSION})

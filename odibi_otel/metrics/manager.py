"""MetricsManager: the seed's metrics API on OpenTelemetry instruments, served to Prometheus.

The manager is a span listener: the orchestrator hands it each ended node and pipeline span and
it records the facts the span carries (one clock, one measurement) into OpenTelemetry
instruments. Those instruments live on the manager's own SDK ``MeterProvider``, read by the
manager's own pull reader: :meth:`MetricsManager.generate_latest`,
:meth:`MetricsManager.export_prometheus` and :meth:`MetricsManager.start_server` render that
reader's data (:mod:`odibi_otel.metrics.prometheus_text`: the bytes OpenTelemetry's Prometheus exporter
and prometheus_client would write, without their per-sample cost) and keep the rendered bytes
until the next measurement, so a scrape with nothing new costs nothing. The manager's own
``CollectorRegistry`` (:attr:`MetricsManager.registry`) holds a collector of the same data for
prometheus_client's own tools. Two managers, or a host app's own prometheus_client metrics, never
collide. When the application has its own meter provider (passed in, or set globally), the same
measurements are recorded there too, so they leave through the app's exporters (OTLP, ...).

Seed names and what replaced them (Prometheus names as exposed):

=================================  ===============================================  ==============
seed                                OpenTelemetry instrument → Prometheus             unit
=================================  ===============================================  ==============
``odibi_node_duration_ms`` gauge    ``odibi.node.duration`` histogram →               seconds
                                    ``odibi_node_duration_seconds_{bucket,sum,count}``
ROW_COUNT                           ``odibi.node.rows`` → ``odibi_node_rows_total``    rows
THROUGHPUT                          ``odibi.node.throughput`` gauge →                 rows/s
                                    ``odibi_node_throughput_per_second``
``odibi_cache_hits``                ``odibi.cache.hits`` → ``odibi_cache_hits_total``
``odibi_cache_misses``              ``odibi.cache.misses`` → ``odibi_cache_misses_total``
ERROR_COUNT                         ``odibi.node.errors`` → ``odibi_node_errors_total``
MEMORY_USAGE (MB)                   ``odibi.node.memory.usage`` →                     bytes
                                    ``odibi_node_memory_usage_bytes``
DATA_SIZE                           ``odibi.node.output.size`` →                      bytes
                                    ``odibi_node_output_size_bytes``
(new)                               ``odibi_pipeline_runs_total``, ``odibi_pipeline_duration_seconds``,
                                    ``odibi_pipeline_last_success_timestamp_seconds``
=================================  ===============================================  ==============
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.sdk.environment_variables import OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    Counter,
    ExemplarReservoir,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
)
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from odibi_otel._internal.atomic import write_bytes_atomic, write_text_atomic
from odibi_otel._internal.safety import record_failure
from odibi_otel.metrics._observed_values import ObservedValues
from odibi_otel.metrics._process_memory import recent_resident_memory_bytes
from odibi_otel.metrics.prometheus_text import MetricsDataCollector, MetricsDataReader, PrometheusRenderer
from odibi_otel.metrics.server import MetricsServer
from odibi_otel.otel import semconv
from odibi_otel.otel._sdk_compat import GaugeInstrument, is_unset_provider
from odibi_otel.otel._span_listeners import SpanDeduplicator, odibi_span_kind

__all__ = ["DEFAULT_CARDINALITY_LIMIT", "MetricType", "MetricsManager"]

#: Distinct label sets each instrument keeps per collection; past it, new series fold into one
#: series labelled ``otel_metric_overflow="true"`` (the SDK's default would be 2,000).
DEFAULT_CARDINALITY_LIMIT: Final = 20_000
_BYTES_PER_MB: Final = 1024 * 1024
#: gzip level of compressed scrapes: the exposition is so repetitive that level 1 already shrinks
#: it ~40x, in a fraction of level 9's time (prometheus_client's choice).
_GZIP_LEVEL: Final = 1


class MetricType(StrEnum):
    """The seed's eight metric types; the value is the name ``record()``/``increment()`` accept."""

    NODE_DURATION = "node_duration"
    THROUGHPUT = "throughput"
    CACHE_HIT = "cache_hit"
    CACHE_MISS = "cache_miss"
    ERROR_COUNT = "error_count"
    MEMORY_USAGE = "memory_usage"
    DATA_SIZE = "data_size"
    ROW_COUNT = "row_count"


class _Instruments:
    """One set of odibi_otel instruments on one meter.

    With ``observed``, the per-node gauges and the rows counter are asynchronous instruments
    reading :class:`~odibi_otel.metrics._observed_values.ObservedValues` at collection time (their
    ``set``/``add`` is a dict update): used on the manager's own provider, which nothing else
    shares. On an application's provider they are synchronous instruments, because a second
    manager creating the same asynchronous instrument there would get the first one back, with
    the first manager's callback.
    """

    def __init__(self, meter: metrics.Meter, *, observed: bool = False) -> None:
        self.meter = meter
        self.node_duration = meter.create_histogram(
            semconv.METRIC_NODE_DURATION,
            unit="s",
            description="Node execution duration (the node span's duration)",
            explicit_bucket_boundaries_advisory=semconv.DURATION_BUCKETS_SECONDS,
        )
        self.rows: Any = self._per_node(
            observed,
            "counter",
            semconv.METRIC_NODE_ROWS,
            unit="{row}",
            description="Rows produced (or written) by nodes",
        )
        self.throughput: Any = self._per_node(
            observed,
            "gauge",
            semconv.METRIC_NODE_THROUGHPUT,
            unit="{row}/s",
            description="Rows per second of the node's latest execution",
        )
        self.memory: Any = self._per_node(
            observed,
            "gauge",
            semconv.METRIC_NODE_MEMORY_USAGE,
            unit="By",
            description="Process resident memory right after the node finished",
        )
        self.data_size: Any = self._per_node(
            observed,
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
        self._custom: dict[str, tuple[str, Any]] = {}
        self._custom_lock = threading.Lock()

    def _per_node(self, observed: bool, kind: str, name: str, *, unit: str, description: str) -> Any:
        """A per-node ``"counter"`` or ``"gauge"``: ObservedValues read by one if ``observed``, else it."""
        counter = kind == "counter"
        if not observed:
            create = self.meter.create_counter if counter else self.meter.create_gauge
            return create(name, unit=unit, description=description)
        values = ObservedValues()
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


_LABEL_CACHE_SIZE: Final = 10_000
#: Node spans recorded together (see ``MetricsManager._node_span_ended``).
_PENDING_BATCH: Final = 256


class _NodeLabels:
    """The label values and label sets of one node's measurements (see ``_node_labels``)."""

    __slots__ = ("base", "layer", "node", "with_status")

    def __init__(self, pipeline: str, node: str, layer: str, status: str) -> None:
        self.node = node
        self.layer = layer
        self.base = {semconv.LABEL_PIPELINE: pipeline, semconv.LABEL_NODE: node, semconv.LABEL_LAYER: layer}
        self.with_status = {**self.base, semconv.LABEL_STATUS: status}


class _NodeFigures:
    """The latest figures of one node, as the summary shows them."""

    __slots__ = (
        "cache_hit",
        "data_size_bytes",
        "duration_ms",
        "layer",
        "memory_mb",
        "row_count",
        "status",
        "throughput",
    )

    def __init__(self) -> None:
        self.duration_ms = 0.0
        self.row_count = 0
        self.memory_mb = 0.0
        self.throughput = 0.0
        self.data_size_bytes = 0
        self.cache_hit: bool | None = None
        self.status = semconv.STATUS_SUCCESS
        self.layer = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "duration_ms": round(self.duration_ms, 3),
            "row_count": self.row_count,
            "memory_mb": round(self.memory_mb, 2),
            "throughput": round(self.throughput, 1),
            "data_size_bytes": self.data_size_bytes,
            "cache_hit": self.cache_hit,
            "status": self.status,
            "layer": self.layer,
        }


class MetricsManager(SpanProcessor):
    """Collects pipeline metrics as OpenTelemetry instruments and serves them to Prometheus.

    Pass it to ``Orchestrator(metrics_manager=...)``; it can also be added to an application's
    SDK ``TracerProvider`` with ``add_span_processor`` (it only reads odibi_otel's spans).

    Args:
        meter_provider: The application's meter provider to record into as well. Default: the
            global one if the application set one; never set by odibi_otel.
        pipeline_name: Label for measurements made with :meth:`record`/:meth:`increment` outside
            a run (inside a run, the running pipeline's name is used).
        cardinality_limit: Label sets kept per instrument before the SDK folds new ones into an
            ``otel_metric_overflow="true"`` series.
        resource: Resource of the manager's own meter provider (``target_info`` in Prometheus).

    Attributes:
        registry: A prometheus_client ``CollectorRegistry`` holding one collector of this
            manager's metrics (the same families the endpoint serves), for prometheus_client's own
            tools, e.g. ``prometheus_client.openmetrics.exposition.generate_latest(registry)``.
            Each of its collections renders anew (it is not cached like :meth:`generate_latest`).
    """

    def __init__(
        self,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        pipeline_name: str | None = None,
        cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT,
        resource: Resource | None = None,
    ) -> None:
        if not isinstance(cardinality_limit, int) or cardinality_limit < 1:
            raise ValueError(f"cardinality_limit must be a positive integer, got {cardinality_limit!r}")
        kinds = (Counter, Histogram, GaugeInstrument, ObservableCounter, ObservableGauge)
        self._reader = MetricsDataReader(cardinality_limits={kind: cardinality_limit for kind in kinds})
        # Exemplars: the Prometheus text format carries none, so none are offered or kept (the
        # SDK's default reservoirs cost time on every new series and at every collection)
        self._provider = MeterProvider(
            metric_readers=[self._reader],
            resource=resource or _default_resource(),
            exemplar_filter=AlwaysOffExemplarFilter(),
            views=[View(instrument_name="*", exemplar_reservoir_factory=_no_exemplar_reservoir)],
        )
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(MetricsDataCollector(self._collect_data))
        # The rendered exposition, per (openmetrics, gzip), until something is recorded: every
        # recording path sets _changed after its measurements landed, and a render clears it
        # before it collects, so a measurement is never hidden behind the cache.
        self._renderer = PrometheusRenderer()
        self._render_lock = threading.Lock()
        self._expositions: dict[tuple[bool, bool], bytes] = {}
        self._changed = True
        # With the SDK's own metrics on, each collection records one (into this provider too).
        self._always_render = _sdk_internal_metrics_enabled()
        self._sinks = [_Instruments(self._meter(self._provider), observed=True)]
        external = meter_provider if meter_provider is not None else _configured_global_meter_provider()
        if external is not None:
            self._sinks.append(_Instruments(self._meter(external)))
        self._default_pipeline = pipeline_name or "pipeline"
        self._lock = threading.Lock()
        self._started = SpanDeduplicator()
        self._pending: list[tuple[ReadableSpan, int]] = []
        self._pending_lock = threading.Lock()  # also keeps the recording of batches in order
        self._node_label_cache: dict[tuple[object, ...], _NodeLabels] = {}
        self._ended = SpanDeduplicator()
        self._server: MetricsServer | None = None
        self._shut_down = False
        self._reset_summary(self._default_pipeline)

    # -- span listener -------------------------------------------------------------------------

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        """A pipeline span started: the summary now describes this run."""
        if odibi_span_kind(span) == "pipeline" and self._started.first_time(span):
            self._record_pending()  # the previous run's last nodes belong to its summary
            started = datetime.fromtimestamp((span.start_time or 0) / 1e9, UTC)
            self._reset_summary(str(span.attributes[semconv.PIPELINE_NAME]), started)

    def on_end(self, span: ReadableSpan) -> None:
        """Record the ended node or pipeline span's measurements."""
        kind = odibi_span_kind(span)
        if kind is None or not self._ended.first_time(span):
            return
        if kind == "node":
            self._node_span_ended(span)
        else:
            self._record_pending()
            self._record_pipeline_span(span)

    def shutdown(self) -> None:
        """Stop the endpoint and the manager's own meter provider; later calls do nothing.

        (A tracer provider the manager was added to shuts it down too.)
        """
        self.stop_server()
        self._record_pending()
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        self._provider.shutdown()
        self._changed = True  # the reader has stopped: the exposition is empty from now on

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Record the node spans not recorded yet (see ``_node_span_ended``); always ``True``."""
        self._record_pending()
        return True

    # -- the seed's API ------------------------------------------------------------------------

    def record(self, metric_type: MetricType | str, step_name: str, value: float) -> None:
        """Record one measurement for ``step_name`` (seed units: duration in ms, memory in MB).

        Seed metric types go to their instruments; any other name goes to a custom gauge
        ``odibi.custom.<name>`` with the same labels.
        """
        self._record_pending()  # measurements land in the order they were made
        labels = self._labels(step_name)
        member = _as_metric_type(metric_type)
        if member is None:
            try:
                for sink in self._sinks:
                    sink.custom("gauge", _custom_name(metric_type)).set(value, labels)
            finally:
                self._changed = True
            return
        figures = self._figures(step_name)
        if member is MetricType.NODE_DURATION:
            self._each(lambda s: s.node_duration.record(value / 1000.0, labels))
            figures.duration_ms = float(value)
        elif member is MetricType.THROUGHPUT:
            self._each(lambda s: s.throughput.set(value, labels))
            figures.throughput = float(value)
        elif member is MetricType.MEMORY_USAGE:
            self._each(lambda s: s.memory.set(value * _BYTES_PER_MB, labels))
            figures.memory_mb = float(value)
        elif member is MetricType.DATA_SIZE:
            self._each(lambda s: s.data_size.set(value, labels))
            figures.data_size_bytes = int(value)
        elif member is MetricType.ROW_COUNT:
            self._each(lambda s: s.rows.add(value, labels))
            figures.row_count = int(value)
        else:
            self.increment(member, step_name, value)

    def increment(
        self, metric_type: MetricType | str, step_name: str | None = None, value: float = 1
    ) -> None:
        """Add ``value`` to a counter: cache hits/misses, errors, rows, or a custom counter."""
        self._record_pending()
        labels = self._labels(step_name)
        member = _as_metric_type(metric_type)
        with self._lock:
            if member is MetricType.CACHE_HIT:
                self._cache_hits += int(value)
            elif member is MetricType.CACHE_MISS:
                self._cache_misses += int(value)
            elif member is MetricType.ERROR_COUNT:
                self._error_count += int(value)
        if member is MetricType.CACHE_HIT:
            self._each(lambda s: s.cache_hits.add(value, labels))
        elif member is MetricType.CACHE_MISS:
            self._each(lambda s: s.cache_misses.add(value, labels))
        elif member is MetricType.ERROR_COUNT:
            labels = {**labels, semconv.LABEL_ERROR_TYPE: "unspecified"}
            self._each(lambda s: s.errors.add(value, labels))
        elif member is MetricType.ROW_COUNT:
            self._each(lambda s: s.rows.add(value, labels))
        elif member is None:
            try:
                for sink in self._sinks:
                    sink.custom("counter", _custom_name(metric_type)).add(value, labels)
            finally:
                self._changed = True
        else:
            raise ValueError(f"{member.value!r} is a measurement, not a counter: use record()")

    def get_summary(self) -> dict[str, Any]:
        """The latest run's figures in the seed's layout (plus ``status``, ``runs``, cache counts)."""
        self._record_pending()
        with self._lock:
            nodes = {name: figures.as_dict() for name, figures in self._nodes.items()}
            lookups = self._cache_hits + self._cache_misses
            total_ms = self._pipeline_duration_ms
            if total_ms is None:
                total_ms = sum(figures.duration_ms for figures in self._nodes.values())
            return {
                "pipeline_name": self._pipeline_name,
                "timestamp": self._started_at.isoformat(timespec="seconds"),
                "status": self._pipeline_status,
                "total_nodes": len(nodes),
                "total_duration_ms": round(total_ms, 3),
                "cache_hit_rate": self._cache_hits / lookups if lookups else 0.0,
                "cache_hits": self._cache_hits,
                "cache_misses": self._cache_misses,
                "error_count": self._error_count,
                "runs": self._runs,
                "nodes": nodes,
            }

    def save_to_file(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`get_summary` as JSON to ``path`` (atomically)."""
        write_text_atomic(path, json.dumps(self.get_summary(), indent=2) + "\n")

    def generate_latest(self) -> bytes:
        """The Prometheus text exposition (0.0.4) of this manager's metrics (what ``/metrics`` serves).

        Byte for byte what OpenTelemetry's ``PrometheusMetricReader`` and prometheus_client's
        ``generate_latest`` would write; kept until the next measurement.
        """
        return self.exposition()

    def exposition(self, openmetrics: bool = False, compressed: bool = False) -> bytes:
        """The exposition: Prometheus text 0.0.4, or OpenMetrics 1.0.0; gzip-compressed if asked.

        A render collects from the manager's meter provider and renders every series; its bytes
        are then returned again (per format) until something is recorded. Renders are
        serialised; recording goes on meanwhile (what lands during a render shows next time).
        """
        key = (openmetrics, compressed)
        self._record_pending()
        with self._render_lock:
            if self._changed:
                self._changed = False  # before collecting: a measurement landing later re-sets it
                self._expositions.clear()
            body = self._expositions.get(key)
            if body is None:
                plain = self._expositions.get((openmetrics, False))
                if plain is None:
                    data = self._collect_data()
                    plain = self._renderer.render(data, openmetrics=openmetrics)
                    if self._always_render or not _only_own_instruments(data):
                        self._changed = True  # their values change without a recording here
                    self._expositions[(openmetrics, False)] = plain
                body = gzip.compress(plain, compresslevel=_GZIP_LEVEL, mtime=0) if compressed else plain
                self._expositions[key] = body
            return body

    def export_prometheus(self, path: str | os.PathLike[str]) -> None:
        """Write the Prometheus text exposition of this manager's metrics to ``path`` (atomically)."""
        write_bytes_atomic(path, self.generate_latest())

    def start_server(self, host: str | None = None, port: int | None = None) -> MetricsServer:
        """Serve ``/metrics`` (default ``127.0.0.1:9464``, or ``OTEL_EXPORTER_PROMETHEUS_HOST/PORT``)."""
        if self._server is None:
            self._server = MetricsServer(self.exposition, host, port)
        return self._server

    def stop_server(self) -> None:
        """Stop the ``/metrics`` endpoint if it runs."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MetricsManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _meter(provider: metrics.MeterProvider) -> metrics.Meter:
        return provider.get_meter(semconv.INSTRUMENTATION_SCOPE, semconv.INSTRUMENTATION_VERSION)

    def _each(self, action: Any) -> None:
        try:
            for sink in self._sinks:
                action(sink)
        finally:
            self._changed = True

    def _reset_summary(self, pipeline_name: str, started_at: datetime | None = None) -> None:
        with self._lock:
            self._pipeline_name = pipeline_name
            self._started_at = started_at or datetime.now(UTC)
            self._pipeline_status: str | None = None
            self._pipeline_duration_ms: float | None = None
            self._nodes: dict[str, _NodeFigures] = {}
            self._cache_hits = 0
            self._cache_misses = 0
            self._error_count = 0
            self._runs = getattr(self, "_runs", 0)

    def _figures(self, step_name: str) -> _NodeFigures:
        with self._lock:
            return self._figures_locked(step_name)

    def _figures_locked(self, step_name: str) -> _NodeFigures:
        figures = self._nodes.get(step_name)
        if figures is None:
            figures = self._nodes[step_name] = _NodeFigures()
        return figures

    def _labels(self, step_name: str | None) -> dict[str, str]:
        labels = {semconv.LABEL_PIPELINE: _label(self._pipeline_name)}
        if step_name is not None:
            labels[semconv.LABEL_NODE] = _label(step_name)
        return labels

    def _node_labels(self, pipeline: object, node: object, layer: object, status: str) -> _NodeLabels:
        """The label sets of one node's measurements, made once per (pipeline, node, layer, status).

        The instruments only read label dicts, so the same ones serve every run of the node.
        """
        key = (pipeline, node, layer, status)
        labels = self._node_label_cache.get(key)
        if labels is None:
            if len(self._node_label_cache) >= _LABEL_CACHE_SIZE:
                self._node_label_cache.clear()
            labels = self._node_label_cache[key] = _NodeLabels(
                _label(str(pipeline)), _label(str(node)), _label(str(layer)), status
            )
        return labels

    def _collect_data(self) -> MetricsData | None:
        self._record_pending()
        return self._reader.collect_data()

    def _node_span_ended(self, span: ReadableSpan) -> None:
        """Record ``span`` now, or with the next batch when only the manager's own provider needs it.

        Recording a batch of nodes one after the other costs about a third less per node than
        recording each between two nodes' pandas work (the recording code and data are still in
        the CPU caches). The manager's own provider and summary are read only through the manager
        (endpoint, files, summary, registry, ``force_flush``), which records what is pending
        first, so nothing read is ever stale; an application's provider is read by its own
        readers, on their schedule: with one, every span is recorded at once.
        """
        memory = recent_resident_memory_bytes()  # right after the node, not when recorded
        if len(self._sinks) > 1:
            self._record_node_span(span, memory)
            return
        with self._pending_lock:
            self._pending.append((span, memory))
            full = len(self._pending) >= _PENDING_BATCH
        if full:
            self._record_pending()

    def _record_pending(self) -> None:
        """Record the node spans waiting in the batch, in the order they ended."""
        if not self._pending:
            return
        with self._pending_lock:
            batch, self._pending = self._pending, []
            for span, memory in batch:
                try:
                    self._record_node_span(span, memory)
                except Exception as exc:
                    record_failure("MetricsManager.on_end", exc)

    def _record_node_span(self, span: ReadableSpan, memory: int) -> None:
        attributes = span.attributes or {}
        failed = span.status.status_code is StatusCode.ERROR
        cache_hit = attributes.get(semconv.NODE_CACHE_HIT)
        labels = self._node_labels(
            attributes.get(semconv.PIPELINE_NAME, self._pipeline_name),
            attributes[semconv.NODE_NAME],
            attributes.get(semconv.NODE_LAYER, ""),
            _node_status(failed, cache_hit),
        )
        name, layer, base = labels.node, labels.layer, labels.base
        seconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        rows = int(attributes.get(semconv.NODE_ROWS_OUT, 0) or 0)
        size = int(attributes.get(semconv.NODE_OUTPUT_SIZE_BYTES, 0) or 0)
        throughput = rows / seconds if seconds > 0 else 0.0
        with self._lock:
            figures = self._figures_locked(name)
            figures.duration_ms = seconds * 1000.0
            figures.row_count = rows
            figures.memory_mb = memory / _BYTES_PER_MB
            figures.throughput = throughput
            figures.data_size_bytes = size
            figures.cache_hit = None if cache_hit is None else bool(cache_hit)
            figures.status = semconv.STATUS_FAILED if failed else semconv.STATUS_SUCCESS
            figures.layer = layer
            if failed:
                self._error_count += 1
            if cache_hit is not None:
                if cache_hit:
                    self._cache_hits += 1
                else:
                    self._cache_misses += 1
        for sink in self._sinks:  # one failing provider (e.g. the app's) must not stop the others
            try:
                sink.node_duration.record(seconds, labels.with_status)
                sink.memory.set(memory, base)
                if failed:
                    error_type = str(attributes.get(semconv.ERROR_TYPE, "unknown"))
                    sink.errors.add(1, {**base, semconv.LABEL_ERROR_TYPE: error_type})
                else:
                    sink.rows.add(rows, base)
                    sink.data_size.set(size, base)
                    if not cache_hit:  # a cache read says nothing about the node's own speed
                        sink.throughput.set(throughput, base)
                if cache_hit is not None:
                    (sink.cache_hits if cache_hit else sink.cache_misses).add(1, base)
            except Exception as exc:
                record_failure("MetricsManager (meter provider)", exc)
        self._changed = True

    def _record_pipeline_span(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        pipeline = _label(str(attributes.get(semconv.PIPELINE_NAME, self._pipeline_name)))
        status = str(attributes.get(semconv.PIPELINE_STATUS, semconv.STATUS_SUCCESS))
        seconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        labels = {semconv.LABEL_PIPELINE: pipeline}
        with self._lock:
            self._pipeline_status = status
            self._pipeline_duration_ms = seconds * 1000.0
            self._runs += 1
        for sink in self._sinks:
            try:
                sink.pipeline_runs.add(1, {**labels, semconv.LABEL_STATUS: status})
                sink.pipeline_duration.record(seconds, {**labels, semconv.LABEL_STATUS: status})
                if status == semconv.STATUS_SUCCESS:
                    sink.last_success.set((span.end_time or 0) / 1e9, labels)
            except Exception as exc:
                record_failure("MetricsManager (meter provider)", exc)
        self._changed = True


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


def _label(text: str) -> str:
    """A label value every exposition can carry: lone surrogates become ``\\udcxx`` text."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _node_status(failed: bool, cache_hit: object) -> str:
    """The ``status`` label of a node measurement: failed, cached (served from cache) or success."""
    if failed:
        return semconv.STATUS_FAILED
    return semconv.STATUS_CACHED if cache_hit else semconv.STATUS_SUCCESS


def _as_metric_type(metric_type: MetricType | str) -> MetricType | None:
    if isinstance(metric_type, MetricType):
        return metric_type
    try:
        return MetricType(str(metric_type).lower())
    except ValueError:
        return None


def _custom_name(name: MetricType | str) -> str:
    text = str(name).strip().lower()
    cleaned = "".join(ch if ch.isalnum() or ch in "._" else "_" for ch in text).strip("._")
    if not cleaned:
        raise ValueError(f"invalid custom metric name: {name!r}")
    return cleaned


def _configured_global_meter_provider() -> metrics.MeterProvider | None:
    provider = metrics.get_meter_provider()
    return None if is_unset_provider(provider) else provider


def _default_resource() -> Resource:
    attributes: Mapping[str, str] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes = {"service.name": "odibi_otel"}
    return Resource.create({**attributes, "service.version": semconv.INSTRUMENTATION_VERSION})

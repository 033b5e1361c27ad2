"""MetricsManager: pipeline metrics on OpenTelemetry instruments, served to Prometheus.

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

The manager delegates: :mod:`odibi_otel.metrics._instruments` holds the instruments and builds
the manager's provider, :mod:`odibi_otel.metrics._recording` records the spans and keeps the
latest run's figures, :mod:`odibi_otel.metrics._exposition` renders and caches the exposition.

odibi_core tutorial name → OpenTelemetry instrument → Prometheus name (as exposed):

=================================  ===============================================  ==============
odibi_core tutorial                 OpenTelemetry instrument → Prometheus             unit
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
(new, Spark nodes)                  ``odibi_spark_tasks_total``,                      tasks, bytes
                                    ``odibi_spark_shuffle_size_bytes_total``,
                                    ``odibi_spark_spill_size_bytes_total``
=================================  ===============================================  ==============
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from prometheus_client import CollectorRegistry

from odibi_otel._internal.atomic import write_bytes_atomic, write_text_atomic
from odibi_otel._internal.safety import record_failure
from odibi_otel.metrics._by_hand import MetricType, increment_by_hand, record_by_hand
from odibi_otel.metrics._exposition import ExpositionCache
from odibi_otel.metrics._instruments import (
    Instruments,
    configured_global_meter_provider,
    meter,
    own_meter_provider,
)
from odibi_otel.metrics._recording import Recorder
from odibi_otel.metrics.batch import export_run, push_run, write_run_textfile
from odibi_otel.metrics.process import process_metrics
from odibi_otel.metrics.prometheus_text import MetricsDataCollector
from odibi_otel.metrics.pushgateway import DEFAULT_JOB
from odibi_otel.metrics.server import MetricsServer
from odibi_otel.metrics.summary import MetricsSummary
from odibi_otel.otel import semconv
from odibi_otel.otel._span_listeners import delivered_directly, odibi_span_kind

__all__ = ["DEFAULT_CARDINALITY_LIMIT", "MetricType", "MetricsManager"]

#: Distinct label sets each instrument keeps per collection; past it, new series fold into one
#: series labelled ``otel_metric_overflow="true"`` (the SDK's default would be 2,000).
DEFAULT_CARDINALITY_LIMIT: Final = 20_000


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
        share: Show this manager on the process-wide ``/metrics`` that ``configure()`` serves
            (:mod:`odibi_otel.metrics.process`). Default: yes, unless ``meter_provider`` is given.

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
        share: bool | None = None,
    ) -> None:
        if not isinstance(cardinality_limit, int) or cardinality_limit < 1:
            raise ValueError(f"cardinality_limit must be a positive integer, got {cardinality_limit!r}")
        reader, self._provider = own_meter_provider(cardinality_limit, resource)
        sinks = [Instruments(meter(self._provider), observed=True)]
        external = meter_provider if meter_provider is not None else configured_global_meter_provider()
        if external is not None:
            sinks.append(Instruments(meter(external)))
        self._recording = Recorder(sinks, pipeline_name or "pipeline")
        self._exposition = ExpositionCache(reader, self._recording)
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(MetricsDataCollector(self._exposition.collect_data))
        self._lock = threading.Lock()
        self._server: MetricsServer | None = None
        self._shut_down = False
        if share if share is not None else meter_provider is None:
            process_metrics().add(self)

    # -- span listener -------------------------------------------------------------------------

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        """A pipeline span started: the summary now describes this run."""
        if odibi_span_kind(span) == "pipeline" and not delivered_directly(self, span):
            self._recording.record_pending()  # the previous run's last nodes belong to its summary
            started = datetime.fromtimestamp((span.start_time or 0) / 1e9, UTC)
            self._recording.reset(str(span.attributes[semconv.PIPELINE_NAME]), started)

    def on_end(self, span: ReadableSpan) -> None:
        """Record the ended node or pipeline span's measurements."""
        kind = odibi_span_kind(span)
        if kind is None or delivered_directly(self, span):  # the orchestrator hands it over itself
            return
        if kind == "node":
            self._recording.node_span_ended(span)
        else:
            self._recording.record_pending()
            self._recording.record_pipeline_span(span)
            attributes = span.attributes or {}
            succeeded = attributes.get(semconv.PIPELINE_STATUS) == semconv.STATUS_SUCCESS
            export_run(self.collect_data, str(attributes.get(semconv.PIPELINE_NAME)), succeeded)

    def node_rows_counted(self, pipeline: str, node: str, layer: str, rows: int) -> None:
        """Rows of a node's outputs that a later job counted, after the node ended (lazy engines).

        On the Spark engine a node's frame is often computed by a later node's job, so its span
        ends without ``odibi.node.rows_out`` ("not computed": no rows, no throughput). When the
        run's last node ended, the orchestrator calls this for each such node whose rows a job
        counted meanwhile: the rows are added to the node's rows counter and become its last
        rows (the series with ``pipeline``, ``node``, ``layer``, as its other series), and its
        ``row_count`` in :meth:`get_summary` if it ran in the latest run. Its throughput stays
        unset. Never raises: a failure is counted in ``telemetry_failures()``.

        Args:
            pipeline: The pipeline's name (the ``pipeline`` label).
            node: The step name (the ``node`` label).
            layer: The step's layer (the ``layer`` label; ``""`` for none).
            rows: Rows of all the node's outputs (a ``write`` node: the rows it wrote).
        """
        try:
            self._recording.record_pending()  # the node's own end lands first
            self._recording.rows_counted(pipeline, node, layer, rows)
        except Exception as exc:
            record_failure("MetricsManager.node_rows_counted", exc)

    def shutdown(self) -> None:
        """Stop the endpoint and the manager's own meter provider; later calls do nothing.

        (A tracer provider the manager was added to shuts it down too.)
        """
        self.stop_server()
        process_metrics().remove(self)
        self._recording.record_pending()
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        self._provider.shutdown()
        self._recording.changed = True  # the reader has stopped: the exposition is empty from now on

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Record the node spans not recorded yet (they are recorded in batches); always ``True``."""
        self._recording.record_pending()
        return True

    # -- measurements by hand --------------------------------------------------------------------

    def record(self, metric_type: MetricType | str, step_name: str, value: float) -> None:
        """Record one measurement for ``step_name`` (duration in ms, memory in MB).

        Built-in metric types go to their instruments; any other name goes to a custom gauge
        ``odibi.custom.<name>`` with the same labels.
        """
        record_by_hand(self._recording, metric_type, step_name, value)

    def increment(
        self, metric_type: MetricType | str, step_name: str | None = None, value: float = 1
    ) -> None:
        """Add ``value`` to a counter: cache hits/misses, errors, rows, or a custom counter."""
        increment_by_hand(self._recording, metric_type, step_name, value)

    # -- reading ---------------------------------------------------------------------------------

    def get_summary(self) -> MetricsSummary:
        """The latest run's figures per node and in total (plus ``status``, ``runs``, cache counts)."""
        self._recording.record_pending()
        return self._recording.summary()

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
        return self._exposition.render(openmetrics, compressed)

    def collect_data(self) -> MetricsData | None:
        """This manager's current OpenTelemetry metric data (what its exposition renders)."""
        return self._exposition.collect_data()

    def push(
        self,
        gateway_url: str,
        job: str = DEFAULT_JOB,
        grouping_key: Mapping[str, str] | None = None,
        *,
        pipeline: str | None = None,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Push the latest run's series to a Pushgateway (see :mod:`odibi_otel.metrics.batch`).

        The group is ``/metrics/job/<job>/pipeline/<pipeline>`` plus ``grouping_key``; ``pipeline``
        defaults to the latest run's. Raises ``PushgatewayError`` when the push fails.
        """
        name, succeeded = self._latest_run(pipeline)
        push_run(
            self.collect_data, gateway_url, name, succeeded, job=job,
            grouping_key=grouping_key, headers=headers, timeout=timeout,
        )  # fmt: skip

    def write_textfile(self, directory: str | os.PathLike[str], *, pipeline: str | None = None) -> Path:
        """Write the latest run's series to ``<directory>/odibi_<pipeline>.prom`` for node_exporter."""
        name, succeeded = self._latest_run(pipeline)
        return write_run_textfile(self.collect_data, directory, name, succeeded)

    def _latest_run(self, pipeline: str | None) -> tuple[str, bool]:
        self._recording.record_pending()
        recording = self._recording
        name = pipeline or recording.pipeline_name
        succeeded = name == recording.pipeline_name and recording.pipeline_status == semconv.STATUS_SUCCESS
        return name, succeeded

    def export_prometheus(self, path: str | os.PathLike[str]) -> None:
        """Write the Prometheus text exposition of this manager's metrics to ``path`` (atomically)."""
        write_bytes_atomic(path, self.generate_latest())

    def start_server(
        self, host: str | None = None, port: int | None = None, *, whole_process: bool = False
    ) -> MetricsServer:
        """Serve ``/metrics`` (default ``127.0.0.1:9464``, or ``OTEL_EXPORTER_PROMETHEUS_HOST/PORT``).

        With ``whole_process`` it serves every shared manager of the process
        (:mod:`odibi_otel.metrics.process`), as ``configure(prometheus_port=...)`` does.
        """
        if self._server is None:
            source = process_metrics().exposition if whole_process else self.exposition
            self._server = MetricsServer(source, host, port)
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

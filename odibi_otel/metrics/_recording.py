"""Recording ended node and pipeline spans into the instruments, and the latest run's figures.

A :class:`Recorder` is the part of a :class:`~odibi_otel.metrics.manager.MetricsManager` that turns
each ended span into measurements (one clock: the span's own timestamps and attributes), keeps
the batch of node spans not recorded yet and the latest run's figures (the summary).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from odibi_otel._internal.safety import record_failure
from odibi_otel.metrics._instruments import Instruments
from odibi_otel.metrics._node_sinks import (
    EndedNode,
    NodeLabels,
    label,
    record_ended_node,
    record_rows_counted,
    spark_figures,
    spark_memory,
)
from odibi_otel.metrics._process_memory import recent_resident_memory_bytes
from odibi_otel.metrics.summary import MetricsSummary, NodeMetrics
from odibi_otel.otel import semconv

__all__ = ["BYTES_PER_MB", "NodeFigures", "NodeLabels", "Recorder", "label"]

BYTES_PER_MB: Final = 1024 * 1024
_LABEL_CACHE_SIZE: Final = 10_000
#: Node spans recorded together (see ``Recorder.node_span_ended``).
_PENDING_BATCH: Final = 256


class NodeFigures:
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
        self.row_count: int | None = 0
        self.memory_mb = 0.0
        self.throughput: float | None = 0.0
        self.data_size_bytes: int | None = 0
        self.cache_hit: bool | None = None
        self.status = semconv.STATUS_SUCCESS
        self.layer = ""

    def as_dict(self) -> NodeMetrics:
        return {
            "duration_ms": round(self.duration_ms, 3),
            "row_count": self.row_count,
            "memory_mb": round(self.memory_mb, 2),
            "throughput": None if self.throughput is None else round(self.throughput, 1),
            "data_size_bytes": self.data_size_bytes,
            "cache_hit": self.cache_hit,
            "status": self.status,
            "layer": self.layer,
        }


class Recorder:
    """Records ended spans into every instrument set (``sinks``) and keeps the latest run's figures.

    ``changed`` is set after every recording's measurements landed; the exposition cache clears
    it before it collects (so a measurement is never hidden behind a cached exposition).
    ``lock`` guards the figures and counts.

    Args:
        sinks: The instrument sets to record into: the manager's own first, then the
            application's (if any).
        pipeline_name: The pipeline name used until a run starts.
    """

    def __init__(self, sinks: list[Instruments], pipeline_name: str) -> None:
        self.sinks = sinks
        self.changed = True
        self.lock = threading.Lock()
        self.pending: list[EndedNode] = []
        self._pending_lock = threading.Lock()  # also keeps the recording of batches in order
        self._node_label_cache: dict[tuple[object, ...], NodeLabels] = {}
        self.runs = 0
        self.reset(pipeline_name)

    # -- the latest run's figures ------------------------------------------------------------------

    def reset(self, pipeline_name: str, started_at: datetime | None = None) -> None:
        """Start the figures of a new run (the run count is kept)."""
        with self.lock:
            self.pipeline_name = pipeline_name
            self.started_at = started_at or datetime.now(UTC)
            self.pipeline_status: str | None = None
            self.pipeline_duration_ms: float | None = None
            self.nodes: dict[str, NodeFigures] = {}
            self.cache_hits = 0
            self.cache_misses = 0
            self.error_count = 0

    def figures(self, step_name: str) -> NodeFigures:
        """The figures of ``step_name`` in the latest run (created empty if needed)."""
        with self.lock:
            return self._figures_locked(step_name)

    def _figures_locked(self, step_name: str) -> NodeFigures:
        figures = self.nodes.get(step_name)
        if figures is None:
            figures = self.nodes[step_name] = NodeFigures()
        return figures

    def summary(self) -> MetricsSummary:
        """The latest run's figures (what is recorded so far: the manager records the batch first)."""
        with self.lock:
            nodes = {name: figures.as_dict() for name, figures in self.nodes.items()}
            lookups = self.cache_hits + self.cache_misses
            total_ms = self.pipeline_duration_ms
            if total_ms is None:
                total_ms = sum(figures.duration_ms for figures in self.nodes.values())
            return {
                "pipeline_name": self.pipeline_name,
                "timestamp": self.started_at.isoformat(timespec="seconds"),
                "status": self.pipeline_status,
                "total_nodes": len(nodes),
                "total_duration_ms": round(total_ms, 3),
                "cache_hit_rate": self.cache_hits / lookups if lookups else 0.0,
                "cache_hits": self.cache_hits,
                "cache_misses": self.cache_misses,
                "error_count": self.error_count,
                "runs": self.runs,
                "nodes": nodes,
            }

    # -- measurements --------------------------------------------------------------------------

    def each(self, action: Callable[[Instruments], object]) -> None:
        """Apply ``action`` to every instrument set; the exposition changes even if one fails."""
        try:
            for sink in self.sinks:
                action(sink)
        finally:
            self.changed = True

    def labels(self, step_name: str | None) -> dict[str, str]:
        """The labels of a ``record()``/``increment()`` measurement: pipeline, and node if given."""
        labels = {semconv.LABEL_PIPELINE: label(self.pipeline_name)}
        if step_name is not None:
            labels[semconv.LABEL_NODE] = label(step_name)
        return labels

    def node_labels(self, pipeline: object, node: object, layer: object, status: str) -> NodeLabels:
        """The label sets of one node's measurements, made once per (pipeline, node, layer, status).

        The instruments only read label dicts, so the same ones serve every run of the node.
        """
        key = (pipeline, node, layer, status)
        labels = self._node_label_cache.get(key)
        if labels is None:
            if len(self._node_label_cache) >= _LABEL_CACHE_SIZE:
                self._node_label_cache.clear()
            labels = self._node_label_cache[key] = NodeLabels(
                label(str(pipeline)), label(str(node)), label(str(layer)), status
            )
        return labels

    # -- spans ---------------------------------------------------------------------------------

    def node_span_ended(self, span: ReadableSpan) -> None:
        """Record ``span`` now, or with the next batch when only the manager's own provider needs it.

        Recording a batch of nodes one after the other costs about a third less per node than
        recording each between two nodes' pandas work (the recording code and data are still in
        the CPU caches). The manager's own provider and summary are read only through the manager
        (endpoint, files, summary, registry, ``force_flush``), which records what is pending
        first, so nothing read is ever stale; an application's provider is read by its own
        readers, on their schedule: with one, every span is recorded at once.

        The batch keeps each node's few figures (:class:`EndedNode`), not the span: a span record
        holds dicts, links and contexts that the garbage collector would otherwise scan again
        and again while they wait.
        """
        memory = recent_resident_memory_bytes()  # right after the node, not when recorded
        ended = self._ended(span, memory)
        if len(self.sinks) > 1:
            self._record_node(ended)
            return
        with self._pending_lock:
            self.pending.append(ended)
            full = len(self.pending) >= _PENDING_BATCH
        if full:
            self.record_pending()

    def record_pending(self) -> None:
        """Record the node spans waiting in the batch, in the order they ended."""
        if not self.pending:
            return
        with self._pending_lock:
            batch, self.pending = self.pending, []
            for ended in batch:
                try:
                    self._record_node(ended)
                except Exception as exc:
                    record_failure("MetricsManager.on_end", exc)

    def record_node_span(self, span: ReadableSpan, memory: int) -> None:
        """Record an ended node span; ``memory``: the process's resident bytes when it ended (not Spark's)."""
        self._record_node(self._ended(span, memory))

    def _ended(self, span: ReadableSpan, memory: int) -> EndedNode:
        attributes: Mapping[str, Any] = span.attributes or {}
        failed = span.status.status_code is StatusCode.ERROR
        cache_hit = attributes.get(semconv.NODE_CACHE_HIT)
        spark = None
        if semconv.SPARK_JOBS in attributes:  # a node run on the Spark engine: Spark's own figures
            memory = spark_memory(attributes)
            spark = spark_figures(attributes)
        labels = self.node_labels(
            attributes.get(semconv.PIPELINE_NAME, self.pipeline_name),
            attributes[semconv.NODE_NAME],
            attributes.get(semconv.NODE_LAYER, ""),
            _node_status(failed, cache_hit),
        )
        return EndedNode(
            labels,
            failed,
            None if cache_hit is None else bool(cache_hit),
            ((span.end_time or 0) - (span.start_time or 0)) / 1e9,
            _figure(attributes.get(semconv.NODE_ROWS_OUT)),
            _figure(attributes.get(semconv.NODE_OUTPUT_SIZE_BYTES)),
            str(attributes.get(semconv.ERROR_TYPE, "unknown")) if failed else "",
            tuple(span.events),
            memory,
            spark,
        )

    def _record_node(self, ended: EndedNode) -> None:
        failed, rows, size, seconds = ended.failed, ended.rows, ended.size, ended.seconds
        cache_hit = ended.cache_hit
        # rows None on a successful node: not computed yet (a lazy engine); no figure, no speed
        throughput = None if rows is None else rows / seconds if seconds > 0 else 0.0
        with self.lock:
            figures = self._figures_locked(ended.labels.node)
            figures.duration_ms = seconds * 1000.0
            figures.row_count = 0 if failed and rows is None else rows
            figures.memory_mb = ended.memory / BYTES_PER_MB
            figures.throughput = 0.0 if failed and throughput is None else throughput
            figures.data_size_bytes = 0 if failed and size is None else size
            figures.cache_hit = cache_hit
            figures.status = semconv.STATUS_FAILED if failed else semconv.STATUS_SUCCESS
            figures.layer = ended.labels.layer
            if failed:
                self.error_count += 1
            if cache_hit is not None:
                if cache_hit:
                    self.cache_hits += 1
                else:
                    self.cache_misses += 1
        speed = None if failed or cache_hit else throughput  # a cache read says nothing about speed
        for sink in self.sinks:  # one failing provider (e.g. the app's) must not stop the others
            try:
                record_ended_node(sink, ended, speed)
            except Exception as exc:
                record_failure("MetricsManager (meter provider)", exc)
        self.changed = True

    def rows_counted(self, pipeline: str, node: str, layer: str, rows: int) -> None:
        """Rows of ``node``'s latest execution that a later job counted (a lazy engine).

        They go to the node's rows total and last rows (its series of a successful execution)
        and to its figures in the summary when it ran in the latest run; its throughput stays
        unset (the node's own duration did not compute them). Anything but a count is ignored.
        """
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            return
        labels = self.node_labels(pipeline, node, layer, semconv.STATUS_SUCCESS)
        with self.lock:
            figures = self.nodes.get(labels.node) if pipeline == self.pipeline_name else None
            if figures is not None:
                figures.row_count = rows
        for sink in self.sinks:
            try:
                record_rows_counted(sink, labels, rows)
            except Exception as exc:
                record_failure("MetricsManager (meter provider)", exc)
        self.changed = True

    def record_pipeline_span(self, span: ReadableSpan) -> None:
        """Record an ended pipeline span: the run's status, duration and (on success) end time."""
        attributes: Mapping[str, Any] = span.attributes or {}
        pipeline = label(str(attributes.get(semconv.PIPELINE_NAME, self.pipeline_name)))
        status = str(attributes.get(semconv.PIPELINE_STATUS, semconv.STATUS_SUCCESS))
        seconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        labels = {semconv.LABEL_PIPELINE: pipeline}
        with self.lock:
            self.pipeline_status = status
            self.pipeline_duration_ms = seconds * 1000.0
            self.runs += 1
        for sink in self.sinks:
            try:
                sink.pipeline_runs.add(1, {**labels, semconv.LABEL_STATUS: status})
                sink.pipeline_duration.record(seconds, {**labels, semconv.LABEL_STATUS: status})
                ended = (span.end_time or 0) / 1e9
                sink.last_run_timestamp.set(ended, labels)
                sink.last_run_duration.set(seconds, labels)
                sink.last_run_status.set(1 if status == semconv.STATUS_SUCCESS else 0, labels)
                if status == semconv.STATUS_SUCCESS:
                    sink.last_success.set(ended, labels)
                elif semconv.PIPELINE_HISTORY_LAST_SUCCESS in attributes:  # a fresh process's failed run
                    sink.last_success.set(float(attributes[semconv.PIPELINE_HISTORY_LAST_SUCCESS]), labels)
            except Exception as exc:
                record_failure("MetricsManager (meter provider)", exc)
        self.changed = True


def _figure(value: object) -> int | None:
    """A row count or byte size attribute as an ``int``; ``None`` when the span does not carry one."""
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _node_status(failed: bool, cache_hit: object) -> str:
    """The ``status`` label of a node measurement: failed, cached (served from cache) or success."""
    if failed:
        return semconv.STATUS_FAILED
    return semconv.STATUS_CACHED if cache_hit else semconv.STATUS_SUCCESS

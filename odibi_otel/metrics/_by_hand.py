"""Measurements made by hand: ``MetricsManager.record()`` and ``MetricsManager.increment()``."""

from __future__ import annotations

from enum import StrEnum

from odibi_otel.metrics._instruments import custom_name
from odibi_otel.metrics._recording import BYTES_PER_MB, Recorder
from odibi_otel.otel import semconv

__all__ = ["MetricType", "increment_by_hand", "record_by_hand"]


class MetricType(StrEnum):
    """The eight built-in metric types; the value is the name ``record()``/``increment()`` accept."""

    NODE_DURATION = "node_duration"
    THROUGHPUT = "throughput"
    CACHE_HIT = "cache_hit"
    CACHE_MISS = "cache_miss"
    ERROR_COUNT = "error_count"
    MEMORY_USAGE = "memory_usage"
    DATA_SIZE = "data_size"
    ROW_COUNT = "row_count"


def record_by_hand(recording: Recorder, metric_type: MetricType | str, step_name: str, value: float) -> None:
    """Record one measurement for ``step_name`` (duration in ms, memory in MB).

    Built-in metric types go to their instruments; any other name goes to a custom gauge
    ``odibi.custom.<name>`` with the same labels.
    """
    recording.record_pending()  # measurements land in the order they were made
    labels = recording.labels(step_name)
    member = _as_metric_type(metric_type)
    if member is None:
        try:
            for sink in recording.sinks:
                sink.custom("gauge", custom_name(metric_type)).set(value, labels)
        finally:
            recording.changed = True
        return
    figures = recording.figures(step_name)
    if member is MetricType.NODE_DURATION:
        recording.each(lambda s: s.node_duration.record(value / 1000.0, labels))
        figures.duration_ms = float(value)
    elif member is MetricType.THROUGHPUT:
        recording.each(lambda s: s.throughput.set(value, labels))
        figures.throughput = float(value)
    elif member is MetricType.MEMORY_USAGE:
        recording.each(lambda s: s.memory.set(value * BYTES_PER_MB, labels))
        figures.memory_mb = float(value)
    elif member is MetricType.DATA_SIZE:
        recording.each(lambda s: s.data_size.set(value, labels))
        figures.data_size_bytes = int(value)
    elif member is MetricType.ROW_COUNT:
        recording.each(lambda s: s.rows.add(value, labels))
        figures.row_count = int(value)
    else:
        increment_by_hand(recording, member, step_name, value)


def increment_by_hand(
    recording: Recorder, metric_type: MetricType | str, step_name: str | None = None, value: float = 1
) -> None:
    """Add ``value`` to a counter: cache hits/misses, errors, rows, or a custom counter."""
    recording.record_pending()
    labels = recording.labels(step_name)
    member = _as_metric_type(metric_type)
    with recording.lock:
        if member is MetricType.CACHE_HIT:
            recording.cache_hits += int(value)
        elif member is MetricType.CACHE_MISS:
            recording.cache_misses += int(value)
        elif member is MetricType.ERROR_COUNT:
            recording.error_count += int(value)
    if member is MetricType.CACHE_HIT:
        recording.each(lambda s: s.cache_hits.add(value, labels))
    elif member is MetricType.CACHE_MISS:
        recording.each(lambda s: s.cache_misses.add(value, labels))
    elif member is MetricType.ERROR_COUNT:
        labels = {**labels, semconv.LABEL_ERROR_TYPE: "unspecified"}
        recording.each(lambda s: s.errors.add(value, labels))
    elif member is MetricType.ROW_COUNT:
        recording.each(lambda s: s.rows.add(value, labels))
    elif member is None:
        try:
            for sink in recording.sinks:
                sink.custom("counter", custom_name(metric_type)).add(value, labels)
        finally:
            recording.changed = True
    else:
        raise ValueError(f"{member.value!r} is a measurement, not a counter: use record()")


def _as_metric_type(metric_type: MetricType | str) -> MetricType | None:
    if isinstance(metric_type, MetricType):
        return metric_type
    try:
        return MetricType(str(metric_type).lower())
    except ValueError:
        return None

"""How one ended node's figures go into one instrument set.

The :class:`~odibi_otel.metrics._recording.Recorder` takes an :class:`EndedNode` from each ended
node span and keeps the latest run's figures; :func:`record_ended_node` records it into one
instrument set: the row of the asynchronous instruments (the manager's own provider) or the
synchronous per-node instruments (an application's), the span's check results and anomalies, and,
for a node run on the Spark engine, Spark's own figures (tasks, shuffle, spill: the
``odibi.spark.*`` totals the node span carries). On Spark a node's memory figure is Spark's peak
execution memory, not the driver's resident memory (:func:`spark_memory`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from opentelemetry.sdk.trace import Event

from odibi_otel.metrics._instruments import Instruments
from odibi_otel.metrics._observed_values import series_key
from odibi_otel.otel import semconv

__all__ = [
    "DIRECTION_READ",
    "DIRECTION_WRITE",
    "LABEL_DIRECTION",
    "LABEL_MEDIUM",
    "MEDIUM_DISK",
    "MEDIUM_MEMORY",
    "EndedNode",
    "NodeLabels",
    "SparkFigures",
    "label",
    "record_ended_node",
    "record_node_synchronously",
    "record_quality",
    "record_rows_counted",
    "record_spark",
    "spark_figures",
    "spark_memory",
]

#: Label of ``odibi.spark.shuffle.size``: ``read`` or ``write``.
LABEL_DIRECTION: Final = "direction"
#: Label of ``odibi.spark.spill.size``: ``memory`` or ``disk``.
LABEL_MEDIUM: Final = "medium"
DIRECTION_READ: Final = "read"
DIRECTION_WRITE: Final = "write"
MEDIUM_MEMORY: Final = "memory"
MEDIUM_DISK: Final = "disk"


class NodeLabels:
    """The label values and label sets of one node's measurements (see ``Recorder.node_labels``)."""

    __slots__ = ("base", "key", "layer", "node", "with_status")

    def __init__(self, pipeline: str, node: str, layer: str, status: str) -> None:
        self.node = node
        self.layer = layer
        self.base = {semconv.LABEL_PIPELINE: pipeline, semconv.LABEL_NODE: node, semconv.LABEL_LAYER: layer}
        self.key = series_key(self.base)  # the node's row in the asynchronous instruments' table
        self.with_status = {**self.base, semconv.LABEL_STATUS: status}


class SparkFigures(NamedTuple):
    """The Spark totals of one node execution (``None``: the node span does not carry that figure)."""

    tasks: int | None
    tasks_failed: int | None
    shuffle_read: int | None
    shuffle_write: int | None
    spill_memory: int | None
    spill_disk: int | None


#: The node span attribute of each ``SparkFigures`` field, in order.
_SPARK_ATTRIBUTES: Final = (
    semconv.SPARK_TASKS,
    semconv.SPARK_TASKS_FAILED,
    semconv.SPARK_SHUFFLE_READ_BYTES,
    semconv.SPARK_SHUFFLE_WRITE_BYTES,
    semconv.SPARK_SPILL_MEMORY_BYTES,
    semconv.SPARK_SPILL_DISK_BYTES,
)


def _count(value: object) -> int | None:
    """``value`` as a count or byte figure: a non-negative integer, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


class EndedNode(NamedTuple):
    """What recording an ended node needs, taken from its span when it ends."""

    labels: NodeLabels
    failed: bool
    cache_hit: bool | None
    seconds: float
    rows: int | None  # None: not computed when the node ended (a lazy engine), or not reported
    size: int | None  # None: not reported (a Spark node that wrote nothing, a failed node)
    error_type: str
    events: tuple[Event, ...]
    memory: int  # bytes: the process's resident memory, or Spark's peak execution memory
    spark: SparkFigures | None  # None: a node not run on Spark


def record_ended_node(sink: Instruments, ended: EndedNode, speed: float | None) -> None:
    """Record one ended node into ``sink``; ``speed`` is its throughput, ``None`` when it says nothing."""
    labels, failed, cache_hit, seconds, rows, size, error_type, events, memory, spark = ended
    base = labels.base
    sink.node_duration.record(seconds, labels.with_status)
    series = sink.node_series
    if series is not None:  # the asynchronous instruments: one row written at once
        series.node_ended(
            labels.key, base, seconds=seconds, memory=memory, rows=None if failed else rows,
            size=size, throughput=speed, failed=failed,
        )  # fmt: skip
    else:
        record_node_synchronously(sink, base, seconds, memory, rows, size, failed)
        if speed is not None:
            sink.throughput.set(speed, base)
    if failed:
        sink.errors.add(1, {**base, semconv.LABEL_ERROR_TYPE: error_type})
    if cache_hit is not None:
        (sink.cache_hits if cache_hit else sink.cache_misses).add(1, base)
    if events:
        record_quality(sink, events, base)
    if spark is not None:
        record_spark(sink, spark, base)


def record_rows_counted(sink: Instruments, labels: NodeLabels, rows: int) -> None:
    """Rows counted after the node ended: added to its rows total, and its last rows."""
    series = sink.node_series
    if series is not None:
        series.rows_counted(labels.key, labels.base, rows)
    else:
        sink.rows.add(rows, labels.base)
        sink.node_last_rows.set(rows, labels.base)


def spark_figures(attributes: Mapping[str, Any]) -> SparkFigures | None:
    """The Spark totals a node span carries; ``None`` when it carries none (a pandas node)."""
    values = [_count(attributes.get(key)) for key in _SPARK_ATTRIBUTES]
    if all(value is None for value in values):
        return None
    return SparkFigures(*values)


def spark_memory(attributes: Mapping[str, Any]) -> int:
    """The memory figure of a node run on the Spark engine, in bytes: Spark's, not the driver's.

    The peak execution memory of the largest of the node's stages; ``0`` when its jobs reported
    none (a node that ran no job used no execution memory).
    """
    peak = _count(attributes.get(semconv.SPARK_PEAK_EXECUTION_MEMORY))
    return 0 if peak is None else peak


def record_spark(sink: Instruments, figures: SparkFigures, base: Mapping[str, str]) -> None:
    """Add one Spark node execution's figures to the Spark counters (only the figures it has).

    Tasks are counted by outcome: ``failed`` the failed task attempts, ``success`` the rest of
    the stages' tasks, so the two add up to the node's ``odibi.spark.tasks``.
    """
    tasks, failed, shuffle_read, shuffle_write, spill_memory, spill_disk = figures
    if tasks is not None or failed is not None:
        failed_tasks = failed or 0
        succeeded = max((tasks or 0) - failed_tasks, 0)
        sink.spark_tasks.add(succeeded, {**base, semconv.LABEL_STATUS: semconv.STATUS_SUCCESS})
        sink.spark_tasks.add(failed_tasks, {**base, semconv.LABEL_STATUS: semconv.STATUS_FAILED})
    for size, direction in ((shuffle_read, DIRECTION_READ), (shuffle_write, DIRECTION_WRITE)):
        if size is not None:
            sink.spark_shuffle.add(size, {**base, LABEL_DIRECTION: direction})
    for size, medium in ((spill_memory, MEDIUM_MEMORY), (spill_disk, MEDIUM_DISK)):
        if size is not None:
            sink.spark_spill.add(size, {**base, LABEL_MEDIUM: medium})


def record_node_synchronously(
    sink: Instruments,
    base: Mapping[str, str],
    seconds: float,
    memory: int,
    rows: int | None,
    size: int | None,
    failed: bool,
) -> None:
    """A node's gauges and rows on an application's provider (synchronous instruments).

    ``rows`` is ``None`` when they are not computed yet (a lazy engine; a successful node keeps
    its previous last rows until they are counted), ``size`` when the output size is unknown.
    """
    sink.memory.set(memory, base)
    sink.node_last_duration.set(seconds, base)
    sink.node_last_status.set(0 if failed else 1, base)
    if failed:
        sink.node_last_rows.set(0, base)
        return
    if rows is not None:
        sink.node_last_rows.set(rows, base)
        sink.rows.add(rows, base)
    if size is not None:
        sink.data_size.set(size, base)


def record_quality(sink: Instruments, events: Sequence[Event], base: Mapping[str, str]) -> None:
    """Count the node span's check results and anomalies (``odibi.check`` / ``odibi.anomaly`` events)."""
    for event in events:
        found = event.attributes or {}
        if event.name == semconv.EVENT_CHECK:
            check = label(str(found.get(semconv.CHECK_NAME, "")))
            status = str(found.get(semconv.CHECK_STATUS, ""))
            sink.checks.add(1, {**base, semconv.LABEL_CHECK: check, semconv.LABEL_STATUS: status})
            if status != "pass":
                severity = str(found.get(semconv.CHECK_SEVERITY, ""))
                sink.check_failures.add(
                    1, {**base, semconv.LABEL_CHECK: check, semconv.LABEL_SEVERITY: severity}
                )
        elif event.name == semconv.EVENT_ANOMALY:
            kind = str(found.get(semconv.ANOMALY_KIND, ""))
            sink.anomalies.add(1, {**base, semconv.LABEL_KIND: kind})


def label(text: str) -> str:
    """A label value every exposition can carry: lone surrogates become ``\\udcxx`` text."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text

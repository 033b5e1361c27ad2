"""Per-series values that asynchronous OpenTelemetry instruments report when a reader collects.

A node's throughput, output size and memory are "the latest value" (gauges) and its rows a running
total (a counter): reading them only at collection time is what OpenTelemetry's asynchronous
instruments (``ObservableGauge``, ``ObservableCounter``) are for. The values live in one
:class:`SeriesTable`: a row per label set, a column per instrument. A node's end writes its row
once (:meth:`SeriesTable.node_ended`: one lookup by a key made once per node, one lock), where a
synchronous SDK measurement per instrument costs about 8 µs each (plus cache misses after a node
has churned through its data); a collection, every 15 s or so, pays for building the
observations. The exposition is the same either way.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from opentelemetry.metrics import CallbackOptions, Observation

__all__ = ["NODE_COLUMNS", "ObservedValues", "SeriesKey", "SeriesTable", "series_key"]

SeriesKey = frozenset[tuple[str, str]]

#: The columns of a node's row: each read by one asynchronous instrument (see ``Instruments``).
ROWS, THROUGHPUT, MEMORY, DATA_SIZE, LAST_ROWS, LAST_DURATION, LAST_STATUS = range(7)
NODE_COLUMNS: Final = (
    "rows",
    "throughput",
    "memory",
    "data_size",
    "last_rows",
    "last_duration",
    "last_status",
)


def series_key(labels: Mapping[str, str]) -> SeriesKey:
    """What identifies a series: its label set, in any key order."""
    return frozenset(labels.items())


class SeriesTable:
    """The latest value of each column per label set; ``None`` where a series has no value yet."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._rows: dict[SeriesKey, list[Any]] = {}  # [labels, value per column...]
        self._lock = threading.Lock()

    def column(self, name: str) -> ObservedValues:
        """The view of one column that one asynchronous instrument reads (and by-hand code writes)."""
        return ObservedValues(self, self.columns.index(name))

    def _row(self, key: SeriesKey, labels: Mapping[str, str]) -> list[Any]:
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [labels, *([None] * len(self.columns))]
        return row

    def set(self, column: int, value: float, labels: Mapping[str, str]) -> None:
        """The series of ``labels`` in ``column`` is now ``value`` (gauges)."""
        key = series_key(labels)
        with self._lock:
            self._row(key, labels)[column + 1] = value

    def add(self, column: int, amount: float, labels: Mapping[str, str]) -> None:
        """Add ``amount`` (negative amounts are ignored, as a counter's are) to the series (counters)."""
        if amount < 0:
            return
        key = series_key(labels)
        with self._lock:
            row = self._row(key, labels)
            previous = row[column + 1]
            row[column + 1] = amount if previous is None else previous + amount

    def node_ended(
        self,
        key: SeriesKey,
        labels: Mapping[str, str],
        *,
        seconds: float,
        memory: int,
        rows: int | None,
        size: int | None,
        throughput: float | None,
        failed: bool | None = None,
    ) -> None:
        """One node execution's values, written at once.

        ``key`` is ``series_key(labels)``, made once per label set by the caller. A failed node
        sets its last status, duration and memory only (and its last rows to 0). ``failed``
        left out means ``rows is None``. A successful node whose ``rows`` are ``None`` has rows
        not computed yet (a lazy engine's frame, counted by a later job: see
        :meth:`rows_counted`): its last status is 1, its rows total is left as it is and its
        last rows series has no value until they are counted. ``size`` is ``None`` when the
        node's output size is unknown (the series keeps its value); ``throughput`` is ``None``
        when the node's speed says nothing (a failure, a cache hit, rows not computed).
        """
        if failed is None:
            failed = rows is None
        with self._lock:
            row = self._row(key, labels)
            row[MEMORY + 1] = memory
            row[LAST_DURATION + 1] = seconds
            if failed:
                row[LAST_STATUS + 1] = 0
                row[LAST_ROWS + 1] = 0
                return
            row[LAST_STATUS + 1] = 1
            row[LAST_ROWS + 1] = rows
            if rows is not None and rows >= 0:
                total = row[ROWS + 1]
                row[ROWS + 1] = rows if total is None else total + rows
            if size is not None:
                row[DATA_SIZE + 1] = size
            if throughput is not None:
                row[THROUGHPUT + 1] = throughput

    def rows_counted(self, key: SeriesKey, labels: Mapping[str, str], rows: int) -> None:
        """Rows of a node's latest execution counted after it ended: added to its rows total, its last rows.

        Negative ``rows`` are ignored (a counter never decreases).
        """
        if rows < 0:
            return
        with self._lock:
            row = self._row(key, labels)
            total = row[ROWS + 1]
            row[ROWS + 1] = rows if total is None else total + rows
            row[LAST_ROWS + 1] = rows

    def observe(self, column: int) -> list[Observation]:
        """One observation per series that has a finite value in ``column``.

        A series whose latest value is NaN or infinite is left out (the SDK would drop it with a
        warning at every collection).
        """
        index = column + 1
        with self._lock:
            current = [(row[0], row[index]) for row in self._rows.values() if row[index] is not None]
        return [Observation(value, dict(labels)) for labels, value in current if math.isfinite(value)]


class ObservedValues:
    """One column of a :class:`SeriesTable`: what one asynchronous instrument reports.

    A gauge's series are written with :meth:`set` (the latest value), a counter's with :meth:`add`
    (a running total that never decreases); :meth:`observe` is the instrument's callback. Made
    without a table, it has a table of its own.
    """

    def __init__(self, table: SeriesTable | None = None, column: int = 0) -> None:
        self.table = table if table is not None else SeriesTable(("value",))
        self.index = column

    def set(self, value: float, labels: Mapping[str, str]) -> None:
        """The series of ``labels`` is now ``value`` (gauges)."""
        self.table.set(self.index, value, labels)

    def add(self, amount: float, labels: Mapping[str, str]) -> None:
        """Add ``amount`` (negative amounts are ignored, as a counter's are) to the series (counters)."""
        self.table.add(self.index, amount, labels)

    def observe(self, options: CallbackOptions | None = None) -> Iterable[Observation]:
        """One observation per series: the callback of an asynchronous instrument."""
        return self.table.observe(self.index)

"""Per-series values that asynchronous OpenTelemetry instruments report when a reader collects.

A node's throughput, output size and memory are "the latest value" (gauges) and its rows a running
total (a counter): reading them only at collection time is what OpenTelemetry's asynchronous
instruments (``ObservableGauge``, ``ObservableCounter``) are for. Recording a value is then a dict
update under a lock (about 1 µs) instead of a synchronous SDK measurement per instrument (about 8 µs
each, plus cache misses after a node has churned through its data), and a collection, every 15 s
or so, pays for building the observations. The exposition is the same either way.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping

from opentelemetry.metrics import CallbackOptions, Observation

__all__ = ["ObservedValues"]

_Key = frozenset[tuple[str, str]]


class ObservedValues:
    """Values per label set, reported as observations by :meth:`observe` (an instrument callback).

    A gauge's series are written with :meth:`set` (the latest value), a counter's with :meth:`add`
    (a running total that never decreases).
    """

    def __init__(self) -> None:
        self._values: dict[_Key, tuple[Mapping[str, str], float]] = {}
        self._lock = threading.Lock()

    def set(self, value: float, labels: Mapping[str, str]) -> None:
        """The series of ``labels`` is now ``value`` (gauges)."""
        key = frozenset(labels.items())
        with self._lock:
            self._values[key] = (labels, value)

    def add(self, amount: float, labels: Mapping[str, str]) -> None:
        """Add ``amount`` (negative amounts are ignored, as a counter's are) to the series (counters)."""
        if amount < 0:
            return
        key = frozenset(labels.items())
        with self._lock:
            previous = self._values.get(key)
            self._values[key] = (labels, amount if previous is None else previous[1] + amount)

    def observe(self, options: CallbackOptions | None = None) -> Iterable[Observation]:
        """One observation per series: the callback of an asynchronous instrument.

        A series whose latest value is NaN or infinite is left out (the SDK would drop it with a
        warning at every collection).
        """
        with self._lock:
            current = list(self._values.values())
        return [Observation(value, dict(labels)) for labels, value in current if math.isfinite(value)]

    def __len__(self) -> int:
        return len(self._values)

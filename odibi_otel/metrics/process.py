"""One exposition for the whole process: every shared :class:`~odibi_otel.MetricsManager` at once.

``configure(prometheus_port=...)`` serves this view, so a manager the application creates itself
(``metrics = MetricsManager()`` then ``Orchestrator(..., metrics_manager=metrics)``) shows on the
same ``/metrics`` page, also when it is created after ``configure()``. A manager joins unless it
was given its own meter provider (``MetricsManager(meter_provider=...)``: its metrics then leave
through that provider) or ``share=False``.

Series of different managers are told apart by their ``pipeline`` label. One pipeline name is
shown from one manager only: when a second shared manager records a pipeline name the first one
already has, its series for that name are left out of this view (they stay in its own
exposition) and a warning names the pipeline once. Use one manager per pipeline name, or pass
the same manager to every run of it.
"""

from __future__ import annotations

import gzip
import logging
import threading
import weakref
from typing import Protocol

from opentelemetry.sdk.metrics.export import MetricsData

from odibi_otel.metrics._data_filter import merge_data, pipelines_in, select_points
from odibi_otel.metrics.prometheus_text import PrometheusRenderer

__all__ = ["ProcessMetrics", "SharedManager", "process_metrics"]

_logger = logging.getLogger("odibi_otel.metrics")


class SharedManager(Protocol):
    """What the process view needs of a manager."""

    def collect_data(self) -> MetricsData | None:
        """The manager's current data (pending measurements recorded first)."""

    def exposition(self, openmetrics: bool = False, compressed: bool = False) -> bytes:
        """The manager's own exposition."""


class ProcessMetrics:
    """The shared managers of this process, in the order they were created, as one exposition."""

    def __init__(self) -> None:
        self._members: list[weakref.ref[SharedManager]] = []
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()  # one render at a time (the renderer keeps state)
        self._renderer = PrometheusRenderer()
        self._warned: set[str] = set()

    def add(self, manager: SharedManager) -> None:
        """Show ``manager`` in this view (held weakly: a manager that is freed leaves it)."""
        with self._lock:
            self._members.append(weakref.ref(manager))

    def remove(self, manager: SharedManager) -> None:
        """Stop showing ``manager`` (a manager that shuts down leaves the view)."""
        with self._lock:
            self._members = [ref for ref in self._members if ref() not in (None, manager)]

    def clear(self) -> None:
        """Forget every manager (e.g. between tests)."""
        with self._lock:
            self._members = []
            self._warned = set()

    def managers(self) -> list[SharedManager]:
        """The live shared managers, oldest first."""
        with self._lock:
            live = [(ref, ref()) for ref in self._members]
            self._members = [ref for ref, manager in live if manager is not None]
            return [manager for _, manager in live if manager is not None]

    def collect_data(self) -> MetricsData | None:
        """Every shared manager's data together; a pipeline name comes from its first manager only."""
        owners: set[str] = set()
        parts: list[MetricsData | None] = []
        for manager in self.managers():
            data = manager.collect_data()
            pipelines = pipelines_in(data)
            taken = pipelines & owners
            if taken:
                self._warn_once(taken)
                data = select_points(data, drop_pipelines=taken)
            owners |= pipelines
            parts.append(data)
        return merge_data(parts)

    def exposition(self, openmetrics: bool = False, compressed: bool = False) -> bytes:
        """The Prometheus text (or OpenMetrics) exposition of every shared manager."""
        members = self.managers()
        if len(members) == 1:  # the common case: the manager's own cached exposition
            return members[0].exposition(openmetrics, compressed)
        with self._render_lock:
            body = self._renderer.render(self.collect_data(), openmetrics=openmetrics)
        return gzip.compress(body, compresslevel=1, mtime=0) if compressed else body

    def _warn_once(self, pipelines: set[str]) -> None:
        for pipeline in sorted(pipelines - self._warned):
            self._warned.add(pipeline)
            _logger.warning(
                "odibi_otel: pipeline %r is recorded by two MetricsManagers; the process-wide "
                "/metrics shows the first one's series only. Use one manager per pipeline name.",
                pipeline,
            )


_PROCESS = ProcessMetrics()


def process_metrics() -> ProcessMetrics:
    """The process-wide view that ``configure(prometheus_port=...)`` serves."""
    return _PROCESS

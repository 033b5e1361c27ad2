"""Which lineage tracker belongs to which run, for listeners that only see spans.

Listeners (the :class:`~odibi_otel.EventBus`) learn about a run from its spans, and a span can
only carry plain attribute values, not the run's tracker object. The orchestrator registers the
tracker of a run under the run id (the ``odibi.run.id`` span attribute) for the duration of the
run, and listeners look it up from there. The registry is bounded: if a run is never forgotten,
the oldest entries are dropped once :data:`MAX_RUNS` runs are registered.
"""

from __future__ import annotations

import threading
from typing import Any, Final

__all__ = ["MAX_RUNS", "forget_run", "lookup_tracker", "register_run"]

#: Most runs remembered at once; registering more drops the oldest.
MAX_RUNS: Final = 1024

_lock = threading.Lock()
_trackers: dict[str, Any] = {}


def register_run(run_id: str, tracker: Any) -> None:
    """Remember ``tracker`` as the lineage tracker of run ``run_id`` (replacing an earlier one)."""
    with _lock:
        _trackers.pop(run_id, None)
        _trackers[run_id] = tracker
        while len(_trackers) > MAX_RUNS:
            del _trackers[next(iter(_trackers))]


def lookup_tracker(run_id: str | None) -> Any | None:
    """The tracker registered for ``run_id``, or ``None`` when there is none."""
    if run_id is None:
        return None
    with _lock:
        return _trackers.get(run_id)


def forget_run(run_id: str) -> None:
    """Drop the tracker of ``run_id``; forgetting an unknown run does nothing."""
    with _lock:
        _trackers.pop(run_id, None)

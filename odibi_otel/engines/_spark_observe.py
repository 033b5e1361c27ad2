"""Row counts of lazy Spark frames, counted inside the jobs that compute them anyway.

Every frame a node produces is wrapped in ``DataFrame.observe`` with ``count(1)``: the count is
an accumulator of the job that computes the frame (a write, a collect, a later node's action),
so it costs no job of its own. Until such a job ran, the count is unknown ("not computed"),
never 0. Reading it never blocks: :meth:`RowProbe.rows` asks whether the observation completed.

This module reads one private attribute of each Observation flavour (classic: the JVM object's
future; Spark Connect: the result dict the client fills in); ``tests/test_spark_engine.py``
checks both against the installed pyspark.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

__all__ = ["RowProbe", "observe_rows", "wait_for_listeners"]

_logger = logging.getLogger(__name__)
_names = itertools.count(1)

#: The observed metric's name.
ROWS_METRIC = "odibi_rows"


class RowProbe:
    """The row count of one observed frame, once a job computed it."""

    __slots__ = ("_discarded", "_known", "observation")

    def __init__(self, observation: Any) -> None:
        self.observation = observation
        self._known: int | None = None
        self._discarded = False

    def rows(self) -> int | None:
        """The frame's rows if a job computed it by now, else ``None`` (never blocks)."""
        if self._known is None and not self._discarded and _completed(self.observation):
            value = self.observation.get.get(ROWS_METRIC)
            self._known = int(value) if value is not None else None
        return self._known

    def discard(self) -> None:
        """Never report a count: the job that completed the observation failed (its count is partial)."""
        self._discarded = True
        self._known = None


def observe_rows(frame: Any, scope: str) -> tuple[Any, RowProbe]:
    """``frame`` with its row count observed, and the probe that reads the count.

    ``scope`` makes the observation's name unique (observation names must be unique per query).
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    observation = Observation(f"odibi_{scope}_{next(_names)}")
    observed = frame.observe(observation, F.count(F.lit(1)).alias(ROWS_METRIC))
    return observed, RowProbe(observation)


def wait_for_listeners(session: Any, timeout_ms: int) -> bool:
    """Wait at most ``timeout_ms`` until Spark's listener bus delivered every event so far.

    Observations, the status tracker and the REST API are all filled in from that bus after an
    action returns. Returns whether it drained in time; ``False`` also for a Spark Connect
    session (no SparkContext in this process), whose observations arrive with the action's reply.
    """
    context = getattr(session, "_sc", None)
    if context is None:
        return False
    try:
        bus = context._jsc.sc().listenerBus()
        return bool(bus.waitUntilEmpty(timeout_ms))
    except Exception as exc:  # e.g. a Spark version without this method: fall back to not waiting
        _logger.debug("Spark listener bus wait failed: %s", exc)
        return False


def _completed(observation: Any) -> bool:
    java = getattr(observation, "_jo", None)
    if java is not None:
        return bool(java.future().isCompleted())
    result = getattr(observation, "_result", None)  # Spark Connect: filled when the action replies
    return bool(result)

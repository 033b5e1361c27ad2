"""Recording one run into the history, and giving its nodes their baselines.

A :class:`HistoryRun` is made when a run starts: it reads each node's recent successful runs
(one query) for anomaly detection, collects one :class:`NodeRecord` per node as the nodes end,
and writes the run in one transaction when it ends. The store being locked, unreachable or
full never breaks the run: each failure is one warning naming the store, and the run goes on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from odibi_otel.history.records import NodeRecord, RunRecord
from odibi_otel.history.store import DEFAULT_KEEP, HistoryStore, open_history
from odibi_otel.quality.anomalies import AnomalyRules, NodeBaseline, NodeFacts
from odibi_otel.quality.profile import DEFAULT_PROFILE_SAMPLE_ROWS, FrameProfile

__all__ = ["HISTORY_URL_ENV", "HistoryConfig", "HistoryRun", "history_config"]

#: Environment variable naming the history store for the CLI.
HISTORY_URL_ENV = "ODIBI_HISTORY_URL"

_logger = logging.getLogger("odibi_otel.history")

#: Seconds a run's end waits for a node's column statistics before recording the node without them.
STATISTICS_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class HistoryConfig:
    """Where runs are recorded and how they are compared.

    Args:
        store: The store (see :func:`~odibi_otel.history.open_history`).
        keep: Runs kept per pipeline.
        rules: How anomalies are judged (window, thresholds, ``fail_on``).
        profile_sample_rows: Rows the column statistics are computed from.
    """

    store: HistoryStore
    keep: int = DEFAULT_KEEP
    rules: AnomalyRules = field(default_factory=AnomalyRules)
    profile_sample_rows: int = DEFAULT_PROFILE_SAMPLE_ROWS

    def __post_init__(self) -> None:
        if not isinstance(self.keep, int) or isinstance(self.keep, bool) or self.keep < 1:
            raise ValueError(f"keep must be an integer >= 1, got {self.keep!r}")
        if not isinstance(self.profile_sample_rows, int) or self.profile_sample_rows < 1:
            raise ValueError(f"profile_sample_rows must be an integer >= 1, got {self.profile_sample_rows!r}")


def history_config(value: Any) -> HistoryConfig | None:
    """``history=`` as given to the orchestrator or ``configure()``: ``None``/``False`` for none,
    a :class:`HistoryConfig`, a :class:`HistoryStore`, or a URL / path for :func:`open_history`."""
    if value is None or value is False:
        return None
    if isinstance(value, HistoryConfig):
        return value
    if isinstance(value, (str, os.PathLike, HistoryStore)):
        return HistoryConfig(open_history(value))
    raise TypeError(
        f"history must be a URL, a path, a HistoryStore or a HistoryConfig, got {type(value).__name__}"
    )


class HistoryRun:
    """One run's link to the history: baselines in, the run's record out (never raises)."""

    def __init__(self, config: HistoryConfig, pipeline: str, run_id: str, engine: str) -> None:
        self.config = config
        self.pipeline = pipeline
        self.run_id = run_id
        self.engine = engine
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeRecord] = {}
        self._statistics: dict[str, Future[FrameProfile]] = {}
        #: Whether the store answered when the run started (the story says so when it did not).
        self.reachable = True
        self._baselines: dict[str, list[NodeFacts]] = {}
        self.last_success: float | None = None
        try:
            self._baselines = config.store.baselines(pipeline, config.rules.window)
            self.last_success = config.store.last_success(pipeline)
        except Exception as exc:
            self.reachable = False
            _logger.warning(
                "odibi_otel: run history %s is not readable (%s); anomalies are not checked this run",
                config.store.url,
                exc,
            )

    def baseline(self, node: str) -> NodeBaseline:
        """The node's recent successful runs, newest first (empty without history)."""
        return NodeBaseline(tuple(self._baselines.get(node, ())))

    def node_finished(self, record: NodeRecord, statistics: Future[FrameProfile] | None = None) -> None:
        """Keep ``record`` for the run's write (thread-safe: nodes end on worker threads).

        ``statistics``: the node's full column profile, still being computed; the write waits for
        it (up to :data:`STATISTICS_TIMEOUT_S`) and keeps the null fractions alone if it fails.
        """
        with self._lock:
            self._nodes[record.node] = record
            if statistics is not None:
                self._statistics[record.node] = statistics

    def finish(
        self, status: str, started_at: float, ended_at: float, trace_id: str | None, order: list[str]
    ) -> bool:
        """Write the run (nodes in ``order``; those that never ran as ``skipped``); ``False`` if it failed."""
        with self._lock:
            nodes = tuple(
                self._complete(self._nodes.get(name) or NodeRecord(name, "skipped")) for name in order
            )
        record = RunRecord(
            run_id=self.run_id,
            pipeline=self.pipeline,
            status=status,
            started_at=started_at,
            ended_at=ended_at,
            trace_id=trace_id,
            engine=self.engine,
            host=socket.gethostname(),
            nodes=nodes,
        )
        try:
            self.config.store.record_run(record, keep=self.config.keep)
        except Exception as exc:
            _logger.warning(
                "odibi_otel: run %s was not recorded in the history %s (%s); the run and its other "
                "artifacts are complete",
                self.run_id,
                self.config.store.url,
                exc,
            )
            return False
        return True

    def _complete(self, record: NodeRecord) -> NodeRecord:
        """``record`` with its full column profile, once its statistics are computed."""
        statistics = self._statistics.get(record.node)
        if statistics is None:
            return record
        try:
            profile = statistics.result(timeout=STATISTICS_TIMEOUT_S)
        except Exception as exc:
            _logger.warning("odibi_otel: column statistics of %s not recorded: %s", record.node, exc)
            return record
        return dataclasses.replace(
            record, profile={column: dict(values) for column, values in profile.columns.items()}
        )

"""The Spark engine: frames are Spark DataFrames, on an embedded ``local[*]`` session or a cluster.

Spark is lazy: a node defines a frame and the work happens in a later action (a write, a
collect). So this engine never runs a job of its own to describe a frame: row counts come from
``DataFrame.observe`` inside the jobs that compute the frame anyway (:mod:`._spark_observe`),
schemas from ``df.schema`` (no job), sizes from the output bytes of the node's own jobs, and
samples only when asked for (``limit(n)``: a job). Each node's jobs are tagged to it and read
back as child spans (:mod:`._spark_node`). pyspark is imported only by this module's users.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

from odibi_otel.engines._spark_io import read_spark_frame, run_spark_sql, write_spark_frame
from odibi_otel.engines._spark_node import (
    JobSource,
    SparkNodeScope,
    node_tag,
    run_tag,
    worker_properties,
)
from odibi_otel.engines._spark_observe import RowProbe, observe_rows, wait_for_listeners
from odibi_otel.engines._spark_session import SessionSource, import_pyspark, is_connect_session
from odibi_otel.engines.base import FrameDescription, labelled_types
from odibi_otel.quality.checks import Check, CheckResult
from odibi_otel.quality.profile import FrameProfile

__all__ = ["DEFAULT_SETTLE_MS", "SparkEngine"]

#: How long the end of a node (and of a run) waits at most for Spark's listener bus to deliver
#: the figures of the jobs that already ran (row counts, job and stage metrics).
DEFAULT_SETTLE_MS: Final = 2000

_PROBE: Final = "_odibi_rows"


class SparkEngine:
    """:class:`~odibi_otel.engines.base.Engine` for Spark DataFrames (one per Orchestrator).

    Args:
        spark: A SparkSession to use (never stopped by odibi_otel).
        master: Cluster of a session built here: ``local[2]``, ``spark://host:port``, ``yarn``,
            ``k8s://...``; default ``SPARK_MASTER`` or ``local[*]``.
        conf: Spark settings of a session built here.
        settle_ms: Bound of the wait for Spark's late figures at the end of a node.
        worker_otlp: Where :func:`odibi_otel.spark.traced` spans go from the Python workers
            (``{"endpoint": ..., "protocol": ...}``); default the driver's
            ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``.
    """

    name: Final = "spark"
    frame_type_name: Final = "Spark DataFrame"
    sql_dialect: Final = "spark"
    lazy: Final = True

    def __init__(
        self,
        spark: Any | None = None,
        master: str | None = None,
        conf: Mapping[str, Any] | None = None,
        *,
        settle_ms: int = DEFAULT_SETTLE_MS,
        worker_otlp: Mapping[str, str] | None = None,
    ) -> None:
        self._sql = import_pyspark()
        self._sessions = SessionSource(spark, master, conf)
        self.settle_ms = settle_ms
        self.worker_export = _worker_export(worker_otlp)
        self._session: Any | None = None
        self._source: JobSource | None = None
        self._views: list[str] = []
        self._persisted: list[Any] = []
        self._uncounted: list[RowProbe] = []  # probes no finished node has seen complete yet
        self._lock = threading.Lock()

    # -- a run ---------------------------------------------------------------------------------

    @property
    def session(self) -> Any:
        """The SparkSession of the current run (started by :meth:`start_run`)."""
        if self._session is None:
            raise RuntimeError("the Spark engine has no session outside a run")
        return self._session

    def start_run(self, run_id: str) -> None:
        """Take the run's session; warm the REST API up for the job spans (once per session)."""
        session = self._sessions.acquire()
        self._session = session
        if self._source is not None and self._source.session is not session:
            self._drop_source()
        if self._source is None and not is_connect_session(session):
            self._source = JobSource(session)
            self._source.warm_up()

    def finish_run(self, run_id: str) -> None:
        """Let Spark deliver the last figures, drop the run's views and caches."""
        session = self._session
        if session is None:
            return
        wait_for_listeners(session, self.settle_ms)
        with self._lock:
            views, self._views = self._views, []
            persisted, self._persisted = self._persisted, []
            self._uncounted = []
        for view in views:
            session.catalog.dropTempView(view)
        for frame in persisted:  # the run's caches: a session the caller keeps gets its memory back
            frame.unpersist()

    def release(self) -> None:
        """Stop the session this engine built (a given or active one keeps running, and so does
        its job source, for the next run)."""
        if self._sessions.release():
            self._drop_source()
        self._session = None

    def _drop_source(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    def node_scope(self, run_id: str, index: int, traceparent: str) -> SparkNodeScope:
        """Tags the jobs of step ``index`` and passes ``traceparent`` to its tasks (a context manager)."""
        return SparkNodeScope(
            self.session,
            (run_tag(run_id), node_tag(run_id, index)),
            worker_properties(traceparent, self.worker_export),
            self._source,
            self.settle_ms,
        )

    def cancel_run(self, run_id: str) -> None:
        """Cancel every Spark job of run ``run_id`` still running (fail_fast, Ctrl-C)."""
        session = self._session
        if session is None:
            return
        if is_connect_session(session):
            session.interruptTag(run_tag(run_id))
        else:
            session.sparkContext.cancelJobsWithTag(run_tag(run_id))

    def observe(self, frame: Any, run_id: str) -> Any:
        """``frame`` with its rows counted by whichever job computes it (no job of its own)."""
        observed, probe = observe_rows(frame, run_id[:12])
        observed.__dict__[_PROBE] = probe  # the frame carries its own count
        with self._lock:
            self._uncounted.append(probe)
        return observed

    def settle_counts(self, failed: bool) -> None:
        """After a node that ran jobs (or failed): take the counts its jobs completed.

        A failed Spark job still completes the observations of the frames it was computing, with
        the rows it got through (often 0): when ``failed``, those counts are discarded, so the
        frames stay "not computed" rather than a wrong number.
        """
        with self._lock:
            probes = list(self._uncounted)
        completed = [probe for probe in probes if probe.rows() is not None]
        for probe in completed if failed else ():
            probe.discard()
        with self._lock:
            done = set(map(id, completed))
            self._uncounted = [probe for probe in self._uncounted if id(probe) not in done]

    def materialize(self, frame: Any) -> Any:
        """Cache ``frame`` and count it now (one job, at the node): ``persist: true`` / ``--materialize``."""
        frame.persist()
        frame.count()
        with self._lock:
            self._persisted.append(frame)
        return frame

    # -- the Engine interface ------------------------------------------------------------------

    def read(self, path: Path, params: Mapping[str, Any] | None) -> Any:
        """``spark.read`` by extension (csv with a header row, parquet, json, jsonl)."""
        return read_spark_frame(self.session, path, params)

    def write(self, frame: Any, path: Path, params: Mapping[str, Any] | None) -> None:
        """``frame.write`` by extension; ``mode`` (default ``overwrite``), ``partitionBy``, options."""
        write_spark_frame(frame, path, params)

    def sql(self, query: str, tables: Mapping[str, Any]) -> Any:
        """``spark.sql`` with each frame of ``tables`` as a temporary view unique to this query."""
        frame, views = run_spark_sql(self.session, query, tables, f"{id(self):x}")
        with self._lock:
            self._views.extend(views)
        return frame

    def is_frame(self, value: object) -> bool:
        """Whether ``value`` is a Spark DataFrame (classic or Spark Connect)."""
        return isinstance(value, self._sql.DataFrame)

    def row_count(self, frame: Any) -> int | None:
        """Rows counted by a job that computed ``frame``; ``None`` until one did."""
        probe = _probe_of(frame)
        return probe.rows() if probe is not None else None

    def column_count(self, frame: Any) -> int:
        """Top-level columns of ``frame``'s schema (no job)."""
        return len(frame.schema.fields)

    def size_bytes(self, frame: Any) -> int | None:
        """``None``: a Spark frame's size is what its jobs report (the node's output bytes)."""
        return None

    def describe(self, frame: Any, sample_rows: int) -> FrameDescription:
        """Schema from ``frame.schema``; rows when counted; the first rows only if asked (a job)."""
        fields = frame.schema.fields
        labels = [field.name for field in fields]
        schema = labelled_types(labels, (field.dataType.simpleString() for field in fields))
        probe = _probe_of(frame)
        return FrameDescription(
            probe.rows() if probe is not None else None,
            labels,
            schema,
            None,
            rows_later=probe.rows if probe is not None else None,
            sample_later=functools.partial(_first_rows, frame, sample_rows, len(labels))
            if sample_rows > 0
            else None,
        )

    def check(self, check: Check, frame: Any, inputs: Mapping[str, Any]) -> CheckResult:
        """Not available on Spark yet: pipelines with checks are refused before they run."""
        raise NotImplementedError("data checks run on the pandas engine only")

    def profile(self, frame: Any, sample_rows: int, *, statistics: bool = True) -> FrameProfile:
        """Not available on Spark yet (a profile is a job): runs on Spark record no profile."""
        raise NotImplementedError("frame profiles run on the pandas engine only")


def _worker_export(otlp: Mapping[str, str] | None) -> dict[str, str]:
    """The local properties telling workers where to export (read by ``odibi_otel.spark.traced``)."""
    settings = dict(otlp or {})
    endpoint = settings.get("endpoint") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    protocol = settings.get("protocol") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    if not endpoint:
        return {}
    return {"odibi.otlp.endpoint": endpoint, "odibi.otlp.protocol": protocol}


def _first_rows(frame: Any, count: int, columns: int) -> Any:
    """The first ``count`` rows of ``frame`` as a 2-D object array (one ``limit(n)`` job)."""
    rows = frame.limit(count).collect()
    sample = np.empty((len(rows), columns), dtype=object)
    for position, row in enumerate(rows):
        sample[position, :] = list(row)
    return sample


def _probe_of(frame: Any) -> RowProbe | None:
    probe = getattr(frame, "__dict__", {}).get(_PROBE)
    return probe if isinstance(probe, RowProbe) else None

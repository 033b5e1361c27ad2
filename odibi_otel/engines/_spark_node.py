"""One node's Spark work: its jobs tagged to it, the trace context for Python workers, its jobs read back.

While a node runs, the thread running it adds two job tags (``odibi-run-<run id>`` and
``odibi-node-<run id>-<step index>``) and sets the local property ``odibi.traceparent`` to the node
span's W3C traceparent: every Spark job the node triggers carries the tags (so parallel nodes'
jobs never mix, and one call cancels a run's jobs) and every task sees the property (what
:func:`odibi_otel.spark.traced` reads in the Python workers).

When the node ends, the scope waits (at most ``settle_ms``) for Spark's listener bus, asks the
status tracker which jobs carry the node's tag, and reads each job and its stages from the
driver's monitoring REST API (loopback, a few ms per call after the first).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from odibi_otel.engines._spark_jobs import job_work
from odibi_otel.engines._spark_observe import wait_for_listeners
from odibi_otel.engines.base import EngineWork
from odibi_otel.otel import semconv

__all__ = ["JobSource", "SparkNodeScope", "node_tag", "run_tag"]

_logger = logging.getLogger(__name__)
_REST_TIMEOUT_S: Final = 10.0
#: The warm-up call (the UI server's first REST answer, ~2 s here) may take this long.
_WARM_UP_TIMEOUT_S: Final = 30.0
#: REST calls made at once when a node ends (a node's jobs, then their stages).
_REST_THREADS: Final = 4


def run_tag(run_id: str) -> str:
    """The job tag of every Spark job of run ``run_id``."""
    return f"odibi-run-{run_id}"


def node_tag(run_id: str, index: int) -> str:
    """The job tag of the Spark jobs of the step at ``index`` in run ``run_id``."""
    return f"odibi-node-{run_id}-{index}"


class JobSource:
    """A classic session's jobs: ids from the status tracker, figures from the REST API.

    ``None`` figures (no UI, a REST error) leave the node without job spans; never an error.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        context = session.sparkContext
        self._tracker = context._jsc.sc().statusTracker()
        url = context.uiWebUrl
        self._api = f"{url}/api/v1/applications/{context.applicationId}" if url else None
        self._warmed = threading.Event()
        self._pool = ThreadPoolExecutor(_REST_THREADS, thread_name_prefix="odibi-spark-rest")

    def warm_up(self) -> None:
        """Answer the REST API's slow first call (~2 s) in the background, before a node needs it."""
        if self._api is None:
            return

        def call() -> None:
            try:
                self._get("/environment", _WARM_UP_TIMEOUT_S)
            except Exception as exc:
                _logger.debug("Spark REST warm-up failed: %s", exc)
            finally:
                self._warmed.set()

        threading.Thread(target=call, name="odibi-spark-rest-warmup", daemon=True).start()

    @property
    def available(self) -> bool:
        """Whether job figures can be read (the driver's UI and its REST API are on)."""
        return self._api is not None

    def job_ids(self, tag: str) -> list[int]:
        """Ids of the jobs carrying ``tag`` (the status tracker, in the driver: no HTTP)."""
        return sorted(int(job_id) for job_id in self._tracker.getJobIdsForTag(tag))

    def jobs(self, job_ids: Sequence[int], fallback_end_ns: int) -> list[EngineWork]:
        """Each job with its stage attempts, read from the REST API (the calls run concurrently)."""
        if self._api is None or not job_ids:
            return []
        self._warmed.wait(_WARM_UP_TIMEOUT_S)  # the first call answers slowly: never race it
        jobs = list(self._pool.map(self._get, [f"/jobs/{job_id}" for job_id in job_ids]))
        stage_ids = sorted({stage_id for job in jobs for stage_id in job.get("stageIds", [])})
        attempts = dict(zip(stage_ids, self._pool.map(self._stage_attempts, stage_ids), strict=True))
        return [
            job_work(
                job, [a for stage_id in job.get("stageIds", []) for a in attempts[stage_id]], fallback_end_ns
            )
            for job in jobs
        ]

    def close(self) -> None:
        """Stop the threads that call the REST API."""
        self._pool.shutdown(wait=False)

    def _stage_attempts(self, stage_id: int) -> list[Mapping[str, Any]]:
        try:
            attempts: list[Mapping[str, Any]] = self._get(f"/stages/{stage_id}?details=false")
        except OSError:  # a stage the UI dropped (spark.ui.retainedStages) or never stored
            return []
        return attempts

    def _get(self, path: str, timeout: float = _REST_TIMEOUT_S) -> Any:
        with urllib.request.urlopen(f"{self._api}{path}", timeout=timeout) as response:
            return json.load(response)


class SparkNodeScope:
    """Tags one node's Spark jobs and hands its trace context to the Python workers (a context manager)."""

    def __init__(
        self,
        session: Any,
        tags: tuple[str, str],
        local_properties: Mapping[str, str],
        source: JobSource | None,
        settle_ms: int,
    ) -> None:
        self._session = session
        self._tags = tags
        self._properties = local_properties
        self._source = source
        self._settle_ms = settle_ms
        self._context = getattr(session, "_sc", None)  # None on Spark Connect

    def __enter__(self) -> SparkNodeScope:
        context = self._context
        if context is None:
            for tag in self._tags:
                self._session.addTag(tag)
            return self
        for tag in self._tags:
            context.addJobTag(tag)
        for key, value in self._properties.items():
            context.setLocalProperty(key, value)
        return self

    def __exit__(self, *exc_info: object) -> None:
        context = self._context
        if context is None:
            for tag in self._tags:
                self._session.removeTag(tag)
            return
        for tag in self._tags:
            context.removeJobTag(tag)
        for key in self._properties:
            context.setLocalProperty(key, None)

    def settle(self) -> None:
        """Wait (bounded) until Spark delivered the figures of the jobs run so far."""
        wait_for_listeners(self._session, self._settle_ms)

    def work(self, end_ns: int) -> list[EngineWork] | None:
        """The node's jobs (each with its stages), read after :meth:`settle`; ``None`` when this
        session cannot tell (Spark Connect: no status tracker or UI in this process)."""
        if self._source is None or not self._source.available:
            return None
        job_ids = self._source.job_ids(self._tags[1])
        return self._source.jobs(job_ids, end_ns)


def worker_properties(traceparent: str, export: Mapping[str, str]) -> dict[str, str]:
    """The local properties a node's tasks see: its traceparent and where workers export spans."""
    return {semconv.SPARK_TRACEPARENT_PROPERTY: traceparent, **export}

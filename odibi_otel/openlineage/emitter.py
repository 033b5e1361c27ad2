"""OpenLineageEmitter: a run's OpenLineage events, sent while it runs, never in its way.

The emitter is a span listener like the MetricsManager and the EventBus: the orchestrator tells
it when the pipeline and each node start and end, and it builds the events from the run's
tracker (``docs/openlineage.md``). Events go through the official ``openlineage-python`` client
(any of its transports) on a background thread. At the end of each run it waits at most
``timeout`` seconds for the run's events to leave; whatever failed or is still waiting is one
warning with the count, counted in ``telemetry_failures()["OpenLineage"]``, and the run's
outcome and other artifacts are unaffected.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from odibi_otel._internal.safety import count_failure
from odibi_otel.lineage._run_registry import lookup_tracker
from odibi_otel.openlineage._events import RunInfo, node_event, pipeline_event, skipped_node_events
from odibi_otel.otel import semconv
from odibi_otel.otel._span_listeners import odibi_span_kind

__all__ = ["DEFAULT_NAMESPACE", "OpenLineageEmitter"]

#: The job namespace unless another is given (``OPENLINEAGE_NAMESPACE`` is honoured).
DEFAULT_NAMESPACE: Final = "odibi"
_logger = logging.getLogger("odibi_otel.openlineage")


class OpenLineageEmitter:
    """Sends each run's OpenLineage events; pass it as ``Orchestrator(openlineage=...)``.

    Args:
        client: An ``openlineage.client.OpenLineageClient``. Default: one configured the client's
            usual way (``OPENLINEAGE_URL``, ``OPENLINEAGE__TRANSPORT__*``, ``openlineage.yml``).
        namespace: The job namespace (default ``OPENLINEAGE_NAMESPACE``, else ``odibi``).
        column_lineage: Derive ``columnLineage`` facets (SQL from the query; functions by column
            name, an approximation). ``False`` sends none.
        timeout: Seconds the end of a run waits for its events to be delivered.
    """

    def __init__(
        self,
        client: Any | None = None,
        *,
        namespace: str | None = None,
        column_lineage: bool = True,
        timeout: float = 10.0,
    ) -> None:
        if client is None:
            from openlineage.client import OpenLineageClient

            client = OpenLineageClient()
        self.client = client
        self.namespace = namespace or os.environ.get("OPENLINEAGE_NAMESPACE", "").strip() or DEFAULT_NAMESPACE
        self.column_lineage = column_lineage
        self.timeout = timeout
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._failed: dict[str, int] = {}
        self._errors: dict[str, str] = {}
        self._worker: threading.Thread | None = None
        self._infos: dict[str, RunInfo] = {}

    @classmethod
    def to_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> OpenLineageEmitter:
        """An emitter appending one JSON event per line to ``path`` (the client's file transport)."""
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport.file import FileConfig, FileTransport

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        transport = FileTransport(FileConfig(log_file_path=os.fspath(path), append=True))
        return cls(OpenLineageClient(transport=transport), **kwargs)

    # -- span listener -----------------------------------------------------------------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """A pipeline or node started: its START event."""
        kind = odibi_span_kind(span)
        attributes = span.attributes or {}
        run_id = str(attributes.get(semconv.RUN_ID, ""))
        if kind == "pipeline":
            info = self._run_info(span, run_id)
            self._infos[run_id] = info
            self._send(run_id, pipeline_event(info, "running", _time(span.start_time)))
        elif kind == "node" and run_id in self._infos:
            step = self._step(run_id, str(attributes.get(semconv.NODE_NAME)), attributes)
            span_id = f"{span.context.span_id:016x}" if span.context else None
            self._send(
                run_id, node_event(self._infos[run_id], step, "running", _time(span.start_time), span_id)
            )

    def on_end(self, span: Any) -> None:
        """A node ended (COMPLETE or FAIL), or the pipeline (its skipped nodes, then its end event)."""
        kind = odibi_span_kind(span)
        attributes = span.attributes or {}
        run_id = str(attributes.get(semconv.RUN_ID, ""))
        info = self._infos.get(run_id)
        if info is None:
            return
        when = _time(span.end_time)
        if kind == "node":
            step = self._step(run_id, str(attributes.get(semconv.NODE_NAME)), attributes)
            state = str(attributes.get(semconv.NODE_STATUS, step.get("status", "success")))
            span_id = f"{span.context.span_id:016x}" if span.context else None
            self._send(run_id, node_event(info, step, state, when, span_id))
        elif kind == "pipeline":
            tracker = lookup_tracker(run_id)
            steps = list(tracker.to_dict()["steps"]) if tracker is not None else []
            for event in skipped_node_events(info, steps, when):
                self._send(run_id, event)
            status = str(attributes.get(semconv.PIPELINE_STATUS, "success"))
            error = _first_error(steps) if status != "success" else None
            self._send(run_id, pipeline_event(info, status, when, steps, error))
            self._finish_run(run_id, info.pipeline)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until every queued event was handed to the transport."""
        return self._drain(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Deliver what is queued (bounded by ``timeout``) and stop."""
        self._drain(self.timeout)

    # -- delivery ----------------------------------------------------------------------------------

    def emit(self, event: Any, run_id: str = "") -> None:
        """Queue ``event`` (a client ``RunEvent``) for delivery."""
        self._send(run_id, event)

    def _send(self, run_id: str, event: Any) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._deliver, name="odibi-openlineage", daemon=True)
                self._worker.start()
        self._queue.put((run_id, event))

    def _deliver(self) -> None:
        while True:
            run_id, event = self._queue.get()
            try:
                self.client.emit(event)
            except Exception as exc:  # a failing transport must never reach the pipeline
                with self._lock:
                    self._failed[run_id] = self._failed.get(run_id, 0) + 1
                    self._errors.setdefault(run_id, f"{type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def _drain(self, timeout: float) -> bool:
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _finish_run(self, run_id: str, pipeline: str) -> None:
        delivered = self._drain(self.timeout)
        waiting = 0 if delivered else sum(1 for item in list(self._queue.queue) if item[0] == run_id)
        with self._lock:
            failed = self._failed.pop(run_id, 0)
            reason = self._errors.pop(run_id, "")
        self._infos.pop(run_id, None)
        lost = failed + waiting
        if lost:
            for _ in range(lost):
                count_failure("OpenLineage")
            why = reason or f"not sent within {self.timeout:g} s"
            _logger.warning(
                "odibi_otel: %d OpenLineage event(s) of pipeline %r not delivered (%s); run unaffected",
                lost,
                pipeline,
                why,
            )

    # -- run data ----------------------------------------------------------------------------------

    def _run_info(self, span: Any, run_id: str) -> RunInfo:
        tracker = lookup_tracker(run_id)
        engine = getattr(tracker, "engine", None)
        return RunInfo(
            namespace=self.namespace,
            pipeline=str((span.attributes or {}).get(semconv.PIPELINE_NAME)),
            run_id=run_id,
            trace_id=f"{span.context.trace_id:032x}" if span.context else None,
            span_id=f"{span.context.span_id:016x}" if span.context else None,
            engine=getattr(engine, "name", "pandas"),
            engine_version=_engine_version(getattr(engine, "name", "pandas")),
            sql_dialect=getattr(engine, "sql_dialect", "duckdb"),
            column_lineage=self.column_lineage,
        )

    def _step(self, run_id: str, name: str, attributes: Any) -> dict[str, Any]:
        tracker = lookup_tracker(run_id)
        if tracker is not None:
            try:
                return dict(tracker.step_document(name))
            except KeyError:
                pass
        return {  # without a tracker: what the span says (no schemas)
            "name": name,
            "type": attributes.get(semconv.NODE_TYPE),
            "inputs": list(attributes.get(semconv.NODE_INPUTS, ())),
            "outputs": list(attributes.get(semconv.NODE_OUTPUTS, ())),
            "source": {},
        }


def _time(ns: int | None) -> str:
    return datetime.fromtimestamp((ns or 0) / 1e9, UTC).isoformat()


def _first_error(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((s["error"] for s in steps if s.get("error")), None)


def _engine_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version({"spark": "pyspark"}.get(name, name))
    except PackageNotFoundError:
        return "unknown"

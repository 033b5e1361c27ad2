"""What ``Orchestrator.execute()`` returns: one run's outcome, as a typed dict."""

from __future__ import annotations

from typing import Any, TypedDict

from odibi_otel.lineage.tracker import Tracker

__all__ = ["ExecutionResult"]


class ExecutionResult(TypedDict):
    """The result of one ``Orchestrator.execute()`` call (a plain ``dict`` at run time).

    Step-name lists are in DAG order.
    """

    #: ``True`` when no node failed.
    success: bool
    #: The orchestrator's ``pipeline_name``.
    pipeline_name: str
    #: 32 hex characters, unique per ``execute()``; the ``odibi.run.id`` span attribute.
    run_id: str
    #: The run's trace id, 32 hex characters.
    trace_id: str
    #: The pipeline span's id, 16 hex characters.
    span_id: str
    #: The pipeline span's duration, in milliseconds.
    duration_ms: float
    #: Nodes that ran (succeeded + failed; cache hits count).
    nodes_executed: int
    successful_nodes: list[str]
    failed_nodes: list[str]
    skipped_nodes: list[str]
    #: Steps whose outputs came from the node cache.
    cache_hits: list[str]
    #: ``{step name: "ExceptionClass: message"}`` for every failed node.
    errors: dict[str, str]
    #: ``{data key: frame}`` for every data key produced in the run.
    outputs: dict[str, Any]
    #: The run's lineage :class:`~odibi_otel.Tracker` with ``enable_tracker=True``, else ``None``.
    tracker: Tracker | None
    #: Asynchronous event-bus hooks still running when ``execute()`` returned.
    pending_hooks: list[str]
    #: Check results per step that has checks: ``{step: [{"name", "kind", "severity", "status",
    #: "failing_count", "message", "failing_rows"}, ...]}`` (see ``docs/checks.md``).
    checks: dict[str, list[dict[str, Any]]]
    #: Anomalies per step against the run history: ``{step: [{"kind", "message", ...}, ...]}``;
    #: empty without a history (see ``docs/history.md``).
    anomalies: dict[str, list[dict[str, Any]]]

"""The events an :class:`~odibi_otel.events.bus.EventBus` fires, and the payload of each.

A hook receives a plain ``dict`` (a fresh copy per hook); the TypedDicts below describe its keys
per event, for type checkers and readers. Every payload has the keys of :class:`PipelineStartPayload`
(``event_type``, ``timestamp``, ``pipeline_name``, ``run_id``, ``trace_id``, ``span_id``); node
events add ``step_name``, ``layer`` and ``type``; the end events add what the span's end tells.
``event_type`` tells which payload a hook got (:data:`EventPayload` is their union). See
``docs/events.md`` (Payloads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, TypeAlias, TypedDict

if TYPE_CHECKING:
    from odibi_otel.lineage.tracker import Tracker

__all__ = [
    "ANOMALY_DETECTED",
    "CHECK_FAILED",
    "EVENTS",
    "AnomalyDetectedPayload",
    "CheckFailedPayload",
    "NODE_COMPLETE",
    "NODE_ERROR",
    "NODE_START",
    "PIPELINE_COMPLETE",
    "PIPELINE_ERROR",
    "PIPELINE_START",
    "EventPayload",
    "NodeCompletePayload",
    "NodeErrorPayload",
    "NodeStartPayload",
    "PipelineCompletePayload",
    "PipelineErrorPayload",
    "PipelineStartPayload",
]

PIPELINE_START: Final = "pipeline_start"
PIPELINE_COMPLETE: Final = "pipeline_complete"
PIPELINE_ERROR: Final = "pipeline_error"
NODE_START: Final = "node_start"
NODE_COMPLETE: Final = "node_complete"
NODE_ERROR: Final = "node_error"
CHECK_FAILED: Final = "check_failed"
ANOMALY_DETECTED: Final = "anomaly_detected"

#: Every event a hook can be registered for.
EVENTS: Final = (
    PIPELINE_START,
    PIPELINE_COMPLETE,
    PIPELINE_ERROR,
    NODE_START,
    NODE_COMPLETE,
    NODE_ERROR,
    CHECK_FAILED,
    ANOMALY_DETECTED,
)


class _RunKeys(TypedDict):
    """The keys of every event but ``event_type``."""

    #: When the event happened, ISO 8601 in UTC with microseconds: the span's start time for
    #: ``*_start`` events, its end time for the others.
    timestamp: str
    #: The Orchestrator's ``pipeline_name`` (span attribute ``odibi.pipeline.name``).
    pipeline_name: str
    #: The run's id, 32 hex characters (``odibi.run.id``; ``result["run_id"]``).
    run_id: str
    #: The run's trace id, 32 hex characters (``result["trace_id"]``).
    trace_id: str
    #: The id of the span that fired the event, 16 hex characters.
    span_id: str


class _NodeKeys(_RunKeys):
    """The keys every node event adds."""

    #: ``Step.name`` (``odibi.node.name``).
    step_name: str
    #: ``Step.layer`` (``odibi.node.layer``).
    layer: str
    #: ``read``, ``function`` or ``write`` (``odibi.node.type``).
    type: str


class _ErrorKeys(TypedDict):
    """The keys ``node_error`` and ``pipeline_error`` add."""

    #: The span's status description, e.g. ``"ValueError: no rows"``.
    error_message: str
    #: The ``error.type`` attribute: the exception class, module-qualified unless builtin.
    error_type: str


class PipelineStartPayload(_RunKeys):
    """``pipeline_start``: a run began (its pipeline span started)."""

    event_type: Literal["pipeline_start"]


class PipelineCompletePayload(_RunKeys):
    """``pipeline_complete``: a run ended with every node successful."""

    event_type: Literal["pipeline_complete"]
    #: The pipeline span's end minus start, in milliseconds (3 decimals).
    duration_ms: float
    #: Whether the run succeeded; always ``True`` here (a failed run fires ``pipeline_error``).
    success: bool
    #: Steps in the pipeline (``odibi.pipeline.nodes.total``).
    nodes_total: int
    #: Nodes that succeeded, cache hits included (``odibi.pipeline.nodes.succeeded``).
    nodes_succeeded: int
    #: Nodes that failed; ``0`` here (``odibi.pipeline.nodes.failed``).
    nodes_failed: int
    #: Nodes that did not run (``odibi.pipeline.nodes.skipped``).
    nodes_skipped: int
    #: The run's lineage tracker with ``Orchestrator(enable_tracker=True)``, else ``None``.
    tracker: Tracker | None


class PipelineErrorPayload(_RunKeys, _ErrorKeys):
    """``pipeline_error``: a run ended with a failed node, or was interrupted."""

    event_type: Literal["pipeline_error"]
    #: The pipeline span's end minus start, in milliseconds (3 decimals).
    duration_ms: float


class NodeStartPayload(_NodeKeys):
    """``node_start``: a node began (its node span started)."""

    event_type: Literal["node_start"]


class NodeCompletePayload(_NodeKeys):
    """``node_complete``: a node succeeded (a cache hit included)."""

    event_type: Literal["node_complete"]
    #: The node span's end minus start, in milliseconds (3 decimals).
    duration_ms: float
    #: Rows of all outputs together; a write step: the rows written (``odibi.node.rows_out``).
    #: ``None`` on a lazy engine (Spark) when no job had computed the outputs yet: "not computed".
    row_count: int | None
    #: Columns of all outputs together (``odibi.node.columns_out``).
    column_count: int
    #: Whether the outputs came from the node cache (``False`` when caching is off).
    cache_hit: bool
    #: Estimated in-memory size of the outputs, in bytes (``odibi.node.output.size_bytes``);
    #: on Spark the bytes the node's jobs wrote, ``None`` when they wrote none.
    data_size_bytes: int | None


class NodeErrorPayload(_NodeKeys, _ErrorKeys):
    """``node_error``: a node raised."""

    event_type: Literal["node_error"]
    #: The node span's end minus start (until the error), in milliseconds (3 decimals).
    duration_ms: float


class CheckFailedPayload(_NodeKeys):
    """``check_failed``: a check on the node's output did not pass (fired before the node's end event)."""

    event_type: Literal["check_failed"]
    #: The check's name (``not_null(email)`` unless named).
    check_name: str
    #: ``not_null``, ``unique``, ``accepted_values``, ``row_count``, ``expression``, ...
    check_kind: str
    #: ``error`` (the node fails) or ``warn``.
    severity: str
    #: ``fail`` or ``warn``.
    status: str
    #: Rows that broke the check (1 for whole-frame checks such as ``row_count``).
    failing_count: int
    #: One line saying what was found.
    message: str
    #: Up to 5 failing rows, redacted like the tracker's samples.
    failing_rows: list[dict[str, object]]


class AnomalyDetectedPayload(_NodeKeys):
    """``anomaly_detected``: the node's run differs from its history (fired before the node's end event)."""

    event_type: Literal["anomaly_detected"]
    #: ``volume``, ``schema``, ``duration`` or ``null_rate``.
    kind: str
    #: One line saying what differs.
    message: str
    #: The column, for ``null_rate``.
    column: str | None
    #: This run's figure and the usual one (volume, duration, null_rate).
    value: float | None
    expected: float | None


#: The payload of any event; ``payload["event_type"]`` tells which.
EventPayload: TypeAlias = (
    PipelineStartPayload
    | PipelineCompletePayload
    | PipelineErrorPayload
    | NodeStartPayload
    | NodeCompletePayload
    | NodeErrorPayload
    | CheckFailedPayload
    | AnomalyDetectedPayload
)

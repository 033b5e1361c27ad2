"""The run's lineage tracker: made when the lineage is wanted or OpenLineage needs it."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from odibi_otel.lineage._run_registry import register_run
from odibi_otel.lineage.tracker import Tracker, TrackerConfig
from odibi_otel.metrics._defaults import default_openlineage
from odibi_otel.otel._providers import resolve_logger_provider
from odibi_otel.pipeline.dag import Dag

__all__ = ["start_tracker"]


def start_tracker(
    orchestrator: Any, dag: Dag, run_id: str, span: trace.Span, start_ns: int
) -> Tracker | None:
    """The tracker of run ``run_id`` of ``orchestrator`` (an ``Orchestrator``), or ``None`` if unwanted.

    OpenLineage reads schemas and counts from a tracker: without ``enable_tracker`` it gets one
    without samples or log events.
    """
    wanted = orchestrator.enable_tracker
    if not wanted and (orchestrator.openlineage or default_openlineage()) is None:
        return None
    tracker = Tracker(
        orchestrator.pipeline_name,
        run_id,
        [dag.steps[name] for name in dag.order],
        orchestrator.tracker_config if wanted else TrackerConfig(capture_samples=False),
        logger_provider=resolve_logger_provider(orchestrator.logger_provider) if wanted else None,
        engine=orchestrator.engine,
    )
    if wanted:
        orchestrator.last_tracker = tracker
    context = span.get_span_context()
    tracker.run_started(context.trace_id, context.span_id, start_ns)
    register_run(run_id, tracker)
    return tracker

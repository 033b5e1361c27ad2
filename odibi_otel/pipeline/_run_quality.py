"""A run's data-quality set-up: its history link (baselines, record) and the quality context."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import trace

from odibi_otel.history.recorder import HistoryConfig, HistoryRun
from odibi_otel.lineage.config import TrackerConfig
from odibi_otel.metrics._defaults import default_history
from odibi_otel.otel._providers import resolve_logger_provider
from odibi_otel.pipeline._node_execution import NodePlan
from odibi_otel.pipeline._node_quality import QualityContext

__all__ = ["finish_quality", "quality_context", "start_history"]


def start_history(
    history: HistoryConfig | bool | None, pipeline: str, run_id: str, engine: str
) -> HistoryRun | None:
    """The run's link to its history: the orchestrator's, else ``configure(history=...)``'s, else none."""
    if history is False:
        return None
    config = history if isinstance(history, HistoryConfig) else default_history()
    if not isinstance(config, HistoryConfig):
        return None
    return HistoryRun(config, pipeline, run_id, engine)


def quality_context(
    plans: Iterable[NodePlan],
    pipeline: str,
    run_id: str,
    redaction: TrackerConfig,
    logger_provider: Any | None,
    history: HistoryRun | None,
) -> QualityContext | None:
    """Quality assessment for a run with checks or a history (``None``: the run needs none)."""
    if history is None and not any(plan.checks for plan in plans):
        return None
    return QualityContext(
        pipeline=pipeline,
        run_id=run_id,
        redaction=redaction,
        logger_provider=resolve_logger_provider(logger_provider),
        history=history,
    )


def finish_quality(
    quality: QualityContext | None,
    history: HistoryRun | None,
    status: str,
    span: trace.Span,
    times_ns: tuple[int, int],
    order: Sequence[str],
) -> None:
    """At the run's end: record it in the history (nodes in ``order``), release the profiling thread."""
    if history is not None:
        trace_id = trace.format_trace_id(span.get_span_context().trace_id)
        history.finish(status, times_ns[0] / 1e9, times_ns[1] / 1e9, trace_id, list(order))
    if quality is not None:
        quality.close()

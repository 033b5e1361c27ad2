"""The lineage document as OpenTelemetry log-based events, correlated with the run's spans.

One ``odibi.lineage.snapshot`` event per step (its body is the step's lineage entry, its context
the node span) and one ``odibi.lineage.run`` event per run (the document without ``steps``).
:mod:`odibi_otel.lineage.from_telemetry` turns them back into the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext
from opentelemetry.util.types import AttributeValue

from odibi_otel.lineage._snapshot import StepRecord
from odibi_otel.otel import semconv
from odibi_otel.otel._sdk_compat import logs_api as _logs

__all__ = ["emit_lineage_events"]


def emit_lineage_events(
    logger_provider: Any, document: dict[str, Any], records: Sequence[StepRecord], run_end_ns: int | None
) -> None:
    """Emit ``document`` (whose ``steps`` belong to ``records``, in order) through ``logger_provider``."""
    logger = _logs.get_logger(
        semconv.INSTRUMENTATION_SCOPE, semconv.INSTRUMENTATION_VERSION, logger_provider=logger_provider
    )
    pipeline, run_id = document["pipeline_name"], document["run_id"]
    run_context = _span_context(document["trace_id"], document["span_id"])
    for index, (step, record) in enumerate(zip(document["steps"], records, strict=True)):
        context = record.span_context or run_context
        logger.emit(
            _logs.LogRecord(
                timestamp=record.end_ns or run_end_ns,
                context=trace.set_span_in_context(NonRecordingSpan(context)) if context else None,
                severity_number=_logs.SeverityNumber.INFO,
                event_name=semconv.EVENT_LINEAGE_SNAPSHOT,
                body=step,
                attributes={
                    **_attributes(pipeline, run_id, step["name"]),
                    semconv.LINEAGE_STEP_INDEX: index,
                },
            )
        )
    run_body = {key: value for key, value in document.items() if key != "steps"}
    logger.emit(
        _logs.LogRecord(
            timestamp=run_end_ns,
            context=trace.set_span_in_context(NonRecordingSpan(run_context)) if run_context else None,
            severity_number=_logs.SeverityNumber.INFO,
            event_name=semconv.EVENT_LINEAGE_RUN,
            body=run_body,
            attributes=_attributes(pipeline, run_id, None),
        )
    )


def _attributes(pipeline: str, run_id: str, node: str | None) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {semconv.PIPELINE_NAME: pipeline, semconv.RUN_ID: run_id}
    if node is not None:
        attributes[semconv.NODE_NAME] = node
    return attributes


def _span_context(trace_id: str | None, span_id: str | None) -> SpanContext | None:
    if not trace_id or not span_id:
        return None
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False)

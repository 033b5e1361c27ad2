"""Keeping a span processor that raises from breaking a pipeline run.

The OpenTelemetry SDK calls a ``TracerProvider``'s span processors one after the other and lets
their exceptions through: a processor whose ``on_start`` or ``on_end`` raises makes starting or
ending a span raise inside the pipeline, and the processors after it never see the span (so it is
never exported). For its own spans odibi_otel uses a copy of the SDK tracer whose processor calls
each of the provider's processors separately through :func:`~odibi_otel._internal.safety.record_failure`:
a failing processor is counted and logged once, the others and the run go on.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from odibi_otel._internal.safety import record_failure
from odibi_otel.otel._sdk_compat import (
    ON_ENDING,
    member_processors,
    sdk_span_processor,
    tracer_with_processor,
)

__all__ = ["guard_tracer"]


def guard_tracer(tracer: trace.Tracer) -> trace.Tracer:
    """``tracer`` itself, or for an SDK tracer a copy whose span processors cannot raise into the run."""
    processor = sdk_span_processor(tracer)
    if processor is None:
        return tracer
    return tracer_with_processor(tracer, _GuardedSpanProcessor(processor)) or tracer


class _GuardedSpanProcessor(SpanProcessor):
    """Calls each processor of the provider on its own; an exception is recorded, not raised."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        for processor in member_processors(self._inner):  # per call: processors added later count
            try:
                processor.on_start(span, parent_context=parent_context)
            except Exception as exc:
                record_failure(type(processor).__name__ + ".on_start", exc)

    def _on_ending(self, span: Any) -> None:
        for processor in member_processors(self._inner):
            on_ending = getattr(processor, ON_ENDING, None)
            if on_ending is None:
                continue
            try:
                on_ending(span)
            except Exception as exc:
                record_failure(type(processor).__name__ + "." + ON_ENDING, exc)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in member_processors(self._inner):
            try:
                processor.on_end(span)
            except Exception as exc:
                record_failure(type(processor).__name__ + ".on_end", exc)

    def shutdown(self) -> None:
        """The provider shuts its processors down; a run's guard has nothing of its own."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))

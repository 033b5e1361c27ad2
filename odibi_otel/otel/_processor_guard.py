"""Keeping a span processor that raises from breaking a pipeline run.

The OpenTelemetry SDK calls a ``TracerProvider``'s span processors one after the other and lets
their exceptions through: a processor whose ``on_start`` or ``on_end`` raises makes starting or
ending a span raise inside the pipeline, and the processors after it never see the span (so it is
never exported). For its own spans odibi_otel uses a copy of the SDK tracer whose processor calls
each of the provider's processors separately through :func:`~odibi_otel._internal.safety.record_failure`:
a failing processor is counted and logged once, the others and the run go on.
"""

from __future__ import annotations

import copy
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace import Tracer as SdkTracer

from odibi_otel._internal.safety import record_failure

__all__ = ["guard_tracer"]


def guard_tracer(tracer: trace.Tracer) -> trace.Tracer:
    """``tracer`` itself, or for an SDK tracer a copy whose span processors cannot raise into the run."""
    processor = getattr(tracer, "span_processor", None)
    if not isinstance(tracer, SdkTracer) or processor is None:
        return tracer
    guarded = copy.copy(tracer)
    guarded.span_processor = _GuardedSpanProcessor(processor)  # type: ignore[assignment]
    return guarded


class _GuardedSpanProcessor(SpanProcessor):
    """Calls each processor of the provider on its own; an exception is recorded, not raised."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def _members(self) -> tuple[Any, ...]:
        if isinstance(self._inner, SynchronousMultiSpanProcessor):
            return self._inner._span_processors  # read per call: processors added later count too
        return (self._inner,)

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        for processor in self._members():
            try:
                processor.on_start(span, parent_context=parent_context)
            except Exception as exc:
                record_failure(type(processor).__name__ + ".on_start", exc)

    def _on_ending(self, span: Any) -> None:
        for processor in self._members():
            on_ending = getattr(processor, "_on_ending", None)
            if on_ending is None:
                continue
            try:
                on_ending(span)
            except Exception as exc:
                record_failure(type(processor).__name__ + "._on_ending", exc)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self._members():
            try:
                processor.on_end(span)
            except Exception as exc:
                record_failure(type(processor).__name__ + ".on_end", exc)

    def shutdown(self) -> None:
        """The provider shuts its processors down; a run's guard has nothing of its own."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))

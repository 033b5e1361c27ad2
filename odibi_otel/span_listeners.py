"""Listeners of the orchestrator's spans, and how they are called.

A listener has the shape of an OpenTelemetry SDK ``SpanProcessor`` (``on_start`` / ``on_end``), so
the same object (the EventBus, the MetricsManager) can also be added to an application's own
``TracerProvider``. The orchestrator calls the listeners it was given directly, with the real span
when it is recording, else with a ``ReadableSpan`` snapshot carrying the same facts, so metrics and
hooks keep working when tracing is sampled out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Link, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from odibi_otel.safety import call_safely

__all__ = ["SpanListener", "notify_end", "notify_start"]


class SpanListener(Protocol):
    """What the orchestrator calls for each of its spans: the SDK ``SpanProcessor`` shape."""

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        """Called after a pipeline or node span started."""

    def on_end(self, span: ReadableSpan) -> None:
        """Called after a pipeline or node span ended."""


def notify_start(
    listeners: Sequence[SpanListener],
    span: trace.Span,
    name: str,
    attributes: Mapping[str, AttributeValue],
    links: Sequence[Link],
    start_ns: int,
) -> None:
    """Call ``on_start`` of each listener with a readable view of ``span``; failures are contained."""
    if not listeners:
        return
    view = (
        span
        if isinstance(span, ReadableSpan)
        else _snapshot(span, name, attributes, links, None, start_ns, None)
    )
    for listener in listeners:
        call_safely(type(listener).__name__ + ".on_start", listener.on_start, view, None)


def notify_end(
    listeners: Sequence[SpanListener],
    span: trace.Span,
    name: str,
    attributes: Mapping[str, AttributeValue],
    links: Sequence[Link],
    status: Status,
    start_ns: int,
    end_ns: int,
) -> None:
    """Call ``on_end`` of each listener with the ended span (or a snapshot); failures are contained."""
    if not listeners:
        return
    view = (
        span
        if isinstance(span, ReadableSpan)
        else _snapshot(span, name, attributes, links, status, start_ns, end_ns)
    )
    for listener in listeners:
        call_safely(type(listener).__name__ + ".on_end", listener.on_end, view)


def _snapshot(
    span: trace.Span,
    name: str,
    attributes: Mapping[str, AttributeValue],
    links: Sequence[Link],
    status: Status | None,
    start_ns: int,
    end_ns: int | None,
) -> ReadableSpan:
    """A ``ReadableSpan`` for listeners when the real span records nothing (e.g. sampled out)."""
    return ReadableSpan(
        name=name,
        context=span.get_span_context(),
        attributes=dict(attributes),
        links=tuple(links),
        status=status or Status(StatusCode.UNSET),
        start_time=start_ns,
        end_time=end_ns,
    )

"""Listeners of the orchestrator's spans, and how they are called.

A listener has the shape of an OpenTelemetry SDK ``SpanProcessor`` (``on_start`` / ``on_end``), so
the same object (the EventBus, the MetricsManager) can also be added to an application's own
``TracerProvider``. The orchestrator calls the listeners it was given directly, with a
``ReadableSpan`` snapshot carrying the span's context, name, times, status, links and the
attributes the orchestrator set, so metrics and hooks work the same whether or not the span is
recorded (sampled out, no-op tracing).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from odibi_otel._internal.safety import call_safely
from odibi_otel.otel.semconv import (
    INSTRUMENTATION_SCOPE,
    NODE_NAME,
    NODE_SPAN_PREFIX,
    PIPELINE_SPAN_PREFIX,
    RUN_ID,
)

__all__ = [
    "SpanDeduplicator",
    "SpanListener",
    "SpanView",
    "notify_end",
    "notify_start",
    "odibi_span_kind",
    "span_key",
]


_NO_RESOURCE: Final = Resource.get_empty()


class SpanListener(Protocol):
    """What the orchestrator calls for each of its spans: the SDK ``SpanProcessor`` shape."""

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        """Called after a pipeline or node span started."""

    def on_end(self, span: ReadableSpan) -> None:
        """Called after a pipeline or node span ended."""


class SpanView(ReadableSpan):
    """A snapshot of one of the orchestrator's spans, made for its listeners.

    ``odibi_kind`` (``"pipeline"`` or ``"node"``) is known when the snapshot is made, so
    :func:`odibi_span_kind` does not have to work it out from the name and attributes again for
    every listener and event.
    """

    def __init__(self, odibi_kind: str, **fields: Any) -> None:
        super().__init__(**fields)
        self.odibi_kind = odibi_kind


def notify_start(
    listeners: Sequence[SpanListener],
    kind: str,
    span: trace.Span,
    name: str,
    attributes: Mapping[str, AttributeValue],
    links: Sequence[Link],
    start_ns: int,
) -> None:
    """Call ``on_start`` of each listener with a snapshot of ``span``; failures are contained."""
    if not listeners:
        return
    view = _snapshot(kind, span, name, attributes, links, None, start_ns, None)
    for listener in listeners:
        call_safely(type(listener).__name__ + ".on_start", listener.on_start, view, None)


def notify_end(
    listeners: Sequence[SpanListener],
    kind: str,
    span: trace.Span,
    name: str,
    attributes: Mapping[str, AttributeValue],
    links: Sequence[Link],
    status: Status,
    start_ns: int,
    end_ns: int,
    events: Sequence[Event] = (),
) -> None:
    """Call ``on_end`` of each listener with a snapshot of the ended ``span``; failures are contained."""
    if not listeners:
        return
    view = _snapshot(kind, span, name, attributes, links, status, start_ns, end_ns, events)
    for listener in listeners:
        call_safely(type(listener).__name__ + ".on_end", listener.on_end, view)


def _snapshot(
    kind: str,
    span: trace.Span,
    name: str,
    attributes: Mapping[str, AttributeValue],
    links: Sequence[Link],
    status: Status | None,
    start_ns: int,
    end_ns: int | None,
    events: Sequence[Event] = (),
) -> SpanView:
    """A ``ReadableSpan`` of the facts the orchestrator gave ``span``, for its listeners.

    Also when the real span records them: its attributes sit behind the SDK's locked
    ``BoundedAttributes`` (a Python-level lookup per read), this snapshot's in a plain dict, and
    the listeners read about 35 of them per node. When the span records nothing (sampled out,
    no-op tracing) the snapshot is the only record of them.
    """
    return SpanView(
        kind,
        name=name,
        context=span.get_span_context(),
        resource=getattr(span, "resource", None) or _NO_RESOURCE,  # None would detect one anew
        attributes=dict(attributes),
        links=tuple(links),
        events=tuple(events),
        status=status or Status(StatusCode.UNSET),
        start_time=start_ns,
        end_time=end_ns,
        instrumentation_scope=getattr(span, "instrumentation_scope", None),
    )


def odibi_span_kind(span: Any) -> str | None:
    """``"pipeline"`` or ``"node"`` for spans odibi_otel made, ``None`` for anyone else's (cheap)."""
    if type(span) is SpanView:
        return span.odibi_kind
    name = span.name
    if name.startswith(NODE_SPAN_PREFIX):
        kind = "node"
    elif name.startswith(PIPELINE_SPAN_PREFIX):
        kind = "pipeline"
    else:
        return None
    scope = getattr(span, "instrumentation_scope", None)
    if scope is not None and scope.name != INSTRUMENTATION_SCOPE:
        return None
    attributes = span.attributes
    if not attributes or RUN_ID not in attributes:
        return None
    if kind == "node" and NODE_NAME not in attributes:
        return None
    return kind


def span_key(span: Any) -> tuple[Any, ...]:
    """What identifies ``span``: its ids, or (run id, name, start) when tracing is a no-op."""
    context = span.context
    if context is not None and context.span_id:
        return (context.trace_id, context.span_id)
    # No-op tracing gives every span the invalid (zero) context: fall back to what names the span.
    attributes = span.attributes or {}
    return (attributes.get(RUN_ID), span.name, span.start_time)


class SpanDeduplicator:
    """Remembers recently seen spans so a listener reached twice acts once.

    A listener can be both passed to an Orchestrator and added to the application's provider;
    both then deliver the same span. Memory is bounded to the ``capacity`` most recent spans.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._seen: dict[tuple[Any, ...], None] = {}
        self._lock = threading.Lock()

    def first_time(self, span: Any) -> bool:
        """True the first time ``span`` is seen by this deduplicator."""
        key = span_key(span)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > self._capacity:
                del self._seen[next(iter(self._seen))]
            return True

"""Listeners of the orchestrator's spans, the one record each listener gets per span, and how they are called.

A listener has the shape of an OpenTelemetry SDK ``SpanProcessor`` (``on_start`` / ``on_end``), so
the same object (the EventBus, the MetricsManager) can also be added to an application's own
``TracerProvider``. The orchestrator calls the listeners it was given directly, with one
:class:`SpanRecord` per span: made when the span starts, completed once when it ends, shared by
every listener. It carries the span's context, name, times, status, links and the attributes the
orchestrator set, so metrics and hooks work the same whether or not the span is recorded (sampled
out, no-op tracing).

A listener passed to the orchestrator *and* added to the provider would see each span twice. The
orchestrator says which runs it delivers to which listeners (:func:`delivering_directly`); the
provider's copy of such a run's span is ignored (:func:`delivered_directly`): one lookup on the
provider path, none on the orchestrator's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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
    "SpanListener",
    "SpanRecord",
    "delivered_directly",
    "delivering_directly",
    "notify_end",
    "notify_start",
    "odibi_span_kind",
]


_NO_RESOURCE: Final = Resource.get_empty()
_UNSET: Final = Status(StatusCode.UNSET)


class SpanListener(Protocol):
    """What the orchestrator calls for each of its spans: the SDK ``SpanProcessor`` shape."""

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        """Called after a pipeline or node span started."""

    def on_end(self, span: ReadableSpan) -> None:
        """Called after a pipeline or node span ended."""


class SpanRecord(ReadableSpan):
    """The one record of an odibi_otel pipeline or node span that the orchestrator's listeners get.

    Made when the span starts and handed to each listener's ``on_start``; completed once by
    :meth:`finish` when the span ends and handed to each listener's ``on_end``: the same object,
    never a copy per listener or per phase. Listeners only read it; the one thing written on it
    after it is made is :attr:`shared_keys`, the EventBus's payload keys, made once per span.

    Also when the real span records the same facts: its attributes sit behind the SDK's locked
    ``BoundedAttributes`` (a Python-level lookup per read), this record's in the orchestrator's
    own plain dict (``attributes`` returns it, not a read-only view). When the span records nothing
    (sampled out, no-op tracing) the record is the only record of them.

    ``odibi_kind`` (``"pipeline"`` or ``"node"``) is known when the record is made, so
    :func:`odibi_span_kind` does not have to work it out from the name and attributes again.
    """

    def __init__(
        self,
        odibi_kind: str,
        span: trace.Span,
        name: str,
        attributes: dict[str, AttributeValue],
        links: Sequence[Link],
        start_ns: int,
    ) -> None:
        super().__init__(
            name=name,
            context=span.get_span_context(),
            resource=getattr(span, "resource", None) or _NO_RESOURCE,  # None would detect one anew
            links=links,
            start_time=start_ns,
            instrumentation_scope=getattr(span, "instrumentation_scope", None),
        )
        self.odibi_kind = odibi_kind
        #: The payload keys every event of this span shares (made by the EventBus when first needed).
        self.shared_keys: dict[str, Any] | None = None
        self._values = attributes
        self._ended_at: int | None = None
        self._final_status = _UNSET
        self._found: Sequence[Event] = ()

    def finish(self, status: Status, end_ns: int, events: Sequence[Event] = ()) -> None:
        """The span ended: its status, end time and events (its attributes are already in place)."""
        self._final_status = status
        self._ended_at = end_ns
        self._found = events

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        return self._values

    @property
    def end_time(self) -> int | None:
        return self._ended_at

    @property
    def status(self) -> Status:
        return self._final_status

    @property
    def events(self) -> Sequence[Event]:
        return self._found


def notify_start(
    listeners: Sequence[SpanListener],
    kind: str,
    span: trace.Span,
    name: str,
    attributes: dict[str, AttributeValue],
    links: Sequence[Link],
    start_ns: int,
) -> SpanRecord | None:
    """Make ``span``'s record and call ``on_start`` of each listener with it; failures are contained.

    ``attributes`` becomes the record's own (not copied): the caller adds the end attributes to it
    before :func:`notify_end`. Returns ``None`` when there are no listeners (nothing is made).
    """
    if not listeners:
        return None
    record = SpanRecord(kind, span, name, attributes, links, start_ns)
    for listener in listeners:
        call_safely(type(listener).__name__ + ".on_start", listener.on_start, record, None)
    return record


def notify_end(
    listeners: Sequence[SpanListener],
    record: SpanRecord | None,
    status: Status,
    end_ns: int,
    events: Sequence[Event] = (),
) -> None:
    """Complete ``record`` and call ``on_end`` of each listener with it; failures are contained."""
    if record is None:
        return
    record.finish(status, end_ns, events)
    for listener in listeners:
        call_safely(type(listener).__name__ + ".on_end", listener.on_end, record)


#: ``(id(listener), run id)`` for each listener the orchestrator hands a running run's spans to.
_DIRECT: Final[set[tuple[int, str]]] = set()
_DIRECT_LOCK: Final = threading.Lock()


@contextmanager
def delivering_directly(listeners: Sequence[SpanListener], run_id: str) -> Iterator[None]:
    """While the block runs, the spans of ``run_id`` reach ``listeners`` from the orchestrator.

    Entered before the run's first span starts and left after its last listener call, so a
    provider delivering the same spans to the same listener is ignored for the whole run.
    """
    pairs = {(id(listener), run_id) for listener in listeners}
    with _DIRECT_LOCK:
        _DIRECT.update(pairs)
    try:
        yield
    finally:
        with _DIRECT_LOCK:
            _DIRECT.difference_update(pairs)


def delivered_directly(listener: object, span: Any) -> bool:
    """True when ``span`` (from a provider) belongs to a run the orchestrator hands ``listener`` itself."""
    if type(span) is SpanRecord or not _DIRECT:
        return False
    attributes = span.attributes
    run_id = attributes.get(RUN_ID) if attributes else None
    return isinstance(run_id, str) and (id(listener), run_id) in _DIRECT


def odibi_span_kind(span: Any) -> str | None:
    """``"pipeline"`` or ``"node"`` for spans odibi_otel made, ``None`` for anyone else's (cheap)."""
    if type(span) is SpanRecord:
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

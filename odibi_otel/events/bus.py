"""EventBus: automation hooks fired from the pipeline's own spans.

The bus is an OpenTelemetry SDK :class:`~opentelemetry.sdk.trace.SpanProcessor`. The start of a
``pipeline <name>`` span fires ``pipeline_start``, the start of a ``node <step>`` span fires
``node_start``; their end fires ``node_complete`` / ``node_error`` and ``pipeline_complete`` /
``pipeline_error`` (``*_error`` when the span's status is ERROR). Hook payloads are read back from
the span (attributes, timestamps, status), so a hook sees exactly what the trace records; their
keys per event are the TypedDicts of :mod:`odibi_otel.events.payloads`.

Use it either way, or both at once:

* ``Orchestrator(event_bus=bus)``: the orchestrator calls the bus for its spans, even when tracing
  is sampled out;
* ``provider.add_span_processor(bus)``: the bus sees every span of that provider and fires only for
  odibi_otel's pipeline and node spans, ignoring the application's other spans.

A span that reaches the bus both ways fires its events once. See ``docs/events.md``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

from odibi_otel.events._registration import HookTable, Registration, check_event
from odibi_otel.events._span_payloads import build_payload, quality_payloads
from odibi_otel.events.payloads import (
    ANOMALY_DETECTED,
    CHECK_FAILED,
    EVENTS,
    NODE_COMPLETE,
    NODE_ERROR,
    NODE_START,
    PIPELINE_COMPLETE,
    PIPELINE_ERROR,
    PIPELINE_START,
)
from odibi_otel.otel import semconv
from odibi_otel.otel._span_listeners import delivered_directly, odibi_span_kind

__all__ = [
    "ANOMALY_DETECTED",
    "CHECK_FAILED",
    "EVENTS",
    "HOOK_ERRORS_METRIC",
    "HOOK_EVENT_ATTRIBUTE",
    "HOOK_NAME_ATTRIBUTE",
    "NODE_COMPLETE",
    "NODE_ERROR",
    "NODE_START",
    "PIPELINE_COMPLETE",
    "PIPELINE_ERROR",
    "PIPELINE_START",
    "EventBus",
    "EventPriority",
    "Hook",
]

#: Counter of hook calls that raised, with the two attributes below.
HOOK_ERRORS_METRIC: Final = "odibi.hook.errors"
HOOK_EVENT_ATTRIBUTE: Final = "odibi.hook.event"
HOOK_NAME_ATTRIBUTE: Final = "odibi.hook.name"

#: A hook: called with the event payload (a fresh dict per call); its return value is ignored.
#: The payload's keys per event are described by the TypedDicts of
#: :mod:`odibi_otel.events.payloads` (``NodeCompletePayload``, ...).
Hook = Callable[[Any], object]
HookT = TypeVar("HookT", bound=Callable[..., Any])

_logger = logging.getLogger("odibi_otel.event_bus")


class EventPriority(IntEnum):
    """Order in which hooks of one event run: lower values first."""

    CRITICAL = 1
    HIGH = 2
    MEDIUM = 3
    LOW = 4


@dataclass(frozen=True)
class _Pending:
    description: str
    run_id: str | None


class _HookFailures:
    """Hook calls that raised: counted per (event, hook name) and in ``odibi.hook.errors``.

    The first failure of a hook on an event is logged with its traceback; later ones are only
    counted.
    """

    def __init__(self, meter_provider: metrics.MeterProvider | None) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter(semconv.INSTRUMENTATION_SCOPE, semconv.INSTRUMENTATION_VERSION)
        self._counter = meter.create_counter(
            HOOK_ERRORS_METRIC, unit="{error}", description="Event hook calls that raised an exception"
        )

    def counts(self) -> dict[tuple[str, str], int]:
        """``{(event, hook name): count}``."""
        with self._lock:
            return dict(self._counts)

    def failed(self, registration: Registration, exc: Exception) -> None:
        """Count (and the first time, log) that ``registration``'s hook raised ``exc``."""
        key = (registration.event, registration.name)
        with self._lock:
            self._counts[key] += 1
            first = self._counts[key] == 1
        try:
            self._counter.add(
                1, {HOOK_EVENT_ATTRIBUTE: registration.event, HOOK_NAME_ATTRIBUTE: registration.name}
            )
        except Exception:  # a broken metrics pipeline must not hide the hook's error
            _logger.debug("odibi_otel: could not record %s", HOOK_ERRORS_METRIC, exc_info=True)
        if first:
            _logger.warning(
                "odibi_otel: hook %r on %s raised %s: %s; the pipeline and the other hooks go on. "
                "Further errors of this hook on this event are counted (EventBus.hook_errors, "
                "metric %s), not logged.",
                registration.name,
                registration.event,
                type(exc).__name__,
                exc,
                HOOK_ERRORS_METRIC,
                exc_info=exc,
            )


class EventBus(SpanProcessor):
    """Runs registered hooks when odibi_otel pipeline and node spans start and end.

    Args:
        meter_provider: Provider of the ``odibi.hook.errors`` counter; default: the global one of
            the OpenTelemetry metrics API (read, never set).
        max_async_workers: Threads running ``async_execution`` hooks.
        async_timeout: Seconds :meth:`wait_for_async` (and so ``Orchestrator.execute()``) waits
            for pending async hooks by default.
    """

    def __init__(
        self,
        *,
        meter_provider: metrics.MeterProvider | None = None,
        max_async_workers: int = 4,
        async_timeout: float = 30.0,
    ) -> None:
        if not isinstance(max_async_workers, int) or isinstance(max_async_workers, bool):
            raise TypeError(f"max_async_workers must be an int, got {type(max_async_workers).__name__}")
        if max_async_workers < 1:
            raise ValueError(f"max_async_workers must be >= 1, got {max_async_workers}")
        if isinstance(async_timeout, bool) or not isinstance(async_timeout, (int, float)):
            raise TypeError(f"async_timeout must be a number of seconds, got {async_timeout!r}")
        if not async_timeout >= 0:
            raise ValueError(f"async_timeout must be >= 0 seconds, got {async_timeout!r}")
        self.max_async_workers = max_async_workers
        self.async_timeout = float(async_timeout)
        self._lock = threading.Lock()
        self._table = HookTable()
        self._hooks = self._table.by_event  # the same dict: dispatch reads it without a detour
        self._pending: dict[Future[None], _Pending] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._shut_down = False
        self._failures = _HookFailures(meter_provider)

    # ----------------------------------------------------------------------------- registration

    def register_hook(
        self,
        event: str,
        callback: Hook,
        priority: EventPriority | int = EventPriority.MEDIUM,
        *,
        async_execution: bool = False,
        name: str | None = None,
    ) -> None:
        """Call ``callback(payload)`` each time ``event`` happens.

        Args:
            event: One of :data:`EVENTS`.
            callback: Called with the payload dict (see ``docs/events.md``).
            priority: An :class:`EventPriority` (or its value 1-4); lower runs first, and hooks of
                equal priority run in registration order.
            async_execution: Run the hook on the bus's thread pool instead of the thread that
                ended the span; ``Orchestrator.execute()`` waits for it (up to ``async_timeout``).
            name: Names the hook in logs and in the ``odibi.hook.errors`` metric; default: the
                callback's qualified name.

        Raises:
            ValueError: ``event`` or ``priority`` is not a valid one.
            TypeError: ``callback`` is not callable.
        """
        check_event(event)
        if not callable(callback):
            raise TypeError(f"callback for {event!r} must be callable, got {type(callback).__name__}")
        level = _check_priority(priority)
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        self._table.add(event, callback, level, bool(async_execution), name)

    def unregister_hook(self, event: str, callback: Hook) -> bool:
        """Remove every registration of ``callback`` for ``event``; ``True`` if there was one.

        Raises:
            ValueError: ``event`` is not one of :data:`EVENTS`.
        """
        check_event(event)
        return self._table.remove(event, callback)

    def hook(
        self,
        event: str,
        priority: EventPriority | int = EventPriority.MEDIUM,
        *,
        async_execution: bool = False,
        name: str | None = None,
    ) -> Callable[[HookT], HookT]:
        """Decorator form of :meth:`register_hook`; returns the function unchanged.

        Example::

            @bus.hook("node_complete", priority=EventPriority.HIGH)
            def log_rows(event_data): ...
        """
        check_event(event)
        _check_priority(priority)

        def decorator(function: HookT) -> HookT:
            self.register_hook(event, function, priority, async_execution=async_execution, name=name)
            return function

        return decorator

    def hook_names(self, event: str) -> list[str]:
        """Names of the hooks registered for ``event``, in the order they run."""
        check_event(event)
        return [item.name for item in self._hooks[event]]

    @property
    def hook_errors(self) -> dict[tuple[str, str], int]:
        """How many calls of each hook raised: ``{(event, hook name): count}``."""
        return self._failures.counts()

    # ------------------------------------------------------------------- SpanProcessor interface

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        """Fire ``pipeline_start`` / ``node_start`` for an odibi_otel span; ignore other spans."""
        try:
            self._on_span(span, ended=False)
        except Exception as exc:  # a processor must never raise into the traced code
            _logger.warning("odibi_otel: EventBus.on_start failed: %s", exc, exc_info=exc)

    def on_end(self, span: ReadableSpan) -> None:
        """Fire the ``*_complete`` / ``*_error`` event of an ended odibi_otel span; ignore others."""
        try:
            self._on_span(span, ended=True)
        except Exception as exc:
            _logger.warning("odibi_otel: EventBus.on_end failed: %s", exc, exc_info=exc)

    def shutdown(self) -> None:
        """Stop firing events, wait up to ``async_timeout`` for async hooks, release the pool."""
        with self._lock:
            self._shut_down = True
        self.wait_for_async()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait for pending async hooks; ``False`` if some still run after ``timeout_millis``."""
        return not self.wait_for_async(timeout_millis / 1000)

    # -------------------------------------------------------------------------------- async hooks

    def wait_for_async(self, timeout: float | None = None, *, run_id: str | None = None) -> list[str]:
        """Wait for pending async hooks and report those still running.

        Args:
            timeout: Seconds to wait at most; default: the bus's ``async_timeout``.
            run_id: Only wait for hooks fired by this run (default: all pending hooks).

        Returns:
            One description (``"<hook name> on <event> (run <run id>)"``) per hook still queued or
            running when the timeout expired, in submission order; empty when all finished. Those
            hooks are logged and left running, never waited on further.
        """
        limit = self.async_timeout if timeout is None else max(0.0, float(timeout))
        with self._lock:
            pending = {
                future: item
                for future, item in self._pending.items()
                if run_id is None or item.run_id == run_id
            }
        if not pending:
            return []
        _, not_done = wait(pending, timeout=limit)
        still = [item.description for future, item in pending.items() if future in not_done]
        if still:
            _logger.warning(
                "odibi_otel: %d async hook(s) still running after %.3g s, not waited on: %s",
                len(still),
                limit,
                "; ".join(still),
            )
        return still

    # ------------------------------------------------------------------------------------ internal

    def _on_span(self, span: ReadableSpan, *, ended: bool) -> None:
        if self._shut_down:
            return
        kind = odibi_span_kind(span)
        if kind is None or delivered_directly(self, span):  # the orchestrator hands it over itself
            return
        if ended:
            failed = span.status.status_code is StatusCode.ERROR
            if kind == "node":
                event = NODE_ERROR if failed else NODE_COMPLETE
            else:
                event = PIPELINE_ERROR if failed else PIPELINE_COMPLETE
        else:
            event = NODE_START if kind == "node" else PIPELINE_START
        hooks = self._hooks[event]
        quality = kind == "node" and ended and bool(span.events) and self._has_quality_hooks()
        if not (hooks or quality):
            return
        if quality:  # found inside the node, so fired before its end event
            for quality_event, quality_payload in quality_payloads(span):
                self._dispatch(self._hooks[quality_event], quality_payload)
        if hooks:
            self._dispatch(hooks, build_payload(event, span))

    def _has_quality_hooks(self) -> bool:
        return bool(self._hooks[CHECK_FAILED] or self._hooks[ANOMALY_DETECTED])

    def _dispatch(self, hooks: tuple[Registration, ...], payload: dict[str, Any]) -> None:
        """Call each hook with its own payload: copies for all but the last, which gets the original.

        No hook sees another's changes (each earlier hook has a copy, and nothing reads the
        original after the last hook), and the common case of one hook per event copies nothing.
        """
        last = len(hooks) - 1
        for index, registration in enumerate(hooks):
            own = payload if index == last else dict(payload)
            if registration.async_execution:
                self._submit(registration, own)
            else:
                self._run_hook(registration, own)

    def _run_hook(self, registration: Registration, payload: dict[str, Any]) -> None:
        try:
            registration.callback(payload)
        except Exception as exc:
            self._failures.failed(registration, exc)

    def _submit(self, registration: Registration, payload: dict[str, Any]) -> None:
        run_id = payload.get("run_id")
        description = f"{registration.name} on {registration.event} (run {run_id})"
        with self._lock:
            if self._shut_down:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_async_workers, thread_name_prefix="odibi-hook")
            future = self._executor.submit(self._run_hook, registration, payload)
            self._pending[future] = _Pending(description, run_id if isinstance(run_id, str) else None)
        future.add_done_callback(self._async_done)

    def _async_done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.pop(future, None)


def _check_priority(priority: object) -> EventPriority:
    if not isinstance(priority, bool) and isinstance(priority, int):
        try:
            return EventPriority(priority)
        except ValueError:
            pass
    choices = ", ".join(f"{item.name}={item.value}" for item in EventPriority)
    raise ValueError(f"priority must be an EventPriority ({choices}), got {priority!r}")

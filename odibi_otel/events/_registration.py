"""The hooks registered on an :class:`~odibi_otel.events.bus.EventBus`, per event, in running order."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from odibi_otel.events.payloads import EVENTS

if TYPE_CHECKING:
    from odibi_otel.events.bus import EventPriority

__all__ = ["HookTable", "Registration", "check_event"]


@dataclass(frozen=True)
class Registration:
    """One registration of a hook for one event."""

    event: str
    callback: Callable[[dict[str, Any]], object]
    priority: EventPriority
    async_execution: bool
    name: str
    sequence: int


class HookTable:
    """The registrations of each event, sorted by (priority, registration order).

    ``by_event`` maps each event to a tuple that is replaced, never changed, on (un)registration,
    so an event being dispatched keeps the hooks it started with.
    """

    def __init__(self) -> None:
        self.by_event: dict[str, tuple[Registration, ...]] = {event: () for event in EVENTS}
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def add(
        self,
        event: str,
        callback: Callable[[dict[str, Any]], object],
        priority: EventPriority,
        async_execution: bool,
        name: str | None,
    ) -> None:
        """Register ``callback`` for ``event`` (both already checked)."""
        with self._lock:
            registration = Registration(
                event=event,
                callback=callback,
                priority=priority,
                async_execution=async_execution,
                name=name or _default_name(callback),
                sequence=next(self._sequence),
            )
            hooks = (*self.by_event[event], registration)
            self.by_event[event] = tuple(sorted(hooks, key=lambda item: (item.priority, item.sequence)))

    def remove(self, event: str, callback: Callable[[dict[str, Any]], object]) -> bool:
        """Remove every registration of ``callback`` for ``event``; ``True`` if there was one."""
        with self._lock:
            hooks = self.by_event[event]
            kept = tuple(item for item in hooks if not _same_callback(item.callback, callback))
            self.by_event[event] = kept
            return len(kept) != len(hooks)


def check_event(event: object) -> None:
    """Raise ``ValueError`` unless ``event`` is one of :data:`~odibi_otel.events.payloads.EVENTS`."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; valid events: {', '.join(EVENTS)}")


def _same_callback(registered: object, callback: object) -> bool:
    if registered is callback:
        return True
    try:
        return bool(registered == callback)
    except Exception:
        return False


def _default_name(callback: object) -> str:
    name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
    if isinstance(name, str) and name:
        return name
    return type(callback).__qualname__

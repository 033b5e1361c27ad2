"""The odibi_core tutorial's import path ``odibi_otel.event_bus``, kept as it is.

The code lives in :mod:`odibi_otel.events.bus`; this module re-exports it.
"""

from odibi_otel.events.bus import EventBus, EventPriority

__all__ = ["EventBus", "EventPriority"]

"""Which OpenTelemetry providers odibi_otel uses; it never sets a global one.

Order: the provider passed explicitly, else the global provider the application configured.
When nobody configured OpenTelemetry (the global provider is still the API's no-op proxy),
odibi_otel uses a private SDK provider with no exporters, so runs still get real trace ids and
its own listeners (metrics, event hooks) still see recorded spans. Nothing leaves the process
through it and the application's globals stay untouched.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import trace

from odibi_otel.otel._sdk_compat import is_unset_provider, logs_api

__all__ = ["resolve_logger_provider", "resolve_tracer_provider"]

_private_lock = threading.Lock()
_private_tracer_provider: trace.TracerProvider | None = None


def resolve_tracer_provider(explicit: trace.TracerProvider | None = None) -> trace.TracerProvider:
    """The tracer provider a run should use (see the module docstring for the order)."""
    if explicit is not None:
        return explicit
    global_provider = trace.get_tracer_provider()
    if not isinstance(global_provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return global_provider
    return _private_provider()


def _private_provider() -> trace.TracerProvider:
    global _private_tracer_provider
    with _private_lock:
        if _private_tracer_provider is None:
            from opentelemetry.sdk.trace import TracerProvider

            _private_tracer_provider = TracerProvider()
        return _private_tracer_provider


def resolve_logger_provider(explicit: Any | None = None) -> Any | None:
    """The logger provider for lineage log events: explicit, else the app's global, else ``None``.

    ``None`` means nobody would receive the events, so they are not built at all.
    """
    if explicit is not None:
        return explicit
    provider = logs_api.get_logger_provider()
    return None if is_unset_provider(provider) else provider

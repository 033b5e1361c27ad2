"""Running telemetry code so that it can never break a pipeline.

Every call into a listener, hook, processor or exporter goes through :func:`call_safely`: an
exception is caught, counted per component, and logged once per (component, exception type) so
a broken exporter cannot flood the log either.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["call_safely", "count_failure", "record_failure", "telemetry_failures"]

_logger = logging.getLogger("odibi_otel")
_lock = threading.Lock()
_failures: Counter[str] = Counter()
_logged: set[tuple[str, str]] = set()

T = TypeVar("T")


def call_safely(component: str, function: Callable[..., T], *args: Any) -> T | None:
    """Call ``function(*args)``; on an exception record it for ``component`` and return ``None``."""
    try:
        return function(*args)
    except Exception as exc:
        record_failure(component, exc)
        return None


def record_failure(component: str, exc: BaseException) -> None:
    """Count a telemetry failure of ``component`` and log it the first time its kind is seen."""
    kind = (component, type(exc).__name__)
    with _lock:
        _failures[component] += 1
        first = kind not in _logged
        _logged.add(kind)
    if first:
        _logger.warning(
            "odibi_otel: %s failed (%s: %s); the pipeline goes on. Further %s errors from it "
            "are counted, not logged.",
            component,
            type(exc).__name__,
            exc,
            type(exc).__name__,
            # a traceback only for exceptions that were raised; a reported one has none to show
            exc_info=exc if exc.__traceback__ is not None else None,
        )


def count_failure(component: str) -> None:
    """Count a failure of ``component`` that the caller reports itself (no log record here)."""
    with _lock:
        _failures[component] += 1


def telemetry_failures() -> dict[str, int]:
    """How many times each telemetry component has failed in this process."""
    with _lock:
        return dict(_failures)

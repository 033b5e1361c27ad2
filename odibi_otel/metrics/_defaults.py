"""Process-wide defaults that :func:`odibi_otel.configure` installs for orchestrators (the metrics
manager, the OpenLineage emitter and the run history).

An ``Orchestrator`` built without ``metrics_manager`` uses the default manager, when one is set,
so ``configure(prometheus_port=...)`` alone makes every pipeline's metrics appear on /metrics.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from odibi_otel.metrics.manager import MetricsManager

__all__ = [
    "default_metrics_manager",
    "default_history",
    "default_openlineage",
    "set_default_history",
    "set_default_metrics_manager",
    "set_default_openlineage",
]

_lock = threading.Lock()
_default: MetricsManager | None = None
_default_openlineage: Any | None = None
_default_history: Any | None = None


def default_metrics_manager() -> MetricsManager | None:
    """The manager orchestrators use when none is passed (``None`` unless configured)."""
    return _default


def set_default_metrics_manager(manager: MetricsManager | None) -> None:
    """Install (or with ``None`` remove) the default metrics manager."""
    global _default
    with _lock:
        _default = manager


def default_openlineage() -> Any | None:
    """The OpenLineage emitter orchestrators use when none is passed (``None`` unless configured)."""
    return _default_openlineage


def set_default_openlineage(emitter: Any | None) -> None:
    """Install (or with ``None`` remove) the default OpenLineage emitter."""
    global _default_openlineage
    with _lock:
        _default_openlineage = emitter


def default_history() -> Any | None:
    """The run history orchestrators record into when none is passed (``None`` unless configured)."""
    return _default_history


def set_default_history(history: Any | None) -> None:
    """Install (or with ``None`` remove) the default run history (a ``HistoryConfig``)."""
    global _default_history
    with _lock:
        _default_history = history

"""Folding the OpenTelemetry exporters' failure warnings into one odibi_otel warning per endpoint."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Final

from odibi_otel._internal.safety import record_failure
from odibi_otel.otel._sdk_compat import (
    EXPORT_LOGGERS,
)
from odibi_otel.setup.otlp_settings import (
    OtlpExportError,
    OtlpTarget,
)

__all__ = ["EXPORT_FAILURES", "export_component"]


_SHUTDOWN_NOISE: Final = (
    "already shutdown",
    "shutdown in progress",
    "shutdown can only be called once",
    "can't shutdown multiple times",
    "shutdown called",
)


def export_component(targets: Any) -> str:
    endpoints = sorted({f"{target.base_url} ({target.protocol})" for target in targets})
    return "OTLP export to " + ", ".join(endpoints)


class _ExportFailureFilter(logging.Filter):
    """Folds the OpenTelemetry exporters' warnings into one odibi_otel warning per endpoint.

    Installed on :data:`EXPORT_LOGGERS` by :func:`configure` when it sets up OTLP exporters.
    Retry notices and shutdown noise are dropped; a failed export goes to
    :func:`~odibi_otel._internal.safety.record_failure`, which logs the first one per endpoint (naming the
    endpoint, signal, timeout and cause) and counts the rest.
    """

    _LOGGER_SIGNALS: Final = {
        "trace_exporter": "traces",
        "metric_exporter": "metrics",
        "_log_exporter": "logs",
    }

    def __init__(self) -> None:
        super().__init__("odibi_otel.export_failures")
        self._lock = threading.Lock()
        self._targets: dict[str, OtlpTarget] = {}
        self._last_error: dict[str, str] = {}

    def watch(self, targets: Mapping[str, OtlpTarget]) -> None:
        with self._lock:
            self._targets = dict(targets)
        for name in EXPORT_LOGGERS:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        with self._lock:
            targets = dict(self._targets)
        if not targets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        lowered = text.lower()
        if any(noise in lowered for noise in _SHUTDOWN_NOISE):
            return False
        signal = self._signal(record.name, lowered)
        if "transient error" in lowered or "retrying" in lowered:
            with self._lock:
                self._last_error[signal or ""] = text
            return False
        if "export" not in lowered and "dropping" not in lowered:
            return True  # not about exporting: let it through
        target = targets.get(signal or "") or next(iter(targets.values()))
        with self._lock:
            last = self._last_error.get(signal or "")
        cause = text
        if record.exc_info and record.exc_info[1] is not None:
            cause += f" {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        if last and last not in cause:
            cause += f" (last error: {last})"
        record_failure(
            export_component(targets.values()),
            OtlpExportError(
                f"{signal or 'telemetry'} not delivered to {target.endpoint} (export timeout "
                f"{target.timeout:g} s): {_shorten(cause)}"
            ),
        )
        return False

    def _signal(self, logger_name: str, lowered: str) -> str | None:
        for part, signal in self._LOGGER_SIGNALS.items():
            if logger_name.endswith(part):
                return signal
        if "metric" in lowered:
            return "metrics"
        if "span" in lowered or "trace" in lowered:
            return "traces"
        if "log" in lowered:
            return "logs"
        return None


def _shorten(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: The process's one filter (its endpoints are those of the latest configure()).
EXPORT_FAILURES = _ExportFailureFilter()

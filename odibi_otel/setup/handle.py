"""The :class:`TelemetryHandle` that :func:`~odibi_otel.configure` returns, and its bounded shutdown."""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace

from odibi_otel._internal.safety import record_failure
from odibi_otel.metrics.manager import MetricsManager
from odibi_otel.setup._export_failures import export_component
from odibi_otel.setup.otlp_settings import (
    DEFAULT_EXPORT_TIMEOUT_S,
    OtlpExportError,
    OtlpTarget,
)

__all__ = ["TelemetryHandle", "spent_providers"]

_logger = logging.getLogger("odibi_otel")

#: Providers of handles that were shut down: a later configure() builds fresh ones instead.
spent_providers: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass
class TelemetryHandle:
    """What :func:`configure` set up; call :meth:`shutdown` to flush and stop it.

    ``owns_*`` tell which providers odibi_otel created (and will shut down) and which belong to
    the application (left alone). ``otlp_targets`` maps each exported signal to its endpoint.
    """

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    logger_provider: Any
    metrics_manager: MetricsManager | None
    owns_tracer_provider: bool = False
    owns_meter_provider: bool = False
    owns_logger_provider: bool = False
    disabled: bool = False
    export_timeout: float = DEFAULT_EXPORT_TIMEOUT_S
    telemetry_file: Any = None
    otlp_targets: dict[str, OtlpTarget] = field(default_factory=dict)
    _local_processors: list[Any] = field(default_factory=list, repr=False)
    _otlp_exporters: list[Any] = field(default_factory=list, repr=False)
    _cleanups: list[Callable[[], Any]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def prometheus_url(self) -> str | None:
        """The ``/metrics`` URL while the endpoint is being served."""
        server = self.metrics_manager._server if self.metrics_manager else None
        return server.url if server else None

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` has been called."""
        return self._closed

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop what odibi_otel created, waiting at most ``timeout`` seconds in all.

        The default bound is the export timeout. The local span/log file is completed first;
        then the OTLP exporters, the meter provider and the ``/metrics`` endpoint stop at once.
        Telemetry an unreachable endpoint has not taken by then is dropped (warned once).
        Returns whether everything finished in time. Later calls do nothing.
        """
        budget = self.export_timeout if timeout is None else max(0.0, float(timeout))
        return self._stop(budget, report=True)

    def _stop(self, budget: float, *, report: bool) -> bool:
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        atexit.unregister(self.shutdown)
        deadline = time.monotonic() + budget
        for cleanup in self._cleanups:  # detach the log handler and defaults first: quick, local
            _call_logged(cleanup)
        local_done = _run_until(deadline, [processor.shutdown for processor in self._local_processors])
        stoppers: list[Callable[[], Any]] = []
        if self.metrics_manager is not None:
            stoppers.append(self.metrics_manager.shutdown)
        if self.owns_tracer_provider:
            stoppers.append(self.tracer_provider.shutdown)  # type: ignore[attr-defined]
        if self.owns_logger_provider:
            stoppers.append(self.logger_provider.shutdown)
        if self.owns_meter_provider:
            provider = self.meter_provider

            def stop_meter_provider() -> None:
                remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
                provider.shutdown(timeout_millis=remaining_ms)  # type: ignore[attr-defined]

            stoppers.append(stop_meter_provider)
        done = _run_until(deadline, stoppers) and local_done
        if self.telemetry_file is not None:
            self.telemetry_file.shutdown()
        owned_providers: tuple[tuple[bool, object], ...] = (
            (self.owns_tracer_provider, self.tracer_provider),
            (self.owns_logger_provider, self.logger_provider),
            (self.owns_meter_provider, self.meter_provider),
        )
        spent_providers.update(provider for owned, provider in owned_providers if owned)
        if not done:
            self._give_up(budget, report)
        return done

    def _give_up(self, budget: float, report: bool) -> None:
        if report:
            self._report_give_up(budget)
        # Stop the exporters' retries so abandoned threads end soon; never wait for them.
        for exporter in self._otlp_exporters:
            with contextlib.suppress(RuntimeError):  # at interpreter exit: nothing to stop for
                threading.Thread(target=_call_logged, args=(exporter.shutdown,), daemon=True).start()

    def _report_give_up(self, budget: float) -> None:
        if self.otlp_targets:
            signals = ", ".join(self.otlp_targets)
            record_failure(
                export_component(self.otlp_targets.values()),
                OtlpExportError(
                    f"{signals} not delivered within {budget:g} s (endpoint unreachable or not "
                    "answering); unsent telemetry is dropped"
                ),
            )
        else:
            _logger.warning(
                "odibi_otel: telemetry shutdown did not finish within %.1f s; unsent telemetry is dropped",
                budget,
            )


def _call_logged(function: Callable[[], Any]) -> None:
    try:
        function()
    except Exception as exc:  # one failing component must not keep the others from stopping
        _logger.warning("odibi_otel: error during telemetry shutdown: %s: %s", type(exc).__name__, exc)


def _run_until(deadline: float, functions: list[Callable[[], Any]]) -> bool:
    """Run ``functions`` at once in daemon threads; whether all returned before ``deadline``."""
    threads = []
    for function in functions:
        thread = threading.Thread(
            target=_call_logged, args=(function,), name="odibi-otel-shutdown", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no new threads at interpreter exit (atexit, Python 3.12+): run it here
            _call_logged(function)
            continue
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)

"""Faults in the telemetry around a run never change the run: hooks, span processors, metric readers.

Already proven elsewhere (not repeated here): a raising hook is isolated, logged once and counted
(``tests/test_event_bus.py::test_raising_hook_is_isolated_logged_once_and_counted``), an async hook
still running at the timeout is reported
(``tests/test_event_bus.py::test_async_hook_still_running_at_timeout_is_reported_not_awaited``),
malformed spans never make the bus raise, a failing webhook is counted (``tests/test_hooks.py``).
This file adds: every event's hooks failing at once, hung async hooks bounding ``execute()`` (also
when an earlier run's hung hooks hold every worker), slow hooks, span processors of the provider that
raise, and metric readers/exporters (and an application meter provider) that raise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry import metrics as metrics_api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

from odibi_otel import EventBus, EventPriority, MetricsManager, Orchestrator, Step
from odibi_otel._internal.safety import telemetry_failures
from odibi_otel.events.bus import EVENTS

from .harness import Observed

pytestmark = pytest.mark.reliability

HUNG_TIMEOUT_S = 0.2  # the bus's async_timeout in the hung-hook tests


def _source() -> pd.DataFrame:
    return pd.DataFrame({"v": [1, 2, 3]})


def _double(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(v=frame["v"] * 2)


def _explode(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("node failed on purpose")


def _steps(failing: bool = False) -> list[Step]:
    steps = [
        Step("load", "ingest", "function", _source, outputs=["raw"]),
        Step("double", "transform", "function", _double, inputs=["raw"], outputs=["doubled"]),
        Step("again", "transform", "function", _double, inputs=["doubled"], outputs=["quad"]),
    ]
    if failing:
        steps.append(Step("explode", "transform", "function", _explode, inputs=["raw"], outputs=["x"]))
    return steps


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    """The parts of a result that must not depend on telemetry faults."""
    return {
        "success": result["success"],
        "nodes_executed": result["nodes_executed"],
        "successful_nodes": result["successful_nodes"],
        "failed_nodes": result["failed_nodes"],
        "skipped_nodes": result["skipped_nodes"],
        "errors": result["errors"],
        "outputs": {key: frame.to_dict("list") for key, frame in result["outputs"].items()},
    }


@pytest.fixture(scope="module")
def reference() -> dict[bool, dict[str, Any]]:
    """The results of fault-free runs, per ``failing``."""
    results = {}
    for failing in (False, True):
        results[failing] = _comparable(Orchestrator(_steps(failing), fail_fast=False).execute())
    return results


def _expected_events(failing: bool) -> dict[str, list[str | None]]:
    nodes = ["load", "double", "again"] + (["explode"] if failing else [])
    return {
        "pipeline_start": [None],
        "node_start": sorted(nodes),
        "node_complete": sorted(["load", "double", "again"]),
        "node_error": ["explode"] if failing else [],
        "pipeline_complete": [] if failing else [None],
        "pipeline_error": [None] if failing else [],
        "check_failed": [],  # the pipeline has no checks and no history
        "anomaly_detected": [],
    }


def _seen_events(observed: Observed, run_id: str) -> dict[str, list[str | None]]:
    return {
        event: sorted(
            (p.get("step_name") for p in observed.events.of(event) if p["run_id"] == run_id),
            key=str,
        )
        for event in EVENTS
    }


# -- hooks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failing", [False, True], ids=["success", "node-fails"])
def test_hooks_raising_on_every_event_leave_the_run_and_the_other_hooks_alone(
    observed: Observed, reference: dict[bool, dict[str, Any]], failing: bool
) -> None:
    calls: dict[str, int] = dict.fromkeys(EVENTS, 0)
    lock = threading.Lock()

    def broken(payload: dict[str, Any]) -> None:
        with lock:
            calls[payload["event_type"]] += 1
        raise RuntimeError(f"hook bug on {payload['event_type']}")

    for event in EVENTS:  # before, between and after the recording hook; sync and async
        observed.bus.register_hook(event, broken, EventPriority.CRITICAL, name="first")
        observed.bus.register_hook(event, broken, EventPriority.LOW, name="last")
        observed.bus.register_hook(event, broken, async_execution=True, name="async")
    result = observed.run(_steps(failing), fail_fast=False)

    assert _comparable(result) == reference[failing]
    assert result["pending_hooks"] == []
    assert _seen_events(observed, result["run_id"]) == _expected_events(failing)
    expected = {event: 3 * len(names) for event, names in _expected_events(failing).items()}
    assert calls == expected
    errors = observed.bus.hook_errors
    assert sum(errors.values()) == sum(expected.values())
    assert {name for _, name in errors} == {"first", "last", "async"}
    # the artifacts are complete too
    tracker = result["tracker"]
    assert [step["status"] for step in tracker.to_dict()["steps"]] == ["success"] * 3 + (
        ["failed"] if failing else []
    )


def test_hung_async_hooks_are_reported_and_execute_returns_within_the_timeout(tmp_path: Path) -> None:
    release = threading.Event()
    observed = Observed(tmp_path / "o", bus=EventBus(async_timeout=HUNG_TIMEOUT_S, max_async_workers=2))
    try:
        for event in ("node_complete", "pipeline_complete"):
            observed.bus.register_hook(
                event, lambda payload: release.wait(30), async_execution=True, name="hung"
            )
        started = time.perf_counter()
        result = observed.run(_steps())
        elapsed = time.perf_counter() - started
        assert result["success"]
        # 3 node_complete + 1 pipeline_complete hooks, all still hung: every one reported
        assert sorted(result["pending_hooks"]) == sorted(
            [f"hung on node_complete (run {result['run_id']})"] * 3
            + [f"hung on pipeline_complete (run {result['run_id']})"]
        )
        assert _seen_events(observed, result["run_id"]) == _expected_events(False)
        assert elapsed < HUNG_TIMEOUT_S + 2.0, elapsed  # the wait is bounded by async_timeout
        print(f"\nhung async hooks: execute() returned after {elapsed:.3f} s (timeout {HUNG_TIMEOUT_S} s)")

        # a second run while the first run's hooks still hold every async worker: bounded again
        started = time.perf_counter()
        second = observed.run(_steps())
        assert time.perf_counter() - started < HUNG_TIMEOUT_S + 2.0
        assert second["success"] and len(second["pending_hooks"]) == 4
        assert all(second["run_id"] in item for item in second["pending_hooks"])
        assert _comparable(second) == _comparable(result)
    finally:
        release.set()
        assert observed.bus.wait_for_async(10) == []
        observed.close()


def test_slow_hooks_delay_but_do_not_change_the_run(observed: Observed) -> None:
    gate_calls: list[str] = []

    def slow_sync(payload: dict[str, Any]) -> None:  # busy for 20 ms, on the node's thread
        deadline = time.perf_counter() + 0.02
        while time.perf_counter() < deadline:
            pass
        gate_calls.append(payload["step_name"])

    finished = threading.Event()

    def slow_async(payload: dict[str, Any]) -> None:  # waits on a gate the last node opens
        finished.wait(5)

    observed.bus.register_hook("node_complete", slow_sync, name="slow_sync")
    observed.bus.register_hook("node_start", slow_async, async_execution=True, name="slow_async")
    observed.bus.register_hook("pipeline_complete", lambda payload: finished.set(), name="gate")
    result = observed.run(_steps(), max_workers=2)
    assert result["success"]
    assert result["pending_hooks"] == []  # execute() waited for the slow async hooks
    assert sorted(gate_calls) == ["again", "double", "load"]
    assert _seen_events(observed, result["run_id"]) == _expected_events(False)
    assert observed.bus.hook_errors == {}


# -- span processors of the provider -----------------------------------------------------------


class RaisingProcessor(SpanProcessor):
    """A span processor of the application's provider that raises where it is told to."""

    def __init__(self, *, on_start: bool, on_end: bool) -> None:
        self.raise_on_start = on_start
        self.raise_on_end = on_end
        self.calls = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.calls += 1
        if self.raise_on_start:
            raise RuntimeError("processor on_start bug")

    def on_end(self, span: Any) -> None:
        self.calls += 1
        if self.raise_on_end:
            raise RuntimeError("processor on_end bug")


@pytest.mark.parametrize(
    ("on_start", "on_end"), [(True, False), (False, True), (True, True)], ids=["start", "end", "both"]
)
@pytest.mark.parametrize("workers", [1, 4])
def test_span_processor_raising_leaves_run_spans_and_hooks_intact(
    tmp_path: Path,
    reference: dict[bool, dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    on_start: bool,
    on_end: bool,
    workers: int,
) -> None:
    bad = RaisingProcessor(on_start=on_start, on_end=on_end)
    provider = TracerProvider()
    provider.add_span_processor(bad)  # first in line: the SDK would skip every processor after it
    observed = Observed(tmp_path / "o", tracer_provider=provider)  # the exporters come after it
    observed.bus.register_hook("node_complete", lambda payload: None, name="other")
    before = dict(telemetry_failures())
    try:
        with caplog.at_level(logging.WARNING, logger="odibi_otel"):
            result = observed.run(_steps(failing=True), fail_fast=False, max_workers=workers)
        assert _comparable(result) == reference[True]
        assert bad.calls == 2 * 5  # start and end of 4 node spans and the pipeline span
        spans = observed.node_spans()
        assert sorted(spans) == ["again", "double", "explode", "load"]
        assert spans["explode"].status.status_code is StatusCode.ERROR
        assert observed.pipeline_span().attributes["odibi.pipeline.status"] == "failed"
        assert _seen_events(observed, result["run_id"]) == _expected_events(True)
        assert [s["status"] for s in result["tracker"].to_dict()["steps"]] == ["success"] * 3 + ["failed"]
        failures = telemetry_failures()
        raised = {key: failures[key] - before.get(key, 0) for key in failures}
        assert raised.get("RaisingProcessor.on_start", 0) == (5 if on_start else 0)
        assert raised.get("RaisingProcessor.on_end", 0) == (5 if on_end else 0)
        # each kind of failure is logged the first time it happens in the process, never per span
        logged = [r for r in caplog.records if "RaisingProcessor" in r.getMessage()]
        assert len(logged) <= 2
    finally:
        observed.close()


# -- metric readers and exporters -----------------------------------------------------------------


class RaisingExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.exports = 0

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exports += 1
        raise RuntimeError("metric exporter down")

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        raise RuntimeError("metric exporter flush down")

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        raise RuntimeError("metric exporter shutdown down")


class RaisingReader(MetricReader):
    def _receive_metrics(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        raise RuntimeError("metric reader down")

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        raise RuntimeError("metric reader shutdown down")


@pytest.fixture()
def quiet_sdk_logs() -> Iterator[None]:
    """The SDK logs each failed periodic export; keep that out of the test output."""
    sdk_logger = logging.getLogger("opentelemetry.sdk.metrics._internal.export")
    previous = sdk_logger.disabled
    sdk_logger.disabled = True
    yield
    sdk_logger.disabled = previous


@pytest.mark.usefixtures("quiet_sdk_logs")
def test_raising_metric_readers_and_exporters_leave_the_run_and_the_exposition_intact(
    reference: dict[bool, dict[str, Any]],
) -> None:
    exporter = RaisingExporter()
    periodic = PeriodicExportingMetricReader(exporter, export_interval_millis=5)
    app_provider = MeterProvider(metric_readers=[periodic, RaisingReader()])
    manager = MetricsManager(meter_provider=app_provider)
    bus = EventBus(meter_provider=app_provider)
    seen: list[str] = []
    bus.register_hook("node_complete", lambda payload: seen.append(payload["step_name"]))
    bus.register_hook("node_error", lambda payload: 1 / 0, name="broken")  # feeds the hook counter
    try:
        for _ in range(3):
            result = Orchestrator(
                _steps(failing=True), metrics_manager=manager, event_bus=bus, fail_fast=False
            ).execute()
            assert _comparable(result) == reference[True]
        assert sorted(seen) == sorted(["load", "double", "again"] * 3)
        periodic.collect()  # what its export thread does every 5 ms (the thread may not have run yet)
        assert exporter.exports >= 1  # the exporter really was called, and raised
        text = manager.generate_latest().decode("utf-8")
        assert "odibi_pipeline_runs_total{" in text
        runs = [line for line in text.splitlines() if line.startswith("odibi_pipeline_runs_total{")]
        assert len(runs) == 1 and runs[0].endswith(" 3.0") and 'status="failed"' in runs[0]
        summary = manager.get_summary()
        assert summary["runs"] == 3 and summary["total_nodes"] == 4 and summary["error_count"] == 1
    finally:
        bus.shutdown()
        manager.shutdown()
        with pytest.raises(Exception, match="shutdown"):
            app_provider.shutdown()  # the SDK reports the readers' failures; odibi_otel never calls it


class _RaisingInstrument:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("application instrument down")

        return fail


class _RaisingMeterProvider(metrics_api.MeterProvider):
    """An application meter provider whose every instrument raises when used."""

    def get_meter(
        self, name: str, version: str | None = None, schema_url: str | None = None, *a: Any, **k: Any
    ) -> Any:
        class Meter:
            def __getattr__(self, attribute: str) -> Any:
                return lambda *args, **kwargs: _RaisingInstrument()

        return Meter()


def test_application_meter_provider_raising_keeps_the_managers_own_figures() -> None:
    manager = MetricsManager(meter_provider=_RaisingMeterProvider())
    try:
        result = Orchestrator(_steps(), metrics_manager=manager).execute()
        assert result["success"]  # the run itself is unaffected (listener failures are contained)
        text = manager.generate_latest().decode("utf-8")
        assert 'odibi_node_rows_total{layer="ingest",node="load"' in text  # own registry: fine
        summary = manager.get_summary()
        assert summary["runs"] == 1
        assert sorted(summary["nodes"]) == ["again", "double", "load"]
    finally:
        manager.shutdown()

"""EventBus: events from pipeline/node spans, priorities, payloads, isolation, async hooks, dedupe."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Status, StatusCode

import odibi_otel
from odibi_otel import EventBus, EventPriority, Orchestrator, Step
from odibi_otel.events.bus import EVENTS, HOOK_ERRORS_METRIC
from odibi_otel.lineage._run_registry import forget_run, lookup_tracker, register_run
from odibi_otel.otel import semconv
from odibi_otel.quality import row_count

COMMON_KEYS = {"event_type", "timestamp", "pipeline_name", "run_id", "trace_id", "span_id"}
NODE_KEYS = COMMON_KEYS | {"step_name", "layer", "type"}
EXPECTED_KEYS = {
    "pipeline_start": COMMON_KEYS,
    "node_start": NODE_KEYS,
    "node_complete": NODE_KEYS | {"duration_ms", "row_count", "column_count", "cache_hit", "data_size_bytes"},
    "node_error": NODE_KEYS | {"error_message", "error_type", "duration_ms"},
    "pipeline_complete": COMMON_KEYS
    | {
        "duration_ms",
        "success",
        "nodes_total",
        "nodes_succeeded",
        "nodes_failed",
        "nodes_skipped",
        "tracker",
    },
    "pipeline_error": COMMON_KEYS | {"error_message", "error_type", "duration_ms"},
    "check_failed": NODE_KEYS
    | {"check_name", "check_kind", "severity", "status", "failing_count", "message", "failing_rows"},
    "anomaly_detected": NODE_KEYS | {"kind", "message", "column", "value", "expected"},
}


# ----------------------------------------------------------------------------------- helpers


def make_frame() -> pd.DataFrame:
    return pd.DataFrame({"a": range(5), "b": range(5)})


def double(frame: pd.DataFrame) -> pd.DataFrame:
    return frame * 2


def fail(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("broken input")


def good_steps() -> list[Step]:
    return [
        Step("load", "ingest", "function", make_frame, outputs=["raw"]),
        Step("double", "transform", "function", double, inputs=["raw"], outputs=["doubled"]),
    ]


def failing_steps() -> list[Step]:
    return [
        Step("load", "ingest", "function", make_frame, outputs=["raw"]),
        Step("explode", "transform", "function", fail, inputs=["raw"], outputs=["bad"]),
        Step("after", "publish", "function", double, inputs=["bad"], outputs=["never"]),
    ]


class Recorder:
    """A hook recording payloads (thread-safe), registered for the given events."""

    def __init__(self, bus: EventBus, events: tuple[str, ...] = EVENTS) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        for event in events:
            bus.register_hook(event, self)

    def __call__(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.payloads.append(payload)

    def events(self) -> list[str]:
        return [payload["event_type"] for payload in self.payloads]

    def of(self, event: str) -> list[dict[str, Any]]:
        return [payload for payload in self.payloads if payload["event_type"] == event]


@pytest.fixture
def sdk() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def run(
    steps: list[Step], bus: EventBus | None, provider: trace.TracerProvider, **kwargs: Any
) -> dict[str, Any]:
    return Orchestrator(steps, event_bus=bus, tracer_provider=provider, **kwargs).execute()


def spans_by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


# ------------------------------------------------------------------------------------ events


def test_exported_from_package() -> None:
    assert odibi_otel.EventBus is EventBus
    assert odibi_otel.EventPriority is EventPriority
    assert [p.value for p in EventPriority] == [1, 2, 3, 4]
    assert [p.name for p in EventPriority] == ["CRITICAL", "HIGH", "MEDIUM", "LOW"]


def test_successful_run_fires_start_and_complete_events_in_order(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    recorder = Recorder(bus)
    result = run(good_steps(), bus, provider)
    assert result["success"] and result["pending_hooks"] == []
    assert [(p["event_type"], p.get("step_name")) for p in recorder.payloads] == [
        ("pipeline_start", None),
        ("node_start", "load"),
        ("node_complete", "load"),
        ("node_start", "double"),
        ("node_complete", "double"),
        ("pipeline_complete", None),
    ]


def test_failed_run_fires_error_events_and_nothing_for_skipped_nodes(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    recorder = Recorder(bus)
    result = run(failing_steps(), bus, provider)
    assert not result["success"]
    assert [(p["event_type"], p.get("step_name")) for p in recorder.payloads] == [
        ("pipeline_start", None),
        ("node_start", "load"),
        ("node_complete", "load"),
        ("node_start", "explode"),
        ("node_error", "explode"),
        ("pipeline_error", None),
    ]


def test_payload_keys_per_event(sdk: Any, tmp_path: Path) -> None:
    provider, _ = sdk
    bus = EventBus()
    recorder = Recorder(bus)
    run(good_steps(), bus, provider)
    run(failing_steps(), bus, provider)
    history = tmp_path / "history.sqlite"
    checked = [
        Step(
            "load",
            "ingest",
            "function",
            make_frame,
            outputs=["raw"],
            checks=[row_count(max=2, severity="warn")],
        )
    ]
    run(checked, bus, provider, history=history)
    wider = [Step("load", "ingest", "function", lambda: make_frame().assign(c=1), outputs=["raw"])]
    run(wider, bus, provider, history=history)  # a schema anomaly against the run before
    assert set(recorder.events()) == set(EVENTS)
    for payload in recorder.payloads:
        assert set(payload) == EXPECTED_KEYS[payload["event_type"]], payload["event_type"]


def test_payload_values_come_from_the_spans(sdk: Any) -> None:
    provider, exporter = sdk
    bus = EventBus()
    recorder = Recorder(bus)
    result = run(good_steps(), bus, provider, pipeline_name="daily")
    spans = spans_by_name(exporter)
    pipeline_span, load_span = spans["pipeline daily"], spans["node load"]

    for payload in recorder.payloads:
        assert payload["pipeline_name"] == "daily"
        assert payload["run_id"] == result["run_id"]
        assert payload["trace_id"] == result["trace_id"]
        assert datetime.fromisoformat(payload["timestamp"]).utcoffset().total_seconds() == 0

    start = recorder.of("pipeline_start")[0]
    assert start["span_id"] == result["span_id"]
    assert _ns(start["timestamp"]) == pipeline_span.start_time // 1000

    complete = recorder.of("node_complete")[0]
    attributes = load_span.attributes
    assert complete == {
        "event_type": "node_complete",
        "timestamp": complete["timestamp"],
        "pipeline_name": "daily",
        "run_id": result["run_id"],
        "trace_id": result["trace_id"],
        "span_id": trace.format_span_id(load_span.context.span_id),
        "step_name": "load",
        "layer": "ingest",
        "type": "function",
        "duration_ms": round((load_span.end_time - load_span.start_time) / 1e6, 3),
        "row_count": 5,
        "column_count": 2,
        "cache_hit": False,
        "data_size_bytes": attributes[semconv.NODE_OUTPUT_SIZE_BYTES],
    }
    assert _ns(complete["timestamp"]) == load_span.end_time // 1000

    done = recorder.of("pipeline_complete")[0]
    assert done["success"] is True
    assert done["duration_ms"] == round((pipeline_span.end_time - pipeline_span.start_time) / 1e6, 3)
    assert (done["nodes_total"], done["nodes_succeeded"], done["nodes_failed"], done["nodes_skipped"]) == (
        2,
        2,
        0,
        0,
    )
    assert done["tracker"] is None


def test_error_payloads(sdk: Any) -> None:
    provider, exporter = sdk
    bus = EventBus()
    recorder = Recorder(bus)
    run(failing_steps(), bus, provider)
    node_error = recorder.of("node_error")[0]
    assert node_error["step_name"] == "explode"
    assert node_error["error_type"] == "ValueError"
    assert "broken input" in node_error["error_message"]
    pipeline_error = recorder.of("pipeline_error")[0]
    assert pipeline_error["error_type"] == "ValueError"
    assert "explode" in pipeline_error["error_message"]
    # the time a failing node ran is reported, as for a successful one
    spans = {span.name: span for span in exporter.get_finished_spans()}
    for payload, span_name in (
        (node_error, "node explode"),
        (pipeline_error, next(n for n in spans if n.startswith("pipeline"))),
    ):
        span = spans[span_name]
        assert payload["duration_ms"] == round((span.end_time - span.start_time) / 1e6, 3)


def test_cache_hit_reported(sdk: Any, tmp_path: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    recorder = Recorder(bus, ("node_complete",))
    steps = good_steps()
    run(steps, bus, provider, enable_cache=True, cache_dir=tmp_path)
    run(steps, bus, provider, enable_cache=True, cache_dir=tmp_path)
    assert [p["cache_hit"] for p in recorder.payloads] == [False, False, True, True]


def test_tracker_comes_from_the_run_registry(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    tracker = object()
    bus.register_hook("pipeline_start", lambda payload: register_run(payload["run_id"], tracker))
    recorder = Recorder(bus, ("pipeline_complete",))
    result = run(good_steps(), bus, provider)
    try:
        assert recorder.payloads[0]["tracker"] is tracker
    finally:
        forget_run(result["run_id"])
    assert lookup_tracker(result["run_id"]) is None


def test_pipeline_complete_carries_the_runs_tracker_when_enabled(sdk: Any, tmp_path: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    lineage = tmp_path / "lineage.json"
    trackers: list[Any] = []

    def generate_story_hook(event_data: dict[str, Any]) -> None:  # the seed's auto-story hook
        tracker = event_data.get("tracker")
        trackers.append(tracker)
        if tracker:
            tracker.export_lineage(lineage)

    bus.register_hook("pipeline_complete", generate_story_hook)
    result = run(good_steps(), bus, provider, enable_tracker=True)
    assert result["tracker"] is not None
    assert trackers == [result["tracker"]]
    assert lineage.is_file()
    assert lookup_tracker(result["run_id"]) is None  # forgotten once the run is over


# --------------------------------------------------------------------------- registration


def test_hooks_run_in_priority_order_then_registration_order(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    calls: list[str] = []

    def hook(label: str) -> Any:
        return lambda payload: calls.append(label)

    bus.register_hook("pipeline_start", hook("low"), EventPriority.LOW)
    bus.register_hook("pipeline_start", hook("medium-default"))
    bus.register_hook("pipeline_start", hook("critical-1"), EventPriority.CRITICAL)
    bus.register_hook("pipeline_start", hook("high"), 2)
    bus.register_hook("pipeline_start", hook("critical-2"), EventPriority.CRITICAL)
    bus.register_hook("pipeline_start", hook("medium"), EventPriority.MEDIUM)
    run(good_steps(), bus, provider)
    assert calls == ["critical-1", "critical-2", "high", "medium-default", "medium", "low"]


def test_decorator_registers_and_returns_the_function(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    seen: list[str] = []

    @bus.hook("node_complete", priority=EventPriority.HIGH)
    def on_node(payload: dict[str, Any]) -> None:
        seen.append(payload["step_name"])

    assert callable(on_node) and on_node.__name__ == "on_node"
    assert bus.hook_names("node_complete") == [
        "test_decorator_registers_and_returns_the_function.<locals>.on_node"
    ]
    run(good_steps(), bus, provider)
    assert seen == ["load", "double"]


def test_unregister_hook(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    seen: list[str] = []

    def on_start(payload: dict[str, Any]) -> None:
        seen.append(payload["event_type"])

    bus.register_hook("pipeline_start", on_start)
    bus.register_hook("pipeline_start", on_start, EventPriority.LOW, name="again")
    assert bus.unregister_hook("pipeline_start", on_start) is True
    assert bus.unregister_hook("pipeline_start", on_start) is False
    assert bus.unregister_hook("node_start", on_start) is False
    run(good_steps(), bus, provider)
    assert seen == []


def test_register_rejects_unknown_event_naming_the_valid_ones() -> None:
    bus = EventBus()
    with pytest.raises(ValueError) as caught:
        bus.register_hook("pipeline_finished", print)
    message = str(caught.value)
    assert "pipeline_finished" in message
    for event in EVENTS:
        assert event in message
    with pytest.raises(ValueError, match="valid events"):
        bus.unregister_hook("nope", print)
    with pytest.raises(ValueError, match="valid events"):
        bus.hook("nope")


@pytest.mark.parametrize("priority", [0, 5, "HIGH", 1.5, True, None])
def test_register_rejects_bad_priority(priority: Any) -> None:
    with pytest.raises(ValueError, match="CRITICAL=1"):
        EventBus().register_hook("node_start", print, priority)


def test_register_rejects_non_callable_and_bad_options() -> None:
    bus = EventBus()
    with pytest.raises(TypeError, match="callable"):
        bus.register_hook("node_start", "print")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        bus.register_hook("node_start", print, name="")
    with pytest.raises(ValueError, match="max_async_workers"):
        EventBus(max_async_workers=0)
    with pytest.raises(ValueError, match="async_timeout"):
        EventBus(async_timeout=-1)


# -------------------------------------------------------------------- isolation and copies


def test_raising_hook_is_isolated_logged_once_and_counted(sdk: Any, caplog: pytest.LogCaptureFixture) -> None:
    provider, _ = sdk
    bus = EventBus()
    before: list[str] = []
    after: list[str] = []

    def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("hook bug")

    bus.register_hook("node_complete", lambda p: before.append(p["step_name"]), EventPriority.HIGH)
    bus.register_hook("node_complete", broken, EventPriority.MEDIUM, name="broken_hook")
    bus.register_hook("node_complete", lambda p: after.append(p["step_name"]), EventPriority.LOW)
    with caplog.at_level(logging.WARNING, logger="odibi_otel"):
        result = run(good_steps(), bus, provider)
    assert result["success"]
    assert before == after == ["load", "double"]
    assert bus.hook_errors == {("node_complete", "broken_hook"): 2}
    warnings = [r for r in caplog.records if "broken_hook" in r.getMessage()]
    assert len(warnings) == 1
    assert "node_complete" in warnings[0].getMessage()


def test_hook_error_metric_on_given_meter_provider(sdk: Any) -> None:
    provider, _ = sdk
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    bus = EventBus(meter_provider=meter_provider)

    def broken(payload: dict[str, Any]) -> None:
        raise KeyError("missing")

    bus.register_hook("node_start", broken, name="broken_start")
    bus.register_hook("pipeline_error", broken, name="broken_alert", async_execution=True)
    run(failing_steps(), bus, provider)
    points = {
        tuple(sorted(point.attributes.items())): point.value
        for resource_metrics in reader.get_metrics_data().resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == HOOK_ERRORS_METRIC
        for point in metric.data.data_points
    }
    assert points == {
        (("odibi.hook.event", "node_start"), ("odibi.hook.name", "broken_start")): 2,
        (("odibi.hook.event", "pipeline_error"), ("odibi.hook.name", "broken_alert")): 1,
    }
    meter_provider.shutdown()


def test_each_hook_gets_a_fresh_payload(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    seen: list[dict[str, Any]] = []

    def vandal(payload: dict[str, Any]) -> None:
        payload["step_name"] = "changed"
        payload["extra"] = 1
        del payload["row_count"]

    bus.register_hook("node_complete", vandal, EventPriority.CRITICAL)
    bus.register_hook("node_complete", lambda p: seen.append(dict(p)), EventPriority.LOW)
    run(good_steps(), bus, provider)
    assert [p["step_name"] for p in seen] == ["load", "double"]
    assert all("extra" not in p and p["row_count"] == 5 for p in seen)


# -------------------------------------------------------------------------- concurrency


def fifty_node_steps() -> list[Step]:
    """A 50-node DAG: a source, 48 nodes each reading one or two earlier outputs, a failing leaf."""
    steps = [Step("n00", "ingest", "function", make_frame, outputs=["k00"])]
    for index in range(1, 49):
        parents = sorted({f"k{(index - 1) // 2:02d}", f"k{index // 3:02d}"})
        steps.append(
            Step(
                f"n{index:02d}", "transform", "function", _combine, inputs=parents, outputs=[f"k{index:02d}"]
            )
        )
    steps.append(Step("n49", "publish", "function", fail, inputs=["k48"], outputs=["k49"]))
    return steps


def _combine(*frames: pd.DataFrame) -> pd.DataFrame:
    return frames[0] + len(frames)


@pytest.mark.parametrize("also_on_provider", [False, True])
def test_fifty_node_dag_with_four_workers_fires_once_per_node(sdk: Any, also_on_provider: bool) -> None:
    provider, _ = sdk
    bus = EventBus()
    if also_on_provider:
        provider.add_span_processor(bus)
    recorder = Recorder(bus)
    result = run(fifty_node_steps(), bus, provider, max_workers=4, fail_fast=False)
    assert result["successful_nodes"] == [f"n{i:02d}" for i in range(49)]
    assert result["failed_nodes"] == ["n49"]
    counts = Counter((p["event_type"], p.get("step_name")) for p in recorder.payloads)
    for index in range(50):
        name = f"n{index:02d}"
        assert counts[("node_start", name)] == 1
        ended = counts[("node_complete", name)] + counts[("node_error", name)]
        assert ended == 1, name
    assert counts[("node_error", "n49")] == 1
    assert counts[("pipeline_start", None)] == counts[("pipeline_error", None)] == 1
    assert len(recorder.payloads) == 102


# -------------------------------------------------------------------------------- async


class GatedBus(EventBus):
    """Opens ``gate`` only once execute() starts waiting, proving the wait is what lets hooks finish."""

    def __init__(self, gate: threading.Event, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate

    def wait_for_async(self, timeout: float | None = None, *, run_id: str | None = None) -> list[str]:
        self.gate.set()
        return super().wait_for_async(timeout, run_id=run_id)


def test_async_hooks_complete_before_execute_returns(sdk: Any) -> None:
    provider, _ = sdk
    gate = threading.Event()
    bus = GatedBus(gate, async_timeout=10.0)
    finished: list[tuple[str, str | None]] = []
    pipeline_thread = threading.current_thread().name

    def slow_hook(payload: dict[str, Any]) -> None:
        assert gate.wait(10), "execute() never waited for async hooks"
        finished.append((threading.current_thread().name, payload.get("step_name")))

    for event in ("node_complete", "pipeline_complete"):
        bus.register_hook(event, slow_hook, async_execution=True)
    result = run(good_steps(), bus, provider)
    assert result["pending_hooks"] == []
    assert sorted(step or "" for _, step in finished) == ["", "double", "load"]
    assert all(name.startswith("odibi-hook") and name != pipeline_thread for name, _ in finished)


def test_async_hook_still_running_at_timeout_is_reported_not_awaited(
    sdk: Any, caplog: pytest.LogCaptureFixture
) -> None:
    provider, _ = sdk
    release = threading.Event()
    done = threading.Event()
    bus = EventBus(async_timeout=0.05)

    def stuck(payload: dict[str, Any]) -> None:
        release.wait(10)
        done.set()

    bus.register_hook("pipeline_complete", stuck, async_execution=True, name="stuck_hook")
    try:
        with caplog.at_level(logging.WARNING, logger="odibi_otel"):
            result = run(good_steps(), bus, provider)
        assert result["success"]
        assert result["pending_hooks"] == [f"stuck_hook on pipeline_complete (run {result['run_id']})"]
        assert any("stuck_hook" in r.getMessage() for r in caplog.records)
        assert not done.is_set()
    finally:
        release.set()
    assert bus.wait_for_async(10) == []
    assert done.is_set()
    assert bus.force_flush(1000) is True


def test_wait_for_async_only_waits_for_the_given_run() -> None:
    release = threading.Event()
    bus = EventBus()
    bus.register_hook("pipeline_start", lambda payload: release.wait(10), async_execution=True, name="w")
    span = _pipeline_snapshot("run-a")
    bus.on_start(span)
    try:
        assert bus.wait_for_async(0, run_id="run-b") == []
        assert bus.wait_for_async(0, run_id="run-a") == ["w on pipeline_start (run run-a)"]
    finally:
        release.set()
    assert bus.wait_for_async(10) == []


def test_shutdown_waits_for_async_hooks_then_ignores_events() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.register_hook("pipeline_start", lambda p: seen.append(p["run_id"]), async_execution=True)
    bus.on_start(_pipeline_snapshot("r1"))
    bus.shutdown()
    assert seen == ["r1"]
    bus.on_start(_pipeline_snapshot("r2"))
    assert seen == ["r1"]


# ------------------------------------------------------------- providers, sampling, dedupe


def test_bus_on_a_foreign_provider_ignores_foreign_spans(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    provider.add_span_processor(bus)
    recorder = Recorder(bus)
    app_tracer = provider.get_tracer("my.app")
    with app_tracer.start_as_current_span("GET /orders"):
        pass
    with app_tracer.start_as_current_span("pipeline nightly"):  # right prefix, not ours
        pass
    fake_attributes = {semconv.RUN_ID: "x", semconv.NODE_NAME: "n", semconv.PIPELINE_NAME: "p"}
    with app_tracer.start_as_current_span("node n", attributes=fake_attributes):  # another scope
        pass
    assert recorder.payloads == []

    with app_tracer.start_as_current_span("job") as job:  # the pipeline runs inside an app span
        result = run(good_steps(), None, provider)
    assert result["success"]
    assert recorder.events() == [
        "pipeline_start",
        "node_start",
        "node_complete",
        "node_start",
        "node_complete",
        "pipeline_complete",
    ]
    job_trace_id = trace.format_trace_id(job.get_span_context().trace_id)
    assert {p["trace_id"] for p in recorder.payloads} == {job_trace_id}


def test_bus_passed_and_added_fires_each_event_once(sdk: Any) -> None:
    provider, _ = sdk
    bus = EventBus()
    provider.add_span_processor(bus)
    recorder = Recorder(bus)
    run(good_steps(), bus, provider)
    run(failing_steps(), bus, provider)
    assert Counter(recorder.events()) == {
        "pipeline_start": 2,
        "pipeline_complete": 1,
        "pipeline_error": 1,
        "node_start": 4,
        "node_complete": 3,
        "node_error": 1,
    }


def test_events_fire_when_tracing_is_sampled_out() -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    bus = EventBus()
    provider.add_span_processor(bus)  # sees nothing: sampled-out spans skip processors
    recorder = Recorder(bus)
    result = run(good_steps(), bus, provider)
    assert len(recorder.payloads) == 6
    complete = recorder.of("node_complete")[0]
    assert complete["row_count"] == 5 and complete["duration_ms"] >= 0
    assert recorder.payloads[0]["trace_id"] == result["trace_id"] != "0" * 32


def test_events_fire_once_per_span_with_a_no_op_provider() -> None:
    bus = EventBus()
    recorder = Recorder(bus)
    result = run(good_steps(), bus, trace.NoOpTracerProvider())
    assert result["success"]
    assert [(p["event_type"], p.get("step_name")) for p in recorder.payloads] == [
        ("pipeline_start", None),
        ("node_start", "load"),
        ("node_complete", "load"),
        ("node_start", "double"),
        ("node_complete", "double"),
        ("pipeline_complete", None),
    ]


def test_listener_never_raises_on_malformed_spans() -> None:
    bus = EventBus()
    Recorder(bus)

    class Weird:
        name = "node x"
        attributes: ClassVar[dict[str, str]] = {semconv.RUN_ID: "r", semconv.NODE_NAME: "x"}

        @property
        def status(self) -> Status:
            raise RuntimeError("no status")

    bus.on_start(Weird())
    bus.on_end(Weird())  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ helpers


def _ns(timestamp: str) -> int:
    moment = datetime.fromisoformat(timestamp)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _pipeline_snapshot(run_id: str) -> ReadableSpan:
    context = trace.SpanContext(trace_id=1, span_id=abs(hash(run_id)) % (1 << 63) + 1, is_remote=False)
    return ReadableSpan(
        name="pipeline p",
        context=context,
        attributes={semconv.RUN_ID: run_id, semconv.PIPELINE_NAME: "p"},
        status=Status(StatusCode.UNSET),
        start_time=1_700_000_000_000_000_000,
    )

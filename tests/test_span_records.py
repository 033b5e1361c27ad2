"""One record per span: what the orchestrator hands its listeners, and how a span reaching a
listener twice (orchestrator and provider) is handled without per-span duplicate checks."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry.trace import StatusCode

from odibi_otel import EventBus, MetricsManager, Orchestrator, Step
from odibi_otel.engines import _pandas_size
from odibi_otel.engines._pandas_describe import head_values
from odibi_otel.engines._pandas_size import estimate_frame_bytes
from odibi_otel.metrics._observed_values import NODE_COLUMNS, SeriesTable, series_key
from odibi_otel.otel import _span_listeners, semconv
from odibi_otel.otel._span_listeners import SpanRecord

if TYPE_CHECKING:
    from tests.conftest import Tracing


def make_frame() -> pd.DataFrame:
    return pd.DataFrame({"a": range(5), "b": [f"x{i}" for i in range(5)]})


def double(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(a=frame["a"] * 2)


def fail(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("bad rows")


def interrupt(frame: pd.DataFrame) -> pd.DataFrame:
    raise KeyboardInterrupt


def steps(last: Any = double) -> list[Step]:
    return [
        Step("load", "ingest", "function", make_frame, outputs=["raw"]),
        Step("double", "transform", "function", last, inputs=["raw"], outputs=["doubled"]),
    ]


class RecordingListener:
    """A span listener (the SpanProcessor shape) keeping what it was handed, and when."""

    def __init__(self) -> None:
        self.started: list[tuple[Any, int | None, dict[str, Any]]] = []
        self.ended: list[Any] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started.append((span, span.end_time, dict(span.attributes)))

    def on_end(self, span: Any) -> None:
        self.ended.append(span)


def test_each_span_is_one_record_handed_to_every_listener_at_start_and_end(tracing: Tracing) -> None:
    tracer_provider, exporter = tracing.provider, tracing.exporter
    listener = RecordingListener()
    result = Orchestrator(steps(), event_bus=listener, tracer_provider=tracer_provider).execute()
    assert result["success"]
    started = [span for span, _, _ in listener.started]
    assert [span.name for span in started] == ["pipeline pipeline", "node load", "node double"]
    assert all(type(span) is SpanRecord for span in started)
    # the very same objects end: no second snapshot
    assert sorted(map(id, started)) == sorted(map(id, listener.ended))
    for _span, end_time, attributes in listener.started:
        assert end_time is None  # not ended yet when handed to on_start
        assert semconv.RUN_ID in attributes
    node = next(span for span in listener.ended if span.name == "node double")
    exported = {span.name: span for span in exporter.get_finished_spans()}["node double"]
    assert node.context.span_id == exported.context.span_id
    assert (node.start_time, node.end_time) == (exported.start_time, exported.end_time)
    as_recorded = {k: tuple(v) if isinstance(v, list) else v for k, v in node.attributes.items()}
    assert as_recorded == dict(exported.attributes or {})
    assert node.links[0].context.span_id == exported.links[0].context.span_id


def test_a_failed_node_record_carries_the_error_status(tracing: Tracing) -> None:
    tracer_provider = tracing.provider
    listener = RecordingListener()
    result = Orchestrator(steps(fail), event_bus=listener, tracer_provider=tracer_provider).execute()
    assert not result["success"]
    node = next(span for span in listener.ended if span.name == "node double")
    assert node.status.status_code is StatusCode.ERROR
    assert node.attributes[semconv.ERROR_TYPE] == "ValueError"


@pytest.mark.parametrize("last", [double, fail, interrupt])
def test_runs_delivered_directly_are_forgotten_when_the_run_ends(tracing: Tracing, last: Any) -> None:
    tracer_provider = tracing.provider
    bus = EventBus()
    tracer_provider.add_span_processor(bus)
    orchestrator = Orchestrator(steps(last), event_bus=bus, tracer_provider=tracer_provider)
    if last is interrupt:
        with pytest.raises(KeyboardInterrupt):
            orchestrator.execute()
    else:
        orchestrator.execute()
    assert not _span_listeners._DIRECT


def test_a_bus_only_on_the_provider_fires_after_a_run_that_passed_it_too(tracing: Tracing) -> None:
    tracer_provider = tracing.provider
    bus = EventBus()
    tracer_provider.add_span_processor(bus)
    seen: list[str] = []
    bus.register_hook("node_complete", lambda payload: seen.append(payload["run_id"]))
    first = Orchestrator(steps(), event_bus=bus, tracer_provider=tracer_provider).execute()
    second = Orchestrator(steps(), tracer_provider=tracer_provider).execute()  # only the provider
    assert seen == [first["run_id"]] * 2 + [second["run_id"]] * 2


def test_a_manager_passed_and_added_counts_each_node_once(tracing: Tracing) -> None:
    tracer_provider = tracing.provider
    manager = MetricsManager()
    tracer_provider.add_span_processor(manager)
    for _ in range(3):
        Orchestrator(steps(), metrics_manager=manager, tracer_provider=tracer_provider).execute()
    exposition = manager.generate_latest().decode()
    line = next(
        text
        for text in exposition.splitlines()
        if text.startswith("odibi_node_duration_seconds_count") and 'node="double"' in text
    )
    assert line.endswith(" 3.0")  # three runs, each node counted once
    manager.shutdown()


def test_hooks_before_the_last_get_copies_and_none_sees_another_hooks_changes(tracing: Tracing) -> None:
    tracer_provider = tracing.provider
    bus = EventBus()
    seen: list[dict[str, Any]] = []
    payloads: list[int] = []

    def vandal(payload: dict[str, Any]) -> None:
        payloads.append(id(payload))
        seen.append(dict(payload))
        payload.clear()

    for _ in range(3):
        bus.register_hook("node_start", vandal)
    Orchestrator(steps(), event_bus=bus, tracer_provider=tracer_provider).execute()
    assert len(seen) == 6 and all(payload["event_type"] == "node_start" for payload in seen)
    assert len(set(payloads[:3])) == 3  # three different dicts for one event


# -- the node row of the asynchronous instruments ------------------------------------------------


def test_a_node_row_is_written_at_once_and_failures_keep_the_rows_total() -> None:
    table = SeriesTable(NODE_COLUMNS)
    labels = {"pipeline": "p", "node": "n", "layer": "l"}
    key = series_key({"node": "n", "layer": "l", "pipeline": "p"})  # any key order
    table.node_ended(key, labels, seconds=0.5, memory=100, rows=10, size=80, throughput=20.0)
    table.node_ended(key, labels, seconds=0.25, memory=120, rows=None, size=0, throughput=None)
    table.node_ended(key, labels, seconds=0.1, memory=130, rows=4, size=40, throughput=None)  # cache hit

    def value(column: str) -> float:
        (observation,) = table.observe(NODE_COLUMNS.index(column))
        assert dict(observation.attributes or {}) == labels
        return observation.value

    assert value("rows") == 14  # the failure added nothing
    assert value("last_rows") == 4 and value("last_status") == 1
    assert value("throughput") == 20.0  # a cache hit says nothing about the node's speed
    assert value("memory") == 130 and value("last_duration") == 0.1 and value("data_size") == 40


def test_a_failed_first_run_has_no_rows_series_yet() -> None:
    table = SeriesTable(NODE_COLUMNS)
    labels = {"node": "n"}
    table.node_ended(series_key(labels), labels, seconds=1.0, memory=1, rows=None, size=0, throughput=None)
    assert table.observe(NODE_COLUMNS.index("rows")) == []
    assert [o.value for o in table.observe(NODE_COLUMNS.index("last_status"))] == [0]


# -- Arrow columns: sizes measured once per array, samples read from Arrow -----------------------


def arrow_frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"name": pd.array([f"customer-{i}" for i in range(rows)], dtype="string[pyarrow]")})


def test_arrow_sizes_match_pandas_for_whole_arrays_and_slices() -> None:
    frame = arrow_frame(10_000)
    head = frame.head(10)  # a slice sharing the whole array's buffers
    for part in (frame, head, frame.iloc[5000:5100], frame.copy()):
        assert estimate_frame_bytes(part) == int(part.memory_usage(deep=True).sum())
    assert estimate_frame_bytes(head) < estimate_frame_bytes(frame) / 100


def test_an_arrow_arrays_size_is_forgotten_with_the_array() -> None:
    frame = arrow_frame(100)
    estimate_frame_bytes(frame)
    key = id(frame["name"].array._pa_array)
    assert key in _pandas_size._ARROW_BYTES
    del frame
    gc.collect()
    assert key not in _pandas_size._ARROW_BYTES


def test_arrow_text_samples_read_like_pandas_converts_them() -> None:
    frame = pd.DataFrame(
        {
            "text": pd.array(["a", None, "c"], dtype="string[pyarrow]"),
            "default": pd.Series(["x", None, "z"], dtype="str"),
            "number": [1.5, np.nan, 3.0],
        }
    )
    values = head_values(frame, 2)
    assert values.shape == (2, 3)
    assert list(values[0]) == ["a", "x", 1.5]
    assert values[1][0] is pd.NA  # each column's own missing value, as pandas converts it
    assert np.isnan(values[1][1]) and np.isnan(values[1][2])

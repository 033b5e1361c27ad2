"""The MetricsManager records node spans in batches when only its own provider reads them.

Whatever reads the manager's figures (summary, exposition, registry, files, ``force_flush``) must
see every node that ended before the read, in the order measurements were made; an
application's meter provider must get each node's measurements when the node ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.parser import text_string_to_metric_families

from odibi_otel import EventBus, MetricsManager, MetricType, Orchestrator, Step
from odibi_otel._internal.safety import telemetry_failures
from odibi_otel.metrics import _recording as metrics_module
from odibi_otel.otel import semconv

if TYPE_CHECKING:
    from tests.conftest import Tracing

NODES = 5


def source() -> pd.DataFrame:
    return pd.DataFrame({"n": range(10)})


def grow(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.head(1)], ignore_index=True)


def chain_steps() -> list[Step]:
    steps = [Step("n0", "ingest", "function", source, outputs=["d0"])]
    steps += [
        Step(f"n{i}", "transform", "function", grow, inputs=[f"d{i - 1}"], outputs=[f"d{i}"])
        for i in range(1, NODES)
    ]
    return steps


def rows_by_node(text: str) -> dict[str, float]:
    return {
        sample.labels["node"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "odibi_node_rows_total"
    }


@pytest.fixture()
def tracer_provider(tracing: Tracing) -> TracerProvider:
    return tracing.provider


@pytest.fixture()
def own_manager() -> Iterator[MetricsManager]:
    with MetricsManager() as manager:
        yield manager


def run_with_hook(manager: MetricsManager, hook: Any, provider: TracerProvider) -> dict[str, Any]:
    bus = EventBus()
    bus.register_hook("node_complete", hook)
    return Orchestrator(
        chain_steps(), metrics_manager=manager, event_bus=bus, pipeline_name="batch", tracer_provider=provider
    ).execute()


def test_every_read_during_a_run_sees_the_nodes_ended_so_far(
    own_manager: MetricsManager, tracer_provider: TracerProvider
) -> None:
    seen: list[tuple[str, list[str], dict[str, float], dict[str, float]]] = []

    def hook(payload: dict[str, Any]) -> None:
        summary = own_manager.get_summary()
        text = own_manager.exposition().decode()
        registry = {
            sample.labels["node"]: sample.value
            for family in own_manager.registry.collect()
            for sample in family.samples
            if sample.name == "odibi_node_rows_total"
        }
        seen.append((payload["step_name"], sorted(summary["nodes"]), rows_by_node(text), registry))

    assert run_with_hook(own_manager, hook, tracer_provider)["success"]
    assert [step for step, *_ in seen] == [f"n{i}" for i in range(NODES)]
    for index, (step, summary_nodes, exposed, registry) in enumerate(seen):
        ended = [f"n{i}" for i in range(index + 1)]
        assert summary_nodes == ended, step
        assert sorted(exposed) == ended, step
        assert exposed == registry
        assert exposed[step] == 10 + index  # each node adds one row


def test_force_flush_records_what_is_pending(
    own_manager: MetricsManager, tracer_provider: TracerProvider
) -> None:
    flushed: list[list[str]] = []

    def hook(payload: dict[str, Any]) -> None:
        pending_before = len(own_manager._recording.pending)
        assert own_manager.force_flush()
        flushed.append([str(pending_before), *sorted(own_manager._recording.nodes)])

    run_with_hook(own_manager, hook, tracer_provider)
    assert flushed[0] == ["1", "n0"]  # the node was waiting in the batch, then recorded
    assert flushed[-1][1:] == [f"n{i}" for i in range(NODES)]


def test_seed_api_measurements_land_after_the_nodes_that_ended_before_them(
    own_manager: MetricsManager, tracer_provider: TracerProvider
) -> None:
    def hook(payload: dict[str, Any]) -> None:
        own_manager.record(MetricType.ROW_COUNT, payload["step_name"], 1000)

    run_with_hook(own_manager, hook, tracer_provider)
    nodes = own_manager.get_summary()["nodes"]
    assert {name: figures["row_count"] for name, figures in nodes.items()} == {
        f"n{i}": 1000 for i in range(NODES)
    }


def test_an_application_provider_gets_each_node_when_it_ends(tracer_provider: TracerProvider) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    recorded: list[int] = []

    def hook(payload: dict[str, Any]) -> None:
        data = reader.get_metrics_data()
        assert data is not None
        durations = [
            metric
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == semconv.METRIC_NODE_DURATION
        ]
        recorded.append(sum(point.count for point in durations[0].data.data_points))

    with MetricsManager(meter_provider=provider) as manager:
        run_with_hook(manager, hook, tracer_provider)
        assert not manager._recording.pending
    provider.shutdown()
    assert recorded == list(range(1, NODES + 1))


def test_memory_is_read_when_the_node_ends_not_when_it_is_recorded(
    own_manager: MetricsManager, tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = iter(range(1, 1000))
    monkeypatch.setattr(metrics_module, "recent_resident_memory_bytes", lambda: next(readings) * 2**20)
    run_with_hook(own_manager, lambda payload: None, tracer_provider)
    memory = {name: figures["memory_mb"] for name, figures in own_manager.get_summary()["nodes"].items()}
    assert memory == {f"n{i}": float(i + 1) for i in range(NODES)}


def test_a_full_batch_is_recorded_without_a_read(
    own_manager: MetricsManager, tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_module, "_PENDING_BATCH", 2)
    pending: list[int] = []
    run_with_hook(
        own_manager, lambda payload: pending.append(len(own_manager._recording.pending)), tracer_provider
    )
    assert pending == [1, 0, 1, 0, 1]


def test_a_span_that_cannot_be_recorded_does_not_lose_the_rest_of_its_batch(
    own_manager: MetricsManager, tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = own_manager._recording._record_node

    def flaky(ended: Any) -> None:
        if ended.labels.node == "n2":
            raise RuntimeError("broken measurement")
        original(ended)

    monkeypatch.setattr(own_manager._recording, "_record_node", flaky)
    before = telemetry_failures().get("MetricsManager.on_end", 0)
    assert run_with_hook(own_manager, lambda payload: None, tracer_provider)["success"]
    assert sorted(own_manager.get_summary()["nodes"]) == ["n0", "n1", "n3", "n4"]
    assert telemetry_failures().get("MetricsManager.on_end", 0) == before + 1

"""ObservedValues: the per-series store behind odibi_otel's asynchronous instruments."""

from __future__ import annotations

import threading

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from odibi_otel.metrics._observed_values import ObservedValues


def points(values: ObservedValues) -> dict[frozenset[tuple[str, str]], float]:
    return {frozenset(o.attributes.items()): o.value for o in values.observe()}


def test_gauge_keeps_the_latest_value_per_label_set_in_any_key_order() -> None:
    gauge = ObservedValues()
    gauge.set(1.5, {"node": "a", "pipeline": "p"})
    gauge.set(2.5, {"pipeline": "p", "node": "a"})  # the same series
    gauge.set(7, {"node": "b", "pipeline": "p"})
    assert points(gauge) == {
        frozenset({("node", "a"), ("pipeline", "p")}): 2.5,
        frozenset({("node", "b"), ("pipeline", "p")}): 7,
    }


def test_counter_accumulates_and_never_decreases() -> None:
    counter = ObservedValues()
    counter.add(3, {"node": "a"})
    counter.add(4, {"node": "a"})
    counter.add(-10, {"node": "a"})  # ignored, as Counter.add ignores it
    assert points(counter) == {frozenset({("node", "a")}): 7}


def test_concurrent_adds_lose_nothing() -> None:
    counter = ObservedValues()

    def add_many() -> None:
        for _ in range(5_000):
            counter.add(1, {"node": "a"})

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert points(counter) == {frozenset({("node", "a")}): 20_000}


def test_sdk_reads_them_as_a_gauge_and_a_monotonic_sum() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("t")
    gauge, counter = ObservedValues(), ObservedValues()
    meter.create_observable_gauge("g", callbacks=[gauge.observe])
    meter.create_observable_counter("c", callbacks=[counter.observe])
    gauge.set(5, {"node": "a"})
    counter.add(2, {"node": "a"})
    counter.add(3, {"node": "a"})
    data = reader.get_metrics_data()
    assert data is not None
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}

    def values(name: str) -> list[tuple[dict[str, object], float]]:
        return [(dict(p.attributes or {}), p.value) for p in metrics[name].data.data_points]

    assert values("g") == [({"node": "a"}, 5)]
    assert metrics["c"].data.is_monotonic
    assert values("c") == [({"node": "a"}, 5)]
    provider.shutdown()


def test_non_finite_values_are_left_out_not_warned_about_at_each_collection() -> None:
    gauge = ObservedValues()
    gauge.set(float("nan"), {"node": "a"})
    gauge.set(float("inf"), {"node": "b"})
    gauge.set(3.0, {"node": "c"})
    assert points(gauge) == {frozenset({("node", "c")}): 3.0}

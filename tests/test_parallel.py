"""Parallel runs: a 50-node DAG on 4 workers stays one trace, nodes overlap, no level barrier."""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

import pandas as pd

from odibi_otel import Orchestrator, Step

if TYPE_CHECKING:
    from tests.conftest import Tracing

WORKERS = 4
NODES = 50


class Concurrency:
    """Counts nodes running at once and the threads they ran on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.threads: set[str] = set()

    def __enter__(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.current_thread().name)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.running -= 1


def _build_dag(
    concurrency: Concurrency, barrier: threading.Barrier
) -> tuple[list[Step], dict[str, list[str]]]:
    """4 roots that must all be running at once (a barrier), then 46 nodes on 1-3 earlier nodes."""
    rng = random.Random(20240501)
    parents: dict[str, list[str]] = {}
    steps: list[Step] = []
    for index in range(NODES):
        name = f"n{index:02d}"
        if index < WORKERS:
            parents[name] = []
        else:
            parents[name] = sorted(rng.sample([f"n{i:02d}" for i in range(index)], rng.randint(1, 3)))

        def run(*frames: pd.DataFrame, _index: int = index) -> pd.DataFrame:
            with concurrency:
                if not frames:
                    barrier.wait(timeout=10)  # raises BrokenBarrierError unless all 4 roots overlap
                total = sum(int(frame["v"].iloc[0]) for frame in frames)
                return pd.DataFrame({"v": [total + _index]})

        steps.append(Step(name, "transform", "function", run, inputs=parents[name], outputs=[name]))
    rng.shuffle(steps)  # list order must not matter
    return steps, parents


def _expected_values(parents: dict[str, list[str]]) -> dict[str, int]:
    values: dict[str, int] = {}
    for index in range(NODES):
        name = f"n{index:02d}"
        values[name] = sum(values[parent] for parent in parents[name]) + index
    return values


def test_fifty_node_dag_on_four_workers_is_one_trace(tracing: Tracing) -> None:
    concurrency = Concurrency()
    barrier = threading.Barrier(WORKERS)
    steps, parents = _build_dag(concurrency, barrier)

    result = Orchestrator(
        steps, max_workers=WORKERS, pipeline_name="wide", tracer_provider=tracing.provider
    ).execute()

    assert result["success"] is True, result["errors"]
    assert result["nodes_executed"] == NODES
    assert len(result["successful_nodes"]) == NODES
    expected = _expected_values(parents)
    assert {name: int(frame["v"].iloc[0]) for name, frame in result["outputs"].items()} == expected

    spans = tracing.spans()
    assert len(spans) == NODES + 1
    pipeline = tracing.pipeline_span()
    nodes = tracing.node_spans()
    assert len(nodes) == NODES
    assert {span.context.trace_id for span in spans} == {pipeline.context.trace_id}
    assert f"{pipeline.context.trace_id:032x}" == result["trace_id"]
    for span in nodes.values():
        assert span.parent is not None
        assert span.parent.span_id == pipeline.context.span_id
        assert span.parent.trace_id == pipeline.context.trace_id
        assert pipeline.start_time <= span.start_time <= span.end_time <= pipeline.end_time

    span_ids = {span.context.span_id: name for name, span in nodes.items()}
    for name, span in nodes.items():
        linked = sorted(span_ids[link.context.span_id] for link in span.links)
        assert linked == parents[name], name
        for link in span.links:
            assert tuple(link.attributes["odibi.link.data_keys"]) == (span_ids[link.context.span_id],)
        for parent in parents[name]:
            assert nodes[parent].end_time <= span.start_time  # inputs ready before a node starts

    assert concurrency.peak == WORKERS
    assert len(concurrency.threads) == WORKERS
    assert all(thread.startswith("odibi-node") for thread in concurrency.threads)
    roots = [nodes[f"n{i:02d}"] for i in range(WORKERS)]
    assert max(span.start_time for span in roots) < min(span.end_time for span in roots)  # all overlapped


def test_no_level_barrier_a_node_starts_when_its_own_inputs_are_ready(tracing: Tracing) -> None:
    """``slow`` (level 0) waits for ``fast_child`` (level 1) to start: deadlock-free only without barrier."""
    child_started = threading.Event()
    observed: list[bool] = []

    def slow() -> pd.DataFrame:
        observed.append(child_started.wait(timeout=10))
        return pd.DataFrame({"v": [1]})

    def fast() -> pd.DataFrame:
        return pd.DataFrame({"v": [2]})

    def fast_child(frame: pd.DataFrame) -> pd.DataFrame:
        child_started.set()
        return frame

    steps = [
        Step("slow", "ingest", "function", slow, outputs=["s"]),
        Step("fast", "ingest", "function", fast, outputs=["f"]),
        Step("fast_child", "transform", "function", fast_child, inputs=["f"], outputs=["fc"]),
        Step("join", "transform", "function", lambda s, fc: s + fc, inputs=["s", "fc"], outputs=["j"]),
    ]
    result = Orchestrator(steps, max_workers=2, tracer_provider=tracing.provider).execute()

    assert observed == [True]
    assert result["success"] is True
    assert result["outputs"]["j"]["v"].tolist() == [3]
    nodes = tracing.node_spans()
    assert nodes["fast_child"].start_time < nodes["slow"].end_time
    assert nodes["join"].start_time >= max(nodes["slow"].end_time, nodes["fast_child"].end_time)


def test_parallel_results_match_sequential_results(tracing: Tracing) -> None:
    parallel_steps, _ = _build_dag(Concurrency(), threading.Barrier(WORKERS))
    parallel = Orchestrator(parallel_steps, max_workers=WORKERS, tracer_provider=tracing.provider).execute()
    # one worker runs the roots one at a time: a barrier of one lets each pass
    sequential_steps, _ = _build_dag(Concurrency(), threading.Barrier(1))
    sequential = Orchestrator(sequential_steps, max_workers=1, tracer_provider=tracing.provider).execute()

    assert parallel["success"] is True, parallel["errors"]
    assert sequential["success"] is True, sequential["errors"]
    assert set(parallel["outputs"]) == set(sequential["outputs"])
    for key, frame in parallel["outputs"].items():
        pd.testing.assert_frame_equal(frame, sequential["outputs"][key])
    assert sequential["successful_nodes"] == parallel["successful_nodes"]
    assert len({span.context.trace_id for span in tracing.spans()}) == 2

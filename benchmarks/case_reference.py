"""Case 1: the reference pipeline, bare pandas functions vs odibi_otel with everything on.

Everything on: spans through a ``BatchSpanProcessor`` and lineage log events through a
``BatchLogRecordProcessor`` into an OTLP/JSON lines file, a MetricsManager, an EventBus with a
no-op hook for every event, and the tracker with samples. The instrumented time includes
flushing both processors (the export work is part of the cost); emptying the file between runs
is not timed. Run twice: with pandas' default string dtype and with ``object`` string columns.

A third variant adds the run history (docs/history.md) to everything-on, default string dtype: a
column profile of every node's output, anomaly detection against the earlier runs and one SQLite
transaction per run, all inside the timed run.

Judged: the median of the paired ratios, and, as a cross-check that noise on a shared machine
cannot pass (or fail) on its own, the fastest instrumented run over the fastest bare run. Full
mode uses at least 25 pairs here: the effect to resolve (1%) is smaller than a single run's
noise on a shared 2-core machine (about ±20%).

Also reported, nearly free of that noise: odibi_otel's own time in each instrumented run, i.e.
the run's wall time (flush included) minus the time spent inside the nodes' work (pandas reading,
computing, writing: timed by wrapping ``_node_execution._do_work``, which does exactly the work
the bare functions do), over the bare run. It leaves out indirect costs (caches, allocator) that
the paired ratio includes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import reference_pipeline as pipeline
from benchmarks.common import CaseResult, Measurement, Settings, Telemetry, everything_on, interleaved, ratios

TARGET_RATIO = 1.01
MIN_PAIRS = 25


@contextmanager
def timed_node_work(spent: list[float]) -> Iterator[None]:
    """Add the wall time of every node's work (``_node_execution._do_work``) to ``spent[0]``."""
    from odibi_otel.pipeline import _node_execution as node_execution

    original: Callable[..., Any] = node_execution._do_work

    def timed(*args: Any, **kwargs: Any) -> Any:
        begin = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - begin

    node_execution._do_work = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        node_execution._do_work = original  # type: ignore[assignment]


def sizes(settings: Settings) -> tuple[int, int]:
    return (20_000, 1_000) if settings.quick else (1_000_000, 10_000)


def data_folder(settings: Settings) -> Path:
    orders, customers = sizes(settings)
    folder = settings.workdir / f"reference-{orders}"
    pipeline.generate(folder, orders, customers)
    return folder


def run(settings: Settings) -> CaseResult:
    orders, customers = sizes(settings)
    result = CaseResult(
        1,
        f"Reference pipeline: {orders:,} orders + {customers:,} customers, 8 nodes "
        "(read CSV x2, filter, join, add columns, group-by, sort, write parquet)",
    )
    folder = data_folder(settings)
    rounds = settings.pairs if settings.quick else max(settings.pairs, MIN_PAIRS)
    result.facts["pairs per variant"] = rounds
    for strings, with_history in (("default", False), ("object", False), ("default", True)):
        variant = f"{strings}-history" if with_history else strings
        telemetry = Telemetry(settings.workdir / f"case1-{variant}.otlp.jsonl")
        out_bare = settings.workdir / f"case1-{variant}-bare.parquet"
        out_odibi = settings.workdir / f"case1-{variant}-odibi.parquet"
        history = None
        if with_history:  # a fresh SQLite history: each run profiles, compares and writes a record
            (settings.workdir / "case1-history.sqlite").unlink(missing_ok=True)
            history = settings.workdir / "case1-history.sqlite"
        orchestrator = everything_on(pipeline.steps(folder, strings, out_odibi), telemetry, history=history)

        def bare(strings: str = strings, out: Path = out_bare) -> Any:
            return pipeline.run_bare(folder, strings, out)

        flush_times: list[float] = []
        own_times: list[float] = []

        def instrumented(
            orchestrator: Any = orchestrator,
            telemetry: Telemetry = telemetry,
            split: list[float] = flush_times,
            own: list[float] = own_times,
        ) -> Any:
            work = [0.0]
            begin = time.perf_counter()
            with timed_node_work(work):
                outcome = orchestrator.execute()
            flush_begin = time.perf_counter()
            telemetry.flush()
            end = time.perf_counter()
            split.append(end - flush_begin)
            own.append(end - begin - work[0])
            if not outcome["success"]:
                raise RuntimeError(f"reference pipeline failed: {outcome['errors']}")
            return outcome

        # one warm-up run of each (imports, caches, page faults), not measured
        bare()
        instrumented()
        telemetry.reset()
        flush_times.clear()
        own_times.clear()
        times = interleaved({"bare": bare, "odibi": (instrumented, telemetry.reset)}, rounds)
        telemetry.shutdown()
        label = "pandas default str dtype" if strings == "default" else "object string columns"
        if with_history:
            label += ", run history on (SQLite)"
        bare_ms = sorted(times["bare"].wall)[len(times["bare"].wall) // 2] * 1000
        result.add(
            Measurement(
                f"{label}: everything-on / bare (wall)",
                "x",
                ratios(times["odibi"].wall, times["bare"].wall),
                target=TARGET_RATIO,
                digits=4,
                note=f"bare run median {bare_ms:.0f} ms",
            )
        )
        result.add(
            Measurement(
                f"{label}: fastest everything-on run / fastest bare run (noise-robust cross-check)",
                "x",
                [min(times["odibi"].wall) / min(times["bare"].wall)],
                target=TARGET_RATIO,  # judged too: a noisy machine can push the median either way
                digits=4,
            )
        )
        bare_median = sorted(times["bare"].wall)[len(times["bare"].wall) // 2]
        result.add(
            Measurement(
                f"{label}: odibi_otel's own time in the run (run - node work, flush included) / bare",
                "x",
                [own / bare_median for own in own_times],
                comparison=None,
                digits=4,
                note=f"median {sorted(own_times)[len(own_times) // 2] * 1000:.1f} ms per run",
            )
        )
        result.add(
            Measurement(
                f"{label}: of which exporting the run's spans and log records (flush) / bare",
                "x",
                ratios(flush_times, times["bare"].wall),
                comparison=None,
                digits=4,
            )
        )
        result.add(
            Measurement(
                f"{label}: everything-on / bare (process CPU, all threads)",
                "x",
                ratios(times["odibi"].cpu, times["bare"].cpu),
                comparison=None,
                digits=4,
            )
        )
    return result

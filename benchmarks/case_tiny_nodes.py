"""Case 2: many tiny nodes: the per-node cost of the instrumentation, and Apache Hamilton's.

A DAG of N nodes (a source node returning a prebuilt 100-row frame, then N - 1 nodes each doing a
trivial ``frame.copy()``), as a chain or as a fan-out from the source. Variants, interleaved in
one process:

* ``bare``: a plain loop calling the functions in topological order (results kept in a dict);
* ``odibi spans+metrics+events``: Orchestrator with spans exported to an OTLP/JSON file
  (``BatchSpanProcessor``), a MetricsManager and an EventBus with a no-op hook per event;
* ``odibi + tracker``: the same plus the tracker with samples (lineage log events exported too);
* ``hamilton``: the same DAG run by an Apache Hamilton driver, no tracer;
* ``hamilton + otel``: with ``hamilton.plugins.h_opentelemetry.OpenTelemetryTracer`` on the same
  SDK set-up and exporter;
* at 1,000 nodes also ``odibi`` and ``hamilton + otel`` with exporters that drop everything: the
  instrumentation's own cost, without encoding and writing the file.

Per-node overhead = (variant - its baseline) / N per round, median over rounds. odibi_otel's
baseline is the plain loop (so its figure includes the orchestrator's own scheduling), Hamilton's
tracer is measured against bare Hamilton (its scheduling is not counted): a comparison that
favours Hamilton. Every timed run includes flushing the span (and log) processor.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import (
    CaseResult,
    Measurement,
    NoopTelemetry,
    Settings,
    Telemetry,
    everything_on,
    interleaved,
    per_item_us,
)

TARGET_SPANS_US = 60.0
TARGET_TRACKER_US = 250.0
ROWS = 100


def source_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "id": np.arange(ROWS, dtype=np.int64),
            "value": rng.uniform(0, 100, ROWS),
            "label": [f"item-{k:03d}" for k in range(ROWS)],
        }
    )


SOURCE = source_frame()


def make_source() -> pd.DataFrame:
    return SOURCE


def trivial(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.copy()


def parents(shape: str, nodes: int) -> list[int | None]:
    """Parent index of each node (``None`` for the source)."""
    if shape == "chain":
        return [None, *range(nodes - 1)]
    return [None] + [0] * (nodes - 1)


def odibi_steps(shape: str, nodes: int) -> list[Any]:
    from odibi_otel import Step

    steps = [Step("n0", "ingest", "function", make_source, outputs=["d0"])]
    for index, parent in enumerate(parents(shape, nodes)[1:], start=1):
        steps.append(
            Step(f"n{index}", "transform", "function", trivial, inputs=[f"d{parent}"], outputs=[f"d{index}"])
        )
    return steps


def bare_runner(shape: str, nodes: int) -> Callable[[], dict[str, pd.DataFrame]]:
    plan = [(f"d{i}", None if p is None else f"d{p}") for i, p in enumerate(parents(shape, nodes))]

    def run() -> dict[str, pd.DataFrame]:
        data: dict[str, pd.DataFrame] = {}
        for key, parent in plan:
            data[key] = make_source() if parent is None else trivial(data[parent])
        return data

    return run


# -- Apache Hamilton -----------------------------------------------------------------------------


def hamilton_available() -> bool:
    try:
        import hamilton.driver
        import hamilton.plugins.h_opentelemetry  # noqa: F401
    except ImportError:
        return False
    return True


def hamilton_module(shape: str, nodes: int, folder: Path) -> types.ModuleType:
    """A module of N functions whose parameter names wire the same DAG (``d<i>(d<parent>)``).

    Written to a real file and imported, so Hamilton can read (and hash) each function's source.
    """
    lines = [
        "import pandas as pd",
        "from benchmarks.case_tiny_nodes import make_source, trivial",
        "",
        "def d0() -> pd.DataFrame:\n    return make_source()\n",
    ]
    for index, parent in enumerate(parents(shape, nodes)[1:], start=1):
        lines.append(
            f"def d{index}(d{parent}: pd.DataFrame) -> pd.DataFrame:\n    return trivial(d{parent})\n"
        )
    name = f"odibi_bench_hamilton_{shape}_{nodes}"
    path = folder / f"{name}.py"
    path.write_text("\n".join(lines), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def hamilton_driver(module: types.ModuleType, tracer: Any | None) -> Any:
    from hamilton import driver

    builder = driver.Builder().with_modules(module)
    if tracer is not None:
        builder = builder.with_adapters(tracer)
    return builder.build()


def on_big_stack(function: Callable[[], Any]) -> Any:
    """Hamilton walks the graph recursively: run deep chains on a thread with a large stack."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:
            outcome["error"] = exc

    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, 200_000))
    previous_size = threading.stack_size(512 * 1024 * 1024)
    try:
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous_size)
        sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# -- the case ------------------------------------------------------------------------------------

#: Pairs for the 10,000-node rows: each run already averages over 10,000 nodes (and one round of
#: the five variants takes ~30 s here), so 3 pairs keep the suite under 10 minutes.
LARGE_PAIRS = 3


def run(settings: Settings) -> CaseResult:
    small, large = (30, 100) if settings.quick else (1_000, 10_000)
    result = CaseResult(2, f"Tiny nodes: {small:,} and {large:,} nodes of frame.copy() on a {ROWS}-row frame")
    with_hamilton = hamilton_available()
    if not with_hamilton:
        result.facts["hamilton"] = (
            "apache-hamilton not installed (pip install -e '.[bench]'): comparison skipped"
        )
    large_pairs = settings.pairs if settings.quick else LARGE_PAIRS
    result.facts["pairs per variant"] = f"{settings.pairs} ({small:,} nodes), {large_pairs} ({large:,} nodes)"
    for nodes, pairs in ((small, settings.pairs), (large, large_pairs)):
        for shape in ("chain", "fanout"):
            _measure(result, settings, shape, nodes, pairs, with_hamilton, with_dropping=nodes == small)
    return result


def _odibi_variant(orchestrator: Any, telemetry: Any) -> tuple[Callable[[], None], Callable[[], None]]:
    def go() -> None:
        outcome = orchestrator.execute()
        telemetry.flush()
        if not outcome["success"]:
            raise RuntimeError(f"tiny-nodes pipeline failed: {outcome['errors']}")

    return go, telemetry.reset


def _hamilton_variant(driver: Any, final: list[str], telemetry: Any | None) -> Any:
    def go() -> None:
        on_big_stack(lambda: driver.execute(final))
        if telemetry is not None:
            telemetry.flush()

    return go if telemetry is None else (go, telemetry.reset)


def _measure(
    result: CaseResult,
    settings: Settings,
    shape: str,
    nodes: int,
    pairs: int,
    with_hamilton: bool,
    *,
    with_dropping: bool,
) -> None:
    telemetry = Telemetry(settings.workdir / f"case2-{shape}-{nodes}.otlp.jsonl")
    dropping = NoopTelemetry() if with_dropping else None
    name = f"{shape}-{nodes}"
    variants: dict[str, Any] = {
        "bare": bare_runner(shape, nodes),
        "odibi": _odibi_variant(
            everything_on(odibi_steps(shape, nodes), telemetry, tracker=False), telemetry
        ),
        "odibi+tracker": _odibi_variant(
            everything_on(odibi_steps(shape, nodes), telemetry, tracker=True, pipeline_name=name + "-t"),
            telemetry,
        ),
    }
    if dropping is not None:
        variants["odibi/drop"] = _odibi_variant(
            everything_on(odibi_steps(shape, nodes), dropping, tracker=False, pipeline_name=name + "-d"),
            dropping,
        )
    if with_hamilton:
        from hamilton.plugins.h_opentelemetry import OpenTelemetryTracer

        module = hamilton_module(shape, nodes, settings.workdir)
        final = ["d" + str(nodes - 1)] if shape == "chain" else [f"d{i}" for i in range(1, nodes)]
        tracer = OpenTelemetryTracer(tracer=telemetry.tracer_provider.get_tracer("hamilton"))
        variants["hamilton"] = _hamilton_variant(
            on_big_stack(lambda: hamilton_driver(module, None)), final, None
        )
        variants["hamilton+otel"] = _hamilton_variant(
            on_big_stack(lambda: hamilton_driver(module, tracer)), final, telemetry
        )
        if dropping is not None:
            dropping_tracer = OpenTelemetryTracer(tracer=dropping.tracer_provider.get_tracer("hamilton"))
            variants["hamilton+otel/drop"] = _hamilton_variant(
                on_big_stack(lambda: hamilton_driver(module, dropping_tracer)), final, dropping
            )
    for variant in variants.values():  # warm-up
        work, cleanup = variant if isinstance(variant, tuple) else (variant, None)
        work()
        if cleanup is not None:
            cleanup()
    times = interleaved(variants, pairs)
    telemetry.shutdown()
    if dropping is not None:
        dropping.shutdown()

    def per_node(variant: str, base: str) -> list[float]:
        return per_item_us(times[variant].wall, times[base].wall, nodes)

    def cpu_note(variant: str, base: str) -> str:
        values = sorted(per_item_us(times[variant].cpu, times[base].cpu, nodes))
        return f"process CPU time (all threads): median {values[len(values) // 2]:.1f} us/node"

    label = f"{shape} {nodes:,}"
    bare_us = sorted(times["bare"].wall)[len(times["bare"].wall) // 2] / nodes * 1e6
    ours = result.add(
        Measurement(
            f"{label}: odibi spans+metrics+events overhead per node (file export)",
            "us",
            per_node("odibi", "bare"),
            target=TARGET_SPANS_US,
            digits=1,
            note=f"bare loop {bare_us:.1f} us/node; " + cpu_note("odibi", "bare"),
        )
    )
    result.add(
        Measurement(
            f"{label}: odibi + tracker with samples overhead per node (file export)",
            "us",
            per_node("odibi+tracker", "bare"),
            target=TARGET_TRACKER_US,
            digits=1,
            note=cpu_note("odibi+tracker", "bare"),
        )
    )
    if dropping is not None:
        result.add(
            Measurement(
                f"{label}: odibi spans+metrics+events per node, exporter dropping spans (no file encoding)",
                "us",
                per_node("odibi/drop", "bare"),
                comparison=None,
                digits=1,
            )
        )
    if not with_hamilton:
        return
    theirs = result.add(
        Measurement(
            f"{label}: Hamilton OpenTelemetryTracer overhead per node (file export, vs bare Hamilton)",
            "us",
            per_node("hamilton+otel", "hamilton"),
            comparison=None,
            digits=1,
            note=cpu_note("hamilton+otel", "hamilton"),
        )
    )
    result.add(
        Measurement(
            f"{label}: Hamilton framework + tracer per node (vs the bare loop)",
            "us",
            per_node("hamilton+otel", "bare"),
            comparison=None,
            digits=1,
        )
    )
    result.add(
        Measurement(
            f"{label}: odibi per node / Hamilton tracer per node (file export)",
            "x",
            [a / b if b > 0 else float("inf") for a, b in zip(ours.values, theirs.values, strict=True)],
            target=1.0,
            comparison="<",
            digits=2,
            note=f"medians: odibi {ours.median:.1f} us, Hamilton {theirs.median:.1f} us per node",
        )
    )
    if dropping is not None:
        mine = per_node("odibi/drop", "bare")
        hamilton = per_node("hamilton+otel/drop", "hamilton")
        result.add(
            Measurement(
                f"{label}: Hamilton tracer per node, exporter dropping spans (vs bare Hamilton)",
                "us",
                hamilton,
                comparison=None,
                digits=1,
            )
        )
        result.add(
            Measurement(
                f"{label}: odibi per node / Hamilton tracer per node (exporters dropping spans)",
                "x",
                [a / b if b > 0 else float("inf") for a, b in zip(mine, hamilton, strict=True)],
                comparison=None,
                digits=2,
            )
        )

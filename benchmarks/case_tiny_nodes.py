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
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from opentelemetry.trace import Link

from benchmarks.common import (
    WORK_CLOCK,
    CaseResult,
    Measurement,
    NoopTelemetry,
    Settings,
    Telemetry,
    Timings,
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
    started = time.perf_counter()
    frame = SOURCE
    WORK_CLOCK.seconds += time.perf_counter() - started
    return frame


def trivial(frame: pd.DataFrame) -> pd.DataFrame:
    """The node work: a copy of the frame, timed by itself (time outside it is the framework's)."""
    started = time.perf_counter()
    copied = frame.copy()
    WORK_CLOCK.seconds += time.perf_counter() - started
    return copied


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


class RawOpenTelemetry:
    """The reference instrumentation: per node one SDK span (3 attributes) and one histogram record.

    What a hand-written loop instrumented with OpenTelemetry's public API costs: the spans go to
    the same ``TracerProvider`` (and file) as odibi_otel's, the histogram to an SDK
    ``MeterProvider`` with an in-memory reader (collected outside the timing, like odibi_otel's).
    """

    def __init__(self, telemetry: Telemetry | NoopTelemetry) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        self.telemetry = telemetry
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = telemetry.tracer_provider.get_tracer("raw-otel")
        self.histogram = self.meter_provider.get_meter("raw-otel").create_histogram("node.duration", unit="s")

    def runner(
        self, shape: str, nodes: int, *, odibi_span: bool = False
    ) -> tuple[Callable[[], None], Callable[[], None]]:
        """The instrumented loop; with ``odibi_span`` each node span carries what odibi_otel's does.

        That is the same 9 attributes at start (two of them string lists), a link to the
        producer's span with its data keys, and 4 attributes at the end: the SDK's price of the
        node span's content, without anything else odibi_otel does (no size estimate: the size
        attribute is a constant).
        """
        plan = [(f"d{i}", None if p is None else f"d{p}") for i, p in enumerate(parents(shape, nodes))]
        tracer, histogram = self.tracer, self.histogram
        function = f"{trivial.__module__}.{trivial.__qualname__}"

        def node_span(key: str, parent: str | None, spans: dict[str, Any]) -> Any:
            if not odibi_span:
                attributes: dict[str, Any] = {"node": key, "layer": "transform", "pipeline": shape}
                return tracer.start_as_current_span("node " + key, attributes=attributes)
            attributes = {
                "odibi.pipeline.name": shape,
                "odibi.node.name": key,
                "odibi.node.layer": "transform",
                "odibi.node.type": "function",
                "odibi.node.inputs": [] if parent is None else [parent],
                "odibi.node.outputs": [key],
                "code.function.name": function,
                "odibi.run.id": "0123456789abcdef0123456789abcdef",
                "odibi.node.rows_in": 0 if parent is None else ROWS,
            }
            links = [] if parent is None else [Link(spans[parent], {"odibi.link.data_keys": [parent]})]
            return tracer.start_as_current_span("node " + key, attributes=attributes, links=links)

        def run() -> None:
            data: dict[str, pd.DataFrame] = {}
            spans: dict[str, Any] = {}
            with tracer.start_as_current_span("pipeline"):
                for key, parent in plan:
                    started = time.perf_counter()
                    with node_span(key, parent, spans) as span:
                        data[key] = make_source() if parent is None else trivial(data[parent])
                        if odibi_span:
                            span.set_attributes(
                                {
                                    "odibi.node.status": "success",
                                    "odibi.node.rows_out": len(data[key]),
                                    "odibi.node.columns_out": 3,
                                    "odibi.node.output.size_bytes": 4_000,
                                }
                            )
                            spans[key] = span.get_span_context()
                    histogram.record(time.perf_counter() - started, {"node": key, "pipeline": shape})
            self.telemetry.flush()

        def cleanup() -> None:
            self.telemetry.reset()
            self.reader.get_metrics_data()

        return run, cleanup


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


def hamilton_tracer_without_hashing(tracer: Any) -> Any:
    """Hamilton's ``OpenTelemetryTracer`` with its source hashing done once per process, not per run.

    The stock tracer reads ``graph.version`` and each node's ``version`` (a SHA-256 of the
    function's source, read with ``inspect``) on every run, because Hamilton hands its hooks a new
    ``HamiltonGraph`` per ``execute()``. This subclass hashes on the first run and serves the same
    strings afterwards, so the spans carry the same attributes and only the re-hashing is gone.
    """
    from hamilton.plugins.h_opentelemetry import OpenTelemetryTracer

    class _NodeVersion:
        __slots__ = ("version",)

        def __init__(self, version: str | None) -> None:
            self.version = version

    class _GraphVersions:
        def __init__(self, graph: Any) -> None:
            self.version = graph.version
            self._nodes = {node.name: _NodeVersion(node.version) for node in graph.nodes}

        def __getitem__(self, name: str) -> _NodeVersion:
            return self._nodes[name]

    class HashOnceTracer(OpenTelemetryTracer):  # type: ignore[misc]
        _versions: _GraphVersions | None = None

        def run_before_graph_execution(self, *, graph: Any, **kwargs: Any) -> None:
            if self._versions is None:
                self._versions = _GraphVersions(graph)
            super().run_before_graph_execution(graph=self._versions, **kwargs)

    return HashOnceTracer(tracer=tracer)


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
#: the variants takes ~40 s here), so 3 pairs keep the suite under 10 minutes.
LARGE_PAIRS = 3
#: Goals of the per-node cost (issue 18), as ratios of per-node overheads measured in one run.
TARGET_VS_OTEL = 1.3
TARGET_TRACKER_VS_OTEL = 2.0
TARGET_VS_HAMILTON = 0.5
TARGET_VS_HAMILTON_HASH_ONCE = 1.0


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
    result.facts["overhead"] = (
        "per node, over the plain loop (Hamilton's tracer: over bare Hamilton); 'outside' = the run's "
        "wall time minus the time inside the node functions (each times itself), paired per round"
    )
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


def _variants(
    settings: Settings,
    shape: str,
    nodes: int,
    telemetry: Telemetry,
    dropping: NoopTelemetry | None,
    with_hamilton: bool,
) -> dict[str, Any]:
    name = f"{shape}-{nodes}"
    variants: dict[str, Any] = {
        "bare": bare_runner(shape, nodes),
        "otel": RawOpenTelemetry(telemetry).runner(shape, nodes),
        "otel/odibi-span": RawOpenTelemetry(telemetry).runner(shape, nodes, odibi_span=True),
        "odibi": _odibi_variant(
            everything_on(odibi_steps(shape, nodes), telemetry, tracker=False), telemetry
        ),
        "odibi+tracker": _odibi_variant(
            everything_on(odibi_steps(shape, nodes), telemetry, tracker=True, pipeline_name=name + "-t"),
            telemetry,
        ),
    }
    if dropping is not None:
        variants["otel/drop"] = RawOpenTelemetry(dropping).runner(shape, nodes)
        variants["odibi/drop"] = _odibi_variant(
            everything_on(odibi_steps(shape, nodes), dropping, tracker=False, pipeline_name=name + "-d"),
            dropping,
        )
    if not with_hamilton:
        return variants
    from hamilton.plugins.h_opentelemetry import OpenTelemetryTracer

    module = hamilton_module(shape, nodes, settings.workdir)
    final = ["d" + str(nodes - 1)] if shape == "chain" else [f"d{i}" for i in range(1, nodes)]
    hamilton_tracer = telemetry.tracer_provider.get_tracer("hamilton")
    variants["hamilton"] = _hamilton_variant(on_big_stack(lambda: hamilton_driver(module, None)), final, None)
    variants["hamilton+otel"] = _hamilton_variant(
        on_big_stack(lambda: hamilton_driver(module, OpenTelemetryTracer(tracer=hamilton_tracer))),
        final,
        telemetry,
    )
    variants["hamilton+otel/hash-once"] = _hamilton_variant(
        on_big_stack(lambda: hamilton_driver(module, hamilton_tracer_without_hashing(hamilton_tracer))),
        final,
        telemetry,
    )
    return variants


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
    variants = _variants(settings, shape, nodes, telemetry, dropping, with_hamilton)
    for variant in variants.values():  # warm-up
        work, cleanup = variant if isinstance(variant, tuple) else (variant, None)
        work()
        if cleanup is not None:
            cleanup()
    times = interleaved(variants, pairs)
    telemetry.shutdown()
    if dropping is not None:
        dropping.shutdown()
    _report(result, f"{shape} {nodes:,}", nodes, times, with_hamilton, with_dropping=dropping is not None)


def _report(
    result: CaseResult,
    label: str,
    nodes: int,
    times: dict[str, Timings],
    with_hamilton: bool,
    *,
    with_dropping: bool,
) -> None:
    def wall(variant: str, base: str = "bare") -> list[float]:
        return per_item_us(times[variant].wall, times[base].wall, nodes)

    def outside(variant: str, base: str = "bare") -> list[float]:
        mine = [w - i for w, i in zip(times[variant].wall, times[variant].inside, strict=True)]
        theirs = [w - i for w, i in zip(times[base].wall, times[base].inside, strict=True)]
        return per_item_us(mine, theirs, nodes)

    def ratio(mine: list[float], theirs: list[float]) -> list[float]:
        return [a / b if b > 0 else float("inf") for a, b in zip(mine, theirs, strict=True)]

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    def us(variant: str, base: str = "bare", target: float | None = None) -> Measurement:
        return Measurement(
            f"{label}: {NAMES[variant]} overhead per node, outside the node functions",
            "us",
            outside(variant, base),
            target=target,
            comparison="<=" if target is not None else None,
            digits=1,
            note=f"paired wall clock: median {median(wall(variant, base)):.1f} us/node; "
            f"GC {median(gc_us(variant)):.1f} us/node, "
            f"{median(gen0(variant)):.1f} generation-0 collections per 1,000 nodes",
        )

    def gc_us(variant: str) -> list[float]:
        return [seconds / nodes * 1e6 for seconds in times[variant].gc_seconds]

    def gen0(variant: str) -> list[float]:
        return [count / nodes * 1000 for count in times[variant].gen0_collections]

    def versus(
        title: str,
        mine: tuple[Measurement, str],
        theirs: tuple[Measurement, str],
        target: float | None = None,
    ) -> None:
        """The ratio of two per-node overheads (each given with its variant), judged on ``target``."""
        walls = ratio(wall(mine[1]), wall(theirs[1], BASES.get(theirs[1], "bare")))
        result.add(
            Measurement(
                f"{label}: {title}, per node",
                "x",
                ratio(mine[0].values, theirs[0].values),
                target=target,
                comparison="<=" if target is not None else None,
                digits=2,
                note=f"paired wall clock: {median(walls):.2f}x",
            )
        )

    otel = (result.add(us("otel")), "otel")
    same_span = (result.add(us("otel/odibi-span")), "otel/odibi-span")
    ours = (result.add(us("odibi", target=TARGET_SPANS_US)), "odibi")
    tracked = (result.add(us("odibi+tracker", target=TARGET_TRACKER_US)), "odibi+tracker")
    versus("odibi spans+metrics+events / raw OpenTelemetry (span + histogram)", ours, otel, TARGET_VS_OTEL)
    versus("odibi spans+metrics+events / raw OpenTelemetry with odibi's span content", ours, same_span)
    versus("odibi + tracker + OTLP/JSON file / raw OpenTelemetry", tracked, otel, TARGET_TRACKER_VS_OTEL)
    result.add(
        Measurement(
            f"{label}: generation-0 collections per 1,000 nodes, odibi spans+metrics+events "
            "(raw OpenTelemetry; bare loop)",
            "",
            gen0("odibi"),
            comparison=None,
            digits=1,
            note=f"raw OpenTelemetry {median(gen0('otel')):.1f}, bare loop {median(gen0('bare')):.1f}, "
            f"with tracker {median(gen0('odibi+tracker')):.1f}",
        )
    )
    if with_dropping:
        dropped_otel = (result.add(us("otel/drop")), "otel/drop")
        dropped = (result.add(us("odibi/drop")), "odibi/drop")
        versus(
            "odibi / raw OpenTelemetry, exporters dropping spans (no file encoding)", dropped, dropped_otel
        )
    if not with_hamilton:
        return
    theirs = (result.add(us("hamilton+otel", "hamilton")), "hamilton+otel")
    hash_once = (result.add(us("hamilton+otel/hash-once", "hamilton")), "hamilton+otel/hash-once")
    versus("odibi spans+metrics+events / Hamilton's tracer", ours, theirs, TARGET_VS_HAMILTON)
    versus(
        "odibi spans+metrics+events / Hamilton's tracer hashing sources once",
        ours,
        hash_once,
        TARGET_VS_HAMILTON_HASH_ONCE,
    )


#: The baseline of a variant's overhead when it is not the plain loop.
BASES = {"hamilton+otel": "hamilton", "hamilton+otel/hash-once": "hamilton"}

NAMES = {
    "otel": "raw OpenTelemetry (span + histogram record)",
    "otel/odibi-span": "raw OpenTelemetry with odibi's node span content (9+4 attributes, a link)",
    "otel/drop": "raw OpenTelemetry, exporter dropping spans",
    "odibi": "odibi spans+metrics+events (file export)",
    "odibi/drop": "odibi spans+metrics+events, exporter dropping spans",
    "odibi+tracker": "odibi + tracker with samples (file export)",
    "hamilton+otel": "Hamilton OpenTelemetryTracer (vs bare Hamilton)",
    "hamilton+otel/hash-once": "Hamilton OpenTelemetryTracer hashing sources once (vs bare Hamilton)",
}

"""Case 3: snapshot cost vs rows: a 5M-row frame with ``object`` string columns.

* Tracker cost per node: the tracker's own per-node calls (``node_started`` + ``node_finished``:
  counts, schema, sample, schema diff; given the size estimate the node already made for its
  span, as in a run) timed directly on the frame (judged), and on a 1,000-row slice to show the
  cost does not grow with rows; and end to end, from paired, interleaved runs of a 2-node
  pipeline (a source returning the frame, then a pass-through node) with everything on, tracker
  on vs off, divided by the 2 nodes (informational: it also holds the per-run lineage document
  and the export of its log events, which do not depend on rows).
* Size estimate error: ``estimate_frame_bytes`` (what spans, metrics and the tracker report)
  against ``memory_usage(deep=True).sum()``, over independent estimates (each draws a new sample
  of the object columns); judged on the worst one. The deep measurement's own time is shown too:
  it is the naive cost the estimate avoids.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import CaseResult, Measurement, Settings, Telemetry, everything_on, interleaved

TARGET_TRACKER_MS = 2.0
TARGET_ERROR_PERCENT = 1.0
CITIES = (
    "Oslo",
    "Lisbon",
    "Reykjavik",
    "San Sebastián",
    "Ho Chi Minh City",
    "Llanfairpwllgwyngyll",
    "Rome",
    "Kyiv",
    "Bogotá",
    "Ulaanbaatar",
)
_TEXT = "the quick brown fox jumps over the lazy dog and keeps running far away " * 2


def build_frame(rows: int) -> pd.DataFrame:
    """Object string columns of varied lengths (and some non-ASCII text), plus numbers."""
    rng = np.random.default_rng(42)
    cities = np.array(CITIES, dtype=object)
    lengths = rng.integers(5, 80, rows)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            # dtype=object explicitly: pandas 3 would otherwise infer its pyarrow-backed str dtype
            "name": pd.Series([f"customer-{k}" for k in range(rows)], dtype=object),
            "city": pd.Series(cities[rng.integers(0, len(cities), rows)], dtype=object),
            "comment": pd.Series([_TEXT[:n] for n in lengths.tolist()], dtype=object),
            "amount": rng.uniform(0, 1000, rows),
        }
    )


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def _takes_sizes(tracker_class: type) -> bool:
    """Whether ``Tracker.node_finished`` accepts ``output_sizes`` (older versions re-estimate)."""
    import inspect

    return "output_sizes" in inspect.signature(tracker_class.node_finished).parameters


def run(settings: Settings) -> CaseResult:
    from odibi_otel import Step
    from odibi_otel.engines._pandas_size import estimate_frame_bytes
    from odibi_otel.lineage.tracker import Tracker, TrackerConfig

    rows = 50_000 if settings.quick else 5_000_000
    result = CaseResult(3, f"Snapshot cost vs rows: {rows:,}-row frame, 3 object string columns + 2 numeric")
    frame = build_frame(rows)
    result.facts["dtypes"] = ", ".join(f"{name}: {dtype}" for name, dtype in frame.dtypes.items())

    # (a) the orchestrator with everything on, tracker on vs off
    steps = [
        Step("source", "ingest", "function", lambda: frame, outputs=["big"]),
        Step("pass", "transform", "function", _identity, inputs=["big"], outputs=["same"]),
    ]
    telemetry = Telemetry(settings.workdir / "case3.otlp.jsonl")
    with_tracker = everything_on(steps, telemetry, tracker=True, pipeline_name="snapshot-on")
    without = everything_on(steps, telemetry, tracker=False, pipeline_name="snapshot-off")

    def runner(orchestrator: Any) -> Any:
        def go() -> None:
            orchestrator.execute()
            telemetry.flush()

        return (go, telemetry.reset)

    variants = {"tracker": runner(with_tracker), "no tracker": runner(without)}
    for work, cleanup in variants.values():
        work()
        cleanup()
    times = interleaved(variants, settings.pairs)
    telemetry.shutdown()
    per_node = [
        (a - b) / 2 * 1000 for a, b in zip(times["tracker"].wall, times["no tracker"].wall, strict=True)
    ]

    # (b) the tracker's own per-node calls on the frame, and on a 1,000-row slice of it. As in a
    # run, the node hands the tracker the size it already estimated for its span (timed below).
    def direct(subject: pd.DataFrame) -> list[float]:
        costs: list[float] = []
        size = estimate_frame_bytes(subject)
        given = {"output_sizes": {"big": size}} if _takes_sizes(Tracker) else {}
        for _ in range(max(settings.pairs, 15)):
            tracker = Tracker("snapshot", "run", [steps[0]], TrackerConfig())
            begin = time.perf_counter()
            tracker.node_started("source", {}, 0)
            tracker.node_finished(
                "source",
                {"big": subject},
                end_ns=1,
                span_context=None,  # type: ignore[arg-type]
                cache_hit=None,
                error=None,
                **given,
            )
            costs.append((time.perf_counter() - begin) * 1000)
        return costs

    result.add(
        Measurement(
            f"tracker per node on the {rows:,}-row frame (node_started + node_finished)",
            "ms",
            direct(frame),
            target=TARGET_TRACKER_MS,
            digits=3,
            note="the snapshot (counts, schema, 5-row sample) and the schema diff; the size estimate "
            "is the span's (every node makes it, tracker or not): its time is shown below",
        )
    )
    result.add(
        Measurement(
            "the same on a 1,000-row slice of it (the cost does not grow with rows)",
            "ms",
            direct(frame.iloc[:1000].copy()),
            comparison=None,
            digits=3,
        )
    )
    result.add(
        Measurement(
            "end to end: paired pipeline runs, (tracker on - off) / 2 nodes",
            "ms",
            per_node,
            comparison=None,
            digits=3,
            note="includes per-run work that does not depend on rows: the lineage document and "
            "encoding its log events into the file",
        )
    )

    # measured now, not before the runs: encoding the samples for export caches the UTF-8 form of
    # the non-ASCII strings they show, which makes those (shared) objects bigger for getsizeof
    started = time.perf_counter()
    deep = int(frame.memory_usage(deep=True).sum())
    deep_seconds = time.perf_counter() - started
    result.facts["memory_usage(deep=True)"] = f"{deep:,} bytes, took {deep_seconds * 1000:.0f} ms"
    errors: list[float] = []
    estimate_ms: list[float] = []
    for _ in range(max(settings.pairs, 15)):
        begin = time.perf_counter()
        estimate = estimate_frame_bytes(frame)
        estimate_ms.append((time.perf_counter() - begin) * 1000)
        errors.append(abs(estimate - deep) / deep * 100)
    result.add(
        Measurement(
            "size estimate error vs memory_usage(deep=True)",
            "%",
            errors,
            target=TARGET_ERROR_PERCENT,
            digits=3,
            judge="max",
        )
    )
    result.add(
        Measurement(
            "estimate_frame_bytes time (the node's size estimate, shared by span, metrics, tracker)",
            "ms",
            estimate_ms,
            comparison=None,
            digits=3,
            note=f"memory_usage(deep=True) took {deep_seconds * 1000:.0f} ms once",
        )
    )
    return result

"""Shared pieces of the benchmark cases: settings, paired timing, statistics and telemetry set-up.

Every ratio is measured in one process, paired and interleaved: each round runs every variant
once (the order rotates from round to round so neither side always goes first), and a pair is
one round's instrumented time over the same round's bare time. Reports give min / median / max
over the pairs; targets are judged on the median.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Queue of the batch span/log processors. The SDK default (2048) drops spans when a 10,000-node
#: run outpaces the export thread; a benchmark that dropped telemetry would flatter itself, so
#: both odibi_otel and Hamilton get the same larger queue and every span is written.
QUEUE_SIZE = 65_536


@dataclass(frozen=True)
class Settings:
    """What one run of the suite uses."""

    quick: bool
    pairs: int
    workdir: Path


@dataclass
class Measurement:
    """One reported figure: several samples, their min / median / max, and its target."""

    name: str
    unit: str
    values: list[float]
    target: float | None = None
    #: ``"<="`` (at most), ``"<"`` (lower than) or ``None`` (informational).
    comparison: str | None = "<="
    digits: int = 3
    note: str = ""
    #: Which statistic is held against the target: ``"median"`` (timings) or ``"max"`` (e.g. errors).
    judge: str = "median"

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def judged(self) -> float:
        return max(self.values) if self.judge == "max" else self.median

    @property
    def met(self) -> bool | None:
        if self.target is None or self.comparison is None:
            return None
        value = self.judged
        return value < self.target if self.comparison == "<" else value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "samples": len(self.values),
            "min": min(self.values),
            "median": self.median,
            "max": max(self.values),
            "target": self.target,
            "comparison": self.comparison,
            "judge": self.judge,
            "met": self.met,
            "note": self.note,
            "values": self.values,
        }

    def line(self) -> str:
        fmt = f"{{:.{self.digits}f}}"
        low, mid, high = (fmt.format(v) for v in (min(self.values), self.median, max(self.values)))
        text = f"    {self.name}: min {low}  median {mid}  max {high} {self.unit}  (n={len(self.values)})"
        if self.met is not None:
            word = "at most" if self.comparison == "<=" else "lower than"
            text += f"\n      target: {self.judge} {word} {fmt.format(self.target)} {self.unit} -> "
            text += "MET" if self.met else "MISSED"
        if self.note:
            text += f"\n      {self.note}"
        return text


@dataclass
class CaseResult:
    """What one case reports."""

    number: int
    title: str
    measurements: list[Measurement] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        return measurement

    @property
    def met(self) -> bool | None:
        verdicts = [m.met for m in self.measurements if m.met is not None]
        checks = [bool(v) for k, v in self.facts.items() if k.startswith("check:")]
        verdicts += checks
        if not verdicts:
            return None
        return all(verdicts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.number,
            "title": self.title,
            "met": self.met,
            "seconds": round(self.seconds, 1),
            "facts": self.facts,
            "measurements": [m.as_dict() for m in self.measurements],
        }

    def report(self) -> str:
        lines = [f"[case {self.number}] {self.title}"]
        for key, value in self.facts.items():
            if key.startswith("check:"):
                lines.append(f"    {key[6:]}: {'MET' if value else 'MISSED'}")
            else:
                lines.append(f"    {key}: {value}")
        lines.extend(m.line() for m in self.measurements)
        verdict = {True: "all targets met", False: "TARGET MISSED", None: "informational"}[self.met]
        lines.append(f"  result: case {self.number}: {verdict} ({self.seconds:.1f} s)")
        return "\n".join(lines)


def timed(function: Callable[[], Any]) -> float:
    """Seconds ``function()`` took (after a full garbage collection, outside the timing)."""
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


@dataclass
class Timings:
    """Per run of one variant: wall-clock and process CPU seconds, time inside the node functions
    (:data:`WORK_CLOCK`), garbage collection (seconds, generation-0 collections)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    inside: list[float] = field(default_factory=list)
    gc_seconds: list[float] = field(default_factory=list)
    gen0_collections: list[int] = field(default_factory=list)


class WorkClock:
    """Seconds spent inside node functions that time themselves (``WORK_CLOCK.seconds += ...``).

    "Time outside the node functions" (a run's wall time minus this) is what the instrumentation
    and the framework cost; it barely moves when another process slows the node work down.
    """

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0


WORK_CLOCK = WorkClock()


class _GcClock:
    """Time spent in garbage collections (``gc.callbacks``) and how many generation-0 ones ran."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.gen0 = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        if info.get("generation") == 0:
            self.gen0 += 1


_GC_CLOCK = _GcClock()


#: A variant: the timed work, optionally with untimed clean-up after it.
Variant = Callable[[], Any] | tuple[Callable[[], Any], Callable[[], Any]]


def interleaved(variants: Mapping[str, Variant], rounds: int) -> dict[str, Timings]:
    """Run each variant once per round, rotating the order; returns its timings per round.

    The order rotates every round and is reversed every other round, so no variant always runs
    first (or right after the same neighbour). A full garbage collection precedes each run. What
    a variant returns (e.g. the run's frames) is released after its time is taken, for every
    variant alike, so that freeing gigabytes of frames does not blur the comparison.

    Objects that exist before the first round (the variants' set-up, earlier cases' leftovers)
    are moved out of the collector's view (``gc.freeze``) for the rounds: CPython's full
    collections scan every tracked object, so without it each variant would pay for whatever
    else happens to be alive in the benchmark process. Objects the runs create are collected and
    scanned as usual.
    """
    names = list(variants)
    times = {name: Timings() for name in names}
    gc.collect()
    gc.freeze()
    try:
        _rounds(variants, names, times, rounds)
    finally:
        gc.unfreeze()
    return times


def _rounds(
    variants: Mapping[str, Variant], names: list[str], times: dict[str, Timings], rounds: int
) -> None:
    for round_number in range(rounds):
        shift = round_number % len(names)
        order = names[shift:] + names[:shift]
        if round_number % 2:
            order.reverse()
        for name in order:
            variant = variants[name]
            work, cleanup = variant if isinstance(variant, tuple) else (variant, None)
            gc.collect()
            inside, gc_seconds, gen0 = WORK_CLOCK.seconds, _GC_CLOCK.seconds, _GC_CLOCK.gen0
            gc.callbacks.append(_GC_CLOCK)
            cpu = time.process_time()
            wall = time.perf_counter()
            try:
                returned = work()
            finally:
                gc.callbacks.remove(_GC_CLOCK)
            timing = times[name]
            timing.wall.append(time.perf_counter() - wall)
            timing.cpu.append(time.process_time() - cpu)
            timing.inside.append(WORK_CLOCK.seconds - inside)
            timing.gc_seconds.append(_GC_CLOCK.seconds - gc_seconds)
            timing.gen0_collections.append(_GC_CLOCK.gen0 - gen0)
            del returned  # freeing what the run returned (its frames) is not part of its time
            if cleanup is not None:
                cleanup()


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def per_item_us(variant: Sequence[float], base: Sequence[float], items: int) -> list[float]:
    """Paired difference per item, in microseconds."""
    return [(a - b) / items * 1e6 for a, b in zip(variant, base, strict=True)]


class Telemetry:
    """A tracer and a logger provider writing spans and log records to one OTLP/JSON lines file.

    The SDK set-up of "everything on": ``TracerProvider`` + ``BatchSpanProcessor`` and
    ``LoggerProvider`` + ``BatchLogRecordProcessor``, both into an
    :class:`~odibi_otel.otel.otlp_json.OtlpJsonFile`.
    """

    def __init__(self, path: Path) -> None:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from odibi_otel.otel.otlp_json import OtlpJsonFile

        resource = Resource.create({"service.name": "odibi-benchmarks"})
        self.path = path
        path.unlink(missing_ok=True)  # append mode: truncating between runs then restarts at 0
        self.file = OtlpJsonFile(path)
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(
            BatchSpanProcessor(self.file.span_exporter, max_queue_size=QUEUE_SIZE)
        )
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(self.file.log_exporter, max_queue_size=QUEUE_SIZE)
        )

    def flush(self) -> None:
        """Export everything queued (part of the instrumented time: the work has to be done)."""
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()

    def reset(self) -> None:
        """Empty the file between runs (outside the timing), so it does not grow for the whole suite."""
        self.flush()
        os.truncate(self.path, 0)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.file.shutdown()


class NoopTelemetry:
    """The same SDK set-up as :class:`Telemetry` with exporters that drop everything.

    Separates the instrumentation's own cost from the cost of encoding and writing the file.
    """

    def __init__(self) -> None:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
        from opentelemetry.sdk._logs.export import LogRecordExportResult as LogResult
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class DropSpans(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        class DropLogs(LogRecordExporter):
            def export(self, batch: Any) -> LogResult:
                return LogResult.SUCCESS

            def shutdown(self) -> None:
                return None

            def force_flush(self, timeout_millis: int = 30_000) -> bool:
                return True

        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans(), max_queue_size=QUEUE_SIZE))
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(DropLogs(), max_queue_size=QUEUE_SIZE)
        )

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()

    def reset(self) -> None:
        self.flush()

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()


def noop_event_bus() -> Any:
    """An EventBus with one no-op hook registered for every event."""
    from odibi_otel.events.bus import EVENTS, EventBus

    bus = EventBus()
    for event in EVENTS:
        bus.register_hook(event, _noop_hook, name=f"noop_{event}")
    return bus


def _noop_hook(payload: dict[str, Any]) -> None:
    return None


def everything_on(
    steps: Sequence[Any],
    telemetry: Telemetry | NoopTelemetry,
    *,
    tracker: bool = True,
    pipeline_name: str = "benchmark",
    metrics_manager: Any | None = None,
    history: Any | None = None,
) -> Any:
    """An Orchestrator with spans (file export), metrics, a no-op hook per event, and the tracker
    (and with ``history``, a run history: profiles, anomaly detection, one SQL write per run)."""
    from odibi_otel import MetricsManager, Orchestrator

    return Orchestrator(
        steps,
        history=history if history is not None else False,
        enable_tracker=tracker,
        metrics_manager=metrics_manager if metrics_manager is not None else MetricsManager(),
        event_bus=noop_event_bus(),
        pipeline_name=pipeline_name,
        tracer_provider=telemetry.tracer_provider,
        logger_provider=telemetry.logger_provider,
    )


def format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GiB"

"""A node on a lazy engine (Spark): its jobs tagged to it, its outputs counted, its jobs as child spans.

On a lazy engine a node's outputs are frames whose rows are known only once a job computed them
(maybe in a later node), and the real work of a node is its engine jobs. :class:`LazyNode`
opens the engine's node scope while the node runs, wraps each output so a later job counts its
rows, and when the node ends turns the engine's jobs and stages into child spans of the node span
with Spark's own start and end times. None of this runs on an eager engine (pandas).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

from opentelemetry import trace
from opentelemetry.trace import SpanContext, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from odibi_otel._internal.safety import call_safely
from odibi_otel.engines._spark_jobs import work_totals
from odibi_otel.engines.base import Engine, EngineWork
from odibi_otel.otel import semconv

__all__ = ["LazyEngine", "LazyNode", "lazy_engine", "total_rows"]


class _NodeScope(Protocol):
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def settle(self) -> None: ...
    def work(self, end_ns: int) -> list[EngineWork] | None: ...


class LazyEngine(Engine, Protocol):
    """What a lazy engine adds to :class:`~odibi_otel.engines.base.Engine` (see ``SparkEngine``)."""

    def start_run(self, run_id: str) -> None: ...
    def finish_run(self, run_id: str) -> None: ...
    def release(self) -> None: ...
    def cancel_run(self, run_id: str) -> None: ...
    def observe(self, frame: Any, run_id: str) -> Any: ...
    def materialize(self, frame: Any) -> Any: ...
    def settle_counts(self, failed: bool) -> None: ...
    def node_scope(self, run_id: str, index: int, traceparent: str) -> _NodeScope: ...


def lazy_engine(engine: Engine) -> LazyEngine | None:
    """``engine`` as a lazy engine, or ``None`` for an eager one."""
    return cast(LazyEngine, engine) if engine.lazy else None


def total_rows(engine: Engine, frames: Sequence[Any]) -> int | None:
    """Rows of all ``frames`` together; ``None`` when any of them is not counted yet."""
    total = 0
    for frame in frames:
        rows = engine.row_count(frame)
        if rows is None:
            return None
        total += rows
    return total


class LazyNode:
    """One node's run on a lazy engine, from its start to its job spans."""

    def __init__(self, engine: LazyEngine, run_id: str, index: int, span: trace.Span) -> None:
        self.engine = engine
        self.run_id = run_id
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier, trace.set_span_in_context(span))
        self.scope = engine.node_scope(run_id, index, carrier.get("traceparent", ""))
        call_safely("lazy engine: open node scope", self.scope.__enter__)
        self.works: list[EngineWork] | None = None  # None: the engine cannot tell (Spark Connect)
        self._open = True

    def observed(self, outputs: Mapping[str, Any], persist: bool) -> dict[str, Any]:
        """``outputs`` with each frame's rows counted by the job that later computes it.

        ``persist``: cache and count each output now, inside this node (a job per output).
        """
        observed = {key: self.engine.observe(frame, self.run_id) for key, frame in outputs.items()}
        if persist:
            observed = {key: self.engine.materialize(frame) for key, frame in observed.items()}
        return observed

    def finish(self, end_ns: int, failed: bool = False) -> None:
        """Close the scope; wait (bounded) for Spark's figures; read the node's jobs (once, never raises).

        ``failed``: the node failed, so counts its jobs completed are partial and discarded.
        """
        if not self._open:
            return
        self._open = False
        call_safely("lazy engine: close node scope", self.scope.__exit__, None, None, None)
        call_safely("lazy engine: wait for figures", self.scope.settle)
        self.works = call_safely("lazy engine: read jobs", self.scope.work, end_ns)
        if failed or self.works:  # only nodes that ran jobs complete counts: the others cost nothing
            call_safely("lazy engine: take counts", self.engine.settle_counts, failed)

    def attributes(self) -> dict[str, AttributeValue]:
        """The node span's totals of its jobs; its output size is what its jobs wrote."""
        if self.works is None:
            return {}
        if not self.works:
            return {semconv.SPARK_JOBS: 0}
        totals: dict[str, AttributeValue] = {semconv.SPARK_JOBS: len(self.works), **work_totals(self.works)}
        written = totals.get(semconv.SPARK_OUTPUT_BYTES)
        if isinstance(written, int) and written > 0:
            totals[semconv.NODE_OUTPUT_SIZE_BYTES] = written
        return totals

    def emit_spans(self, tracer: trace.Tracer, node: SpanContext, error_type: str | None) -> None:
        """Each job (and its stages) as a child span of the node span, with Spark's times."""
        parent = trace.set_span_in_context(trace.NonRecordingSpan(node))
        for work in self.works or ():
            _emit(tracer, work, parent, error_type)


def _emit(tracer: trace.Tracer, work: EngineWork, parent: Any, error_type: str | None) -> None:
    span = tracer.start_span(work.name, context=parent, attributes=work.attributes, start_time=work.start_ns)
    if work.failure is not None:
        span.set_attribute(semconv.ERROR_TYPE, error_type or "SparkJobFailed")
        span.set_status(Status(StatusCode.ERROR, work.failure))
    child_context = trace.set_span_in_context(span)
    for child in work.children:
        _emit(tracer, child, child_context, error_type)
    span.end(end_time=work.end_ns)

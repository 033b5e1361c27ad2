"""A run on a lazy engine (Spark): the engine picked and checked, its session, cancelling, late rows.

Rows of a frame no job had computed when its node ended are counted by a later job (a write,
say). When the run's last node ended, :meth:`LazyRun.finish` lets the engine deliver those
counts and gives each to the node that produced the frame: the metrics listeners' ``rows`` (the
tracker takes its own, for lineage, the story and its log-based events).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from odibi_otel._internal.safety import call_safely
from odibi_otel.engines.base import Engine, get_engine
from odibi_otel.errors import EngineStartError, PipelineValidationError, StepFieldError
from odibi_otel.pipeline._lazy_node import LazyEngine, total_rows
from odibi_otel.pipeline.step import Step

__all__ = ["LazyRun", "make_engine"]


def make_engine(
    engine_type: str,
    steps: Sequence[Step],
    enable_cache: bool,
    spark_options: Mapping[str, Any],
) -> Engine:
    """The engine ``engine_type`` names, with the Spark options given; refuses what it cannot run.

    Raises:
        UnsupportedEngineError: No such engine, its library is missing, or a Spark option was given
            to another engine.
        PipelineValidationError: A step or setting the engine does not support.
    """
    options = {key: value for key, value in spark_options.items() if value is not None}
    engine = get_engine(engine_type, **options)
    if not engine.lazy:
        return engine
    if enable_cache:
        raise PipelineValidationError(
            f"enable_cache: the node cache stores pandas frames; engine_type {engine_type!r} cannot use it "
            "(use `persist: true` on a step instead)"
        )
    for step in steps:
        if step.checks:
            raise StepFieldError(
                step.name, "checks", f"are not supported on engine_type {engine_type!r} yet (pandas only)"
            )
    return engine


class LazyRun:
    """One run's life on a lazy engine."""

    def __init__(self, engine: LazyEngine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id

    def start(self) -> None:
        """Take the run's session (building one may take seconds: a JVM starts).

        Raises:
            EngineStartError: No session (Java missing, the cluster unreachable, ...): one line
                with Spark's own reason, before any span of the run.
        """
        try:
            self.engine.start_run(self.run_id)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineStartError(
                f"engine {self.engine.name!r} could not start: {reason} "
                "(Spark needs Java 17+ and, for a cluster, a reachable master: docs/spark.md)"
            ) from exc

    def cancel(self) -> None:
        """Cancel the run's Spark jobs still running (never raises)."""
        call_safely("lazy engine: cancel the run's jobs", self.engine.cancel_run, self.run_id)

    def finish(
        self, uncounted: Iterable[tuple[Step, Sequence[Any]]], listeners: Iterable[Any], pipeline: str
    ) -> None:
        """Let the engine deliver its last counts; give each late count to its node's metrics."""
        call_safely("lazy engine: finish the run", self.engine.finish_run, self.run_id)
        found = (getattr(listener, "node_rows_counted", None) for listener in listeners)
        receivers = [receiver for receiver in found if callable(receiver)]
        for step, frames in uncounted:
            rows = total_rows(self.engine, frames)
            if rows is None:
                continue
            for receiver in receivers:
                call_safely("node_rows_counted", receiver, pipeline, step.name, step.layer or "", rows)

    def release(self) -> None:
        """Stop a session the engine built for the run (never raises)."""
        call_safely("lazy engine: stop the session", self.engine.release)

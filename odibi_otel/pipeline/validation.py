"""Whole-pipeline validation: the graph checks plus importing every function reference."""

from __future__ import annotations

from collections.abc import Iterable

from odibi_otel.pipeline._references import resolve_function
from odibi_otel.pipeline.dag import Dag, build_dag
from odibi_otel.pipeline.step import Step

__all__ = ["validate_steps"]


def validate_steps(steps: Iterable[Step]) -> Dag:
    """Check ``steps`` completely without running anything and return their DAG.

    Raises:
        PipelineValidationError: (a subclass of it) naming the step and field at fault.
    """
    dag = build_dag(steps)
    for step in dag.steps.values():
        if step.type == "function":
            resolve_function(step)
    return dag

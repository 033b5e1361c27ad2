"""Whole-pipeline validation: the graph checks, every function reference imported, every check prepared."""

from __future__ import annotations

from collections.abc import Iterable

from odibi_otel.pipeline._plans import prepare_checks
from odibi_otel.pipeline._references import resolve_function
from odibi_otel.pipeline._sql_check import check_sql, output_columns
from odibi_otel.pipeline.dag import Dag, build_dag
from odibi_otel.pipeline.step import Step

__all__ = ["validate_steps"]


def validate_steps(steps: Iterable[Step], sql_dialect: str = "duckdb") -> Dag:
    """Check ``steps`` completely without running anything and return their DAG.

    ``sql`` steps are parsed in ``sql_dialect`` (the engine's; DuckDB for pandas).

    Raises:
        PipelineValidationError: (a subclass of it) naming the step and field at fault.
    """
    dag = build_dag(steps)
    for step in dag.steps.values():
        known_columns = None
        if step.type == "function":
            resolve_function(step)
        elif step.type == "sql":
            known_columns = output_columns(check_sql(step, sql_dialect))
        prepare_checks(step, known_columns)
    return dag

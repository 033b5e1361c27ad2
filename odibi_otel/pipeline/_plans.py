"""What is prepared once per node when an orchestrator is built: the checked step and its span attributes."""

from __future__ import annotations

import dataclasses

from opentelemetry.util.types import AttributeValue

from odibi_otel._internal.text import truncate_text
from odibi_otel.engines.base import Engine
from odibi_otel.errors import StepFieldError
from odibi_otel.otel import semconv
from odibi_otel.pipeline._node_execution import NodePlan
from odibi_otel.pipeline._references import function_name, resolve_function, resolve_reference
from odibi_otel.pipeline._sql_check import check_sql, output_columns
from odibi_otel.pipeline.cache import static_key_part
from odibi_otel.pipeline.step import Step
from odibi_otel.quality.checks import Check

__all__ = ["plan_node", "prepare_checks"]


def plan_node(step: Step, pipeline_name: str, cacheable: bool, engine: Engine) -> NodePlan:
    """Prepare ``step`` once per orchestrator: its function or query checked, its span attributes set."""
    function = resolve_function(step) if step.type == "function" else None
    known_columns: list[str] | None = None
    if step.type == "sql":
        known_columns = output_columns(check_sql(step, engine.sql_dialect))
    attributes: dict[str, AttributeValue] = {
        semconv.PIPELINE_NAME: pipeline_name,
        semconv.NODE_NAME: step.name,
        semconv.NODE_LAYER: step.layer,
        semconv.NODE_TYPE: step.type,
        semconv.NODE_INPUTS: list(step.input_keys),
        semconv.NODE_OUTPUTS: list(step.output_keys),
    }
    if function is not None:
        attributes[semconv.CODE_FUNCTION_NAME] = function_name(function)
    if step.type == "sql":
        attributes[semconv.DB_QUERY_TEXT] = truncate_text(str(step.value), semconv.MAX_QUERY_TEXT)
    return NodePlan(
        step=step,
        function=function,
        span_name=semconv.NODE_SPAN_PREFIX + step.name,
        attributes=attributes,
        cache_key_part=static_key_part(step, function) if cacheable else None,
        checks=prepare_checks(step, known_columns),
    )


def prepare_checks(step: Step, known_columns: list[str] | None) -> tuple[Check, ...]:
    """``step``'s checks ready to run: custom references imported, columns checked where known.

    ``known_columns``: the output columns when they are known before the run (a ``sql`` step
    whose ``SELECT`` lists them), else ``None``.

    Raises:
        StepFieldError: naming the step, ``checks``, the check's number and name.
    """
    return tuple(
        _prepared_check(step, number, check, known_columns) for number, check in enumerate(step.checks, 1)
    )


def _prepared_check(step: Step, number: int, check: Check, known_columns: list[str] | None) -> Check:
    """``check`` with its custom function imported, its columns checked where the schema is known."""
    if known_columns is not None:
        missing = [column for column in check.columns if column not in known_columns]
        if missing:
            raise StepFieldError(
                step.name,
                "checks",
                f"#{number} ({check.name}): column(s) {missing} are not among the query's "
                f"output columns {known_columns}",
            )
    function = check.params.get("function") if check.kind == "custom" else None
    if isinstance(function, str):
        resolved = resolve_reference(function, step.base_dir, step.name, f"checks #{number}")
        return dataclasses.replace(check, params={"function": resolved}, name=check.name)
    return check

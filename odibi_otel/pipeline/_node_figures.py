"""What a node span says about how the node ended: its output figures and its error type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.util.types import AttributeValue

from odibi_otel.engines.base import Engine
from odibi_otel.otel import semconv
from odibi_otel.pipeline._lazy_node import total_rows
from odibi_otel.pipeline.step import Step

__all__ = ["error_type_name", "output_attributes"]


def error_type_name(exc: BaseException) -> str:
    """The ``error.type`` value for ``exc``: Spark's error class for a Spark error, else the class
    name, qualified unless it is a builtin."""
    condition = getattr(exc, "getCondition", None)  # Spark's error class, e.g. TASK_WRITE_FAILED
    if callable(condition):
        try:
            value = condition()
        except Exception:
            value = None
        if isinstance(value, str) and value:
            return value
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def output_attributes(
    engine: Engine,
    step: Step,
    outputs: Mapping[str, Any],
    inputs: Sequence[Any],
    output_sizes: dict[str, int],
) -> dict[str, AttributeValue]:
    """The span attributes of a successful node; fills ``output_sizes`` ({key: bytes}) for the tracker."""
    frames = list(inputs) if step.type == "write" else list(outputs.values())
    if engine.lazy:  # rows once a job counted them; the size is what the node's jobs wrote
        attributes: dict[str, AttributeValue] = {
            semconv.NODE_STATUS: semconv.STATUS_SUCCESS,
            semconv.NODE_COLUMNS_OUT: sum(map(engine.column_count, frames)),
        }
        rows = total_rows(engine, frames)
        if rows is not None:
            attributes[semconv.NODE_ROWS_OUT] = rows
        return attributes
    if step.type == "write":
        size = sum(map(engine.size_bytes, frames))  # type: ignore[arg-type]
    else:
        output_sizes.update((key, engine.size_bytes(frame)) for key, frame in outputs.items())  # type: ignore[misc]
        size = sum(output_sizes.values())
    return {
        semconv.NODE_STATUS: semconv.STATUS_SUCCESS,
        semconv.NODE_ROWS_OUT: sum(map(engine.row_count, frames)),  # type: ignore[arg-type]
        semconv.NODE_COLUMNS_OUT: sum(map(engine.column_count, frames)),
        semconv.NODE_OUTPUT_SIZE_BYTES: size,
    }

"""Pipelines: steps, their DAG, validation, pipeline files, the orchestrator and the node cache.

A pipeline is a list of :class:`Step` objects (or a YAML/JSON file read by :func:`load_pipeline`);
:func:`validate_steps` checks it completely and :class:`Orchestrator` runs it as one
OpenTelemetry trace, talking to the data through an engine (:mod:`odibi_otel.engines`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.pipeline.cache import (
        NodeCache,
    )
    from odibi_otel.pipeline.dag import (
        Dag,
        build_dag,
    )
    from odibi_otel.pipeline.orchestrator import (
        Orchestrator,
    )
    from odibi_otel.pipeline.pipeline_file import (
        PipelineDefinition,
        load_pipeline,
    )
    from odibi_otel.pipeline.result import ExecutionResult
    from odibi_otel.pipeline.step import (
        FILE_FORMATS,
        STEP_TYPES,
        Step,
        file_format,
    )
    from odibi_otel.pipeline.validation import (
        validate_steps,
    )

__all__ = [
    "ExecutionResult",
    "FILE_FORMATS",
    "STEP_TYPES",
    "Dag",
    "NodeCache",
    "Orchestrator",
    "PipelineDefinition",
    "Step",
    "build_dag",
    "file_format",
    "load_pipeline",
    "validate_steps",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            (
                "FILE_FORMATS",
                "STEP_TYPES",
                "Step",
                "file_format",
            ),
            "odibi_otel.pipeline.step",
        ),
        **dict.fromkeys(
            (
                "Dag",
                "build_dag",
            ),
            "odibi_otel.pipeline.dag",
        ),
        **dict.fromkeys(
            ("validate_steps",),
            "odibi_otel.pipeline.validation",
        ),
        **dict.fromkeys(
            (
                "PipelineDefinition",
                "load_pipeline",
            ),
            "odibi_otel.pipeline.pipeline_file",
        ),
        "ExecutionResult": "odibi_otel.pipeline.result",
        **dict.fromkeys(
            ("Orchestrator",),
            "odibi_otel.pipeline.orchestrator",
        ),
        **dict.fromkeys(
            ("NodeCache",),
            "odibi_otel.pipeline.cache",
        ),
    },
)

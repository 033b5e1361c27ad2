"""odibi_otel: pandas pipelines whose every run is an OpenTelemetry trace.

The public API: build :class:`Step` lists (or :func:`load_pipeline` a YAML/JSON file), run them
with an :class:`Orchestrator`, and read the run as spans, metrics, events and lineage.

``import odibi_otel`` stays cheap: the public names below are imported from their modules the
first time they are used (PEP 562), so the OpenTelemetry SDK, the exporters, prometheus_client,
jinja2 and PyYAML load only when something needs them. ``from odibi_otel import Orchestrator``
works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from odibi_otel._version import __version__
from odibi_otel.errors import (
    CycleError,
    DuplicateOutputError,
    DuplicateStepError,
    FunctionReferenceError,
    MissingInputError,
    NodeOutputError,
    OdibiError,
    PipelineFileError,
    PipelineValidationError,
    StepFieldError,
    StoryInputError,
    UnknownStepTypeError,
    UnsupportedEngineError,
)

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from odibi_otel.configuration import TelemetryHandle, configure
    from odibi_otel.dag import Dag, build_dag
    from odibi_otel.event_bus import EventBus, EventPriority
    from odibi_otel.metrics_manager import MetricsManager, MetricType
    from odibi_otel.orchestrator import Orchestrator
    from odibi_otel.pipeline_file import PipelineDefinition, load_pipeline
    from odibi_otel.step import Step
    from odibi_otel.story_generator import StoryGenerator
    from odibi_otel.validation import validate_steps

#: Public name → the module that defines it, imported on first use.
_LAZY: dict[str, str] = {
    "TelemetryHandle": "odibi_otel.configuration",
    "configure": "odibi_otel.configuration",
    "Dag": "odibi_otel.dag",
    "build_dag": "odibi_otel.dag",
    "EventBus": "odibi_otel.event_bus",
    "EventPriority": "odibi_otel.event_bus",
    "MetricsManager": "odibi_otel.metrics_manager",
    "MetricType": "odibi_otel.metrics_manager",
    "Orchestrator": "odibi_otel.orchestrator",
    "PipelineDefinition": "odibi_otel.pipeline_file",
    "load_pipeline": "odibi_otel.pipeline_file",
    "Step": "odibi_otel.step",
    "StoryGenerator": "odibi_otel.story_generator",
    "validate_steps": "odibi_otel.validation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CycleError",
    "Dag",
    "DuplicateOutputError",
    "DuplicateStepError",
    "EventBus",
    "EventPriority",
    "FunctionReferenceError",
    "MetricType",
    "MetricsManager",
    "MissingInputError",
    "NodeOutputError",
    "OdibiError",
    "Orchestrator",
    "PipelineDefinition",
    "PipelineFileError",
    "PipelineValidationError",
    "Step",
    "StepFieldError",
    "StoryGenerator",
    "StoryInputError",
    "TelemetryHandle",
    "UnknownStepTypeError",
    "UnsupportedEngineError",
    "__version__",
    "build_dag",
    "configure",
    "load_pipeline",
    "validate_steps",
]

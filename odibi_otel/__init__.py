"""odibi_otel: pandas pipelines whose every run is an OpenTelemetry trace.

The public API: build :class:`Step` lists (or :func:`load_pipeline` a YAML/JSON file), run them
with an :class:`Orchestrator`, and read the run as spans, metrics, events and lineage.
"""

from odibi_otel._version import __version__
from odibi_otel.dag import Dag, build_dag
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
from odibi_otel.event_bus import EventBus, EventPriority
from odibi_otel.metrics_manager import MetricsManager, MetricType
from odibi_otel.orchestrator import Orchestrator
from odibi_otel.pipeline_file import PipelineDefinition, load_pipeline
from odibi_otel.step import Step
from odibi_otel.story_generator import StoryGenerator
from odibi_otel.validation import validate_steps

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
    "UnknownStepTypeError",
    "UnsupportedEngineError",
    "__version__",
    "build_dag",
    "load_pipeline",
    "validate_steps",
]

"""odibi_otel: pandas pipelines whose every run is an OpenTelemetry trace.

The public API: build :class:`Step` lists (or :func:`load_pipeline` a YAML/JSON file), run them
with an :class:`Orchestrator`, and read the run as spans, metrics, events and lineage.

``import odibi_otel`` stays cheap: the public names below are imported from their modules the
first time they are used (PEP 562), so the OpenTelemetry SDK, the exporters, prometheus_client,
jinja2 and PyYAML load only when something needs them. ``from odibi_otel import Orchestrator``
works as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes
from odibi_otel._version import __version__
from odibi_otel.errors import (
    CycleError,
    DuplicateOutputError,
    DuplicateStepError,
    EngineStartError,
    FunctionReferenceError,
    MissingInputError,
    NodeOutputError,
    OdibiError,
    PipelineFileError,
    PipelineValidationError,
    StepFieldError,
    StoryInputError,
    TelemetryFileError,
    UndefinedVariableError,
    UnknownStepTypeError,
    UnsupportedEngineError,
)

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from odibi_otel._internal.safety import telemetry_failures
    from odibi_otel.events.bus import EventBus, EventPriority
    from odibi_otel.events.hooks import (
        cleanup_dir,
        dashboard_poster,
        min_rows_alert,
        slack_message,
        webhook_notifier,
    )
    from odibi_otel.lineage.tracker import PII_PATTERN, REDACTED, Tracker, TrackerConfig
    from odibi_otel.metrics.manager import MetricsManager, MetricType
    from odibi_otel.pipeline.dag import Dag, build_dag
    from odibi_otel.pipeline.orchestrator import Orchestrator
    from odibi_otel.pipeline.pipeline_file import PipelineDefinition, load_pipeline
    from odibi_otel.pipeline.step import Step
    from odibi_otel.pipeline.validation import validate_steps
    from odibi_otel.setup import TelemetryHandle, configure
    from odibi_otel.story.generator import StoryGenerator

#: Public name → the module that defines it, imported on first use.
_LAZY: dict[str, str] = {
    "telemetry_failures": "odibi_otel._internal.safety",
    "EventBus": "odibi_otel.events.bus",
    "EventPriority": "odibi_otel.events.bus",
    "cleanup_dir": "odibi_otel.events.hooks",
    "dashboard_poster": "odibi_otel.events.hooks",
    "min_rows_alert": "odibi_otel.events.hooks",
    "slack_message": "odibi_otel.events.hooks",
    "webhook_notifier": "odibi_otel.events.hooks",
    "PII_PATTERN": "odibi_otel.lineage.config",
    "REDACTED": "odibi_otel.lineage.config",
    "Tracker": "odibi_otel.lineage.tracker",
    "TrackerConfig": "odibi_otel.lineage.config",
    "MetricsManager": "odibi_otel.metrics.manager",
    "MetricType": "odibi_otel.metrics.manager",
    "Dag": "odibi_otel.pipeline.dag",
    "build_dag": "odibi_otel.pipeline.dag",
    "Orchestrator": "odibi_otel.pipeline.orchestrator",
    "PipelineDefinition": "odibi_otel.pipeline.pipeline_file",
    "load_pipeline": "odibi_otel.pipeline.pipeline_file",
    "Step": "odibi_otel.pipeline.step",
    "validate_steps": "odibi_otel.pipeline.validation",
    "TelemetryHandle": "odibi_otel.setup.handle",
    "configure": "odibi_otel.setup._configure",
    "StoryGenerator": "odibi_otel.story.generator",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "PII_PATTERN",
    "REDACTED",
    "CycleError",
    "Dag",
    "DuplicateOutputError",
    "DuplicateStepError",
    "EngineStartError",
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
    "TelemetryFileError",
    "TelemetryHandle",
    "Tracker",
    "TrackerConfig",
    "UndefinedVariableError",
    "UnknownStepTypeError",
    "UnsupportedEngineError",
    "__version__",
    "build_dag",
    "cleanup_dir",
    "configure",
    "dashboard_poster",
    "load_pipeline",
    "min_rows_alert",
    "slack_message",
    "telemetry_failures",
    "validate_steps",
    "webhook_notifier",
]

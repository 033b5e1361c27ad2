"""Exceptions raised by odibi_otel.

Every exception the package raises on purpose derives from :class:`OdibiError`, so callers can
catch the whole family with one ``except``. Configuration problems derive from
:class:`PipelineValidationError` and are raised before any step runs; their messages name the
step, the field or the file line and say what was wrong.
"""

from __future__ import annotations

__all__ = [
    "AnomalyError",
    "CheckFailedError",
    "CycleError",
    "DuplicateOutputError",
    "DuplicateStepError",
    "EngineStartError",
    "FunctionReferenceError",
    "MissingInputError",
    "NodeOutputError",
    "OdibiError",
    "PipelineFileError",
    "PipelineValidationError",
    "StepFieldError",
    "StoryInputError",
    "TelemetryFileError",
    "UndefinedVariableError",
    "UnknownStepTypeError",
    "UnsupportedEngineError",
]


class OdibiError(Exception):
    """Base class of every exception odibi_otel raises on purpose."""


class PipelineValidationError(OdibiError, ValueError):
    """A pipeline definition is invalid; raised before anything runs.

    ``step`` names the offending step when there is one (pipeline files use it to add the line).
    """

    def __init__(self, message: str, *, step: str | None = None) -> None:
        self.step = step
        super().__init__(message)


class StepFieldError(PipelineValidationError, TypeError):
    """A step field has the wrong type or an invalid value."""

    def __init__(self, step: str, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"step {step!r}: field {field!r} {problem}", step=step)


class UnknownStepTypeError(StepFieldError):
    """A step's ``type`` is not one of the supported step types."""


class UndefinedVariableError(StepFieldError):
    """A pipeline file uses a ``${NAME}`` variable that no ``--var``, environment variable or default sets."""


class FunctionReferenceError(StepFieldError):
    """A function step's ``value`` cannot be imported or is not callable."""


class DuplicateStepError(PipelineValidationError):
    """Two steps share a name."""


class DuplicateOutputError(PipelineValidationError):
    """Two steps produce the same data key."""


class MissingInputError(PipelineValidationError):
    """A step consumes a data key that no step produces."""


class CycleError(PipelineValidationError):
    """The steps' data dependencies form a cycle."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle between steps: " + " -> ".join(cycle), step=cycle[0])


class PipelineFileError(PipelineValidationError):
    """A pipeline file cannot be read or parsed; the message names the file (and line)."""


class UnsupportedEngineError(OdibiError, ValueError):
    """The orchestrator was asked for an engine it does not have."""


class EngineStartError(OdibiError, RuntimeError):
    """The engine could not start before the run (e.g. no SparkSession: Java missing, cluster down)."""


class NodeOutputError(OdibiError, TypeError):
    """A step returned something other than what its ``outputs`` declare."""


class StoryInputError(OdibiError, ValueError):
    """A lineage or telemetry file cannot be turned into a story.

    The message names the file and the place: a field path such as ``steps[2].after.orders.rows``
    or a line (and column) of the file.
    """

    def __init__(self, source: str, place: str | None, problem: str) -> None:
        self.source = source
        self.place = place
        self.problem = problem
        super().__init__(": ".join(part for part in (source, place, problem) if part))


class TelemetryFileError(OdibiError, ValueError):
    """An OTLP/JSON telemetry file cannot be read or decoded.

    The message names the file, the line (when there is one) and what was wrong there, e.g.
    ``run.otlp.jsonl: line 7: resourceSpans[0].scopeSpans[0].spans[2].traceId: bad id 'xyz'``.
    """

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        place = f"line {line}" if line is not None else None
        super().__init__(": ".join(part for part in (source, place, problem) if part))


class CheckFailedError(OdibiError):
    """A data check of severity ``error`` failed on a node's output; the node fails with it.

    The message names the step, the check and what was found.
    """


class AnomalyError(OdibiError):
    """An anomaly of a kind listed in ``fail_on`` was found; the node fails with it."""

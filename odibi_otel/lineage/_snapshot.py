"""What the tracker keeps per frame (:class:`Snapshot`) and per step (:class:`StepRecord`).

Snapshot cost does not grow with row count: the engine gives counts, schema and a ``head`` copied
into a small object array (so no view pins the parent frame). Sample values are converted to JSON
only when the lineage document is built, off the per-node path. Redacted columns keep their name
and type but their values are replaced with ``[REDACTED]`` when the sample is taken, so they reach
no output at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from opentelemetry.trace import SpanContext

from odibi_otel._internal.text import truncate_text
from odibi_otel.engines.base import Engine, EngineWork
from odibi_otel.lineage.config import REDACTED, TrackerConfig
from odibi_otel.lineage.jsonsafe import json_safe
from odibi_otel.otel import semconv

__all__ = ["Snapshot", "StepRecord", "TrackedStep", "row_delta"]


class TrackedStep(Protocol):
    """What the tracker reads of a step (:class:`odibi_otel.Step` has it all)."""

    @property
    def name(self) -> str:
        """Unique step name."""

    @property
    def layer(self) -> str:
        """Free-text layer."""

    @property
    def type(self) -> str:
        """``read``, ``function`` or ``write`` (or another engine's step type)."""

    @property
    def value(self) -> Any:
        """For a write step, its target (the written dataset's key in the lineage)."""

    @property
    def input_keys(self) -> tuple[str, ...]:
        """The data keys the step consumes, in order."""

    @property
    def output_keys(self) -> tuple[str, ...]:
        """The data keys the step produces."""


class Snapshot:
    """The shape of one frame at one point, with a small detached sample (any engine)."""

    __slots__ = (
        "_dict",
        "columns",
        "redacted",
        "rows",
        "rows_later",
        "sample_columns",
        "sample_later",
        "sample_values",
        "schema",
        "size_bytes",
    )

    def __init__(
        self, frame: Any, config: TrackerConfig, engine: Engine, size_bytes: int | None = None
    ) -> None:
        wanted = config.sample_rows if config.capture_samples else 0
        description = engine.describe(frame, wanted)
        labels = description.labels
        self.rows = description.rows
        self.rows_later = description.rows_later if description.rows is None else None
        self.columns = len(labels)
        self.schema = description.schema
        # the node already measured its outputs for its span: the same figure, not a second estimate
        self.size_bytes = engine.size_bytes(frame) if size_bytes is None else size_bytes
        self.redacted = [label for label in labels if config.is_redacted(label)]
        self.sample_columns = labels
        self.sample_values: Any | None = None  # a 2-D object array, rows x columns
        self._dict: tuple[TrackerConfig, dict[str, Any]] | None = None  # see to_dict
        self.sample_later = description.sample_later
        if description.sample is not None:
            self._keep_sample(description.sample)

    def _keep_sample(self, values: Any) -> None:
        for position, label in enumerate(self.sample_columns):
            if label in self.redacted:
                values[:, position] = REDACTED
        self.sample_values = values
        self._dict = None

    def take_late_sample(self) -> None:
        """Take a sample deferred to the end of the run (a lazy engine's: after its counts)."""
        later, self.sample_later = self.sample_later, None
        self.rows_later = None  # a count completed by the sample's own job would be cut short
        if later is not None:
            self._keep_sample(later())

    def count_late(self) -> None:
        """Take a row count a later job produced (a lazy engine's frame); never blocks."""
        if self.rows is None and self.rows_later is not None:
            self.rows = self.rows_later()
            if self.rows is not None:
                self.rows_later = None
                self._dict = None

    def to_dict(self, config: TrackerConfig) -> dict[str, Any]:
        """The snapshot as the lineage document holds it, built once per config.

        A snapshot is both its producer's "after" and each consumer's "before": every appearance
        in a document is this one (JSON-safe, never modified) dict, so a run's lineage converts
        each sample once and keeps one copy of it (fewer objects for the garbage collector).
        """
        cached = self._dict
        if cached is not None and cached[0] is config:
            return cached[1]
        sample = None
        if self.sample_values is not None:
            limit = config.max_string_length
            sample = {
                "columns": [truncate_text(label, limit) for label in self.sample_columns],
                "rows": [[json_safe(value, limit) for value in row] for row in self.sample_values],
            }
        document = {
            "rows": self.rows,
            "columns": self.columns,
            "schema": self.schema,
            "size_bytes": self.size_bytes,
            "sample": sample,
            "redacted_columns": self.redacted,
        }
        self._dict = (config, document)
        return document


class StepRecord:
    """What the tracker learned about one step during the run."""

    __slots__ = (
        "after",
        "anomalies",
        "before",
        "cache_hit",
        "checks",
        "diff",
        "end_ns",
        "engine_work",
        "error",
        "span_context",
        "start_ns",
        "status",
        "step",
    )

    def __init__(self, step: TrackedStep) -> None:
        self.step = step
        self.checks: list[dict[str, Any]] = []
        self.anomalies: list[dict[str, Any]] = []
        self.before: dict[str, Snapshot] = {}
        self.after: dict[str, Snapshot] = {}
        self.diff: dict[str, list[dict[str, str]]] | None = None
        self.status = semconv.STATUS_SKIPPED
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.span_context: SpanContext | None = None
        self.cache_hit: bool | None = None
        self.error: dict[str, str] | None = None
        self.engine_work: Sequence[EngineWork] = ()


def row_delta(record: StepRecord) -> int | None:
    """Rows out minus rows in of a step that succeeded (0 for a write step); ``None`` when a count
    is not known (a lazy engine's frame no job computed)."""
    if record.step.type == "write":
        return 0
    counts = [s.rows for s in (*record.before.values(), *record.after.values())]
    if any(rows is None for rows in counts):
        return None
    rows_in = sum(s.rows for s in record.before.values())  # type: ignore[misc]
    return sum(s.rows for s in record.after.values()) - rows_in  # type: ignore[misc]

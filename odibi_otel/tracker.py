"""The lineage Tracker: what each node received and produced, recorded cheaply while it runs.

Per node the tracker keeps a "before" snapshot per input (by data key) and an "after" snapshot
per output: row and column counts, schema, estimated size and the first ``sample_rows`` rows.
Snapshot cost does not grow with row count: ``len``, dtypes, buffer sizes and a ``head`` copied
into a small object array (so no view pins the parent frame). A consumer's "before" snapshot is
its producer's "after" snapshot of the same key, taken once. Sample values are converted to
JSON only when the run finishes, off the per-node path.

When the run finishes the tracker builds the lineage document (:meth:`Tracker.to_dict`,
:meth:`Tracker.export_lineage`) and emits it as OpenTelemetry log-based events
(``odibi.lineage.snapshot`` per step, ``odibi.lineage.run`` per run) correlated with the spans.

Redacted columns (by exact name or name pattern) keep their name and dtype but their values are
replaced with ``[REDACTED]`` when the sample is taken, so they reach no output at all.
"""

from __future__ import annotations

import json
import os
import re
import threading
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from opentelemetry import _logs, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext
from opentelemetry.util.types import AttributeValue

from odibi_otel import semconv
from odibi_otel.atomic import write_bytes_atomic
from odibi_otel.datasize import column_arrays, estimate_frame_bytes
from odibi_otel.jsonsafe import json_safe, truncate_text
from odibi_otel.safety import call_safely
from odibi_otel.schema_diff import column_labels, labelled_schema, merge_schemas, schema_diff
from odibi_otel.step import Step
from odibi_otel.timefmt import iso_utc

__all__ = ["PII_PATTERN", "REDACTED", "Tracker", "TrackerConfig"]

#: A ready-made column-name pattern for common personal data and secrets.
PII_PATTERN: Final = r"e_?mail|ssn|social_security|password|passwd|secret|token|api_?key|phone|iban|card"
#: What a redacted value is shown as.
REDACTED: Final = "[REDACTED]"


@dataclass(frozen=True)
class TrackerConfig:
    """How the tracker samples and what it hides.

    Args:
        sample_rows: Rows kept per snapshot (the first N).
        capture_samples: ``False`` keeps no row values at all, only counts and schemas.
        redact_columns: Column names whose values are never captured.
        redact_pattern: A regular expression; columns whose name it matches (case-insensitive,
            anywhere in the name) are redacted too, e.g. :data:`PII_PATTERN`.
        max_string_length: Longer sample strings are cut and marked.
    """

    sample_rows: int = 5
    capture_samples: bool = True
    redact_columns: Sequence[str] = ()
    redact_pattern: str | None = None
    max_string_length: int = 200

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rows, int) or self.sample_rows < 0:
            raise ValueError(f"sample_rows must be an integer >= 0, got {self.sample_rows!r}")
        if isinstance(self.redact_columns, str):
            raise TypeError("redact_columns must be a list of column names, not a string")
        if self.redact_pattern is not None:
            try:
                re.compile(self.redact_pattern)
            except re.error as exc:
                raise ValueError(f"redact_pattern {self.redact_pattern!r} is invalid: {exc}") from None

    def is_redacted(self, label: str) -> bool:
        """Whether values of the column named ``label`` must be hidden."""
        if label in self.redact_columns:
            return True
        return self.redact_pattern is not None and bool(
            re.search(self.redact_pattern, label, flags=re.IGNORECASE)
        )


def _sample_rows(frame: pd.DataFrame, count: int, arrays: Sequence[Any] | None = None) -> np.ndarray:
    """The first ``count`` rows as a detached 2-D object array (what ``iloc[:count].to_numpy(object)`` gives).

    Sliced column by column: building the row slice as a DataFrame and converting it cost about
    three times as much on small frames, where a node's instrumentation is all per-node overhead.
    """
    try:
        if arrays is None:
            arrays = column_arrays(frame)
        values = np.empty((min(count, len(frame)), len(arrays)), dtype=object)
        for position, array in enumerate(arrays):
            head = array[:count]
            values[:, position] = head if isinstance(head, np.ndarray) else head.to_numpy(dtype=object)
        return values
    except Exception:  # an array type that slices or converts differently: pandas' own way
        return frame.iloc[:count].to_numpy(dtype=object, copy=True)


class _Snapshot:
    """The shape of one DataFrame at one point, with a small detached sample."""

    __slots__ = (
        "_dict",
        "columns",
        "redacted",
        "rows",
        "sample_columns",
        "sample_values",
        "schema",
        "size_bytes",
    )

    def __init__(self, frame: pd.DataFrame, config: TrackerConfig, size_bytes: int | None = None) -> None:
        self.rows = len(frame)
        labels = column_labels(frame)
        arrays = column_arrays(frame)
        self.columns = len(labels)
        self.schema = labelled_schema(labels, arrays)
        # the node already measured its outputs for its span: the same figure, not a second estimate
        self.size_bytes = estimate_frame_bytes(frame) if size_bytes is None else size_bytes
        self.redacted = [label for label in labels if config.is_redacted(label)]
        self.sample_columns = labels
        self.sample_values: np.ndarray | None = None
        self._dict: tuple[TrackerConfig, dict[str, Any]] | None = None  # see to_dict
        if config.capture_samples and config.sample_rows:
            values = _sample_rows(frame, config.sample_rows, arrays)
            for position, label in enumerate(labels):
                if label in self.redacted:
                    values[:, position] = REDACTED
            self.sample_values = values

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


class _StepRecord:
    """What the tracker learned about one step during the run."""

    __slots__ = (
        "after",
        "before",
        "cache_hit",
        "diff",
        "end_ns",
        "error",
        "span_context",
        "start_ns",
        "status",
        "step",
    )

    def __init__(self, step: Step) -> None:
        self.step = step
        self.before: dict[str, _Snapshot] = {}
        self.after: dict[str, _Snapshot] = {}
        self.diff: dict[str, list[dict[str, str]]] | None = None
        self.status = semconv.STATUS_SKIPPED
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.span_context: SpanContext | None = None
        self.cache_hit: bool | None = None
        self.error: dict[str, str] | None = None


class Tracker:
    """Lineage of one pipeline run; ``result["tracker"]`` after ``Orchestrator(enable_tracker=True)``.

    Use :meth:`export_lineage` to write the lineage document, :meth:`to_dict` to get it, and
    :attr:`steps` for the per-step records.
    """

    def __init__(
        self,
        pipeline_name: str,
        run_id: str,
        steps: Iterable[Step],
        config: TrackerConfig | None = None,
        logger_provider: Any | None = None,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.config = config or TrackerConfig()
        self._records = {step.name: _StepRecord(step) for step in steps}
        self._after_by_key: dict[str, _Snapshot] = {}
        self._lock = threading.Lock()
        self._logger_provider = logger_provider
        self._document: dict[str, Any] | None = None
        self._run: dict[str, Any] = {
            "trace_id": None,
            "span_id": None,
            "start_ns": None,
            "end_ns": None,
            "status": "running",
        }

    # -- called by the orchestrator --------------------------------------------------------------

    def run_started(self, trace_id: int, span_id: int, start_ns: int) -> None:
        """The pipeline span started."""
        self._run.update(
            trace_id=trace.format_trace_id(trace_id), span_id=trace.format_span_id(span_id), start_ns=start_ns
        )

    def node_started(self, name: str, inputs: Mapping[str, pd.DataFrame], start_ns: int) -> None:
        """Snapshot a node's inputs (reusing the producers' snapshots of the same keys)."""
        record = self._records[name]
        record.start_ns = start_ns
        for key, frame in inputs.items():
            snapshot = self._after_by_key.get(key)
            record.before[key] = snapshot if snapshot is not None else _Snapshot(frame, self.config)

    def node_finished(
        self,
        name: str,
        outputs: Mapping[str, pd.DataFrame],
        *,
        end_ns: int,
        span_context: SpanContext,
        cache_hit: bool | None,
        error: BaseException | None,
        output_sizes: Mapping[str, int] | None = None,
    ) -> dict[str, AttributeValue]:
        """Snapshot a node's outputs; returns the lineage summary attributes for its span.

        ``output_sizes`` ({key: bytes}) are sizes the caller already estimated for the outputs.
        """
        record = self._records[name]
        record.end_ns = end_ns
        record.span_context = span_context
        record.cache_hit = cache_hit
        if error is not None:
            record.status = (
                semconv.STATUS_FAILED if isinstance(error, Exception) else semconv.STATUS_INTERRUPTED
            )
            record.error = {
                "type": type(error).__name__,
                "message": _utf8_safe(str(error)),
                "traceback": _utf8_safe("".join(traceback.format_exception(error))),
            }
            return {}
        record.status = semconv.STATUS_SUCCESS
        if record.step.type == "write":
            record.after = {os.fspath(record.step.value): record.before[record.step.input_keys[0]]}
        else:
            sizes = output_sizes or {}
            record.after = {
                key: _Snapshot(frame, self.config, sizes.get(key)) for key, frame in outputs.items()
            }
            with self._lock:
                self._after_by_key.update(record.after)
        record.diff = schema_diff(
            merge_schemas(s.schema for s in record.before.values()),
            merge_schemas(s.schema for s in record.after.values()),
        )
        return {
            semconv.NODE_SCHEMA_ADDED: len(record.diff["added"]),
            semconv.NODE_SCHEMA_REMOVED: len(record.diff["removed"]),
            semconv.NODE_SCHEMA_CHANGED: len(record.diff["changed"]),
            semconv.NODE_ROW_DELTA: _row_delta(record),
        }

    def run_finished(self, status: str, end_ns: int) -> None:
        """The run ended: build the lineage document and emit it as log-based events."""
        self._run.update(status=status, end_ns=end_ns)
        self._document = self._build_document()
        if self._logger_provider is not None:
            call_safely("Tracker.emit_events", self._emit_events, self._document)

    # -- public ---------------------------------------------------------------------------------

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The per-step lineage records, in pipeline order."""
        return list(self.to_dict()["steps"])

    def to_dict(self) -> dict[str, Any]:
        """The lineage document (JSON-safe); documented in ``docs/lineage.md``."""
        return self._document if self._document is not None else self._build_document()

    def export_lineage(self, path: str | os.PathLike[str]) -> None:
        """Write the lineage document as JSON to ``path`` (atomically)."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        # a lone surrogate (e.g. in an error message) becomes its JSON escape, not an encoding error
        write_bytes_atomic(path, text.encode("utf-8", "backslashreplace"))

    # -- internals ------------------------------------------------------------------------------

    def _build_document(self) -> dict[str, Any]:
        steps = [self._step_dict(record) for record in self._records.values()]
        run = self._run
        return {
            "format": semconv.LINEAGE_FORMAT,
            "version": semconv.LINEAGE_VERSION,
            "pipeline_name": self.pipeline_name,
            "run_id": self.run_id,
            "trace_id": run["trace_id"],
            "span_id": run["span_id"],
            "start_time": iso_utc(run["start_ns"]),
            "end_time": iso_utc(run["end_ns"]),
            "duration_ms": _duration_ms(run["start_ns"], run["end_ns"]),
            "status": run["status"],
            "steps": steps,
            "summary": _summary(steps),
        }

    def _step_dict(self, record: _StepRecord) -> dict[str, Any]:
        step = record.step
        before = {key: s.to_dict(self.config) for key, s in record.before.items()}
        after = {key: s.to_dict(self.config) for key, s in record.after.items()}
        context = record.span_context
        return {
            "name": step.name,
            "layer": step.layer,
            "type": step.type,
            "status": record.status,
            "inputs": list(step.input_keys),
            "outputs": list(step.output_keys),
            "span_id": trace.format_span_id(context.span_id) if context else None,
            "start_time": iso_utc(record.start_ns),
            "end_time": iso_utc(record.end_ns),
            "duration_ms": _duration_ms(record.start_ns, record.end_ns),
            "cache_hit": record.cache_hit,
            "rows_in": sum(s["rows"] for s in before.values()) if before else 0,
            "rows_out": (
                sum(s["rows"] for s in after.values()) if record.status == semconv.STATUS_SUCCESS else None
            ),
            "row_delta": _row_delta(record) if record.status == semconv.STATUS_SUCCESS else None,
            "before": before,
            "after": after,
            "schema_diff": record.diff,
            "error": record.error,
        }

    def _emit_events(self, document: dict[str, Any]) -> None:
        logger = _logs.get_logger(
            semconv.INSTRUMENTATION_SCOPE,
            semconv.INSTRUMENTATION_VERSION,
            logger_provider=self._logger_provider,
        )
        run_context = _span_context(document["trace_id"], document["span_id"])
        for index, (step, record) in enumerate(zip(document["steps"], self._records.values(), strict=True)):
            context = record.span_context or run_context
            logger.emit(
                _logs.LogRecord(
                    timestamp=record.end_ns or self._run["end_ns"],
                    context=trace.set_span_in_context(NonRecordingSpan(context)) if context else None,
                    severity_number=_logs.SeverityNumber.INFO,
                    event_name=semconv.EVENT_LINEAGE_SNAPSHOT,
                    body=step,
                    attributes={
                        **self._event_attributes(step["name"]),
                        semconv.LINEAGE_STEP_INDEX: index,
                    },
                )
            )
        run_body = {key: value for key, value in document.items() if key != "steps"}
        logger.emit(
            _logs.LogRecord(
                timestamp=self._run["end_ns"],
                context=trace.set_span_in_context(NonRecordingSpan(run_context)) if run_context else None,
                severity_number=_logs.SeverityNumber.INFO,
                event_name=semconv.EVENT_LINEAGE_RUN,
                body=run_body,
                attributes=self._event_attributes(None),
            )
        )

    def _event_attributes(self, node: str | None) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            semconv.PIPELINE_NAME: self.pipeline_name,
            semconv.RUN_ID: self.run_id,
        }
        if node is not None:
            attributes[semconv.NODE_NAME] = node
        return attributes


def _utf8_safe(text: str) -> str:
    """``text`` with lone surrogates escaped, as every file and OTLP export can carry it."""
    return truncate_text(text, len(text))


def _row_delta(record: _StepRecord) -> int:
    if record.step.type == "write":
        return 0
    rows_in = sum(s.rows for s in record.before.values())
    return sum(s.rows for s in record.after.values()) - rows_in


def _summary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    by_status = {status: [s["name"] for s in steps if s["status"] == status] for status in _STATUSES}
    return {
        "nodes_total": len(steps),
        "succeeded": len(by_status[semconv.STATUS_SUCCESS]),
        "failed": len(by_status[semconv.STATUS_FAILED]),
        "skipped": len(by_status[semconv.STATUS_SKIPPED]),
        "interrupted": len(by_status[semconv.STATUS_INTERRUPTED]),
        "failed_nodes": by_status[semconv.STATUS_FAILED],
        "skipped_nodes": by_status[semconv.STATUS_SKIPPED],
        # rows that entered the pipeline (read steps) and left it (write steps)
        "rows_in": sum(s["rows_out"] or 0 for s in steps if s["type"] == "read"),
        "rows_out": sum(s["rows_out"] or 0 for s in steps if s["type"] == "write"),
    }


_STATUSES: Final = (
    semconv.STATUS_SUCCESS,
    semconv.STATUS_FAILED,
    semconv.STATUS_SKIPPED,
    semconv.STATUS_INTERRUPTED,
)


def _span_context(trace_id: str | None, span_id: str | None) -> SpanContext | None:
    if not trace_id or not span_id:
        return None
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False)


def _duration_ms(start_ns: int | None, end_ns: int | None) -> float | None:
    if start_ns is None or end_ns is None:
        return None
    return round((end_ns - start_ns) / 1e6, 3)

"""The lineage Tracker: what each node received and produced, recorded cheaply while it runs.

Per node the tracker keeps a "before" snapshot per input (by data key) and an "after" snapshot
per output: row and column counts, schema, estimated size and the first ``sample_rows`` rows
(:mod:`odibi_otel.lineage._snapshot`). A consumer's "before" snapshot is its producer's "after"
snapshot of the same key, taken once. Frames are read through the run's engine, so the tracker
works the same on every engine.

When the run finishes the tracker builds the lineage document (:meth:`Tracker.to_dict`,
:meth:`Tracker.export_lineage`) and emits it as OpenTelemetry log-based events
(``odibi.lineage.snapshot`` per step, ``odibi.lineage.run`` per run) correlated with the spans.
"""

from __future__ import annotations

import json
import os
import threading
import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanContext
from opentelemetry.util.types import AttributeValue

from odibi_otel._internal.atomic import write_bytes_atomic
from odibi_otel._internal.safety import call_safely
from odibi_otel._internal.timefmt import iso_utc
from odibi_otel.engines.base import Engine, EngineWork, get_engine
from odibi_otel.lineage._events import emit_lineage_events
from odibi_otel.lineage._snapshot import Snapshot, StepRecord, TrackedStep, row_delta
from odibi_otel.lineage.config import PII_PATTERN, REDACTED, TrackerConfig
from odibi_otel.lineage.document import duration_ms, run_summary, step_document, utf8_safe
from odibi_otel.lineage.schema_diff import merge_schemas, schema_diff
from odibi_otel.otel import semconv

__all__ = ["PII_PATTERN", "REDACTED", "Tracker", "TrackerConfig"]


class Tracker:
    """Lineage of one pipeline run; ``result["tracker"]`` after ``Orchestrator(enable_tracker=True)``.

    Use :meth:`export_lineage` to write the lineage document, :meth:`to_dict` to get it, and
    :attr:`steps` for the per-step records.
    """

    def __init__(
        self,
        pipeline_name: str,
        run_id: str,
        steps: Iterable[TrackedStep],
        config: TrackerConfig | None = None,
        logger_provider: Any | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.config = config or TrackerConfig()
        self.engine = engine or get_engine("pandas")
        self._records = {step.name: StepRecord(step) for step in steps}
        self._after_by_key: dict[str, Snapshot] = {}
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

    def node_started(self, name: str, inputs: Mapping[str, Any], start_ns: int) -> None:
        """Snapshot a node's inputs (reusing the producers' snapshots of the same keys)."""
        record = self._records[name]
        record.start_ns = start_ns
        for key, frame in inputs.items():
            snapshot = self._after_by_key.get(key)
            if snapshot is None:
                snapshot = Snapshot(frame, self.config, self.engine)
            record.before[key] = snapshot

    def node_finished(
        self,
        name: str,
        outputs: Mapping[str, Any],
        *,
        end_ns: int,
        span_context: SpanContext,
        cache_hit: bool | None,
        error: BaseException | None,
        output_sizes: Mapping[str, int] | None = None,
        checks: Sequence[Mapping[str, Any]] = (),
        anomalies: Sequence[Mapping[str, Any]] = (),
        engine_work: Sequence[EngineWork] = (),
    ) -> dict[str, AttributeValue]:
        """Snapshot a node's outputs; returns the lineage summary attributes for its span.

        ``output_sizes`` ({key: bytes}) are sizes the caller already estimated for the outputs;
        ``checks`` and ``anomalies`` are the node's check results and anomaly findings (dicts);
        ``engine_work`` the jobs a lazy engine ran for the node (Spark jobs with their stages).
        """
        record = self._records[name]
        record.checks = [dict(check) for check in checks]
        record.anomalies = [dict(anomaly) for anomaly in anomalies]
        record.engine_work = tuple(engine_work)
        record.end_ns = end_ns
        record.span_context = span_context
        record.cache_hit = cache_hit
        if error is not None:
            record.status = (
                semconv.STATUS_FAILED if isinstance(error, Exception) else semconv.STATUS_INTERRUPTED
            )
            record.error = {
                "type": type(error).__name__,
                "message": utf8_safe(str(error)),
                "traceback": utf8_safe("".join(traceback.format_exception(error))),
            }
            return {}
        record.status = semconv.STATUS_SUCCESS
        if record.step.type == "write":
            record.after = {os.fspath(record.step.value): record.before[record.step.input_keys[0]]}
        else:
            sizes = output_sizes or {}
            record.after = {
                key: Snapshot(frame, self.config, self.engine, sizes.get(key))
                for key, frame in outputs.items()
            }
            with self._lock:
                self._after_by_key.update(record.after)
        record.diff = schema_diff(
            merge_schemas(s.schema for s in record.before.values()),
            merge_schemas(s.schema for s in record.after.values()),
        )
        attributes: dict[str, AttributeValue] = {
            semconv.NODE_SCHEMA_ADDED: len(record.diff["added"]),
            semconv.NODE_SCHEMA_REMOVED: len(record.diff["removed"]),
            semconv.NODE_SCHEMA_CHANGED: len(record.diff["changed"]),
        }
        delta = row_delta(record)
        if delta is not None:
            attributes[semconv.NODE_ROW_DELTA] = delta
        return attributes

    def run_finished(self, status: str, end_ns: int) -> None:
        """The run ended: build the lineage document and emit it as log-based events."""
        self._run.update(status=status, end_ns=end_ns)
        self.count_late_rows()
        self._document = self._build_document()
        if self._logger_provider is not None:
            call_safely(
                "Tracker.emit_events",
                emit_lineage_events,
                self._logger_provider,
                self._document,
                list(self._records.values()),
                end_ns,
            )

    def count_late_rows(self) -> None:
        """Take the row counts later jobs produced (lazy engines), each for the step that made the frame."""
        snapshots = [s for r in self._records.values() for s in (*r.before.values(), *r.after.values())]
        for snapshot in snapshots:
            snapshot.count_late()
        # samples after every count: a sample's job (limit(n)) would complete a count with n rows
        for snapshot in snapshots:
            if snapshot.sample_later is not None:
                call_safely("Tracker: late sample", snapshot.take_late_sample)

    # -- public ---------------------------------------------------------------------------------

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The per-step lineage records, in pipeline order."""
        return list(self.to_dict()["steps"])

    def step_document(self, name: str) -> dict[str, Any]:
        """The lineage record of step ``name`` as it stands now (e.g. right after its node ended)."""
        return step_document(self._records[name], self.config)

    @property
    def run_info(self) -> dict[str, Any]:
        """The run's ids and status so far: ``trace_id``, ``span_id`` (hex), ``status``."""
        run = self._run
        return {"trace_id": run["trace_id"], "span_id": run["span_id"], "status": run["status"]}

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
        steps = [step_document(record, self.config) for record in self._records.values()]
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
            "duration_ms": duration_ms(run["start_ns"], run["end_ns"]),
            "status": run["status"],
            "steps": steps,
            "summary": run_summary(steps),
        }

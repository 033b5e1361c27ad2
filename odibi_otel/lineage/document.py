"""The lineage document: the run-level fields and summary every lineage source shares.

The tracker builds the document from what it recorded; :mod:`odibi_otel.lineage.from_telemetry`
rebuilds the same document from an exported telemetry file. Both use these helpers, so the two
agree field for field. The format is documented in ``docs/lineage.md``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from opentelemetry import trace

from odibi_otel._internal.text import truncate_text
from odibi_otel._internal.timefmt import iso_utc
from odibi_otel.engines.base import EngineWork
from odibi_otel.lineage._snapshot import StepRecord, row_delta
from odibi_otel.lineage.config import TrackerConfig
from odibi_otel.otel import semconv

__all__ = ["STATUSES", "duration_ms", "run_summary", "step_document", "step_source", "utf8_safe"]

#: Every status a step of a lineage document can have.
STATUSES: Final = (
    semconv.STATUS_SUCCESS,
    semconv.STATUS_FAILED,
    semconv.STATUS_SKIPPED,
    semconv.STATUS_INTERRUPTED,
)


def duration_ms(start_ns: int | None, end_ns: int | None) -> float | None:
    """Milliseconds between two epoch-nanosecond times (3 decimals), ``None`` if either is unknown."""
    if start_ns is None or end_ns is None:
        return None
    return round((end_ns - start_ns) / 1e6, 3)


def utf8_safe(text: str) -> str:
    """``text`` with lone surrogates escaped, as every file and OTLP export can carry it."""
    return truncate_text(text, len(text))


def run_summary(steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The document's ``summary``: counts by status and the rows read and written."""
    by_status = {status: [s["name"] for s in steps if s["status"] == status] for status in STATUSES}
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


def step_document(record: StepRecord, config: TrackerConfig) -> dict[str, Any]:
    """One entry of the document's ``steps``, from what the tracker recorded of the step."""
    step = record.step
    before = {key: s.to_dict(config) for key, s in record.before.items()}
    after = {key: s.to_dict(config) for key, s in record.after.items()}
    context = record.span_context
    succeeded = record.status == semconv.STATUS_SUCCESS
    document: dict[str, Any] = {
        "name": step.name,
        "layer": step.layer,
        "type": step.type,
        "status": record.status,
        "inputs": list(step.input_keys),
        "outputs": list(step.output_keys),
        "span_id": trace.format_span_id(context.span_id) if context else None,
        "start_time": iso_utc(record.start_ns),
        "end_time": iso_utc(record.end_ns),
        "duration_ms": duration_ms(record.start_ns, record.end_ns),
        "cache_hit": record.cache_hit,
        "rows_in": _total_rows(before.values()) if before else 0,
        "rows_out": _total_rows(after.values()) if succeeded else None,
        "row_delta": row_delta(record) if succeeded else None,
        "before": before,
        "after": after,
        "schema_diff": record.diff,
        "error": record.error,
        "source": step_source(step),
    }
    if record.checks:  # only steps with checks carry the key (documents of others are unchanged)
        document["checks"] = record.checks
    if record.anomalies:
        document["anomalies"] = record.anomalies
    if record.engine_work:  # Spark: the node's jobs and their stages (pandas documents unchanged)
        document["engine_work"] = [work_document(work) for work in record.engine_work]
    return document


def work_document(work: EngineWork) -> dict[str, Any]:
    """One engine job (or stage) of a step, with its parts: the story's bars under the step."""
    document: dict[str, Any] = {
        "name": work.name,
        "start_time": iso_utc(work.start_ns),
        "end_time": iso_utc(work.end_ns),
        "duration_ms": duration_ms(work.start_ns, work.end_ns),
        "failure": utf8_safe(work.failure) if work.failure is not None else None,
        "figures": dict(work.attributes),
    }
    if work.children:
        document["parts"] = [work_document(child) for child in work.children]
    return document


def step_source(step: Any) -> dict[str, Any]:
    """What a step reads, runs or writes: ``{"path": ...}``, ``{"query": ..., "tables": {table: data key}}``
    or ``{"function": ...}``.

    Metadata only (no data values), for catalogs (OpenLineage) and the story.
    """
    value = step.value
    if step.type in ("read", "write"):
        resolve = getattr(step, "resolved_path", None)
        return {"path": os.fspath(resolve() if callable(resolve) else value)}
    if step.type == "sql":
        names = getattr(step, "table_names", step.input_keys)
        return {"query": utf8_safe(str(value)), "tables": dict(zip(names, step.input_keys, strict=True))}
    if callable(value):
        module = getattr(value, "__module__", None) or ""
        name = getattr(value, "__qualname__", None) or type(value).__qualname__
        return {"function": f"{module}.{name}" if module else name}
    return {"function": str(value)}


def _total_rows(snapshots: Iterable[Mapping[str, Any]]) -> int | None:
    """Rows of the snapshots together; ``None`` ("not computed") when one has no count."""
    counts = [snapshot["rows"] for snapshot in snapshots]
    return None if any(rows is None for rows in counts) else sum(counts)

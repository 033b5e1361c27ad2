"""The lineage document rebuilt from an OTLP/JSON span/log file.

:func:`lineage_from_otlp_file` reads a file of OTLP/JSON lines (odibi_otel's
:class:`~odibi_otel.otel.otlp_json.OtlpJsonFile`, the OpenTelemetry Collector's file exporter, or
any OTLP/JSON writer) and returns a lineage document in the format of
:meth:`Tracker.to_dict() <odibi_otel.lineage.tracker.Tracker.to_dict>`, for one run of the file:

* **Tracker events present** (``odibi.lineage.run`` and ``odibi.lineage.snapshot`` log-based
  events): the document is the run event's body with the snapshot events' bodies as ``steps``,
  in the order they were emitted (pipeline order). This equals the tracker's own document, so a
  story rebuilt from the file equals the story from the lineage file.
* **Only spans** (the tracker was off, or its events were not exported): steps are built from the
  node spans (name, layer, type, status, timings, rows, cache hit, error from the ``exception``
  event, and on Spark the node's job and stage spans as ``engine_work``) and skipped steps from
  the pipeline span's ``odibi.pipeline.skipped_nodes``. There are no
  snapshots (``before``/``after`` are empty, ``schema_diff`` is ``null``); a skipped step has no
  span, so its ``layer``, ``type``, ``inputs`` and ``outputs`` are unknown (``null`` / empty). Steps
  that ran are ordered by start time, skipped steps follow.
* **No odibi_otel spans at all**: one trace of the file becomes a document with
  ``pipeline_name`` = the root span's name, ``status`` = ``"failed"`` if a span has an error status
  else ``"success"``, no steps, and a ``"timeline"`` list of the trace's spans, which a story
  renders as a plain timeline.

Runs are told apart by ``odibi.run.id``; by default the latest run (by start time) is used, and
``run_id=`` picks another (for a file without odibi_otel spans, ``run_id`` may name a trace id).
``include_timeline=True`` adds the ``"timeline"`` of the run's spans (the pipeline span and
everything under it, including spans that step functions started) to an odibi_otel run's
document too; it is off by default so the document stays exactly the tracker's.

A timeline entry: ``name``, ``trace_id``, ``span_id``, ``parent_span_id``, ``scope``,
``start_time``/``end_time`` (ISO 8601, UTC), ``start_ns``/``end_ns``, ``duration_ms``, ``status``
(``"unset"``, ``"ok"`` or ``"error"``), ``status_message``, ``attributes`` and ``events`` (``name``,
``time``, ``attributes``), all JSON-safe (bytes as ``"base64:..."``, NaN as ``null``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from odibi_otel._internal.timefmt import iso_utc
from odibi_otel.errors import TelemetryFileError
from odibi_otel.lineage import _telemetry_runs
from odibi_otel.lineage._telemetry_runs import (
    Run,
    collect_runs,
    event_name,
    integer,
    run_fields_from_spans,
    span_steps,
    unique_spans,
)
from odibi_otel.lineage._trace_timeline import root_span, run_timeline, trace_document
from odibi_otel.lineage.document import run_summary
from odibi_otel.otel import semconv
from odibi_otel.otel.otlp_json import DecodedLogRecord, DecodedSpan, TelemetryData, read_telemetry_file

__all__ = ["lineage_from_otlp_file", "lineage_from_telemetry", "list_runs"]

#: Status of a run rebuilt from node spans alone (its pipeline span is not in the file).
STATUS_UNKNOWN: Final = _telemetry_runs.STATUS_UNKNOWN
#: Optional ``odibi.lineage.snapshot`` event attribute: the step's position in pipeline order.
STEP_INDEX_ATTRIBUTE: Final = semconv.LINEAGE_STEP_INDEX


def lineage_from_otlp_file(
    path: str | os.PathLike[str], run_id: str | None = None, *, include_timeline: bool = False
) -> dict[str, Any]:
    """Read an OTLP/JSON file and rebuild the lineage document of one run (see the module docstring).

    Args:
        path: The OTLP/JSON lines file.
        run_id: The run (``odibi.run.id``) to rebuild; default: the latest run in the file.
        include_timeline: Add the run's spans as ``"timeline"`` (always there for foreign spans).

    Raises:
        TelemetryFileError: The file is unreadable or malformed, holds no spans or lineage events,
            or has no run ``run_id``.
    """
    return lineage_from_telemetry(read_telemetry_file(path), run_id, include_timeline=include_timeline)


def lineage_from_telemetry(
    data: TelemetryData, run_id: str | None = None, *, include_timeline: bool = False
) -> dict[str, Any]:
    """Rebuild the lineage document of one run from decoded telemetry (see the module docstring).

    Args:
        data: What :func:`read_telemetry_file` or :func:`~odibi_otel.otel.otlp_json.decode_lines` returned.
        run_id: The run (``odibi.run.id``) to rebuild; default: the latest run. For telemetry
            without odibi_otel spans: a trace id; default: the latest trace.
        include_timeline: Add the run's spans as ``"timeline"`` (always there for foreign spans).

    Raises:
        TelemetryFileError: No spans or lineage events, no run ``run_id``, or a lineage event
            whose body is not a lineage record.
    """
    spans = unique_spans(data.spans)
    runs = collect_runs(spans, data.logs)
    if runs:
        run = _choose_run(data.source, runs, run_id)
        return _run_document(data.source, run, spans, include_timeline)
    if not spans:
        raise TelemetryFileError(
            data.source, None, "the file holds no spans and no odibi_otel lineage events"
        )
    return trace_document(_choose_trace(data.source, spans, run_id))


def list_runs(data: TelemetryData) -> list[dict[str, Any]]:
    """The odibi_otel runs found in decoded telemetry, oldest first.

    Returns:
        One dict per run: ``run_id``, ``pipeline_name``, ``start_time`` (ISO 8601 or ``None``),
        ``has_lineage_events`` and ``node_spans`` (count).
    """
    runs = sorted(collect_runs(unique_spans(data.spans), data.logs).values(), key=Run.sort_key)
    return [
        {
            "run_id": run.run_id,
            "pipeline_name": run.pipeline_name(),
            "start_time": iso_utc(run.start_ns()),
            "has_lineage_events": run.has_events,
            "node_spans": len(run.node_spans),
        }
        for run in runs
    ]


def _choose_run(source: str, runs: Mapping[str, Run], run_id: str | None) -> Run:
    """Run ``run_id``, or the latest run."""
    if run_id is None:
        return max(runs.values(), key=Run.sort_key)
    if run_id in runs:
        return runs[run_id]
    known = ", ".join(sorted(runs))
    raise TelemetryFileError(source, None, f"no run {run_id!r} in the file (runs: {known})")


def _choose_trace(source: str, spans: list[DecodedSpan], run_id: str | None) -> list[DecodedSpan]:
    """The spans of trace ``run_id`` (a trace id), or of the latest trace (by its root's start)."""
    traces: dict[str, list[DecodedSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    if run_id is None:
        return max(traces.values(), key=lambda group: (root_span(group).start_ns, group[-1].line))
    if run_id.lower() in traces:
        return traces[run_id.lower()]
    raise TelemetryFileError(
        source, None, f"no odibi_otel run and no trace {run_id!r} in the file ({len(traces)} traces)"
    )


def _run_document(source: str, run: Run, spans: list[DecodedSpan], include_timeline: bool) -> dict[str, Any]:
    steps = _event_steps(source, run)
    names = {step["name"] for step in steps}
    steps.extend(step for step in span_steps(run, spans) if step["name"] not in names)
    if run.run_events:
        document = _with_steps(_body(source, run.run_events[0]), steps)
    else:
        document = run_fields_from_spans(run)
        document["steps"] = steps
        document["summary"] = run_summary(steps)
    if include_timeline:
        document["timeline"] = run_timeline(run, spans)
    return document


def _body(source: str, record: DecodedLogRecord) -> dict[str, Any]:
    body = record.body
    if not isinstance(body, dict):
        raise TelemetryFileError(
            source,
            record.line,
            f"{event_name(record)} event: expected a map body (kvlistValue), got {type(body).__name__}",
        )
    return body


def _event_steps(source: str, run: Run) -> list[dict[str, Any]]:
    """The snapshot events' bodies in pipeline order, one per step name.

    Pipeline order is the events' ``odibi.lineage.step_index`` attribute when every event has
    one (so files whose records a pipeline reordered still come out right), else file order,
    which is the order the tracker emits them in.
    """
    records = run.snapshots
    indexes = [integer(record.attributes.get(STEP_INDEX_ATTRIBUTE)) for record in records]
    if records and all(index is not None for index in indexes):
        order = {id(record): index or 0 for record, index in zip(records, indexes, strict=True)}
        records = sorted(records, key=lambda record: order[id(record)])
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    for record in records:
        body = _body(source, record)
        name = body.get("name")
        if not isinstance(name, str):
            raise TelemetryFileError(
                source, record.line, f"{semconv.EVENT_LINEAGE_SNAPSHOT} event: the body has no step 'name'"
            )
        if name not in seen:
            seen.add(name)
            steps.append(body)
    return steps


def _with_steps(run_body: Mapping[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The run body with ``steps`` put back where the tracker's document has it (before ``summary``)."""
    document: dict[str, Any] = {}
    for key, value in run_body.items():
        if key == "summary" and "steps" not in document:
            document["steps"] = steps
        if key != "steps":
            document[key] = value
    document.setdefault("steps", steps)
    return document

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
  event) and skipped steps from the pipeline span's ``odibi.pipeline.skipped_nodes``. There are no
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

import base64
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from odibi_otel._internal.timefmt import iso_utc
from odibi_otel.errors import TelemetryFileError
from odibi_otel.lineage.document import duration_ms, run_summary
from odibi_otel.otel import semconv
from odibi_otel.otel.otlp_json import (
    STATUS_CODE_ERROR,
    STATUS_CODE_OK,
    DecodedLogRecord,
    DecodedSpan,
    TelemetryData,
    read_telemetry_file,
)

__all__ = ["lineage_from_otlp_file", "lineage_from_telemetry", "list_runs"]

#: Status of a run rebuilt from node spans alone (its pipeline span is not in the file).
STATUS_UNKNOWN: Final = "unknown"
#: Optional ``odibi.lineage.snapshot`` event attribute: the step's position in pipeline order.
STEP_INDEX_ATTRIBUTE: Final = semconv.LINEAGE_STEP_INDEX

_EXCEPTION_TYPE: Final = "exception.type"
_EXCEPTION_MESSAGE: Final = "exception.message"
_EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
_EVENT_NAME_ATTRIBUTE: Final = "event.name"  # where older SDKs and some pipelines put the event name
_FAILED_STATUSES: Final = (semconv.STATUS_FAILED, semconv.STATUS_INTERRUPTED)


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
    spans = _unique_spans(data.spans)
    runs = _collect_runs(spans, data.logs)
    if runs:
        if run_id is None:
            run = max(runs.values(), key=_Run.sort_key)
        elif run_id in runs:
            run = runs[run_id]
        else:
            known = ", ".join(sorted(runs))
            raise TelemetryFileError(data.source, None, f"no run {run_id!r} in the file (runs: {known})")
        return _run_document(data.source, run, spans, include_timeline)
    if not spans:
        raise TelemetryFileError(
            data.source, None, "the file holds no spans and no odibi_otel lineage events"
        )
    traces: dict[str, list[DecodedSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    if run_id is None:
        chosen = max(traces.values(), key=lambda group: (_root(group).start_ns, group[-1].line))
    elif run_id.lower() in traces:
        chosen = traces[run_id.lower()]
    else:
        raise TelemetryFileError(
            data.source, None, f"no odibi_otel run and no trace {run_id!r} in the file ({len(traces)} traces)"
        )
    return _trace_document(chosen)


def list_runs(data: TelemetryData) -> list[dict[str, Any]]:
    """The odibi_otel runs found in decoded telemetry, oldest first.

    Returns:
        One dict per run: ``run_id``, ``pipeline_name``, ``start_time`` (ISO 8601 or ``None``),
        ``has_lineage_events`` and ``node_spans`` (count).
    """
    runs = sorted(_collect_runs(_unique_spans(data.spans), data.logs).values(), key=_Run.sort_key)
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


# -- finding runs ---------------------------------------------------------------------------------


@dataclass
class _Run:
    """Everything in the file that belongs to one odibi_otel run."""

    run_id: str
    pipeline_spans: list[DecodedSpan] = field(default_factory=list)
    node_spans: list[DecodedSpan] = field(default_factory=list)
    run_events: list[DecodedLogRecord] = field(default_factory=list)
    snapshots: list[DecodedLogRecord] = field(default_factory=list)
    last_line: int = 0

    @property
    def pipeline_span(self) -> DecodedSpan | None:
        return self.pipeline_spans[0] if self.pipeline_spans else None

    def start_ns(self) -> int | None:
        if self.pipeline_span is not None:
            return self.pipeline_span.start_ns
        for event in self.run_events:
            body = event.body
            if isinstance(body, Mapping) and isinstance(body.get("start_time"), str):
                try:
                    return int(datetime.fromisoformat(body["start_time"]).timestamp() * 1e9)
                except ValueError:
                    pass
        if self.node_spans:
            return min(span.start_ns for span in self.node_spans)
        times = [event.time_ns for event in (*self.run_events, *self.snapshots) if event.time_ns]
        return min(times) if times else None

    @property
    def has_events(self) -> bool:
        return bool(self.run_events or self.snapshots)

    def sort_key(self) -> tuple[int, int]:
        return (self.start_ns() or 0, self.last_line)

    def pipeline_name(self) -> str | None:
        attribute_sets = [item.attributes for item in (*self.pipeline_spans, *self.node_spans)]
        attribute_sets += [item.attributes for item in (*self.run_events, *self.snapshots)]
        for attributes in attribute_sets:
            name = attributes.get(semconv.PIPELINE_NAME)
            if isinstance(name, str):
                return name
        return None


def _unique_spans(spans: Iterable[DecodedSpan]) -> list[DecodedSpan]:
    """The spans with duplicates (same trace and span id, e.g. a file written twice) dropped."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for span in spans:
        key = (span.trace_id, span.span_id)
        if key not in seen:
            seen.add(key)
            unique.append(span)
    return unique


def _is_pipeline_span(span: DecodedSpan) -> bool:
    attributes = span.attributes
    return (
        span.name.startswith(semconv.PIPELINE_SPAN_PREFIX)
        and isinstance(attributes.get(semconv.PIPELINE_NAME), str)
        and semconv.NODE_NAME not in attributes
    )


def _is_node_span(span: DecodedSpan) -> bool:
    return span.name.startswith(semconv.NODE_SPAN_PREFIX) and isinstance(
        span.attributes.get(semconv.NODE_NAME), str
    )


def _event_name(record: DecodedLogRecord) -> str:
    if record.event_name:
        return record.event_name
    name = record.attributes.get(_EVENT_NAME_ATTRIBUTE)
    return name if isinstance(name, str) else ""


def _collect_runs(spans: Iterable[DecodedSpan], logs: Iterable[DecodedLogRecord]) -> dict[str, _Run]:
    runs: dict[str, _Run] = {}

    def run_for(run_id: Any, line: int) -> _Run | None:
        if not isinstance(run_id, str) or not run_id:
            return None
        run = runs.setdefault(run_id, _Run(run_id))
        run.last_line = max(run.last_line, line)
        return run

    for span in spans:
        run = run_for(span.attributes.get(semconv.RUN_ID), span.line)
        if run is None:
            continue
        if _is_node_span(span):
            run.node_spans.append(span)
        elif _is_pipeline_span(span):
            run.pipeline_spans.append(span)
    for record in logs:
        name = _event_name(record)
        if name not in (semconv.EVENT_LINEAGE_RUN, semconv.EVENT_LINEAGE_SNAPSHOT):
            continue
        run_id = record.attributes.get(semconv.RUN_ID)
        if run_id is None and isinstance(record.body, Mapping):
            run_id = record.body.get("run_id")
        run = run_for(run_id, record.line)
        if run is None:
            continue
        (run.run_events if name == semconv.EVENT_LINEAGE_RUN else run.snapshots).append(record)
    # runs made only of stray spans that carry odibi.run.id are not runs
    return {key: run for key, run in runs.items() if run.pipeline_spans or run.node_spans or run.has_events}


# -- an odibi_otel run ----------------------------------------------------------------------------


def _run_document(source: str, run: _Run, spans: list[DecodedSpan], include_timeline: bool) -> dict[str, Any]:
    steps = _event_steps(source, run)
    names = {step["name"] for step in steps}
    steps.extend(step for step in _span_steps(run) if step["name"] not in names)
    if run.run_events:
        document = _with_steps(_body(source, run.run_events[0]), steps)
    else:
        document = _run_fields_from_spans(run)
        document["steps"] = steps
        document["summary"] = run_summary(steps)
    if include_timeline:
        document["timeline"] = _run_timeline(run, spans)
    return document


def _body(source: str, record: DecodedLogRecord) -> dict[str, Any]:
    body = record.body
    if not isinstance(body, dict):
        raise TelemetryFileError(
            source,
            record.line,
            f"{_event_name(record)} event: expected a map body (kvlistValue), got {type(body).__name__}",
        )
    return body


def _event_steps(source: str, run: _Run) -> list[dict[str, Any]]:
    """The snapshot events' bodies in pipeline order, one per step name.

    Pipeline order is the events' ``odibi.lineage.step_index`` attribute when every event has
    one (so files whose records a pipeline reordered still come out right), else file order,
    which is the order the tracker emits them in.
    """
    records = run.snapshots
    indexes = [_integer(record.attributes.get(STEP_INDEX_ATTRIBUTE)) for record in records]
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


def _run_fields_from_spans(run: _Run) -> dict[str, Any]:
    pipeline = run.pipeline_span
    nodes = run.node_spans
    if pipeline is not None:
        status = pipeline.attributes.get(semconv.PIPELINE_STATUS)
        if not isinstance(status, str):
            status = (
                semconv.STATUS_FAILED if pipeline.status_code == STATUS_CODE_ERROR else semconv.STATUS_SUCCESS
            )
        trace_id: str | None = pipeline.trace_id
        span_id: str | None = pipeline.span_id
        start_ns: int | None = pipeline.start_ns
        end_ns: int | None = pipeline.end_ns
    else:
        status = STATUS_UNKNOWN
        first = min(nodes, key=lambda span: (span.start_ns, span.line)) if nodes else None
        events = [*run.run_events, *run.snapshots]
        trace_id = first.trace_id if first else next((e.trace_id for e in events if e.trace_id), None)
        span_id = first.parent_span_id if first else None
        start_ns = min(span.start_ns for span in nodes) if nodes else None
        end_ns = max(span.end_ns for span in nodes) if nodes else None
    return {
        "format": semconv.LINEAGE_FORMAT,
        "version": semconv.LINEAGE_VERSION,
        "pipeline_name": run.pipeline_name(),
        "run_id": run.run_id,
        "trace_id": trace_id,
        "span_id": span_id,
        "start_time": iso_utc(start_ns),
        "end_time": iso_utc(end_ns),
        "duration_ms": duration_ms(start_ns, end_ns),
        "status": status,
    }


def _span_steps(run: _Run) -> list[dict[str, Any]]:
    """Steps from node spans (by start time), then the pipeline span's skipped nodes."""
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    for span in sorted(run.node_spans, key=lambda span: (span.start_ns, span.line)):
        step = _step_from_span(span)
        if step["name"] not in seen:
            seen.add(step["name"])
            steps.append(step)
    pipeline = run.pipeline_span
    skipped = pipeline.attributes.get(semconv.PIPELINE_SKIPPED_NODES) if pipeline is not None else None
    for name in skipped if isinstance(skipped, list) else []:
        if isinstance(name, str) and name not in seen:
            seen.add(name)
            steps.append(_skipped_step(name))
    return steps


def _step_from_span(span: DecodedSpan) -> dict[str, Any]:
    attributes = span.attributes
    status = attributes.get(semconv.NODE_STATUS)
    if not isinstance(status, str):
        status = semconv.STATUS_FAILED if span.status_code == STATUS_CODE_ERROR else semconv.STATUS_SUCCESS
    succeeded = status == semconv.STATUS_SUCCESS
    step_type = _text(attributes.get(semconv.NODE_TYPE))
    rows_in = _integer(attributes.get(semconv.NODE_ROWS_IN)) or 0
    rows_out = _integer(attributes.get(semconv.NODE_ROWS_OUT)) if succeeded else None
    row_delta = _integer(attributes.get(semconv.NODE_ROW_DELTA)) if succeeded else None
    if succeeded and row_delta is None and rows_out is not None:
        row_delta = 0 if step_type == "write" else rows_out - rows_in
    cache_hit = attributes.get(semconv.NODE_CACHE_HIT)
    return {
        "name": attributes[semconv.NODE_NAME],
        "layer": _text(attributes.get(semconv.NODE_LAYER)),
        "type": step_type,
        "status": status,
        "inputs": _texts(attributes.get(semconv.NODE_INPUTS)),
        "outputs": _texts(attributes.get(semconv.NODE_OUTPUTS)),
        "span_id": span.span_id,
        "start_time": iso_utc(span.start_ns),
        "end_time": iso_utc(span.end_ns),
        "duration_ms": duration_ms(span.start_ns, span.end_ns),
        "cache_hit": cache_hit if isinstance(cache_hit, bool) else None,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "row_delta": row_delta,
        "before": {},
        "after": {},
        "schema_diff": None,
        "error": _span_error(span) if status in _FAILED_STATUSES else None,
    }


def _span_error(span: DecodedSpan) -> dict[str, str]:
    """The tracker's error record (``type`` = class name, ``message``, ``traceback``) from a span."""
    event = span.exception
    if event is not None:
        qualified = _text(event.attributes.get(_EXCEPTION_TYPE)) or ""
        return {
            "type": qualified.rsplit(".", 1)[-1],
            "message": _text(event.attributes.get(_EXCEPTION_MESSAGE)) or "",
            "traceback": _text(event.attributes.get(_EXCEPTION_STACKTRACE)) or "",
        }
    error_type = (_text(span.attributes.get(semconv.ERROR_TYPE)) or "").rsplit(".", 1)[-1]
    message = span.status_message
    if error_type and message.startswith(error_type + ": "):
        message = message[len(error_type) + 2 :]
    return {"type": error_type, "message": message, "traceback": ""}


def _skipped_step(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "layer": None,
        "type": None,
        "status": semconv.STATUS_SKIPPED,
        "inputs": [],
        "outputs": [],
        "span_id": None,
        "start_time": None,
        "end_time": None,
        "duration_ms": None,
        "cache_hit": None,
        "rows_in": 0,
        "rows_out": None,
        "row_delta": None,
        "before": {},
        "after": {},
        "schema_diff": None,
        "error": None,
    }


def _run_timeline(run: _Run, spans: list[DecodedSpan]) -> list[dict[str, Any]]:
    """The pipeline span (or, without it, the node spans) and every span under it."""
    roots = run.pipeline_spans or run.node_spans
    if not roots:
        return []
    trace_ids = {span.trace_id for span in roots}
    candidates = [span for span in spans if span.trace_id in trace_ids]
    children: dict[str, list[DecodedSpan]] = {}
    for span in candidates:
        if span.parent_span_id is not None:
            children.setdefault(span.parent_span_id, []).append(span)
    included: dict[tuple[str, str], DecodedSpan] = {}
    pending = list(roots)
    while pending:
        span = pending.pop()
        key = (span.trace_id, span.span_id)
        if key in included:
            continue
        included[key] = span
        pending.extend(children.get(span.span_id, []))
    return _timeline(included.values())


# -- spans not made by odibi_otel -----------------------------------------------------------------


def _root(spans: list[DecodedSpan]) -> DecodedSpan:
    """The earliest span without a parent in ``spans`` (or the earliest span)."""
    ids = {span.span_id for span in spans}
    roots = [span for span in spans if span.parent_span_id is None or span.parent_span_id not in ids]
    return min(roots or spans, key=lambda span: (span.start_ns, span.line))


def _trace_document(spans: list[DecodedSpan]) -> dict[str, Any]:
    root = _root(spans)
    start_ns = min(span.start_ns for span in spans)
    end_ns = max(span.end_ns for span in spans)
    failed = any(span.status_code == STATUS_CODE_ERROR for span in spans)
    return {
        "format": semconv.LINEAGE_FORMAT,
        "version": semconv.LINEAGE_VERSION,
        "pipeline_name": root.name,
        "run_id": None,
        "trace_id": root.trace_id,
        "span_id": root.span_id,
        "start_time": iso_utc(start_ns),
        "end_time": iso_utc(end_ns),
        "duration_ms": duration_ms(start_ns, end_ns),
        "status": semconv.STATUS_FAILED if failed else semconv.STATUS_SUCCESS,
        "steps": [],
        "summary": run_summary([]),
        "timeline": _timeline(spans),
    }


def _timeline(spans: Iterable[DecodedSpan]) -> list[dict[str, Any]]:
    ordered = sorted(spans, key=lambda span: (span.start_ns, span.line))
    return [_timeline_entry(span) for span in ordered]


def _timeline_entry(span: DecodedSpan) -> dict[str, Any]:
    status = {STATUS_CODE_OK: "ok", STATUS_CODE_ERROR: "error"}.get(span.status_code, "unset")
    return {
        "name": span.name,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "scope": span.scope_name,
        "start_time": iso_utc(span.start_ns),
        "end_time": iso_utc(span.end_ns),
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "duration_ms": duration_ms(span.start_ns, span.end_ns),
        "status": status,
        "status_message": span.status_message,
        "attributes": _json_safe(span.attributes),
        "events": [
            {"name": event.name, "time": iso_utc(event.time_ns), "attributes": _json_safe(event.attributes)}
            for event in span.events
        ],
    }


# -- small helpers --------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Decoded attribute values as JSON: bytes → ``"base64:..."``, NaN → ``None``, ±inf → text."""
    if isinstance(value, bytes):
        return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

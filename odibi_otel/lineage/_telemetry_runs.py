"""The odibi_otel runs in decoded telemetry, and a run's steps rebuilt from its spans.

Spans and lineage events are grouped into runs by ``odibi.run.id`` (:func:`collect_runs`). A run
without lineage events gets its document fields from the pipeline span (or, without it, the node
spans; status ``"unknown"``) and its steps from the node spans (:func:`span_steps`): name, layer,
type, status, timings, rows, cache hit, the error of the ``exception`` event and, on Spark, the
node's job spans with their stage spans as ``engine_work`` (as the tracker writes it), then the
pipeline span's skipped nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from odibi_otel._internal.timefmt import iso_utc
from odibi_otel.lineage.document import duration_ms, utf8_safe
from odibi_otel.otel import semconv
from odibi_otel.otel.otlp_json import STATUS_CODE_ERROR, DecodedLogRecord, DecodedSpan

__all__ = [
    "STATUS_UNKNOWN",
    "Run",
    "collect_runs",
    "event_name",
    "integer",
    "run_fields_from_spans",
    "span_steps",
    "unique_spans",
]

#: Status of a run rebuilt from node spans alone (its pipeline span is not in the file).
STATUS_UNKNOWN: Final = "unknown"

_EXCEPTION_TYPE: Final = "exception.type"
_EXCEPTION_MESSAGE: Final = "exception.message"
_EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
_EVENT_NAME_ATTRIBUTE: Final = "event.name"  # where older SDKs and some pipelines put the event name
_FAILED_STATUSES: Final = (semconv.STATUS_FAILED, semconv.STATUS_INTERRUPTED)
_WORK_PREFIXES: Final = (semconv.SPARK_JOB_SPAN_PREFIX, semconv.SPARK_STAGE_SPAN_PREFIX)

#: Engine work spans (Spark jobs and stages) by their parent: (trace id, parent span id).
_WorkSpans = Mapping[tuple[str, str], Sequence[DecodedSpan]]


@dataclass
class Run:
    """Everything in the file that belongs to one odibi_otel run."""

    run_id: str
    pipeline_spans: list[DecodedSpan] = field(default_factory=list)
    node_spans: list[DecodedSpan] = field(default_factory=list)
    run_events: list[DecodedLogRecord] = field(default_factory=list)
    snapshots: list[DecodedLogRecord] = field(default_factory=list)
    last_line: int = 0

    @property
    def pipeline_span(self) -> DecodedSpan | None:
        """The run's pipeline span (the first, if the file holds it twice), if the file has it."""
        return self.pipeline_spans[0] if self.pipeline_spans else None

    def start_ns(self) -> int | None:
        """When the run started: its pipeline span, run event, first node span or first event."""
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
        """Whether the tracker's lineage events of the run are in the file."""
        return bool(self.run_events or self.snapshots)

    def sort_key(self) -> tuple[int, int]:
        """Runs in time order (start, then the last file line that belongs to the run)."""
        return (self.start_ns() or 0, self.last_line)

    def pipeline_name(self) -> str | None:
        """The ``odibi.pipeline.name`` of the run's first span or event that has one."""
        attribute_sets = [item.attributes for item in (*self.pipeline_spans, *self.node_spans)]
        attribute_sets += [item.attributes for item in (*self.run_events, *self.snapshots)]
        for attributes in attribute_sets:
            name = attributes.get(semconv.PIPELINE_NAME)
            if isinstance(name, str):
                return name
        return None


def unique_spans(spans: Iterable[DecodedSpan]) -> list[DecodedSpan]:
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


def event_name(record: DecodedLogRecord) -> str:
    """The record's event name: ``eventName``, else its ``event.name`` attribute, else ``""``."""
    if record.event_name:
        return record.event_name
    name = record.attributes.get(_EVENT_NAME_ATTRIBUTE)
    return name if isinstance(name, str) else ""


def collect_runs(spans: Iterable[DecodedSpan], logs: Iterable[DecodedLogRecord]) -> dict[str, Run]:
    """The odibi_otel runs by run id: their pipeline and node spans and lineage events, in order."""
    runs: dict[str, Run] = {}

    def run_for(run_id: Any, line: int) -> Run | None:
        if not isinstance(run_id, str) or not run_id:
            return None
        run = runs.setdefault(run_id, Run(run_id))
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
        name = event_name(record)
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


def run_fields_from_spans(run: Run) -> dict[str, Any]:
    """The document's run fields (format to status) of a run without a run event, from its spans."""
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


def span_steps(run: Run, spans: Iterable[DecodedSpan] = ()) -> list[dict[str, Any]]:
    """Steps from node spans (by start time), then the pipeline span's skipped nodes.

    ``spans``: the file's spans, where a node's Spark job spans (and their stage spans) are found.
    """
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    work_spans = _work_spans(spans)
    for span in sorted(run.node_spans, key=lambda span: (span.start_ns, span.line)):
        step = _step_from_span(span, work_spans)
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


def _step_from_span(span: DecodedSpan, work_spans: _WorkSpans) -> dict[str, Any]:
    attributes = span.attributes
    status = attributes.get(semconv.NODE_STATUS)
    if not isinstance(status, str):
        status = semconv.STATUS_FAILED if span.status_code == STATUS_CODE_ERROR else semconv.STATUS_SUCCESS
    succeeded = status == semconv.STATUS_SUCCESS
    step_type = _text(attributes.get(semconv.NODE_TYPE))
    inputs = _texts(attributes.get(semconv.NODE_INPUTS))
    # left out on Spark when an input was not computed yet: "not computed" (None), never 0
    rows_in = integer(attributes.get(semconv.NODE_ROWS_IN))
    if rows_in is None and not inputs:
        rows_in = 0
    rows_out = integer(attributes.get(semconv.NODE_ROWS_OUT)) if succeeded else None
    row_delta = integer(attributes.get(semconv.NODE_ROW_DELTA)) if succeeded else None
    if succeeded and row_delta is None and rows_out is not None:
        if step_type == "write":
            row_delta = 0
        elif rows_in is not None:
            row_delta = rows_out - rows_in
    cache_hit = attributes.get(semconv.NODE_CACHE_HIT)
    step: dict[str, Any] = {
        "name": attributes[semconv.NODE_NAME],
        "layer": _text(attributes.get(semconv.NODE_LAYER)),
        "type": step_type,
        "status": status,
        "inputs": inputs,
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
    engine_work = _work_documents(span, work_spans, semconv.SPARK_JOB_SPAN_PREFIX)
    if engine_work:  # Spark: the node's jobs and their stages, as the tracker's document has them
        step["engine_work"] = engine_work
    return step


def _work_spans(spans: Iterable[DecodedSpan]) -> _WorkSpans:
    """The Spark job and stage spans among ``spans``, by parent."""
    by_parent: dict[tuple[str, str], list[DecodedSpan]] = {}
    for span in spans:
        if span.parent_span_id is not None and span.name.startswith(_WORK_PREFIXES):
            by_parent.setdefault((span.trace_id, span.parent_span_id), []).append(span)
    return by_parent


def _work_documents(parent: DecodedSpan, work_spans: _WorkSpans, prefix: str) -> list[dict[str, Any]]:
    """``parent``'s job spans (``prefix``: or a job's stage spans) as the tracker's ``engine_work``
    entries, in the engine's order: jobs by id, stages by start."""
    children = [
        span for span in work_spans.get((parent.trace_id, parent.span_id), ()) if span.name.startswith(prefix)
    ]
    jobs = prefix == semconv.SPARK_JOB_SPAN_PREFIX
    children.sort(key=_job_order if jobs else lambda span: (span.start_ns, span.name, span.line))
    return [_work_document(span, work_spans) for span in children]


def _job_order(span: DecodedSpan) -> tuple[bool, int, int, int]:
    job_id = integer(span.attributes.get(semconv.SPARK_JOB_ID))
    return (job_id is None, job_id or 0, span.start_ns, span.line)


def _work_document(span: DecodedSpan, work_spans: _WorkSpans) -> dict[str, Any]:
    """One job or stage span as an ``engine_work`` entry (see ``lineage.document.work_document``)."""
    failed = span.status_code == STATUS_CODE_ERROR
    document: dict[str, Any] = {
        "name": span.name,
        "start_time": iso_utc(span.start_ns),
        "end_time": iso_utc(span.end_ns),
        "duration_ms": duration_ms(span.start_ns, span.end_ns),
        "failure": utf8_safe(span.status_message or "failed") if failed else None,
        "figures": {
            key: value
            for key, value in span.attributes.items()
            if key != semconv.ERROR_TYPE and isinstance(value, (int, str)) and not isinstance(value, bool)
        },
    }
    parts = _work_documents(span, work_spans, semconv.SPARK_STAGE_SPAN_PREFIX)
    if parts:
        document["parts"] = parts
    return document


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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def integer(value: Any) -> int | None:
    """``value`` if it is an integer (not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None

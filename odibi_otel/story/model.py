"""The story view model: a lineage document turned into what the HTML story shows (pure functions).

:func:`build_story` validates a lineage document (the JSON of :meth:`Tracker.export_lineage
<odibi_otel.lineage.tracker.Tracker.export_lineage>`, or the same format rebuilt from an OTLP/JSON file)
and computes everything the template needs, so the template only lays it out:

* the header: pipeline, status, start, duration, node counts by status, rows in/out, trace id and
  an optional trace link;
* the timing waterfall: each step's offset and width as a percentage of the run, so nodes that ran
  in parallel overlap;
* a layered DAG layout: layer = longest path from a source over the steps' data keys, with x/y
  coordinates for an inline SVG and one edge per producer → consumer pair;
* one card per step: layer, status, timings, rows before → after with the delta, a schema table
  with added/removed/changed markers, sample tables and the error.

A document with a ``"timeline"`` list and no steps (spans not made by odibi_otel) becomes a plain
timeline of spans instead. Malformed input raises :class:`~odibi_otel.errors.StoryInputError`
naming the source and the place, e.g. ``lineage.json: steps[2].after.orders.rows: expected an
integer, got string '3'``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NoReturn
from urllib.parse import quote

from odibi_otel._internal.text import truncate_text
from odibi_otel._version import __version__
from odibi_otel.errors import StoryInputError
from odibi_otel.lineage.schema_diff import merge_schemas, schema_diff
from odibi_otel.otel import semconv

__all__ = [
    "MODE_PIPELINE",
    "MODE_TIMELINE",
    "Card",
    "Cell",
    "DagEdge",
    "DagLayout",
    "DagNode",
    "Header",
    "SampleColumn",
    "SampleTable",
    "SchemaRow",
    "StatusCount",
    "StepError",
    "Story",
    "Tick",
    "TimelineSpan",
    "Waterfall",
    "WaterfallRow",
    "build_story",
    "build_trace_url",
    "check_trace_url_template",
    "format_bytes",
    "format_count",
    "format_delta",
    "format_duration",
    "status_tone",
]

#: A story of odibi_otel steps (waterfall, DAG, cards).
MODE_PIPELINE: Final = "pipeline"
#: A plain timeline of spans that odibi_otel did not make.
MODE_TIMELINE: Final = "timeline"

#: DAG geometry (SVG user units).
NODE_WIDTH: Final = 188
NODE_HEIGHT: Final = 48
COLUMN_GAP: Final = 56
ROW_GAP: Final = 20
DAG_PADDING: Final = 16

#: Longest step name shown inside a DAG node before it is cut (the full name is its tooltip).
_NODE_LABEL_CHARS: Final = 19
_NODE_DETAIL_CHARS: Final = 25
#: Longest text shown in one sample cell (the tracker already cuts strings at 200 characters).
_MAX_CELL_CHARS: Final = 1000

_TONES: Final[Mapping[str, str]] = {
    semconv.STATUS_SUCCESS: "success",
    "ok": "success",
    semconv.STATUS_FAILED: "failed",
    "error": "failed",
    semconv.STATUS_INTERRUPTED: "interrupted",
    semconv.STATUS_SKIPPED: "skipped",
    "running": "running",
}
_STATUS_ORDER: Final = (
    semconv.STATUS_SUCCESS,
    "ok",
    semconv.STATUS_FAILED,
    "error",
    semconv.STATUS_INTERRUPTED,
    semconv.STATUS_SKIPPED,
    "running",
    "unset",
)
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TRACE_ID: Final = re.compile(r"[0-9a-fA-F]{32}\Z")


# -- the view model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCount:
    """How many nodes (or spans) ended with one status."""

    status: str
    tone: str
    count: int


@dataclass(frozen=True)
class Header:
    """The story's header: what ran, how it ended, how long it took."""

    title: str
    pipeline_name: str
    status: str
    tone: str
    run_id: str | None
    trace_id: str | None
    trace_url: str | None
    start_iso: str | None
    start_text: str
    duration_ms: float | None
    duration_text: str
    item_noun: str
    total: int
    counts: tuple[StatusCount, ...]
    rows_in: int | None
    rows_out: int | None
    rows_in_text: str
    rows_out_text: str


@dataclass(frozen=True)
class Tick:
    """A waterfall axis mark at ``percent`` of the run."""

    percent: float
    label: str


@dataclass(frozen=True)
class WaterfallRow:
    """One bar of the waterfall; ``offset_pct``/``width_pct`` are ``None`` when it never ran."""

    target_id: str
    name: str
    layer: str
    status: str
    tone: str
    depth: int
    offset_pct: float | None
    width_pct: float | None
    start_text: str
    duration_text: str

    @property
    def end_pct(self) -> float | None:
        """Where the bar ends, as a percentage of the run."""
        if self.offset_pct is None or self.width_pct is None:
            return None
        return self.offset_pct + self.width_pct


@dataclass(frozen=True)
class Waterfall:
    """The timing waterfall over the whole run (``total_ms`` wide)."""

    total_ms: float
    rows: tuple[WaterfallRow, ...]
    ticks: tuple[Tick, ...]


@dataclass(frozen=True)
class DagNode:
    """A step placed in the DAG: column ``layer``, top-left corner ``(x, y)``."""

    target_id: str
    name: str
    label: str
    detail: str
    layer_name: str
    status: str
    tone: str
    layer: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class DagEdge:
    """Data flowing from ``source`` to ``target`` (card ids) over the data ``keys``."""

    source: str
    target: str
    keys: tuple[str, ...]
    path: str
    tone: str


@dataclass(frozen=True)
class DagLayout:
    """The layered DAG diagram; ``width``/``height`` are the SVG viewBox size."""

    nodes: tuple[DagNode, ...]
    edges: tuple[DagEdge, ...]
    layers: int
    width: float
    height: float


@dataclass(frozen=True)
class Cell:
    """A sample value as text; ``kind`` is ``null``, ``bool``, ``num``, ``str``, ``json`` or ``redacted``."""

    text: str
    kind: str


@dataclass(frozen=True)
class SampleColumn:
    """A sample table column header."""

    name: str
    redacted: bool


@dataclass(frozen=True)
class SampleTable:
    """One snapshot of a step: its shape and (when captured) its first rows."""

    role: str
    key: str
    rows: int
    columns: int
    summary: str
    captured: bool
    headers: tuple[SampleColumn, ...]
    body: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class SchemaRow:
    """A column of a step's schema table; ``marker`` is added/removed/changed/same/input."""

    column: str
    before: str | None
    after: str | None
    marker: str


@dataclass(frozen=True)
class StepError:
    """Why a step failed."""

    type: str
    message: str
    traceback: str


@dataclass(frozen=True)
class Card:
    """Everything the story shows about one step."""

    id: str
    number: int
    name: str
    layer: str
    type: str
    status: str
    tone: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    cache_hit: bool | None
    start_text: str
    duration_text: str
    rows_before: int | None
    rows_after: int | None
    row_delta: int | None
    before_text: str
    after_text: str
    delta_text: str
    delta_tone: str
    schema: tuple[SchemaRow, ...]
    schema_summary: str
    samples: tuple[SampleTable, ...]
    error: StepError | None


@dataclass(frozen=True)
class TimelineSpan:
    """A span of a plain timeline (spans not made by odibi_otel)."""

    id: str
    name: str
    span_id: str | None
    parent_span_id: str | None
    depth: int
    status: str
    tone: str
    status_message: str
    start_text: str
    duration_text: str
    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Story:
    """The whole view model of one story page."""

    mode: str
    header: Header
    waterfall: Waterfall
    dag: DagLayout | None
    cards: tuple[Card, ...]
    timeline: tuple[TimelineSpan, ...]
    statuses: tuple[str, ...]
    layers: tuple[str, ...]
    generator: str


# -- formatting -----------------------------------------------------------------------------------


def status_tone(status: str) -> str:
    """The colour family of a status: success, failed, interrupted, skipped, running or neutral."""
    return _TONES.get(status.lower(), "neutral")


def format_count(value: int | None) -> str:
    """``1234`` → ``1,234``; ``None`` → an em dash."""
    return "—" if value is None else f"{value:,}"


def format_delta(value: int | None) -> str:
    """A row delta with its sign: ``+3``, ``-5,000``, ``±0``; ``None`` → an em dash."""
    if value is None:
        return "—"
    if value == 0:
        return "±0"
    return f"{value:+,}"


def format_bytes(value: int | None) -> str:
    """A size in bytes as ``213 B``, ``1.5 KiB``, ``2.0 MiB``…; ``None`` → an em dash."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{value:,} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(ms: float | None) -> str:
    """Milliseconds as ``0.42 ms``, ``53.2 ms``, ``12.5 s``, ``2 min 5 s`` or ``1 h 3 min``."""
    if ms is None:
        return "—"
    if ms == 0:
        return "0 ms"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _format_clock(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _format_offset(ms: float | None) -> str:
    return "—" if ms is None else "+" + format_duration(ms)


# -- trace links ----------------------------------------------------------------------------------


def check_trace_url_template(template: str) -> None:
    """Reject a trace link template that is not an http(s) URL with one ``{trace_id}`` placeholder."""
    if not isinstance(template, str):
        raise TypeError(f"trace_url_template must be a string, got {type(template).__name__}")
    if "{trace_id}" not in template:
        raise ValueError(f"trace_url_template must contain '{{trace_id}}', got {template!r}")
    if not template.lower().startswith(("http://", "https://")):
        raise ValueError(f"trace_url_template must be an http:// or https:// URL, got {template!r}")


def build_trace_url(template: str | None, trace_id: str | None) -> str | None:
    """The trace link for ``trace_id``, or ``None`` without a template or a valid 32-hex trace id."""
    if template is None or trace_id is None or not _TRACE_ID.match(trace_id):
        return None
    return template.replace("{trace_id}", quote(trace_id.lower(), safe=""))


# -- validation -----------------------------------------------------------------------------------


def _child(place: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{place}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{place}.{key}" if place else key
    return f"{place}[{json.dumps(key, ensure_ascii=False)}]"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"string {truncate_text(value, 40)!r}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


class _Reader:
    """Typed access to the document; every problem names the source and the place."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, place: str, problem: str) -> NoReturn:
        raise StoryInputError(self.source, place or None, problem)

    def expect(self, place: str, what: str, value: Any) -> NoReturn:
        self.fail(place, f"expected {what}, got {_describe(value)}")

    def mapping(self, value: Any, place: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.expect(place, "an object", value)
        return value

    def optional_mapping(self, obj: Mapping[str, Any], key: str, place: str) -> Mapping[str, Any] | None:
        value = obj.get(key)
        return None if value is None else self.mapping(value, _child(place, key))

    def text(self, obj: Mapping[str, Any], key: str, place: str, *, required: bool = False) -> str | None:
        value = obj.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.expect(_child(place, key), "a string", value)
        return value

    def integer(self, obj: Mapping[str, Any], key: str, place: str, *, required: bool = False) -> int | None:
        value = obj.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.expect(_child(place, key), "an integer", value)
        return value

    def count(self, obj: Mapping[str, Any], key: str, place: str, *, required: bool = False) -> int | None:
        value = self.integer(obj, key, place, required=required)
        if value is not None and value < 0:
            self.fail(_child(place, key), f"expected an integer >= 0, got {value}")
        return value

    def duration(self, obj: Mapping[str, Any], key: str, place: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            self.expect(_child(place, key), "a number >= 0", value)
        return float(value)

    def boolean(self, obj: Mapping[str, Any], key: str, place: str) -> bool | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.expect(_child(place, key), "true, false or null", value)
        return value

    def text_list(self, obj: Mapping[str, Any], key: str, place: str) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None:
            return ()
        here = _child(place, key)
        if not isinstance(value, list):
            self.expect(here, "an array of strings", value)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.expect(_child(here, index), "a string", item)
        return tuple(value)

    def timestamp(self, obj: Mapping[str, Any], key: str, place: str) -> datetime | None:
        value = obj.get(key)
        if value is None:
            return None
        here = _child(place, key)
        if not isinstance(value, str):
            self.expect(here, "an ISO 8601 timestamp string", value)
        try:
            moment = datetime.fromisoformat(value)
            # in UTC it must still be a date (years 1-9999): '0001-01-01T00:00+14:00' is not
            return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            self.expect(here, "an ISO 8601 timestamp", value)

    def schema(self, obj: Mapping[str, Any], key: str, place: str) -> dict[str, str]:
        value = obj.get(key)
        if value is None:
            return {}
        here = _child(place, key)
        mapping = self.mapping(value, here)
        for column, dtype in mapping.items():
            if not isinstance(dtype, str):
                self.expect(_child(here, column), "a dtype string", dtype)
        return dict(mapping)


# -- parsed document ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    key: str
    rows: int
    columns: int
    schema: dict[str, str]
    size_bytes: int | None
    sample_columns: tuple[str, ...] | None
    sample_rows: tuple[tuple[Any, ...], ...]
    redacted: frozenset[str]


@dataclass(frozen=True)
class _Step:
    index: int
    name: str
    layer: str
    type: str
    status: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    duration_ms: float | None
    cache_hit: bool | None
    rows_in: int | None
    rows_out: int | None
    row_delta: int | None
    before: tuple[_Snapshot, ...]
    after: tuple[_Snapshot, ...]
    diff: dict[str, list[dict[str, str]]] | None
    error: StepError | None

    @property
    def card_id(self) -> str:
        return f"step-{self.index + 1}"


@dataclass(frozen=True)
class _Span:
    index: int
    name: str
    span_id: str | None
    parent_span_id: str | None
    start: datetime | None
    end: datetime | None
    duration_ms: float | None
    status: str
    status_message: str
    attributes: tuple[tuple[str, Any], ...]


def _read_snapshots(reader: _Reader, step: Mapping[str, Any], key: str, place: str) -> tuple[_Snapshot, ...]:
    snapshots = reader.optional_mapping(step, key, place)
    if snapshots is None:
        return ()
    here = _child(place, key)
    return tuple(
        _read_snapshot(
            reader, data_key, reader.mapping(value, _child(here, data_key)), _child(here, data_key)
        )
        for data_key, value in snapshots.items()
    )


def _read_snapshot(reader: _Reader, key: str, raw: Mapping[str, Any], place: str) -> _Snapshot:
    rows = reader.count(raw, "rows", place, required=True)
    schema = reader.schema(raw, "schema", place)
    columns = reader.count(raw, "columns", place)
    size_bytes = reader.count(raw, "size_bytes", place)
    redacted = reader.text_list(raw, "redacted_columns", place)
    sample = reader.optional_mapping(raw, "sample", place)
    sample_columns: tuple[str, ...] | None = None
    sample_rows: list[tuple[Any, ...]] = []
    if sample is not None:
        sample_place = _child(place, "sample")
        sample_columns = reader.text_list(sample, "columns", sample_place)
        raw_rows = sample.get("rows") or []
        rows_place = _child(sample_place, "rows")
        if not isinstance(raw_rows, list):
            reader.expect(rows_place, "an array of rows", raw_rows)
        for index, row in enumerate(raw_rows):
            if not isinstance(row, list):
                reader.expect(_child(rows_place, index), "an array of values", row)
            if len(row) != len(sample_columns):
                reader.fail(
                    _child(rows_place, index),
                    f"expected {len(sample_columns)} values (one per sample column), got {len(row)}",
                )
            sample_rows.append(tuple(row))
    assert rows is not None  # required=True
    return _Snapshot(
        key=key,
        rows=rows,
        columns=len(schema) if columns is None else columns,
        schema=schema,
        size_bytes=size_bytes,
        sample_columns=sample_columns,
        sample_rows=tuple(sample_rows),
        redacted=frozenset(redacted),
    )


def _read_diff(
    reader: _Reader, step: Mapping[str, Any], place: str
) -> dict[str, list[dict[str, str]]] | None:
    raw = reader.optional_mapping(step, "schema_diff", place)
    if raw is None:
        return None
    here = _child(place, "schema_diff")
    fields = {
        "added": ("column", "dtype"),
        "removed": ("column", "dtype"),
        "changed": ("column", "before", "after"),
    }
    diff: dict[str, list[dict[str, str]]] = {}
    for kind, names in fields.items():
        entries = raw.get(kind) or []
        kind_place = _child(here, kind)
        if not isinstance(entries, list):
            reader.expect(kind_place, "an array", entries)
        diff[kind] = []
        for index, entry in enumerate(entries):
            entry_place = _child(kind_place, index)
            entry_map = reader.mapping(entry, entry_place)
            diff[kind].append(
                {name: reader.text(entry_map, name, entry_place, required=True) or "" for name in names}
            )
    return diff


def _read_error(reader: _Reader, step: Mapping[str, Any], place: str) -> StepError | None:
    raw = reader.optional_mapping(step, "error", place)
    if raw is None:
        return None
    here = _child(place, "error")
    return StepError(
        type=reader.text(raw, "type", here) or "Error",
        message=reader.text(raw, "message", here) or "",
        traceback=reader.text(raw, "traceback", here) or "",
    )


def _read_step(reader: _Reader, index: int, raw: Any) -> _Step:
    place = _child("steps", index)
    step = reader.mapping(raw, place)
    name = reader.text(step, "name", place, required=True) or ""
    if not name.strip():
        reader.fail(_child(place, "name"), "expected a non-empty step name")
    return _Step(
        index=index,
        name=name,
        layer=reader.text(step, "layer", place) or "",
        type=reader.text(step, "type", place) or "",
        status=reader.text(step, "status", place) or "unknown",
        inputs=reader.text_list(step, "inputs", place),
        outputs=reader.text_list(step, "outputs", place),
        start=reader.timestamp(step, "start_time", place),
        end=reader.timestamp(step, "end_time", place),
        duration_ms=reader.duration(step, "duration_ms", place),
        cache_hit=reader.boolean(step, "cache_hit", place),
        rows_in=reader.count(step, "rows_in", place),
        rows_out=reader.count(step, "rows_out", place),
        row_delta=reader.integer(step, "row_delta", place),
        before=_read_snapshots(reader, step, "before", place),
        after=_read_snapshots(reader, step, "after", place),
        diff=_read_diff(reader, step, place),
        error=_read_error(reader, step, place),
    )


def _read_span(reader: _Reader, index: int, raw: Any) -> _Span:
    place = _child("timeline", index)
    span = reader.mapping(raw, place)
    attributes = reader.optional_mapping(span, "attributes", place) or {}
    return _Span(
        index=index,
        name=reader.text(span, "name", place, required=True) or "",
        span_id=reader.text(span, "span_id", place),
        parent_span_id=reader.text(span, "parent_span_id", place),
        start=reader.timestamp(span, "start_time", place),
        end=reader.timestamp(span, "end_time", place),
        duration_ms=reader.duration(span, "duration_ms", place),
        status=reader.text(span, "status", place) or "unset",
        status_message=reader.text(span, "status_message", place) or "",
        attributes=tuple((str(key), value) for key, value in attributes.items()),
    )


# -- building the story ---------------------------------------------------------------------------


def build_story(
    document: Any,
    *,
    source: str = "<lineage>",
    title: str | None = None,
    trace_url_template: str | None = None,
) -> Story:
    """Validate a lineage document and compute the story view model.

    Args:
        document: The parsed lineage JSON (a ``dict``), with ``steps`` or, for spans not made by
            odibi_otel, a ``timeline`` list.
        source: Names the input in error messages (usually the file path).
        title: The page title; default ``"<pipeline> · execution story"``.
        trace_url_template: e.g. ``http://localhost:16686/trace/{trace_id}``; adds a trace link.

    Raises:
        StoryInputError: The document is malformed; the message names ``source`` and the place.
    """
    if trace_url_template is not None:
        check_trace_url_template(trace_url_template)
    reader = _Reader(source)
    doc = reader.mapping(document, "")
    _check_format(reader, doc)
    raw_steps = doc.get("steps")
    raw_timeline = doc.get("timeline")
    if raw_steps is not None and not isinstance(raw_steps, list):
        reader.expect("steps", "an array of steps", raw_steps)
    if raw_timeline is not None and not isinstance(raw_timeline, list):
        reader.expect("timeline", "an array of spans", raw_timeline)
    if raw_steps is None and raw_timeline is None:
        reader.fail("", "expected a lineage document with a 'steps' array (or a 'timeline' array of spans)")
    if not raw_steps and raw_timeline:
        return _timeline_story(reader, doc, raw_timeline, title, trace_url_template)
    steps = [_read_step(reader, index, raw) for index, raw in enumerate(raw_steps or [])]
    _check_unique_names(reader, steps)
    return _pipeline_story(reader, doc, steps, title, trace_url_template)


def _check_format(reader: _Reader, doc: Mapping[str, Any]) -> None:
    document_format = doc.get("format")
    if document_format is not None and document_format != semconv.LINEAGE_FORMAT:
        reader.fail("format", f"expected {semconv.LINEAGE_FORMAT!r}, got {_describe(document_format)}")
    version = reader.integer(doc, "version", "")
    if version is not None and version > semconv.LINEAGE_VERSION:
        reader.fail(
            "version",
            f"unsupported lineage version {version}; this odibi_otel reads up to {semconv.LINEAGE_VERSION}",
        )


def _check_unique_names(reader: _Reader, steps: Sequence[_Step]) -> None:
    seen: dict[str, int] = {}
    for step in steps:
        if step.name in seen:
            reader.fail(
                _child(_child("steps", step.index), "name"),
                f"duplicate step name {step.name!r} (also steps[{seen[step.name]}])",
            )
        seen[step.name] = step.index


def _window(
    start: datetime | None, end: datetime | None, intervals: Iterable[tuple[datetime | None, datetime | None]]
) -> tuple[datetime | None, float]:
    """The run's start and length in ms, widened to cover every interval."""
    moments = [moment for pair in intervals for moment in pair if moment is not None]
    first = min([start, *moments] if start else moments, default=None)
    last = max([end, *moments] if end else moments, default=None)
    if first is None or last is None:
        return first, 0.0
    return first, max((last - first).total_seconds() * 1000, 0.0)


def _ms_between(first: datetime, second: datetime) -> float:
    return (second - first).total_seconds() * 1000


def _bar(
    origin: datetime | None,
    total_ms: float,
    start: datetime | None,
    end: datetime | None,
    duration: float | None,
) -> tuple[float | None, float | None, float | None]:
    """Offset and width (percent of the run) and the offset in ms of one interval."""
    if origin is None or start is None:
        return None, None, None
    offset_ms = max(_ms_between(origin, start), 0.0)
    length = _ms_between(start, end) if end is not None else duration
    if length is None:
        return None, None, offset_ms
    if total_ms <= 0:
        return 0.0, 100.0, offset_ms
    offset = min(offset_ms / total_ms * 100, 100.0)
    width = min(max(length, 0.0) / total_ms * 100, 100.0 - offset)
    return round(offset, 3), round(width, 3), offset_ms


def _ticks(total_ms: float) -> tuple[Tick, ...]:
    if total_ms <= 0:
        return ()
    return tuple(
        Tick(percent=float(p), label=format_duration(total_ms * p / 100)) for p in (0, 25, 50, 75, 100)
    )


def _status_counts(statuses: Iterable[str]) -> tuple[StatusCount, ...]:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    ordered = sorted(
        counts, key=lambda s: (_STATUS_ORDER.index(s) if s in _STATUS_ORDER else len(_STATUS_ORDER), s)
    )
    return tuple(StatusCount(status=s, tone=status_tone(s), count=counts[s]) for s in ordered)


def _pipeline_story(
    reader: _Reader,
    doc: Mapping[str, Any],
    steps: Sequence[_Step],
    title: str | None,
    trace_url_template: str | None,
) -> Story:
    pipeline_name = reader.text(doc, "pipeline_name", "") or "pipeline"
    status = reader.text(doc, "status", "") or "unknown"
    start = reader.timestamp(doc, "start_time", "")
    end = reader.timestamp(doc, "end_time", "")
    duration = reader.duration(doc, "duration_ms", "")
    trace_id = reader.text(doc, "trace_id", "")
    run_id = reader.text(doc, "run_id", "")
    origin, total_ms = _window(start, end, ((step.start, step.end) for step in steps))
    if duration is None and start is not None and end is not None:
        duration = max(_ms_between(start, end), 0.0)
    # as the tracker's summary: rows that entered the pipeline (read steps) and left it (write steps)
    rows_in = sum(_rows_after(s) or 0 for s in steps if s.type == "read") if steps else None
    rows_out = sum(_rows_after(s) or 0 for s in steps if s.type == "write") if steps else None
    header = Header(
        title=title if title is not None else f"{pipeline_name} · execution story",
        pipeline_name=pipeline_name,
        status=status,
        tone=status_tone(status),
        run_id=run_id,
        trace_id=trace_id,
        trace_url=build_trace_url(trace_url_template, trace_id),
        start_iso=start.isoformat() if start else None,
        start_text=_format_clock(start),
        duration_ms=duration,
        duration_text=format_duration(duration),
        item_noun="steps",
        total=len(steps),
        counts=_status_counts(step.status for step in steps),
        rows_in=rows_in,
        rows_out=rows_out,
        rows_in_text=format_count(rows_in),
        rows_out_text=format_count(rows_out),
    )
    rows = []
    offsets: dict[int, float | None] = {}
    for step in steps:
        offset, width, offset_ms = _bar(origin, total_ms, step.start, step.end, step.duration_ms)
        offsets[step.index] = offset_ms
        rows.append(
            WaterfallRow(
                target_id=step.card_id,
                name=step.name,
                layer=step.layer,
                status=step.status,
                tone=status_tone(step.status),
                depth=0,
                offset_pct=offset,
                width_pct=width,
                start_text=_format_offset(offset_ms),
                duration_text=format_duration(_step_duration(step)),
            )
        )
    return Story(
        mode=MODE_PIPELINE,
        header=header,
        waterfall=Waterfall(total_ms=total_ms, rows=tuple(rows), ticks=_ticks(total_ms)),
        dag=_layout_dag(reader, steps),
        cards=tuple(_card(step, offsets[step.index]) for step in steps),
        timeline=(),
        statuses=tuple(c.status for c in header.counts),
        layers=tuple(dict.fromkeys(step.layer for step in steps if step.layer)),
        generator=f"odibi_otel {__version__}",
    )


def _step_duration(step: _Step) -> float | None:
    if step.duration_ms is not None:
        return step.duration_ms
    if step.start is not None and step.end is not None:
        return max(_ms_between(step.start, step.end), 0.0)
    return None


# -- DAG layout -----------------------------------------------------------------------------------


def _layout_dag(reader: _Reader, steps: Sequence[_Step]) -> DagLayout:
    """Place the steps in layers (longest path from a source) with coordinates for an SVG.

    An edge joins the producer of a data key to each step that consumes it; keys no step produces
    are ignored. Within a layer nodes are ordered by the mean position of their parents.
    """
    producers: dict[str, int] = {}
    for step in steps:
        for key in step.outputs:
            producers.setdefault(key, step.index)
    keys_by_edge: dict[tuple[int, int], list[str]] = {}
    for step in steps:
        for key in step.inputs:
            producer = producers.get(key)
            if producer is not None and producer != step.index:
                keys_by_edge.setdefault((producer, step.index), []).append(key)
    parents: dict[int, list[int]] = {step.index: [] for step in steps}
    children: dict[int, list[int]] = {step.index: [] for step in steps}
    for source, target in keys_by_edge:
        parents[target].append(source)
        children[source].append(target)
    layer_of = _longest_path_layers(reader, steps, parents, children)
    layer_count = max(layer_of.values(), default=-1) + 1
    columns: list[list[int]] = [[] for _ in range(layer_count)]
    for step in steps:
        columns[layer_of[step.index]].append(step.index)
    tallest = max((len(column) for column in columns), default=0)
    height = 2 * DAG_PADDING + max(tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP, 0)
    width = 2 * DAG_PADDING + max(layer_count * NODE_WIDTH + (layer_count - 1) * COLUMN_GAP, 0)
    centre_y: dict[int, float] = {}
    position: dict[int, tuple[float, float]] = {}
    for layer, column in enumerate(columns):
        ordered = sorted(column, key=lambda i: (_barycentre(parents[i], centre_y), i))
        column_height = len(ordered) * NODE_HEIGHT + (len(ordered) - 1) * ROW_GAP
        top = DAG_PADDING + (height - 2 * DAG_PADDING - column_height) / 2
        x = DAG_PADDING + layer * (NODE_WIDTH + COLUMN_GAP)
        for row, index in enumerate(ordered):
            y = top + row * (NODE_HEIGHT + ROW_GAP)
            position[index] = (x, y)
            centre_y[index] = y + NODE_HEIGHT / 2
    by_index = {step.index: step for step in steps}
    nodes = tuple(
        DagNode(
            target_id=step.card_id,
            name=step.name,
            label=_cut(step.name, _NODE_LABEL_CHARS),
            detail=_cut(_node_detail(step), _NODE_DETAIL_CHARS),
            layer_name=step.layer,
            status=step.status,
            tone=status_tone(step.status),
            layer=layer_of[step.index],
            x=position[step.index][0],
            y=position[step.index][1],
            width=NODE_WIDTH,
            height=NODE_HEIGHT,
        )
        for step in steps
    )
    edges = tuple(
        DagEdge(
            source=by_index[source].card_id,
            target=by_index[target].card_id,
            keys=tuple(keys),
            path=_edge_path(position[source], position[target]),
            tone=status_tone(by_index[target].status),
        )
        for (source, target), keys in keys_by_edge.items()
    )
    return DagLayout(nodes=nodes, edges=edges, layers=layer_count, width=width, height=height)


def _node_detail(step: _Step) -> str:
    duration = _step_duration(step)
    timing = "not run" if duration is None and step.start is None else format_duration(duration)
    return " · ".join(part for part in (step.layer, timing) if part)


def _longest_path_layers(
    reader: _Reader,
    steps: Sequence[_Step],
    parents: Mapping[int, list[int]],
    children: Mapping[int, list[int]],
) -> dict[int, int]:
    waiting = {index: len(p) for index, p in parents.items()}
    ready = [step.index for step in steps if waiting[step.index] == 0]
    layer_of = dict.fromkeys(ready, 0)
    done = 0
    while ready:
        index = ready.pop(0)
        done += 1
        for child in children[index]:
            layer_of[child] = max(layer_of.get(child, 0), layer_of[index] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if done != len(steps):
        stuck = next(step for step in steps if waiting[step.index] > 0)
        reader.fail(
            _child(_child("steps", stuck.index), "inputs"),
            f"the steps' data keys form a dependency cycle through step {stuck.name!r}",
        )
    return layer_of


def _barycentre(parents: Sequence[int], centre_y: Mapping[int, float]) -> float:
    placed = [centre_y[p] for p in parents if p in centre_y]
    return sum(placed) / len(placed) if placed else math.inf


def _edge_path(source: tuple[float, float], target: tuple[float, float]) -> str:
    x1, y1 = source[0] + NODE_WIDTH, source[1] + NODE_HEIGHT / 2
    x2, y2 = target[0], target[1] + NODE_HEIGHT / 2
    bend = max((x2 - x1) / 2, 24.0)
    return f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2 - 2:g},{y2:g}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- cards ----------------------------------------------------------------------------------------


def _cell(value: Any) -> Cell:
    if value is None:
        return Cell("null", "null")
    if isinstance(value, bool):
        return Cell("true" if value else "false", "bool")
    if isinstance(value, int):
        return Cell(int.__repr__(value), "num")  # as json.dumps writes it, without its overhead
    if isinstance(value, float):
        return Cell(_float_text(value), "num")
    if isinstance(value, str):
        if value == "[REDACTED]":
            return Cell(value, "redacted")
        return Cell(truncate_text(value, _MAX_CELL_CHARS), "str")
    return Cell(truncate_text(json.dumps(value, ensure_ascii=False), _MAX_CELL_CHARS), "json")


def _float_text(value: float) -> str:
    """A float as JSON text (``json.dumps``): its repr, or ``NaN`` / ``Infinity`` / ``-Infinity``."""
    if math.isfinite(value):
        return float.__repr__(value)
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _shape(snapshots: Sequence[_Snapshot], noun: str) -> str:
    rows = sum(s.rows for s in snapshots)
    if len(snapshots) == 1:
        return f"{format_count(rows)} rows · {format_count(snapshots[0].columns)} columns"
    return f"{format_count(rows)} rows in {len(snapshots)} {noun}"


def _sample_table(role: str, snapshot: _Snapshot) -> SampleTable:
    captured = snapshot.sample_columns is not None
    columns = snapshot.sample_columns or ()
    summary = f"{format_count(snapshot.rows)} rows · {format_count(snapshot.columns)} columns"
    if snapshot.size_bytes is not None:
        summary += f" · ~{format_bytes(snapshot.size_bytes)}"
    return SampleTable(
        role=role,
        key=snapshot.key,
        rows=snapshot.rows,
        columns=snapshot.columns,
        summary=summary,
        captured=captured,
        headers=tuple(SampleColumn(name=c, redacted=c in snapshot.redacted) for c in columns),
        body=tuple(tuple(_cell(v) for v in row) for row in snapshot.sample_rows),
    )


def _schema_rows(step: _Step) -> tuple[SchemaRow, ...]:
    before = merge_schemas(s.schema for s in step.before)
    after = merge_schemas(s.schema for s in step.after)
    diff = step.diff
    if diff is None and step.after:
        diff = schema_diff(before, after)
    if diff is None:
        return tuple(SchemaRow(column=c, before=t, after=None, marker="input") for c, t in before.items())
    added = {entry["column"]: entry["dtype"] for entry in diff["added"]}
    removed = {entry["column"]: entry["dtype"] for entry in diff["removed"]}
    changed = {entry["column"]: entry for entry in diff["changed"]}
    columns = list(dict.fromkeys([*after, *added, *changed, *before, *removed]))
    rows = []
    for column in columns:
        if column in changed:
            entry = changed[column]
            rows.append(SchemaRow(column, entry["before"], entry["after"], "changed"))
        elif column in removed:
            rows.append(SchemaRow(column, removed[column], None, "removed"))
        elif column in added:
            rows.append(SchemaRow(column, None, added[column], "added"))
        elif column in after:
            rows.append(SchemaRow(column, before.get(column), after[column], "same"))
        else:
            rows.append(SchemaRow(column, before[column], None, "input"))
    return tuple(rows)


def _rows_before(step: _Step) -> int | None:
    """Rows the step received: its snapshots, else the document's ``rows_in`` once it started."""
    if step.before:
        return sum(s.rows for s in step.before)
    return step.rows_in if step.inputs and step.start is not None else None


def _rows_after(step: _Step) -> int | None:
    """Rows the step produced: its snapshots, else the document's ``rows_out``."""
    return sum(s.rows for s in step.after) if step.after else step.rows_out


def _schema_summary(step: _Step, rows: Sequence[SchemaRow], has_diff: bool) -> str:
    if not has_diff:
        if rows:
            return f"{len(rows)} input columns"
        return "Not run" if step.start is None else "No schema recorded"
    parts = [
        f"{sign}{count} {marker}"
        for sign, marker in (("+", "added"), ("-", "removed"), ("~", "changed"))
        if (count := sum(1 for row in rows if row.marker == marker))
    ]
    return " · ".join(parts) if parts else "No schema changes"


def _before_text(step: _Step, rows_before: int | None) -> str:
    if step.before:
        return _shape(step.before, "inputs")
    return "No data" if rows_before is None else f"{format_count(rows_before)} rows"


def _card(step: _Step, offset_ms: float | None) -> Card:
    rows_before = _rows_before(step)
    rows_after = _rows_after(step)
    delta = step.row_delta
    if delta is None and rows_after is not None and step.type != "write":
        delta = rows_after - (rows_before or 0)
    if step.after:
        after_text = _shape(step.after, "outputs")
    elif rows_after is not None:
        after_text = f"{format_count(rows_after)} rows"
    elif step.status == semconv.STATUS_SKIPPED:
        after_text = "Not run (skipped)"
    else:
        after_text = f"No output ({step.status})"
    delta_text = ""
    if delta is not None:
        delta_text = f"{format_delta(delta)} rows"
        if delta < 0:
            delta_text += " (filtered out)"
    schema = _schema_rows(step)
    has_diff = step.diff is not None or bool(step.after)
    samples = tuple(
        [_sample_table("before", s) for s in step.before] + [_sample_table("after", s) for s in step.after]
    )
    return Card(
        id=step.card_id,
        number=step.index + 1,
        name=step.name,
        layer=step.layer,
        type=step.type,
        status=step.status,
        tone=status_tone(step.status),
        inputs=step.inputs,
        outputs=step.outputs,
        cache_hit=step.cache_hit,
        start_text=_format_offset(offset_ms),
        duration_text=format_duration(_step_duration(step)),
        rows_before=rows_before,
        rows_after=rows_after,
        row_delta=delta,
        before_text=_before_text(step, rows_before),
        after_text=after_text,
        delta_text=delta_text,
        delta_tone="neutral" if not delta else ("up" if delta > 0 else "down"),
        schema=schema,
        schema_summary=_schema_summary(step, schema, has_diff),
        samples=samples,
        error=step.error,
    )


# -- plain timeline -------------------------------------------------------------------------------


def _timeline_story(
    reader: _Reader,
    doc: Mapping[str, Any],
    raw_timeline: Sequence[Any],
    title: str | None,
    trace_url_template: str | None,
) -> Story:
    spans = [_read_span(reader, index, raw) for index, raw in enumerate(raw_timeline)]
    ordered = _tree_order(spans)
    start = reader.timestamp(doc, "start_time", "")
    end = reader.timestamp(doc, "end_time", "")
    origin, total_ms = _window(start, end, ((span.start, span.end) for span, _ in ordered))
    duration = reader.duration(doc, "duration_ms", "")
    if duration is None and total_ms > 0:
        duration = total_ms
    name = reader.text(doc, "pipeline_name", "") or (ordered[0][0].name if ordered else "trace")
    trace_id = reader.text(doc, "trace_id", "")
    statuses = [span.status for span in spans]
    status = reader.text(doc, "status", "") or (
        "error" if any(status_tone(s) == "failed" for s in statuses) else "ok"
    )
    header = Header(
        title=title if title is not None else f"{name} · trace timeline",
        pipeline_name=name,
        status=status,
        tone=status_tone(status),
        run_id=reader.text(doc, "run_id", ""),
        trace_id=trace_id,
        trace_url=build_trace_url(trace_url_template, trace_id),
        start_iso=origin.isoformat() if origin else None,
        start_text=_format_clock(origin),
        duration_ms=duration,
        duration_text=format_duration(duration),
        item_noun="spans",
        total=len(spans),
        counts=_status_counts(statuses),
        rows_in=None,
        rows_out=None,
        rows_in_text="—",
        rows_out_text="—",
    )
    rows = []
    items = []
    for span, depth in ordered:
        offset, width, offset_ms = _bar(origin, total_ms, span.start, span.end, span.duration_ms)
        span_duration = span.duration_ms
        if span_duration is None and span.start is not None and span.end is not None:
            span_duration = max(_ms_between(span.start, span.end), 0.0)
        target = f"span-{span.index + 1}"
        rows.append(
            WaterfallRow(
                target_id=target,
                name=span.name,
                layer="",
                status=span.status,
                tone=status_tone(span.status),
                depth=depth,
                offset_pct=offset,
                width_pct=width,
                start_text=_format_offset(offset_ms),
                duration_text=format_duration(span_duration),
            )
        )
        items.append(
            TimelineSpan(
                id=target,
                name=span.name,
                span_id=span.span_id,
                parent_span_id=span.parent_span_id,
                depth=depth,
                status=span.status,
                tone=status_tone(span.status),
                status_message=span.status_message,
                start_text=_format_offset(offset_ms),
                duration_text=format_duration(span_duration),
                attributes=tuple((key, _cell(value).text) for key, value in span.attributes),
            )
        )
    return Story(
        mode=MODE_TIMELINE,
        header=header,
        waterfall=Waterfall(total_ms=total_ms, rows=tuple(rows), ticks=_ticks(total_ms)),
        dag=None,
        cards=(),
        timeline=tuple(items),
        statuses=tuple(c.status for c in header.counts),
        layers=(),
        generator=f"odibi_otel {__version__}",
    )


def _tree_order(spans: Sequence[_Span]) -> list[tuple[_Span, int]]:
    """Spans depth-first under their parents (roots and siblings by start time), with depth."""
    ids = {span.span_id for span in spans if span.span_id}
    children: dict[str | None, list[_Span]] = {}
    for span in spans:
        parent = (
            span.parent_span_id
            if span.parent_span_id in ids and span.parent_span_id != span.span_id
            else None
        )
        children.setdefault(parent, []).append(span)

    def start_key(span: _Span) -> tuple[bool, datetime, int]:
        return (span.start is None, span.start or datetime.min.replace(tzinfo=UTC), span.index)

    ordered: list[tuple[_Span, int]] = []
    seen: set[int] = set()
    stack = [(span, 0) for span in sorted(children.get(None, []), key=start_key, reverse=True)]
    while stack:
        span, depth = stack.pop()
        if span.index in seen:
            continue
        seen.add(span.index)
        ordered.append((span, depth))
        if span.span_id:
            kids = sorted(children.get(span.span_id, []), key=start_key, reverse=True)
            stack.extend((kid, depth + 1) for kid in kids)
    # spans caught in a parent cycle are not reachable from a root: list them flat at the end
    ordered.extend((span, 0) for span in sorted(spans, key=start_key) if span.index not in seen)
    return ordered

"""Reading a lineage document into the story's records, checking every field on the way.

:class:`LineageReader` is the shared :class:`~odibi_otel._internal.json_reader.JsonReader` with the
lineage document's fields: a field left out or ``null`` means "not recorded" (``None``), counts
are integers >= 0, durations numbers >= 0, times ISO 8601 strings, schemas objects of dtype
strings. :func:`read_step` and :func:`read_span` turn one entry of ``steps`` / ``timeline`` into
a :class:`StepRecord` / :class:`SpanRecord`. Every problem raises
:class:`~odibi_otel.errors.StoryInputError` naming the source and the place, e.g.
``steps[2].after.orders.rows: expected an integer, got string '3'``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from odibi_otel._internal.json_reader import JsonReader, child
from odibi_otel.errors import StoryInputError
from odibi_otel.otel import semconv
from odibi_otel.story._quality_reader import AnomalyRecord, CheckRecord, read_anomalies, read_checks
from odibi_otel.story._work_reader import WorkRecord, read_engine_work
from odibi_otel.story.model import StepError

__all__ = [
    "LineageReader",
    "SnapshotRecord",
    "SpanRecord",
    "StepRecord",
    "check_format",
    "check_unique_names",
    "read_span",
    "read_step",
]


class LineageReader(JsonReader):
    """Typed access to a lineage document; every problem names the source and the place.

    The ``*_field`` methods read ``obj[key]`` (``place`` is where ``obj`` is) and return ``None``
    (or an empty value) when the field is left out or ``null``, unless it is ``required``.
    """

    def fail(self, place: str, problem: str) -> NoReturn:
        """Raise the :class:`StoryInputError` of ``problem`` at ``place``."""
        raise StoryInputError(self.source, place or None, problem)

    def mapping_field(self, obj: Mapping[str, Any], key: str, place: str) -> Mapping[str, Any] | None:
        """An object."""
        value = obj.get(key)
        return None if value is None else self.mapping(value, child(place, key))

    def text_field(
        self, obj: Mapping[str, Any], key: str, place: str, *, required: bool = False
    ) -> str | None:
        """A string."""
        value = obj.get(key)
        if value is None and not required:
            return None
        return self.text(value, child(place, key))

    def integer_field(
        self, obj: Mapping[str, Any], key: str, place: str, *, required: bool = False
    ) -> int | None:
        """An integer."""
        value = obj.get(key)
        if value is None and not required:
            return None
        return self.integer(value, child(place, key))

    def count_field(
        self, obj: Mapping[str, Any], key: str, place: str, *, required: bool = False
    ) -> int | None:
        """An integer >= 0."""
        value = self.integer_field(obj, key, place, required=required)
        if value is not None and value < 0:
            self.fail(child(place, key), f"expected an integer >= 0, got {value}")
        return value

    def duration_field(self, obj: Mapping[str, Any], key: str, place: str) -> float | None:
        """A finite number >= 0 (milliseconds)."""
        value = obj.get(key)
        if value is None:
            return None
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            self.expect(child(place, key), "a number >= 0", value)
        return float(value)

    def boolean_field(self, obj: Mapping[str, Any], key: str, place: str) -> bool | None:
        """``true`` or ``false``."""
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.expect(child(place, key), "true, false or null", value)
        return value

    def text_list_field(self, obj: Mapping[str, Any], key: str, place: str) -> tuple[str, ...]:
        """An array of strings (``()`` when left out)."""
        value = obj.get(key)
        if value is None:
            return ()
        here = child(place, key)
        items = self.array(value, here, "an array of strings")
        for index, item in enumerate(items):
            self.text(item, child(here, index))
        return tuple(items)

    def timestamp_field(self, obj: Mapping[str, Any], key: str, place: str) -> datetime | None:
        """An ISO 8601 time, in UTC (a time without a zone is taken as UTC)."""
        value = obj.get(key)
        if value is None:
            return None
        here = child(place, key)
        if not isinstance(value, str):
            self.expect(here, "an ISO 8601 timestamp string", value)
        try:
            moment = datetime.fromisoformat(value)
            # in UTC it must still be a date (years 1-9999): '0001-01-01T00:00+14:00' is not
            return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            self.expect(here, "an ISO 8601 timestamp", value)

    def schema_field(self, obj: Mapping[str, Any], key: str, place: str) -> dict[str, str]:
        """An object of column → dtype string (``{}`` when left out)."""
        value = obj.get(key)
        if value is None:
            return {}
        here = child(place, key)
        mapping = self.mapping(value, here)
        for column, dtype in mapping.items():
            if not isinstance(dtype, str):
                self.expect(child(here, column), "a dtype string", dtype)
        return dict(mapping)


@dataclass(frozen=True)
class SnapshotRecord:
    """A step's input or output ``key`` as the tracker recorded it: shape, schema, sample."""

    key: str
    rows: int | None  # None: a lazy engine's frame no job computed ("not computed")
    columns: int
    schema: dict[str, str]
    size_bytes: int | None
    sample_columns: tuple[str, ...] | None
    sample_rows: tuple[tuple[Any, ...], ...]
    redacted: frozenset[str]


@dataclass(frozen=True)
class StepRecord:
    """One entry of ``steps``: a step, what it received and produced, how it ended."""

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
    before: tuple[SnapshotRecord, ...]
    after: tuple[SnapshotRecord, ...]
    diff: dict[str, list[dict[str, str]]] | None
    error: StepError | None
    checks: tuple[CheckRecord, ...] = ()
    anomalies: tuple[AnomalyRecord, ...] = ()
    engine_work: tuple[WorkRecord, ...] = ()

    @property
    def card_id(self) -> str:
        """The id of the step's card (and its DAG node and waterfall bar) in the page."""
        return f"step-{self.index + 1}"


@dataclass(frozen=True)
class SpanRecord:
    """One entry of ``timeline``: a span of a plain timeline."""

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


def _read_snapshots(
    reader: LineageReader, step: Mapping[str, Any], key: str, place: str
) -> tuple[SnapshotRecord, ...]:
    snapshots = reader.mapping_field(step, key, place)
    if snapshots is None:
        return ()
    here = child(place, key)
    return tuple(
        _read_snapshot(reader, data_key, reader.mapping(value, child(here, data_key)), child(here, data_key))
        for data_key, value in snapshots.items()
    )


def _read_snapshot(reader: LineageReader, key: str, raw: Mapping[str, Any], place: str) -> SnapshotRecord:
    rows = reader.count_field(raw, "rows", place)
    schema = reader.schema_field(raw, "schema", place)
    columns = reader.count_field(raw, "columns", place)
    size_bytes = reader.count_field(raw, "size_bytes", place)
    redacted = reader.text_list_field(raw, "redacted_columns", place)
    sample_columns, sample_rows = _read_sample(reader, raw, place)
    return SnapshotRecord(
        key=key,
        rows=rows,
        columns=len(schema) if columns is None else columns,
        schema=schema,
        size_bytes=size_bytes,
        sample_columns=sample_columns,
        sample_rows=sample_rows,
        redacted=frozenset(redacted),
    )


def _read_sample(
    reader: LineageReader, snapshot: Mapping[str, Any], place: str
) -> tuple[tuple[str, ...] | None, tuple[tuple[Any, ...], ...]]:
    """A snapshot's sample: its columns (``None`` when no sample was captured) and its rows."""
    sample = reader.mapping_field(snapshot, "sample", place)
    if sample is None:
        return None, ()
    sample_place = child(place, "sample")
    sample_columns = reader.text_list_field(sample, "columns", sample_place)
    rows_place = child(sample_place, "rows")
    sample_rows: list[tuple[Any, ...]] = []
    for index, row in enumerate(reader.array(sample.get("rows") or [], rows_place, "an array of rows")):
        row_place = child(rows_place, index)
        values = reader.array(row, row_place, "an array of values")
        if len(values) != len(sample_columns):
            reader.fail(
                row_place,
                f"expected {len(sample_columns)} values (one per sample column), got {len(values)}",
            )
        sample_rows.append(tuple(values))
    return sample_columns, tuple(sample_rows)


def _read_diff(
    reader: LineageReader, step: Mapping[str, Any], place: str
) -> dict[str, list[dict[str, str]]] | None:
    raw = reader.mapping_field(step, "schema_diff", place)
    if raw is None:
        return None
    here = child(place, "schema_diff")
    fields = {
        "added": ("column", "dtype"),
        "removed": ("column", "dtype"),
        "changed": ("column", "before", "after"),
    }
    diff: dict[str, list[dict[str, str]]] = {}
    for kind, names in fields.items():
        kind_place = child(here, kind)
        entries = reader.array(raw.get(kind) or [], kind_place)
        diff[kind] = []
        for index, entry in enumerate(entries):
            entry_place = child(kind_place, index)
            entry_map = reader.mapping(entry, entry_place)
            diff[kind].append(
                {name: reader.text_field(entry_map, name, entry_place, required=True) or "" for name in names}
            )
    return diff


def _read_error(reader: LineageReader, step: Mapping[str, Any], place: str) -> StepError | None:
    raw = reader.mapping_field(step, "error", place)
    if raw is None:
        return None
    here = child(place, "error")
    return StepError(
        type=reader.text_field(raw, "type", here) or "Error",
        message=reader.text_field(raw, "message", here) or "",
        traceback=reader.text_field(raw, "traceback", here) or "",
    )


def read_step(reader: LineageReader, index: int, raw: Any) -> StepRecord:
    """Entry ``index`` of the document's ``steps``."""
    place = child("steps", index)
    step = reader.mapping(raw, place)
    name = reader.text_field(step, "name", place, required=True) or ""
    if not name.strip():
        reader.fail(child(place, "name"), "expected a non-empty step name")
    return StepRecord(
        index=index,
        name=name,
        layer=reader.text_field(step, "layer", place) or "",
        type=reader.text_field(step, "type", place) or "",
        status=reader.text_field(step, "status", place) or "unknown",
        inputs=reader.text_list_field(step, "inputs", place),
        outputs=reader.text_list_field(step, "outputs", place),
        start=reader.timestamp_field(step, "start_time", place),
        end=reader.timestamp_field(step, "end_time", place),
        duration_ms=reader.duration_field(step, "duration_ms", place),
        cache_hit=reader.boolean_field(step, "cache_hit", place),
        rows_in=reader.count_field(step, "rows_in", place),
        rows_out=reader.count_field(step, "rows_out", place),
        row_delta=reader.integer_field(step, "row_delta", place),
        before=_read_snapshots(reader, step, "before", place),
        after=_read_snapshots(reader, step, "after", place),
        diff=_read_diff(reader, step, place),
        error=_read_error(reader, step, place),
        checks=read_checks(reader, step, place),
        anomalies=read_anomalies(reader, step, place),
        engine_work=read_engine_work(reader, step, place),
    )


def read_span(reader: LineageReader, index: int, raw: Any) -> SpanRecord:
    """Entry ``index`` of the document's ``timeline`` (a span not made by odibi_otel)."""
    place = child("timeline", index)
    span = reader.mapping(raw, place)
    attributes = reader.mapping_field(span, "attributes", place) or {}
    return SpanRecord(
        index=index,
        name=reader.text_field(span, "name", place, required=True) or "",
        span_id=reader.text_field(span, "span_id", place),
        parent_span_id=reader.text_field(span, "parent_span_id", place),
        start=reader.timestamp_field(span, "start_time", place),
        end=reader.timestamp_field(span, "end_time", place),
        duration_ms=reader.duration_field(span, "duration_ms", place),
        status=reader.text_field(span, "status", place) or "unset",
        status_message=reader.text_field(span, "status_message", place) or "",
        attributes=tuple((str(key), value) for key, value in attributes.items()),
    )


def check_format(reader: LineageReader, doc: Mapping[str, Any]) -> None:
    """Reject a document of another format, or of a lineage version newer than this odibi_otel reads."""
    document_format = doc.get("format")
    if document_format is not None and document_format != semconv.LINEAGE_FORMAT:
        reader.fail("format", f"expected {semconv.LINEAGE_FORMAT!r}, got {reader.describe(document_format)}")
    version = reader.integer_field(doc, "version", "")
    if version is not None and version > semconv.LINEAGE_VERSION:
        reader.fail(
            "version",
            f"unsupported lineage version {version}; this odibi_otel reads up to {semconv.LINEAGE_VERSION}",
        )


def check_unique_names(reader: LineageReader, steps: Sequence[StepRecord]) -> None:
    """Reject a step name used twice: the document names each step once."""
    seen: dict[str, int] = {}
    for step in steps:
        if step.name in seen:
            reader.fail(
                child(child("steps", step.index), "name"),
                f"duplicate step name {step.name!r} (also steps[{seen[step.name]}])",
            )
        seen[step.name] = step.index

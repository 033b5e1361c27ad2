"""Building the story view model from a lineage document (pure functions): :func:`build_story`.

A document with steps becomes a pipeline story (header, waterfall, DAG, cards); one with a
``timeline`` and no steps a plain timeline (:mod:`odibi_otel.story._timeline`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from odibi_otel._version import __version__
from odibi_otel.history.records import RunRecord
from odibi_otel.story._cards import card, rows_after, rows_not_computed
from odibi_otel.story._engine_figures import work_detail
from odibi_otel.story._format import (
    NOT_COMPUTED,
    build_trace_url,
    check_trace_url_template,
    format_clock,
    format_count,
    format_duration,
    status_counts,
    status_tone,
)
from odibi_otel.story._history_view import history_view, unavailable_note
from odibi_otel.story._layout import layout_dag
from odibi_otel.story._lineage_reader import (
    LineageReader,
    StepRecord,
    check_format,
    check_unique_names,
    read_step,
)
from odibi_otel.story._timeline import timeline_story
from odibi_otel.story._timing import interval_duration, ticks, waterfall_row, window
from odibi_otel.story._work_reader import WorkRecord
from odibi_otel.story.model import (
    MODE_PIPELINE,
    Header,
    HistoryNote,
    NodeHistory,
    Story,
    Waterfall,
    WaterfallRow,
)

__all__ = ["build_story"]


def build_story(
    document: Any,
    *,
    source: str = "<lineage>",
    title: str | None = None,
    trace_url_template: str | None = None,
    history: Sequence[RunRecord] | str | None = None,
) -> Story:
    """Validate a lineage document and compute the story view model.

    Args:
        document: The parsed lineage JSON (a ``dict``), with ``steps`` or, for spans not made by
            odibi_otel, a ``timeline`` list.
        source: Names the input in error messages (usually the file path).
        title: The page title; default ``"<pipeline> · execution story"``.
        trace_url_template: e.g. ``http://localhost:16686/trace/{trace_id}``; adds a trace link.
        history: The pipeline's recorded runs up to this one (newest first) for the "compared
            with history" view, or why they could not be read (a string), or ``None``: no view.

    Raises:
        StoryInputError: The document is malformed; the message names ``source`` and the place.
    """
    if trace_url_template is not None:
        check_trace_url_template(trace_url_template)
    reader = LineageReader(source)
    doc = reader.mapping(document, "")
    check_format(reader, doc)
    raw_steps = doc.get("steps")
    raw_timeline = doc.get("timeline")
    if raw_steps is not None and not isinstance(raw_steps, list):
        reader.expect("steps", "an array of steps", raw_steps)
    if raw_timeline is not None and not isinstance(raw_timeline, list):
        reader.expect("timeline", "an array of spans", raw_timeline)
    if raw_steps is None and raw_timeline is None:
        reader.fail("", "expected a lineage document with a 'steps' array (or a 'timeline' array of spans)")
    if not raw_steps and raw_timeline:
        return timeline_story(reader, doc, raw_timeline, title, trace_url_template)
    steps = [read_step(reader, index, raw) for index, raw in enumerate(raw_steps or [])]
    check_unique_names(reader, steps)
    return _pipeline_story(reader, doc, steps, title, trace_url_template, history)


def _pipeline_story(
    reader: LineageReader,
    doc: Mapping[str, Any],
    steps: Sequence[StepRecord],
    title: str | None,
    trace_url_template: str | None,
    history: Sequence[RunRecord] | str | None = None,
) -> Story:
    header, origin, total_ms = _pipeline_header(reader, doc, steps, title, trace_url_template)
    rows, offsets = _waterfall_rows(steps, origin, total_ms)
    note: HistoryNote | None = None
    views: dict[str, NodeHistory] = {}
    if isinstance(history, str):
        note = unavailable_note(history)
    elif history is not None:
        note, views = history_view(steps, str(doc.get("run_id") or ""), history)
    return Story(
        mode=MODE_PIPELINE,
        header=header,
        waterfall=Waterfall(total_ms=total_ms, rows=rows, ticks=ticks(total_ms)),
        dag=layout_dag(reader, steps),
        cards=tuple(card(step, offsets[step.index], views.get(step.name)) for step in steps),
        timeline=(),
        statuses=tuple(c.status for c in header.counts),
        layers=tuple(dict.fromkeys(step.layer for step in steps if step.layer)),
        generator=f"odibi_otel {__version__}",
        history=note,
    )


def _pipeline_header(
    reader: LineageReader,
    doc: Mapping[str, Any],
    steps: Sequence[StepRecord],
    title: str | None,
    trace_url_template: str | None,
) -> tuple[Header, datetime | None, float]:
    """The header, and the run's window (start and length in ms) that the waterfall spans."""
    pipeline_name = reader.text_field(doc, "pipeline_name", "") or "pipeline"
    status = reader.text_field(doc, "status", "") or "unknown"
    start = reader.timestamp_field(doc, "start_time", "")
    end = reader.timestamp_field(doc, "end_time", "")
    duration = reader.duration_field(doc, "duration_ms", "")
    trace_id = reader.text_field(doc, "trace_id", "")
    run_id = reader.text_field(doc, "run_id", "")
    origin, total_ms = window(start, end, _intervals(steps))
    duration = interval_duration(duration, start, end)
    # as the tracker's summary: rows that entered the pipeline (read steps) and left it (write steps)
    rows_in, rows_in_text = _rows_through(steps, "read")
    rows_out, rows_out_text = _rows_through(steps, "write")
    header = Header(
        title=title if title is not None else f"{pipeline_name} · execution story",
        pipeline_name=pipeline_name,
        status=status,
        tone=status_tone(status),
        run_id=run_id,
        trace_id=trace_id,
        trace_url=build_trace_url(trace_url_template, trace_id),
        start_iso=start.isoformat() if start else None,
        start_text=format_clock(start),
        duration_ms=duration,
        duration_text=format_duration(duration),
        item_noun="steps",
        total=len(steps),
        counts=status_counts(step.status for step in steps),
        rows_in=rows_in,
        rows_out=rows_out,
        rows_in_text=rows_in_text,
        rows_out_text=rows_out_text,
    )
    return header, origin, total_ms


def _intervals(steps: Sequence[StepRecord]) -> Iterator[tuple[datetime | None, datetime | None]]:
    """The steps' times, and their engine jobs' (Spark's own, which may end a little later)."""
    for step in steps:
        yield step.start, step.end
        for work in _flatten(step.engine_work):
            yield work.start, work.end


def _flatten(works: Sequence[WorkRecord]) -> Iterator[WorkRecord]:
    for work in works:
        yield work
        yield from _flatten(work.parts)


def _rows_through(steps: Sequence[StepRecord], step_type: str) -> tuple[int | None, str]:
    """Rows the ``read`` (or ``write``) steps produced together, and in words.

    A step that succeeded without a count (a lazy engine's frame no job computed) is "not
    computed", never 0: alone, the total is ``None``; beside counted steps, it is named.
    """
    if not steps:
        return None, format_count(None)
    counted = [s for s in steps if s.type == step_type]
    uncounted = any(rows_not_computed(s) for s in counted)
    known = [rows for s in counted if (rows := rows_after(s)) is not None]
    total = sum(known)
    if not uncounted:
        return total, format_count(total)
    if not known:
        return None, NOT_COMPUTED
    return total, f"{format_count(total)} + {NOT_COMPUTED}"


def _waterfall_rows(
    steps: Sequence[StepRecord], origin: datetime | None, total_ms: float
) -> tuple[tuple[WaterfallRow, ...], dict[int, float | None]]:
    """One waterfall bar per step (with its engine work under it), and each step's start offset in
    ms (by step index)."""
    rows = []
    offsets: dict[int, float | None] = {}
    for step in steps:
        interval = (step.start, step.end, step.duration_ms)
        row, offsets[step.index] = waterfall_row(
            step.card_id, step.name, step.status, interval, (origin, total_ms), layer=step.layer
        )
        rows.append(row)
        rows.extend(_work_rows(step.card_id, step.engine_work, 1, (origin, total_ms)))
    return tuple(rows), offsets


def _work_rows(
    target: str, works: Sequence[WorkRecord], depth: int, window_ms: tuple[datetime | None, float]
) -> list[WaterfallRow]:
    """A bar per engine job under its step's bar, and one per stage under its job (Spark)."""
    rows: list[WaterfallRow] = []
    for work in works:
        interval = (work.start, work.end, work.duration_ms)
        row, _ = waterfall_row(
            target, work.name, work.status, interval, window_ms, depth=depth, detail=work_detail(work)
        )
        rows.append(row)
        rows.extend(_work_rows(target, work.parts, depth + 1, window_ms))
    return rows

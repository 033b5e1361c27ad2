"""The plain timeline story: spans not made by odibi_otel, each under its parent (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from odibi_otel._version import __version__
from odibi_otel.story._format import (
    build_trace_url,
    cell,
    format_clock,
    format_duration,
    format_offset,
    status_counts,
    status_tone,
)
from odibi_otel.story._lineage_reader import LineageReader, SpanRecord, read_span
from odibi_otel.story._timing import interval_duration, ticks, waterfall_row, window
from odibi_otel.story.model import MODE_TIMELINE, Header, Story, TimelineSpan, Waterfall, WaterfallRow

__all__ = ["timeline_story"]


def timeline_story(
    reader: LineageReader,
    doc: Mapping[str, Any],
    raw_timeline: Sequence[Any],
    title: str | None,
    trace_url_template: str | None,
) -> Story:
    """The story of a document's ``timeline`` (spans not made by odibi_otel): header and waterfall."""
    spans = [read_span(reader, index, raw) for index, raw in enumerate(raw_timeline)]
    ordered = _tree_order(spans)
    start = reader.timestamp_field(doc, "start_time", "")
    end = reader.timestamp_field(doc, "end_time", "")
    origin, total_ms = window(start, end, ((span.start, span.end) for span, _ in ordered))
    header = _timeline_header(reader, doc, spans, ordered, origin, total_ms, title, trace_url_template)
    rows: list[WaterfallRow] = []
    items: list[TimelineSpan] = []
    for span, depth in ordered:
        row, item = _timeline_entry(span, depth, origin, total_ms)
        rows.append(row)
        items.append(item)
    return Story(
        mode=MODE_TIMELINE,
        header=header,
        waterfall=Waterfall(total_ms=total_ms, rows=tuple(rows), ticks=ticks(total_ms)),
        dag=None,
        cards=(),
        timeline=tuple(items),
        statuses=tuple(c.status for c in header.counts),
        layers=(),
        generator=f"odibi_otel {__version__}",
    )


def _timeline_header(
    reader: LineageReader,
    doc: Mapping[str, Any],
    spans: Sequence[SpanRecord],
    ordered: Sequence[tuple[SpanRecord, int]],
    origin: datetime | None,
    total_ms: float,
    title: str | None,
    trace_url_template: str | None,
) -> Header:
    """The header of a timeline: named after the first root span unless the document names it."""
    duration = reader.duration_field(doc, "duration_ms", "")
    if duration is None and total_ms > 0:
        duration = total_ms
    name = reader.text_field(doc, "pipeline_name", "") or (ordered[0][0].name if ordered else "trace")
    trace_id = reader.text_field(doc, "trace_id", "")
    statuses = [span.status for span in spans]
    status = reader.text_field(doc, "status", "") or (
        "error" if any(status_tone(s) == "failed" for s in statuses) else "ok"
    )
    return Header(
        title=title if title is not None else f"{name} · trace timeline",
        pipeline_name=name,
        status=status,
        tone=status_tone(status),
        run_id=reader.text_field(doc, "run_id", ""),
        trace_id=trace_id,
        trace_url=build_trace_url(trace_url_template, trace_id),
        start_iso=origin.isoformat() if origin else None,
        start_text=format_clock(origin),
        duration_ms=duration,
        duration_text=format_duration(duration),
        item_noun="spans",
        total=len(spans),
        counts=status_counts(statuses),
        rows_in=None,
        rows_out=None,
        rows_in_text="—",
        rows_out_text="—",
    )


def _timeline_entry(
    span: SpanRecord, depth: int, origin: datetime | None, total_ms: float
) -> tuple[WaterfallRow, TimelineSpan]:
    """A span's waterfall bar and its entry in the list of spans."""
    target = f"span-{span.index + 1}"
    interval = (span.start, span.end, span.duration_ms)
    row, offset_ms = waterfall_row(target, span.name, span.status, interval, (origin, total_ms), depth=depth)
    span_duration = interval_duration(span.duration_ms, span.start, span.end)
    item = TimelineSpan(
        id=target,
        name=span.name,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        depth=depth,
        status=span.status,
        tone=status_tone(span.status),
        status_message=span.status_message,
        start_text=format_offset(offset_ms),
        duration_text=format_duration(span_duration),
        attributes=tuple((key, cell(value).text) for key, value in span.attributes),
    )
    return row, item


def _tree_order(spans: Sequence[SpanRecord]) -> list[tuple[SpanRecord, int]]:
    """Spans depth-first under their parents (roots and siblings by start time), with depth."""
    ids = {span.span_id for span in spans if span.span_id}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in spans:
        parent = (
            span.parent_span_id
            if span.parent_span_id in ids and span.parent_span_id != span.span_id
            else None
        )
        children.setdefault(parent, []).append(span)

    def start_key(span: SpanRecord) -> tuple[bool, datetime, int]:
        return (span.start is None, span.start or datetime.min.replace(tzinfo=UTC), span.index)

    ordered: list[tuple[SpanRecord, int]] = []
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

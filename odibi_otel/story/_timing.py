"""Times in a story: the run's window, each bar's place on the waterfall, the axis ticks and a
step's duration (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from odibi_otel.story._format import format_duration, format_offset, status_tone
from odibi_otel.story._lineage_reader import StepRecord
from odibi_otel.story.model import Tick, WaterfallRow

__all__ = ["bar", "interval_duration", "ms_between", "step_duration", "ticks", "waterfall_row", "window"]


def ms_between(first: datetime, second: datetime) -> float:
    """Milliseconds from ``first`` to ``second`` (negative if ``second`` is earlier)."""
    return (second - first).total_seconds() * 1000


def window(
    start: datetime | None, end: datetime | None, intervals: Iterable[tuple[datetime | None, datetime | None]]
) -> tuple[datetime | None, float]:
    """The run's start and length in ms, widened to cover every interval."""
    moments = [moment for pair in intervals for moment in pair if moment is not None]
    first = min([start, *moments] if start else moments, default=None)
    last = max([end, *moments] if end else moments, default=None)
    if first is None or last is None:
        return first, 0.0
    return first, max((last - first).total_seconds() * 1000, 0.0)


def bar(
    origin: datetime | None,
    total_ms: float,
    start: datetime | None,
    end: datetime | None,
    duration: float | None,
) -> tuple[float | None, float | None, float | None]:
    """Offset and width (percent of the run) and the offset in ms of one interval."""
    if origin is None or start is None:
        return None, None, None
    offset_ms = max(ms_between(origin, start), 0.0)
    length = ms_between(start, end) if end is not None else duration
    if length is None:
        return None, None, offset_ms
    if total_ms <= 0:
        return 0.0, 100.0, offset_ms
    offset = min(offset_ms / total_ms * 100, 100.0)
    width = min(max(length, 0.0) / total_ms * 100, 100.0 - offset)
    return round(offset, 3), round(width, 3), offset_ms


def ticks(total_ms: float) -> tuple[Tick, ...]:
    """The waterfall axis marks at 0, 25, 50, 75 and 100 % of the run (none for an empty run)."""
    if total_ms <= 0:
        return ()
    return tuple(
        Tick(percent=float(p), label=format_duration(total_ms * p / 100)) for p in (0, 25, 50, 75, 100)
    )


def step_duration(step: StepRecord) -> float | None:
    """The step's ``duration_ms``, else end - start (never negative), else ``None``."""
    return interval_duration(step.duration_ms, step.start, step.end)


def interval_duration(
    duration_ms: float | None, start: datetime | None, end: datetime | None
) -> float | None:
    """``duration_ms`` when recorded, else end - start (never negative), else ``None``."""
    if duration_ms is not None:
        return duration_ms
    if start is not None and end is not None:
        return max(ms_between(start, end), 0.0)
    return None


def waterfall_row(
    target: str,
    name: str,
    status: str,
    interval: tuple[datetime | None, datetime | None, float | None],
    window_ms: tuple[datetime | None, float],
    *,
    layer: str = "",
    depth: int = 0,
    detail: str = "",
) -> tuple[WaterfallRow, float | None]:
    """One bar of the waterfall for ``interval`` (start, end, recorded duration) in the run's
    ``window_ms`` (origin, length), and the bar's start offset in ms."""
    start, end, duration_ms = interval
    origin, total_ms = window_ms
    offset, width, offset_ms = bar(origin, total_ms, start, end, duration_ms)
    row = WaterfallRow(
        target_id=target,
        name=name,
        layer=layer,
        status=status,
        tone=status_tone(status),
        depth=depth,
        offset_pct=offset,
        width_pct=width,
        start_text=format_offset(offset_ms),
        duration_text=format_duration(interval_duration(duration_ms, start, end)),
        detail=detail,
    )
    return row, offset_ms

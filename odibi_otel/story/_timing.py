"""Times in a story: the run's window, each bar's place on the waterfall, the axis ticks and a
step's duration (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from odibi_otel.story._format import format_duration
from odibi_otel.story._lineage_reader import StepRecord
from odibi_otel.story.model import Tick

__all__ = ["bar", "ms_between", "step_duration", "ticks", "window"]


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
    if step.duration_ms is not None:
        return step.duration_ms
    if step.start is not None and step.end is not None:
        return max(ms_between(step.start, step.end), 0.0)
    return None

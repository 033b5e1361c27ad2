"""How the story shows values: counts, deltas, sizes, durations, times, statuses and sample cells,
and the link to a run's trace in a tracing UI (pure functions)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from odibi_otel._internal.text import truncate_text
from odibi_otel.otel import semconv
from odibi_otel.story.model import Cell, StatusCount

__all__ = [
    "NOT_COMPUTED",
    "build_trace_url",
    "cell",
    "check_trace_url_template",
    "format_bytes",
    "format_clock",
    "format_count",
    "format_delta",
    "format_duration",
    "format_offset",
    "format_rows",
    "status_counts",
    "status_tone",
]

#: What the story says of a row count a lazy engine never computed (Spark): never 0, never blank.
NOT_COMPUTED: Final = "not computed"
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
_TRACE_ID: Final = re.compile(r"[0-9a-fA-F]{32}\Z")


def status_tone(status: str) -> str:
    """The colour family of a status: success, failed, interrupted, skipped, running or neutral."""
    return _TONES.get(status.lower(), "neutral")


def format_count(value: int | None) -> str:
    """``1234`` → ``1,234``; ``None`` → an em dash."""
    return "—" if value is None else f"{value:,}"


def format_rows(value: int | None) -> str:
    """A row count with its noun: ``1,234 rows``; ``None`` (not computed) → ``rows not computed``."""
    return f"rows {NOT_COMPUTED}" if value is None else f"{format_count(value)} rows"


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


def format_clock(moment: datetime | None) -> str:
    """A moment as ``2024-05-01 12:30:00 UTC``; ``None`` → an em dash."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_offset(ms: float | None) -> str:
    """Time since the start of the run: ``+53.2 ms``; ``None`` → an em dash."""
    return "—" if ms is None else "+" + format_duration(ms)


def status_counts(statuses: Iterable[str]) -> tuple[StatusCount, ...]:
    """How many items ended with each status, successes first and unknown statuses last."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    ordered = sorted(
        counts, key=lambda s: (_STATUS_ORDER.index(s) if s in _STATUS_ORDER else len(_STATUS_ORDER), s)
    )
    return tuple(StatusCount(status=s, tone=status_tone(s), count=counts[s]) for s in ordered)


def cell(value: Any) -> Cell:
    """A sample value as the text of its table cell (as JSON writes it, long text cut)."""
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

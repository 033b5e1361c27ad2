"""Epoch nanoseconds as ISO 8601 UTC text (pure function, cheap enough for every node).

Events and lineage carry each node's start and end as text such as
``2026-01-31T12:00:00.123456+00:00``: microseconds, truncated (never rounded up past the span's
own nanosecond time). Consecutive nodes mostly fall in the same second, so the text of the latest
second is remembered and only the fraction is formatted.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_utc"]

# (Unix second, its ISO text without the offset)
_latest_second: tuple[int, str] = (-1, "")


def iso_utc(time_ns: int | None) -> str | None:
    """``time_ns`` (Unix epoch nanoseconds) as ISO 8601 UTC text with microseconds (``None`` stays)."""
    global _latest_second
    if time_ns is None:
        return None
    seconds, remainder = divmod(time_ns, 1_000_000_000)
    cached_second, text = _latest_second
    if cached_second != seconds:
        text = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").removesuffix("+00:00")
        _latest_second = (seconds, text)  # one tuple: threads see a whole entry or the previous one
    return f"{text}.{remainder // 1000:06d}+00:00"

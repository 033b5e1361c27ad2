"""Text every output can carry: bounded length, valid UTF-8."""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_STRING", "truncate_text"]

#: Default longest text kept (longer text is cut and marked).
MAX_STRING: Final = 200


def truncate_text(text: str, limit: int = MAX_STRING) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how many were dropped.

    Lone surrogates (e.g. undecodable bytes read with ``surrogateescape``), which UTF-8 and thus JSON
    files and OTLP cannot carry, are written as ``\\udcff`` escapes.
    """
    if len(text) > limit:
        text = f"{text[:limit]}… [+{len(text) - limit} chars]"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text

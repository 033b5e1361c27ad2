"""Text every output can carry: bounded length, valid UTF-8."""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["MAX_STRING", "find_control_character", "truncate_text"]

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


def find_control_character(text: str) -> str | None:
    """The first control character in ``text`` (line breaks, tabs, escapes, ...), else ``None``.

    Names with one would break one-line-per-node output and confuse span names and metric labels.
    """
    for char in text:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return char
    return None

"""The ``redact:`` block of a pipeline file: which sample values the run must never capture.

The people who write a pipeline file know which of its columns are sensitive, so the file can say
so; the CLI's ``--redact-*`` and ``--no-samples`` options can only add to it (see
:func:`merge_redaction`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from odibi_otel.lineage.config import PII_PATTERN, TrackerConfig

__all__ = ["REDACT_FIELDS", "merge_redaction", "parse_redaction"]

#: The keys a ``redact:`` block may hold, and what each means.
REDACT_FIELDS: Final = {
    "columns": "a list of column names whose values are never captured",
    "pattern": "a regular expression; columns whose name matches it are redacted",
    "pii": "true redacts columns named like personal data or secrets (the built-in pattern)",
    "samples": "false captures no sample rows at all",
}


def parse_redaction(block: object) -> TrackerConfig:
    """The tracker configuration a ``redact:`` block asks for.

    Raises:
        ValueError: a message naming the key at fault and what was expected.
    """
    if not isinstance(block, Mapping):
        raise ValueError(f"must be a mapping with keys {', '.join(REDACT_FIELDS)}, got {block!r:.80}")
    unknown = sorted(str(key) for key in block if key not in REDACT_FIELDS)
    if unknown:
        raise ValueError(f"has unknown key(s) {unknown}; allowed: {', '.join(REDACT_FIELDS)}")
    columns = block.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
        raise ValueError(f"key 'columns' must be {REDACT_FIELDS['columns']}, got {columns!r:.80}")
    pattern = block.get("pattern")
    if pattern is not None and (not isinstance(pattern, str) or not pattern):
        raise ValueError(f"key 'pattern' must be {REDACT_FIELDS['pattern']}, got {pattern!r:.80}")
    flags = {key: block.get(key, default) for key, default in (("pii", False), ("samples", True))}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"key {key!r} must be true or false, got {value!r:.80}")
    patterns = [p for p in (pattern, PII_PATTERN if flags["pii"] else None) if p]
    return TrackerConfig(
        capture_samples=flags["samples"],
        redact_columns=tuple(columns),
        redact_pattern=_any_of(patterns),
    )


def merge_redaction(first: TrackerConfig | None, second: TrackerConfig | None) -> TrackerConfig | None:
    """A configuration that redacts whatever either one redacts (redaction only ever adds up)."""
    if first is None or second is None:
        return first or second
    patterns = [p for p in (first.redact_pattern, second.redact_pattern) if p]
    return TrackerConfig(
        sample_rows=min(first.sample_rows, second.sample_rows),
        capture_samples=first.capture_samples and second.capture_samples,
        redact_columns=tuple(dict.fromkeys([*first.redact_columns, *second.redact_columns])),
        redact_pattern=_any_of(patterns),
        max_string_length=min(first.max_string_length, second.max_string_length),
    )


def _any_of(patterns: list[Any]) -> str | None:
    if not patterns:
        return None
    if len(patterns) == 1:
        return str(patterns[0])
    return "|".join(f"(?:{pattern})" for pattern in dict.fromkeys(patterns))

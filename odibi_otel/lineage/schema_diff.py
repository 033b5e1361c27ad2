"""The difference between two schemas (``{column: type}`` mappings, any engine's): pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["merge_schemas", "schema_diff"]


def merge_schemas(schemas: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The union of several schemas; the first schema that has a column decides its dtype."""
    merged: dict[str, str] = {}
    for schema in schemas:
        for column, dtype in schema.items():
            merged.setdefault(column, dtype)
    return merged


def schema_diff(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, list[dict[str, str]]]:
    """Columns added, removed and changed in type between ``before`` and ``after``."""
    return {
        "added": [{"column": c, "dtype": t} for c, t in after.items() if c not in before],
        "removed": [{"column": c, "dtype": t} for c, t in before.items() if c not in after],
        "changed": [
            {"column": c, "before": before[c], "after": t}
            for c, t in after.items()
            if c in before and before[c] != t
        ],
    }

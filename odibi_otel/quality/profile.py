"""Column profiles: what the history keeps about each output to compare runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

__all__ = ["DEFAULT_PROFILE_SAMPLE_ROWS", "ColumnProfile", "FrameProfile"]

#: Rows the profile's min/max/mean and distinct counts are computed from (null fractions use all rows).
DEFAULT_PROFILE_SAMPLE_ROWS: Final = 100_000


class ColumnProfile(TypedDict, total=False):
    """A column: ``null_fraction``; ``min``/``max``/``mean`` (numbers); ``distinct_estimate`` (text)."""

    null_fraction: float
    min: float
    max: float
    mean: float
    distinct_estimate: int


@dataclass(frozen=True)
class FrameProfile:
    """A frame's rows, schema (column → type) and per-column profile, from ``sampled_rows`` rows."""

    rows: int
    schema: Mapping[str, str]
    columns: Mapping[str, ColumnProfile] = field(default_factory=dict)
    sampled_rows: int = 0

    def null_fractions(self) -> dict[str, float]:
        """``{column: null fraction}``."""
        return {name: column.get("null_fraction", 0.0) for name, column in self.columns.items()}

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rows": self.rows,
            "schema": dict(self.schema),
            "columns": {name: dict(column) for name, column in self.columns.items()},
            "sampled_rows": self.sampled_rows,
        }

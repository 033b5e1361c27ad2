"""How the tracker samples rows and what it hides (redaction)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["PII_PATTERN", "REDACTED", "TrackerConfig"]

#: A ready-made column-name pattern for common personal data and secrets.
PII_PATTERN: Final = r"e_?mail|ssn|social_security|password|passwd|secret|token|api_?key|phone|iban|card"
#: What a redacted value is shown as.
REDACTED: Final = "[REDACTED]"


@dataclass(frozen=True)
class TrackerConfig:
    """How the tracker samples and what it hides.

    Args:
        sample_rows: Rows kept per snapshot (the first N).
        capture_samples: ``False`` keeps no row values at all, only counts and schemas.
        redact_columns: Column names whose values are never captured.
        redact_pattern: A regular expression; columns whose name it matches (case-insensitive,
            anywhere in the name) are redacted too, e.g. :data:`PII_PATTERN`.
        max_string_length: Longer sample strings are cut and marked.
    """

    sample_rows: int = 5
    capture_samples: bool = True
    redact_columns: Sequence[str] = ()
    redact_pattern: str | None = None
    max_string_length: int = 200

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rows, int) or self.sample_rows < 0:
            raise ValueError(f"sample_rows must be an integer >= 0, got {self.sample_rows!r}")
        if isinstance(self.redact_columns, str):
            raise TypeError("redact_columns must be a list of column names, not a string")
        if self.redact_pattern is not None:
            try:
                re.compile(self.redact_pattern)
            except re.error as exc:
                raise ValueError(f"redact_pattern {self.redact_pattern!r} is invalid: {exc}") from None

    def is_redacted(self, label: str) -> bool:
        """Whether values of the column named ``label`` must be hidden."""
        if label in self.redact_columns:
            return True
        return self.redact_pattern is not None and bool(
            re.search(self.redact_pattern, label, flags=re.IGNORECASE)
        )

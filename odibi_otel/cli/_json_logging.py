"""JSON-lines logging with trace correlation: the run's log file, each record with its trace and span ids.

:class:`JsonLinesFormatter` renders each stdlib log record as one JSON object with the time,
level, logger, message, and the ``trace_id``/``span_id`` of the span current when it was logged.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from opentelemetry import trace

__all__ = ["JsonLinesFormatter", "json_lines_handler"]

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


class JsonLinesFormatter(logging.Formatter):
    """Formats a log record as a single JSON line, with trace context and ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = trace.format_trace_id(context.trace_id)
            entry["span_id"] = trace.format_span_id(context.span_id)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def json_lines_handler(path: str | os.PathLike[str], level: int = logging.INFO) -> logging.FileHandler:
    """A file handler writing JSON lines to ``path`` (parent folders created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(JsonLinesFormatter())
    return handler

"""The records an OTLP/JSON file decodes into: spans, their events and links, log records.

Plain dataclasses with plain Python values (ids as lowercase hex, times as Unix epoch
nanoseconds), as :func:`~odibi_otel.otel.otlp_json.decode_lines` returns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "STATUS_CODE_ERROR",
    "STATUS_CODE_OK",
    "STATUS_CODE_UNSET",
    "DecodedEvent",
    "DecodedLink",
    "DecodedLogRecord",
    "DecodedSpan",
    "TelemetryData",
]

#: ``Status.code`` values (OTLP ``StatusCode``).
STATUS_CODE_UNSET: Final = 0
STATUS_CODE_OK: Final = 1
STATUS_CODE_ERROR: Final = 2


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """A span event (``exception`` events carry ``exception.type/message/stacktrace``)."""

    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecodedLink:
    """A span link: the linked span's ids (lowercase hex) and the link's attributes."""

    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecodedSpan:
    """One span of an OTLP/JSON file, with plain Python values.

    Ids are lowercase hex (``parent_span_id`` is ``None`` for a root span); times are Unix epoch
    nanoseconds; ``status_code`` is 0 (unset), 1 (ok) or 2 (error); ``kind`` the OTLP
    ``SpanKind`` number. ``line`` is the file line the span came from.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    events: tuple[DecodedEvent, ...]
    links: tuple[DecodedLink, ...]
    resource_attributes: dict[str, Any]
    scope_name: str
    scope_version: str
    line: int

    @property
    def duration_ns(self) -> int:
        """``end_ns - start_ns`` (never negative)."""
        return max(self.end_ns - self.start_ns, 0)

    @property
    def exception(self) -> DecodedEvent | None:
        """The first ``exception`` event, if the span recorded one."""
        return next((event for event in self.events if event.name == "exception"), None)


@dataclass(frozen=True, slots=True)
class DecodedLogRecord:
    """One log record of an OTLP/JSON file, with plain Python values.

    ``event_name`` is the record's ``eventName`` (empty for a plain log). ``trace_id``/``span_id``
    are lowercase hex or ``None`` when the record is not correlated with a span. ``line`` is the
    file line the record came from.
    """

    time_ns: int
    observed_time_ns: int
    trace_id: str | None
    span_id: str | None
    event_name: str
    severity_number: int
    severity_text: str
    body: Any
    attributes: dict[str, Any]
    resource_attributes: dict[str, Any]
    scope_name: str
    scope_version: str
    line: int


@dataclass
class TelemetryData:
    """Everything decoded from one OTLP/JSON source, in file order."""

    source: str
    spans: list[DecodedSpan] = field(default_factory=list)
    logs: list[DecodedLogRecord] = field(default_factory=list)
    #: Lines holding an ``ExportMetricsServiceRequest`` (recognised, not decoded).
    metric_requests: int = 0

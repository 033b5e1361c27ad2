"""Decoding OTLP/JSON lines into spans and log records: the one reader of the file format.

OTLP/JSON follows the protobuf JSON mapping (camelCase field names, enums as integers, 64-bit
integers as decimal strings) with the one rule where it differs from it: ``traceId``, ``spanId``
and ``parentSpanId`` (of spans, links and log records) are hex strings, not base64. See
https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding.

This reads what any OTLP/JSON writer produces (odibi_otel's :class:`OtlpJsonFile`,
the OpenTelemetry Collector's file exporter, other SDKs): one ``ExportTraceServiceRequest``,
``ExportLogsServiceRequest`` or ``ExportMetricsServiceRequest`` JSON object per line. It accepts ids
in upper- or lower-case hex (and base64, as plain protobuf JSON writers emit them), 64-bit numbers
as strings or numbers, enums as integers or names, and snake_case field names. Metrics lines are
recognised and skipped. Anything malformed raises :class:`~odibi_otel.errors.TelemetryFileError`
naming the source, the line and the field, e.g.
``run.jsonl: line 3: resourceSpans[0].scopeSpans[0].spans[1].traceId: bad id 'xyz' (expected 32
hex characters)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from odibi_otel.errors import TelemetryFileError
from odibi_otel.otel.otlp_json._reader import fail_line
from odibi_otel.otel.otlp_json._records import TelemetryData
from odibi_otel.otel.otlp_json._requests import decode_request

__all__ = ["decode_lines", "read_telemetry_file"]


def read_telemetry_file(path: str | os.PathLike[str]) -> TelemetryData:
    """Decode every span and log record of an OTLP/JSON lines file.

    Args:
        path: The file (one export request JSON object per line).

    Raises:
        TelemetryFileError: The file cannot be read, or a line is malformed (the message names
            the file, the line and the problem; a truncated last line is reported as such).
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as file:
            return decode_lines(file, source)
    except OSError as exc:
        raise TelemetryFileError(source, None, f"cannot read the file: {exc.strerror or exc}") from exc


def decode_lines(lines: Iterable[str | bytes], source: str = "<otlp-json>") -> TelemetryData:
    """Decode OTLP/JSON lines: one export request JSON object per line, blank lines ignored.

    Args:
        lines: The lines (``str``, or UTF-8 ``bytes`` such as a file opened in binary mode yields).
        source: Names the input in error messages (usually the file path).

    Raises:
        TelemetryFileError: A line is not UTF-8, not JSON (a truncated last line is reported as
            such), not an export request, or has a field of the wrong type or a bad id.
    """
    data = TelemetryData(source=source)
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                fail_line(source, number, f"not UTF-8 text (byte {exc.start + 1})")
        text = raw.strip().lstrip("\ufeff") if number == 1 else raw.strip()
        if not text:
            continue
        try:
            request = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.pos >= len(text) or exc.msg.startswith("Unterminated string"):
                problem = "truncated line: the JSON object ends early (was the writer stopped mid-write?)"
            else:
                problem = f"not JSON: {exc.msg} (column {exc.colno})"
            fail_line(source, number, problem)
        except RecursionError:
            fail_line(source, number, "not JSON: nested too deeply")
        except ValueError as exc:  # e.g. an integer with more digits than Python converts
            fail_line(source, number, f"not JSON: {exc}")
        try:
            decoded = decode_request(request, source=source, line=number)
        except RecursionError:
            fail_line(source, number, "values nested too deeply")
        data.spans.extend(decoded.spans)
        data.logs.extend(decoded.logs)
        data.metric_requests += decoded.metric_requests
    return data

"""OTLP/JSON lines: the file format of odibi_otel's span and log export, written and read here.

One ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` JSON object per line, as the
OpenTelemetry Collector's file exporter writes them. :class:`OtlpJsonFile` writes such a file
(a span exporter and a log exporter sharing it); :func:`read_telemetry_file` and
:func:`decode_lines` read any OTLP/JSON writer's output back as :class:`TelemetryData`;
:func:`encode_spans_line` / :func:`encode_logs_line` are the encoders the file uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.otel.otlp_json._decoding import decode_lines, read_telemetry_file
    from odibi_otel.otel.otlp_json._encoding import (
        encode_logs_json,
        encode_logs_line,
        encode_spans_json,
        encode_spans_line,
    )
    from odibi_otel.otel.otlp_json._file_exporter import OtlpJsonFile
    from odibi_otel.otel.otlp_json._records import (
        STATUS_CODE_ERROR,
        STATUS_CODE_OK,
        STATUS_CODE_UNSET,
        DecodedEvent,
        DecodedLink,
        DecodedLogRecord,
        DecodedSpan,
        TelemetryData,
    )
    from odibi_otel.otel.otlp_json._requests import decode_request

__all__ = [
    "STATUS_CODE_ERROR",
    "STATUS_CODE_OK",
    "STATUS_CODE_UNSET",
    "DecodedEvent",
    "DecodedLink",
    "DecodedLogRecord",
    "DecodedSpan",
    "OtlpJsonFile",
    "TelemetryData",
    "decode_lines",
    "decode_request",
    "encode_logs_json",
    "encode_logs_line",
    "encode_spans_json",
    "encode_spans_line",
    "read_telemetry_file",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            (
                "STATUS_CODE_ERROR",
                "STATUS_CODE_OK",
                "STATUS_CODE_UNSET",
                "DecodedEvent",
                "DecodedLink",
                "DecodedLogRecord",
                "DecodedSpan",
                "TelemetryData",
            ),
            "odibi_otel.otel.otlp_json._records",
        ),
        **dict.fromkeys(("decode_lines", "read_telemetry_file"), "odibi_otel.otel.otlp_json._decoding"),
        "decode_request": "odibi_otel.otel.otlp_json._requests",
        **dict.fromkeys(
            ("encode_logs_json", "encode_logs_line", "encode_spans_json", "encode_spans_line"),
            "odibi_otel.otel.otlp_json._encoding",
        ),
        "OtlpJsonFile": "odibi_otel.otel.otlp_json._file_exporter",
    },
)

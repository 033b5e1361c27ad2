"""A span and log file: SDK exporters writing OTLP/JSON lines to one file.

:class:`OtlpJsonFile` follows the OpenTelemetry file exporter format (OTLP/JSON lines, as the
Collector's file exporter writes them): each export call appends exactly one line holding one
``ExportTraceServiceRequest`` (``{"resourceSpans": [...]}``) or ``ExportLogsServiceRequest``
(``{"resourceLogs": [...]}``) JSON object (see :mod:`odibi_otel.otel.otlp_json`). Lines are written
whole under one lock and handed to the operating system at once (no buffering), so spans and log
records from many threads never interleave.

The file is append-only: a process that crashes mid-write can leave a partial last line, which
:func:`~odibi_otel.otel.otlp_json.read_telemetry_file`
reports as a truncated line with its number. A write that fails (disk full, file closed) is rolled
back where possible, logged once per file and reported to the SDK as ``FAILURE``; it never raises
into the pipeline.

Usage::

    telemetry = OtlpJsonFile("out/run.otlp.jsonl")
    tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.span_exporter))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(telemetry.log_exporter))
    ...
    tracer_provider.shutdown(); logger_provider.shutdown()  # or telemetry.shutdown()
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from odibi_otel.otel._sdk_compat import LogRecordExporter, LogRecordExportResult, ReadableLogRecord
from odibi_otel.otel.otlp_json._encoding import encode_logs_line, encode_spans_line

__all__ = ["OtlpJsonFile"]

_logger = logging.getLogger("odibi_otel")


class OtlpJsonFile:
    """One OTLP/JSON lines file that an SDK span exporter and a log record exporter write to.

    Args:
        path: The file; parent folders are created. Existing content is kept (lines are appended)
            unless ``truncate`` is true.
        truncate: Start with an empty file.

    Raises:
        OSError: The file cannot be created or opened (at construction, not during exports).

    Attributes:
        span_exporter: A ``SpanExporter`` appending ``resourceSpans`` lines.
        log_exporter: A ``LogRecordExporter`` appending ``resourceLogs`` lines.
    """

    def __init__(self, path: str | os.PathLike[str], *, truncate: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: BinaryIO | None = open(self.path, "wb" if truncate else "ab", buffering=0)  # noqa: SIM115
        self._failure_logged = False
        self._open_exporters = 2
        self.span_exporter = _SpanExporter(self)
        self.log_exporter = _LogExporter(self)

    @property
    def closed(self) -> bool:
        """Whether the file is closed (after :meth:`shutdown` or both exporters' shutdown)."""
        return self._file is None

    def shutdown(self) -> None:
        """Close the file; later exports report ``FAILURE``. Safe to call more than once."""
        with self._lock:
            self._close_locked()

    def __enter__(self) -> OtlpJsonFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"OtlpJsonFile({os.fspath(self.path)!r})"

    # -- used by the exporters -------------------------------------------------------------------

    def _export(self, what: str, encode: Callable[[], str]) -> bool:
        """Encode and append one line; ``False`` (logged once) if anything fails."""
        try:
            payload = (encode() + "\n").encode("utf-8")
        except Exception as exc:
            self._report(what, exc)
            return False
        with self._lock:
            file = self._file
            if file is None:
                failure: Exception = ValueError(f"{self!r} is closed")
            else:
                try:
                    _write_all(file, payload)
                    return True
                except Exception as exc:
                    failure = exc
        self._report(what, failure)
        return False

    def _exporter_shutdown(self) -> None:
        with self._lock:
            self._open_exporters -= 1
            if self._open_exporters <= 0:
                self._close_locked()

    def _close_locked(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                _logger.warning("odibi_otel: closing %s failed: %s", self.path, exc)

    def _report(self, what: str, exc: Exception) -> None:
        with self._lock:
            first = not self._failure_logged
            self._failure_logged = True
        if first:
            _logger.warning(
                "odibi_otel: writing %s to %s failed (%s: %s); the export is dropped. Further "
                "failures of this file are not logged.",
                what,
                self.path,
                type(exc).__name__,
                exc,
            )


def _write_all(file: BinaryIO, payload: bytes) -> None:
    """Write every byte of ``payload``; on failure cut the file back so no partial line stays."""
    start = os.fstat(file.fileno()).st_size  # append mode: every write lands at the end
    view = memoryview(payload)
    try:
        while view:
            written = file.write(view)
            if written is None:  # non-blocking file without room: treat as a failure
                raise BlockingIOError("the file accepted no bytes")
            view = view[written:]
    except BaseException:
        with contextlib.suppress(OSError):  # else the partial line stays; the decoder reports it
            file.truncate(start)
        raise


class _LineAppender:
    """What the span and log exporters share: writing batches as lines of one file, shutdown."""

    def __init__(self, target: OtlpJsonFile) -> None:
        self._target = target
        self._shutdown = False

    def _append(self, kind: str, encode: Callable[[], str], empty: bool) -> bool:
        """Write one batch; ``False`` once shut down or when the write failed."""
        if self._shutdown:
            return False
        return empty or self._target._export(kind, encode)

    def shutdown(self) -> None:
        if not self._shutdown:
            self._shutdown = True
            self._target._exporter_shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every line is handed to the OS when it is written


class _SpanExporter(_LineAppender, SpanExporter):
    """Appends each batch of spans as one ``resourceSpans`` line of an :class:`OtlpJsonFile`."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._append("spans", lambda: encode_spans_line(spans), empty=not spans)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE


class _LogExporter(_LineAppender, LogRecordExporter):
    """Appends each batch of log records as one ``resourceLogs`` line of an :class:`OtlpJsonFile`."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = self._append("log records", lambda: encode_logs_line(batch), empty=not batch)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

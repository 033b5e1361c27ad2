"""Every OpenTelemetry name odibi_otel uses that is not public, stable API: here and nowhere else.

Upstream can rename or remove any of these in a minor release, so each one is reached through
this module and pinned by a test in ``tests/test_sdk_compat.py`` that fails with a clear message
when an installed release changes it; ``pyproject.toml`` bounds the ``opentelemetry-*`` versions
to the range those tests passed on (policy: ``docs/architecture.md``). The rest of the package
imports OpenTelemetry's public API and SDK only.

What is here, and why:

* **Logs**: the logs API (``opentelemetry._logs``) and SDK (``opentelemetry.sdk._logs``) still
  carry underscore names upstream; they are the only way to emit log-based events.
* **"Nothing configured"**: the API's global providers are proxy / no-op classes with no public
  marker; :func:`is_unset_provider` recognises them by class name.
* **The processor guard**: an SDK tracer calls one (multi) span processor and lets its exceptions
  through. :func:`member_processors` lists a multi-processor's members, :data:`ON_ENDING` is the
  hook the SDK calls just before a span ends, and :func:`tracer_with_processor` copies an SDK
  tracer onto another processor.
* **Metrics**: the synchronous gauge's SDK class (:data:`GaugeInstrument`, for per-kind
  cardinality limits), the Prometheus exporter's name/unit/label mapping (so the rendered text is
  the exporter's byte for byte) and the component-type value of a Prometheus reader.
* **Export loggers**: the names of the SDK and exporter loggers that report failed exports.
* **Cardinality limits**: SDK 1.45.2 added per-instrument limits to metric readers; 1.45.1 (what
  ``opentelemetry-instrumentation-*`` 0.66b1 pins) has only its fixed default of 2,000.
  :func:`cardinality_reader_arguments` gives a reader the limits where the SDK takes them.

Heavy pieces (the logs SDK, the Prometheus exporter) load on first use, so importing this module
costs no more than the API.
"""

from __future__ import annotations

import copy
import importlib
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import _logs as logs_api
from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.exporter.prometheus._mapping import map_unit, sanitize_attribute, sanitize_full_name
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
    from opentelemetry.sdk._logs.export import (
        BatchLogRecordProcessor,
        ConsoleLogRecordExporter,
        LogRecordExporter,
        LogRecordExportResult,
    )
    from opentelemetry.sdk.metrics import _Gauge as GaugeInstrument
    from opentelemetry.semconv._incubating.attributes.otel_attributes import OtelComponentTypeValues

__all__ = [
    "EXPORT_LOGGERS",
    "ON_ENDING",
    "UNSET_PROVIDER_CLASSES",
    "BatchLogRecordProcessor",
    "ConsoleLogRecordExporter",
    "GaugeInstrument",
    "LogRecordExportResult",
    "LogRecordExporter",
    "LoggerProvider",
    "LoggingHandler",
    "OtelComponentTypeValues",
    "ReadableLogRecord",
    "CARDINALITY_LIMITS_SUPPORTED",
    "cardinality_reader_arguments",
    "is_unset_provider",
    "logs_api",
    "map_unit",
    "member_processors",
    "sanitize_attribute",
    "sanitize_full_name",
    "tracer_with_processor",
]

#: Class names of the API's global providers before an application sets one (proxies) and of
#: the API's no-op providers, for traces, metrics and logs.
UNSET_PROVIDER_CLASSES: Final = frozenset(
    {
        "ProxyTracerProvider",
        "NoOpTracerProvider",
        "_ProxyMeterProvider",
        "NoOpMeterProvider",
        "ProxyLoggerProvider",
        "NoOpLoggerProvider",
    }
)

#: The span processor method the SDK calls when a span is about to end (attributes still settable).
ON_ENDING: Final = "_on_ending"

#: Loggers through which the OpenTelemetry SDK and OTLP exporters report failed exports.
EXPORT_LOGGERS: Final = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._logs._internal.export",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk.metrics._internal",
)

#: Name → (module, attribute) of the pieces loaded on first use.
_LAZY: Final[dict[str, tuple[str, str]]] = {
    "LoggerProvider": ("opentelemetry.sdk._logs", "LoggerProvider"),
    "LoggingHandler": ("opentelemetry.sdk._logs", "LoggingHandler"),
    "ReadableLogRecord": ("opentelemetry.sdk._logs", "ReadableLogRecord"),
    "BatchLogRecordProcessor": ("opentelemetry.sdk._logs.export", "BatchLogRecordProcessor"),
    "ConsoleLogRecordExporter": ("opentelemetry.sdk._logs.export", "ConsoleLogRecordExporter"),
    "LogRecordExporter": ("opentelemetry.sdk._logs.export", "LogRecordExporter"),
    "LogRecordExportResult": ("opentelemetry.sdk._logs.export", "LogRecordExportResult"),
    "GaugeInstrument": ("opentelemetry.sdk.metrics", "_Gauge"),
    "map_unit": ("opentelemetry.exporter.prometheus._mapping", "map_unit"),
    "sanitize_attribute": ("opentelemetry.exporter.prometheus._mapping", "sanitize_attribute"),
    "sanitize_full_name": ("opentelemetry.exporter.prometheus._mapping", "sanitize_full_name"),
    "OtelComponentTypeValues": (
        "opentelemetry.semconv._incubating.attributes.otel_attributes",
        "OtelComponentTypeValues",
    ),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def _reader_takes_cardinality_limits() -> bool:
    import inspect

    from opentelemetry.sdk.metrics.export import MetricReader

    return "cardinality_limits" in inspect.signature(MetricReader.__init__).parameters


#: Whether this SDK's metric readers take per-instrument cardinality limits (1.45.2 and later).
CARDINALITY_LIMITS_SUPPORTED: Final = _reader_takes_cardinality_limits()


def cardinality_reader_arguments(limits: dict[type, int] | None) -> dict[str, Any]:
    """``MetricReader.__init__`` keyword arguments for ``limits``: none on an SDK without them."""
    if limits is None or not CARDINALITY_LIMITS_SUPPORTED:
        return {}
    return {"cardinality_limits": limits}


def is_unset_provider(provider: object) -> bool:
    """Whether ``provider`` is the API's placeholder (nobody configured that signal) or a no-op."""
    return type(provider).__name__ in UNSET_PROVIDER_CLASSES


def member_processors(processor: Any) -> tuple[Any, ...]:
    """The span processors a provider's (multi) processor calls, in order, read at call time.

    A ``TracerProvider`` holds one ``SynchronousMultiSpanProcessor`` whose private tuple of
    members grows with each ``add_span_processor``; any other processor is its own only member.
    """
    members = getattr(processor, "_span_processors", None)
    return tuple(members) if isinstance(members, tuple) else (processor,)


def tracer_with_processor(tracer: trace.Tracer, processor: Any) -> trace.Tracer | None:
    """A copy of an SDK ``tracer`` whose spans go to ``processor``; ``None`` for other tracers.

    The SDK's ``Tracer`` keeps its provider's processor in its ``span_processor`` attribute and
    hands it to every span it starts; the copy shares everything else (sampler, resource, ids).
    """
    from opentelemetry.sdk.trace import Tracer as SdkTracer

    if not isinstance(tracer, SdkTracer) or getattr(tracer, "span_processor", None) is None:
        return None
    copied = copy.copy(tracer)
    copied.span_processor = processor
    return copied


def sdk_span_processor(tracer: trace.Tracer) -> Any | None:
    """The (multi) span processor an SDK ``tracer`` hands its spans to, or ``None``."""
    return getattr(tracer, "span_processor", None)

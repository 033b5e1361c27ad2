"""Spans from Spark's Python workers, in the run's trace, as children of the node span.

``traced`` wraps a function given to ``mapInPandas`` / ``applyInPandas`` / ``mapInArrow`` (or a
pandas UDF). In each task it reads the local properties the driver set for the node
(``odibi.traceparent``, and where to export: ``odibi.otlp.endpoint`` / ``odibi.otlp.protocol``),
starts a span ``spark task <stage>.<partition>`` whose parent is the node span, and exports it
from the worker process over OTLP. Trace context travels the Spark way: a local property set on
the driver's thread, read from ``TaskContext`` in the worker, on every executor of a cluster.

Outside a node (no traceparent) or when anything about telemetry fails, the function runs as
it would without the wrapper: telemetry never breaks a task.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar, cast, overload

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from odibi_otel.otel import semconv

__all__ = ["OTLP_ENDPOINT_PROPERTY", "OTLP_PROTOCOL_PROPERTY", "TASK_SPAN_PREFIX", "traced"]

_logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

#: Local properties telling workers where to send spans (set by the driver for each node).
OTLP_ENDPOINT_PROPERTY: Final = "odibi.otlp.endpoint"
OTLP_PROTOCOL_PROPERTY: Final = "odibi.otlp.protocol"
#: Worker spans are named ``spark task <stage id>.<partition id>``.
TASK_SPAN_PREFIX: Final = "spark task "
_SCOPE: Final = "odibi_otel.spark"

_providers: dict[tuple[str, str], Any] = {}
_providers_lock = threading.Lock()


@overload
def traced(function: F) -> F: ...
@overload
def traced(*, name: str | None = None) -> Callable[[F], F]: ...


def traced(function: F | None = None, *, name: str | None = None) -> Any:
    """Wrap ``function`` so each Spark task running it is a span of the node that started it.

    Use it bare (``df.mapInPandas(traced(fix_prices), schema)``) or with a span name
    (``traced(name="fix prices")(fix_prices)``). An iterator the function returns (mapInPandas
    style) is traced until it is exhausted, with the rows it yielded.
    """

    def decorate(inner: F) -> F:
        @functools.wraps(inner)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            span = _start_task_span(name or str(getattr(inner, "__name__", "function")))
            if span is None:
                return inner(*args, **kwargs)
            try:
                result = inner(*args, **kwargs)
            except BaseException as exc:
                _end(span, exc)
                raise
            if isinstance(result, Iterator):
                return _traced_iterator(result, span)
            _end(span, None)
            return result

        return cast(F, wrapper)

    return decorate(function) if function is not None else decorate


def _start_task_span(function_name: str) -> Any | None:
    """The task's span, or ``None`` outside a node (or when telemetry cannot be set up)."""
    try:
        from pyspark import TaskContext

        task = TaskContext.get()
        if task is None:
            return None
        traceparent = task.getLocalProperty(semconv.SPARK_TRACEPARENT_PROPERTY)
        if not traceparent:
            return None
        endpoint = task.getLocalProperty(OTLP_ENDPOINT_PROPERTY) or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT", ""
        )
        protocol = task.getLocalProperty(OTLP_PROTOCOL_PROPERTY) or os.environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
        )
        tracer = _tracer(endpoint, protocol)
        if tracer is None:
            return None
        parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
        return tracer.start_span(
            f"{TASK_SPAN_PREFIX}{task.stageId()}.{task.partitionId()}",
            context=parent,
            attributes={
                semconv.CODE_FUNCTION_NAME: function_name,
                semconv.SPARK_STAGE_ID: task.stageId(),
                "odibi.spark.partition.id": task.partitionId(),
                "odibi.spark.task.attempt": task.attemptNumber(),
                "process.pid": os.getpid(),
            },
        )
    except Exception as exc:  # never break the task
        _logger.warning("odibi_otel.spark.traced: no span for this task: %s", exc)
        return None


def _traced_iterator(items: Iterator[Any], span: Any) -> Iterator[Any]:
    rows = 0
    try:
        for item in items:
            rows += _length(item)
            yield item
    except BaseException as exc:
        span.set_attribute(semconv.NODE_ROWS_OUT, rows)
        _end(span, exc)
        raise
    span.set_attribute(semconv.NODE_ROWS_OUT, rows)
    _end(span, None)


def _length(item: Any) -> int:
    try:
        return int(getattr(item, "num_rows", None) or len(item))
    except TypeError:
        return 0


def _end(span: Any, error: BaseException | None) -> None:
    try:
        if error is not None:
            span.set_attribute(semconv.ERROR_TYPE, type(error).__qualname__)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()
    except Exception as exc:
        _logger.warning("odibi_otel.spark.traced: could not end the task span: %s", exc)


def _tracer(endpoint: str, protocol: str) -> trace.Tracer | None:
    """This worker process's tracer exporting to ``endpoint`` (one provider per destination)."""
    if not endpoint:
        return None
    key = (endpoint, protocol)
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            provider = _providers[key] = _provider(endpoint, protocol)
    return cast(trace.Tracer, provider.get_tracer(_SCOPE, semconv.INSTRUMENTATION_VERSION))


def _provider(endpoint: str, protocol: str) -> Any:
    # the SDK is set up here, in Spark's worker process, which has no application of its own
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        exporter: Any = HttpExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        exporter = GrpcExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://"))
    provider = TracerProvider(resource=Resource.create({"service.name": "odibi_otel.spark.worker"}))
    # one export per task span: a worker process may be stopped without a chance to flush a batch
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider

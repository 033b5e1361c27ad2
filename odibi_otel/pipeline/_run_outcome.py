"""What the run's spans say about its nodes: input links, and how the run ended (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext
from opentelemetry.util.types import AttributeValue

from odibi_otel.lineage.tracker import Tracker
from odibi_otel.otel import semconv
from odibi_otel.pipeline._node_execution import RunContext, error_type_name
from odibi_otel.pipeline.dag import Dag
from odibi_otel.pipeline.result import ExecutionResult

__all__ = ["in_run_order", "run_result", "input_links", "pipeline_end_attributes", "pipeline_error_message"]


def input_links(dag: Dag, producer_spans: Mapping[str, SpanContext], name: str) -> list[Link]:
    """The links of node ``name``'s span: one per producing node, with the data keys it provided."""
    keys_by_producer: dict[str, list[str]] = {}
    for key in dag.steps[name].input_keys:
        keys_by_producer.setdefault(dag.producers[key], []).append(key)
    return [
        Link(producer_spans[producer], {semconv.LINK_DATA_KEYS: keys})
        for producer, keys in keys_by_producer.items()
    ]


def pipeline_end_attributes(
    skipped: Sequence[str],
    succeeded: Sequence[str],
    failed: Sequence[str],
    error_types: Mapping[str, str],
    interrupt: BaseException | None,
) -> dict[str, AttributeValue]:
    """The pipeline span's end attributes (``skipped`` in run order)."""
    if interrupt is not None:
        status = semconv.STATUS_INTERRUPTED
    else:
        status = semconv.STATUS_FAILED if failed else semconv.STATUS_SUCCESS
    attributes: dict[str, AttributeValue] = {
        semconv.PIPELINE_STATUS: status,
        semconv.PIPELINE_NODES_SUCCEEDED: len(succeeded),
        semconv.PIPELINE_NODES_FAILED: len(failed),
        semconv.PIPELINE_NODES_SKIPPED: len(skipped),
        semconv.PIPELINE_SKIPPED_NODES: list(skipped),
    }
    if interrupt is not None:
        attributes[semconv.ERROR_TYPE] = error_type_name(interrupt)
    elif failed:
        attributes[semconv.ERROR_TYPE] = error_types[failed[0]]
    return attributes


def pipeline_error_message(
    failed: Sequence[str], errors: Mapping[str, str], interrupt: BaseException | None
) -> str:
    """The pipeline span's ERROR status description."""
    if interrupt is not None:
        return f"interrupted: {type(interrupt).__name__}"
    first = failed[0]
    return f"{len(failed)} node(s) failed; first: {first}: {errors[first]}"


def in_run_order(names: Iterable[str], order: Iterable[str]) -> list[str]:
    """``names`` sorted as the run orders its nodes."""
    wanted = set(names)
    return [name for name in order if name in wanted]


def run_result(
    state: Any,
    run: RunContext,
    span_context: trace.SpanContext,
    duration_ms: float,
    tracker: Tracker | None,
    pending: list[str],
) -> ExecutionResult:
    """The ``execute()`` result of the run ``state`` (the orchestrator's ``_Run``) as it ended."""
    order = state.dag.order
    return {
        "success": not state.failed,
        "pipeline_name": state.orchestrator.pipeline_name,
        "run_id": run.run_id,
        "trace_id": trace.format_trace_id(span_context.trace_id),
        "span_id": trace.format_span_id(span_context.span_id),
        "duration_ms": round(duration_ms, 3),
        "nodes_executed": len(state.succeeded) + len(state.failed),
        "successful_nodes": in_run_order(state.succeeded, order),
        "failed_nodes": in_run_order(state.failed, order),
        "skipped_nodes": in_run_order(state.skipped, order),
        "cache_hits": in_run_order(state.cache_hits, order),
        "errors": dict(state.errors),
        "outputs": dict(run.data),
        "tracker": tracker,
        "pending_hooks": pending,
        "checks": {name: state.checks[name] for name in order if name in state.checks},
        "anomalies": {name: state.anomalies[name] for name in order if name in state.anomalies},
    }

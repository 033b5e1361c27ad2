"""What the run's spans say about its nodes: input links, and how the run ended (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from opentelemetry.trace import Link, SpanContext
from opentelemetry.util.types import AttributeValue

from odibi_otel.otel import semconv
from odibi_otel.pipeline._node_execution import error_type_name
from odibi_otel.pipeline.dag import Dag

__all__ = ["in_run_order", "input_links", "pipeline_end_attributes", "pipeline_error_message"]


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

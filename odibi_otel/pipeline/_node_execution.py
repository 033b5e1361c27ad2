"""Running one node: its work (read / function / write, with the cache) inside its span.

The node span is the single measurement of a node: its start and end timestamps give the
duration every other signal reports, and its attributes carry the row counts, sizes and cache
outcome that listeners (metrics, event hooks) read back from the ended span.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Event
from opentelemetry.trace import Link, SpanContext, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from odibi_otel._internal.safety import call_safely
from odibi_otel.engines.base import Engine
from odibi_otel.errors import NodeOutputError
from odibi_otel.history.records import NodeRecord
from odibi_otel.lineage.run_ids import node_run_uuid
from odibi_otel.lineage.tracker import Tracker
from odibi_otel.otel import semconv
from odibi_otel.otel._span_listeners import SpanListener, notify_end, notify_start
from odibi_otel.pipeline._lazy_node import LazyNode, lazy_engine, total_rows
from odibi_otel.pipeline._node_figures import error_type_name, output_attributes
from odibi_otel.pipeline._node_quality import NodeQuality, QualityContext, assess_node, emit_quality_events
from odibi_otel.pipeline.cache import NodeCache, content_fingerprint, node_key, output_fingerprint
from odibi_otel.pipeline.step import Step
from odibi_otel.quality.checks import Check

__all__ = ["NodeOutcome", "NodePlan", "RunContext", "error_type_name", "run_node"]


@dataclass(frozen=True)
class NodePlan:
    """Everything about a node that does not change between runs, prepared once."""

    step: Step
    function: Callable[..., Any] | None
    span_name: str
    attributes: Mapping[str, AttributeValue]
    cache_key_part: str | None
    checks: tuple[Check, ...] = ()


@dataclass
class RunContext:
    """Per-run state shared by the node executions of one ``execute()`` call."""

    run_id: str
    engine: Engine
    tracer: trace.Tracer
    parent_context: otel_context.Context
    listeners: Sequence[SpanListener]
    cache: NodeCache | None
    tracker: Tracker | None = None
    openlineage: bool = False
    quality: QualityContext | None = None
    data: dict[str, Any] = field(default_factory=dict)
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    producer_spans: dict[str, SpanContext] = field(default_factory=dict)
    #: Each step's position in the run order (a lazy engine tags the step's jobs with it).
    positions: Mapping[str, int] = field(default_factory=dict)
    #: Lazy engines: persist and count every node's outputs at the node (``materialize=True``).
    materialize: bool = False
    #: Lazy engines: the nodes whose outputs no job had counted when they ended, with the frames.
    uncounted: list[tuple[Step, list[Any]]] = field(default_factory=list)


@dataclass
class NodeOutcome:
    """What one node execution produced (or how it failed)."""

    name: str
    outputs: dict[str, Any]
    fingerprints: dict[str, str | None]
    span_context: SpanContext
    duration_ms: float
    cache_hit: bool
    error: BaseException | None = None
    checks: Sequence[dict[str, Any]] = ()
    anomalies: Sequence[dict[str, Any]] = ()


def run_node(plan: NodePlan, run: RunContext, links: Sequence[Link]) -> NodeOutcome:
    """Execute ``plan``'s step inside its node span and report the outcome (never raises ``Exception``)."""
    step = plan.step
    inputs = [run.data[key] for key in step.input_keys]
    attributes = dict(plan.attributes)
    attributes[semconv.RUN_ID] = run.run_id
    lazy = lazy_engine(run.engine)
    if lazy is None:
        attributes[semconv.NODE_ROWS_IN] = sum(map(run.engine.row_count, inputs))  # type: ignore[arg-type]
    else:
        rows_in = total_rows(lazy, inputs)
        if rows_in is not None:  # not computed yet: no figure rather than a wrong one
            attributes[semconv.NODE_ROWS_IN] = rows_in
    if run.openlineage:  # the catalog entry and the trace point to each other
        attributes[semconv.OPENLINEAGE_RUN_ID] = node_run_uuid(run.run_id, step.name)
    start_ns = time.time_ns()
    span = run.tracer.start_span(
        plan.span_name,
        context=run.parent_context,
        attributes=attributes,
        links=links,
        start_time=start_ns,
        record_exception=False,
        set_status_on_exception=False,
    )
    if run.tracker is not None:
        tracker = run.tracker
        call_safely(
            "Tracker.node_started",
            lambda: tracker.node_started(
                step.name, dict(zip(step.input_keys, inputs, strict=True)), start_ns
            ),
        )
    record = notify_start(run.listeners, "node", span, plan.span_name, attributes, links, start_ns)
    token = otel_context.attach(trace.set_span_in_context(span, run.parent_context))
    node = None if lazy is None else LazyNode(lazy, run.run_id, run.positions[step.name], span)
    outputs: dict[str, Any] = {}
    fingerprints: dict[str, str | None] = {}
    cache_hit = False
    error: BaseException | None = None
    output_sizes: dict[str, int] = {}
    found: NodeQuality | None = None
    try:
        outputs, fingerprints, cache_hit = _compute(plan, run, inputs)
        if node is not None:
            outputs = node.observed(outputs, step.persist or run.materialize)
            node.finish(time.time_ns())
        end_attributes = output_attributes(run.engine, step, outputs, inputs, output_sizes)
        if node is not None:
            end_attributes.update(node.attributes())
            if semconv.NODE_ROWS_OUT not in end_attributes:  # counted later by another node's job
                run.uncounted.append((step, list(inputs if step.type == "write" else outputs.values())))
        status = Status(StatusCode.UNSET)  # instrumentation leaves success UNSET (OTel spec)
        if run.quality is not None and lazy is None and (plan.checks or run.quality.history is not None):
            found = _assess(plan, run, outputs, inputs, start_ns, end_attributes)
            error = found.error if found is not None else None
            if error is not None:
                end_attributes[semconv.ERROR_TYPE] = error_type_name(error)
                end_attributes[semconv.NODE_STATUS] = semconv.STATUS_FAILED
                status = Status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
    except BaseException as exc:  # recorded; re-raised below unless an Exception
        error = exc
        end_attributes = {
            semconv.ERROR_TYPE: error_type_name(exc),
            semconv.NODE_STATUS: semconv.STATUS_FAILED
            if isinstance(exc, Exception)
            else semconv.STATUS_INTERRUPTED,
        }
        status = Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
        if node is not None:  # the failed jobs and stages are part of the story
            node.finish(time.time_ns(), failed=True)
            end_attributes.update(node.attributes())
    finally:
        otel_context.detach(token)
    if run.cache is not None and plan.cache_key_part is not None:
        end_attributes[semconv.NODE_CACHE_HIT] = cache_hit
    end_ns = time.time_ns()
    # the results as dicts, built once for the tracker, the history and the outcome
    checks: Sequence[dict[str, Any]] = ()  # shared empty results: nothing allocated per plain node
    anomalies: Sequence[dict[str, Any]] = ()
    if found is not None:
        checks = [result.as_dict() for result in found.checks]
        anomalies = [anomaly.as_dict() for anomaly in found.anomalies]
    if run.tracker is not None:
        tracker = run.tracker
        lineage_attributes = call_safely(
            "Tracker.node_finished",
            lambda: tracker.node_finished(
                step.name,
                outputs,
                end_ns=end_ns,
                span_context=span.get_span_context(),
                cache_hit=end_attributes.get(semconv.NODE_CACHE_HIT),  # type: ignore[arg-type]
                error=error,
                output_sizes=output_sizes,
                checks=checks,
                anomalies=anomalies,
                engine_work=(node.works or ()) if node is not None else (),
            ),
        )
        end_attributes.update(lineage_attributes or {})
    span_events = _span_events(found, end_ns)
    for event in span_events:
        span.add_event(event.name, event.attributes, timestamp=end_ns)
    _end_span(span, end_attributes, status, error, end_ns)
    if node is not None:
        error_type = end_attributes.get(semconv.ERROR_TYPE)
        node.emit_spans(run.tracer, span.get_span_context(), None if error_type is None else str(error_type))
    attributes.update(end_attributes)
    notify_end(run.listeners, record, status, end_ns, span_events)
    if run.quality is not None:
        results = (checks, anomalies)
        _quality_after_end(
            run.quality, step, found, results, attributes, span.get_span_context(), (start_ns, end_ns)
        )
    if error is not None and not isinstance(error, Exception):
        raise error
    return NodeOutcome(
        name=step.name,
        outputs=outputs,
        fingerprints=fingerprints,
        span_context=span.get_span_context(),
        duration_ms=(end_ns - start_ns) / 1e6,
        cache_hit=cache_hit,
        error=error,
        checks=checks,
        anomalies=anomalies,
    )


def _assess(
    plan: NodePlan,
    run: RunContext,
    outputs: Mapping[str, Any],
    inputs: Sequence[Any],
    start_ns: int,
    end_attributes: dict[str, AttributeValue],
) -> NodeQuality | None:
    assert run.quality is not None
    quality = run.quality
    rows = end_attributes.get(semconv.NODE_ROWS_OUT)
    found = call_safely(
        "data quality",
        assess_node,
        quality,
        run.engine,
        plan.step,
        plan.checks,
        outputs,
        inputs,
        (time.time_ns() - start_ns) / 1e6,
        rows if isinstance(rows, int) else None,
    )
    if found is not None:
        end_attributes.update(found.attributes)
    return found


def _span_events(found: NodeQuality | None, end_ns: int) -> Sequence[Event]:
    if found is None or not found.span_events:
        return ()
    return [Event(name, attributes, timestamp=end_ns) for name, attributes in found.span_events]


def _quality_after_end(
    quality: QualityContext,
    step: Step,
    found: NodeQuality | None,
    results: tuple[Sequence[dict[str, Any]], Sequence[dict[str, Any]]],
    attributes: Mapping[str, AttributeValue],
    span_context: SpanContext,
    times_ns: tuple[int, int],
) -> None:
    """The node's log-based quality events, and its record for the run history.

    ``results``: the check results and anomalies of ``found`` as dicts (built once by the caller).
    """
    start_ns, end_ns = times_ns
    checks, anomalies = results
    if found is not None:
        call_safely("quality events", emit_quality_events, quality, step, results, span_context, end_ns)
    if quality.history is None:
        return
    status = str(attributes.get(semconv.NODE_STATUS, semconv.STATUS_FAILED))
    rows_out = attributes.get(semconv.NODE_ROWS_OUT)
    size = attributes.get(semconv.NODE_OUTPUT_SIZE_BYTES)
    rows_in = attributes.get(semconv.NODE_ROWS_IN)
    profile = found.profile if found is not None else None
    record = NodeRecord(
        node=step.name,
        status=status,
        duration_ms=(end_ns - start_ns) / 1e6,
        rows_in=rows_in if isinstance(rows_in, int) else None,
        rows_out=rows_out if isinstance(rows_out, int) else None,
        output_bytes=size if isinstance(size, int) else None,
        schema=dict(profile.schema) if profile is not None else {},
        profile={column: dict(values) for column, values in profile.columns.items()} if profile else {},
        checks=tuple(checks),
        anomalies=tuple(anomalies),
    )
    quality.history.node_finished(record, found.statistics if found is not None else None)


def _end_span(
    span: trace.Span,
    attributes: dict[str, AttributeValue],
    status: Status,
    error: BaseException | None,
    end_ns: int,
) -> None:
    span.set_attributes(attributes)
    if error is not None:
        span.record_exception(error, timestamp=end_ns)
    if status.status_code is StatusCode.ERROR:
        span.set_status(status)
    span.end(end_time=end_ns)


def _compute(
    plan: NodePlan, run: RunContext, inputs: list[Any]
) -> tuple[dict[str, Any], dict[str, str | None], bool]:
    step = plan.step
    if run.cache is None:
        return _do_work(plan, run.engine, inputs), {}, False
    key = _cache_key(plan, run)
    if key is None:
        outputs = _do_work(plan, run.engine, inputs)
        by_content: dict[str, str | None] = {
            name: content_fingerprint(frame) for name, frame in outputs.items()
        }
        return outputs, by_content, False
    fingerprints: dict[str, str | None] = {name: output_fingerprint(key, name) for name in step.output_keys}
    cached = run.cache.load(key, step.output_keys)
    if cached is not None:
        return cached, fingerprints, True
    outputs = _do_work(plan, run.engine, inputs)
    run.cache.store(key, outputs)
    return outputs, fingerprints, False


def _cache_key(plan: NodePlan, run: RunContext) -> str | None:
    if plan.cache_key_part is None:
        return None
    input_fingerprints = [run.fingerprints.get(key) for key in plan.step.input_keys]
    if any(fingerprint is None for fingerprint in input_fingerprints):
        return None
    source: Path | None = plan.step.resolved_path() if plan.step.type == "read" else None
    return node_key(plan.cache_key_part, source, input_fingerprints)  # type: ignore[arg-type]


def _do_work(plan: NodePlan, engine: Engine, inputs: list[Any]) -> dict[str, Any]:
    step = plan.step
    if step.type == "read":
        return {step.output_keys[0]: engine.read(step.resolved_path(), step.params)}
    if step.type == "write":
        engine.write(inputs[0], step.resolved_path(), step.params)
        return {}
    if step.type == "sql":
        result = engine.sql(str(step.value), dict(zip(step.table_names, inputs, strict=True)))
        return _outputs_from_result(engine, step, result)
    assert plan.function is not None
    names = step.input_parameter_names
    if names is None:
        result = plan.function(*inputs, **step.keyword_params)
    else:
        result = plan.function(**dict(zip(names, inputs, strict=True)), **step.keyword_params)
    return _outputs_from_result(engine, step, result)


def _outputs_from_result(engine: Engine, step: Step, result: Any) -> dict[str, Any]:
    expected = list(step.output_keys)
    if engine.is_frame(result) and len(expected) == 1:
        return {expected[0]: result}
    if result is None and not expected:
        return {}
    if isinstance(result, Mapping) and set(result) == set(expected):
        wrong = {k: type(v).__name__ for k, v in result.items() if not engine.is_frame(v)}
        if not wrong:
            return {key: result[key] for key in expected}
        noun = engine.frame_type_name
        raise NodeOutputError(f"step {step.name!r}: returned non-{noun} values for outputs {wrong}")
    got = f"dict with keys {sorted(result)}" if isinstance(result, Mapping) else type(result).__name__
    noun = engine.frame_type_name
    want = (
        "nothing (None)"
        if not expected
        else f"a {noun}"
        if len(expected) == 1
        else f"a dict of {noun}s with keys {expected}"
    )
    raise NodeOutputError(f"step {step.name!r}: returned {got}; its outputs {expected} need {want}")

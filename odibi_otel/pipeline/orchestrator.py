"""The Orchestrator: runs a validated step DAG and makes the run an OpenTelemetry trace.

One pipeline span (``pipeline <name>``) is the parent of one span per node execution
(``node <step>``), in every worker thread. Nodes start as soon as their inputs are ready.
"""

from __future__ import annotations

import heapq
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from odibi_otel._internal.safety import call_safely
from odibi_otel._internal.text import find_control_character
from odibi_otel.engines.base import ENGINES
from odibi_otel.errors import PipelineValidationError
from odibi_otel.history.recorder import HistoryConfig, history_config
from odibi_otel.lineage._run_registry import forget_run
from odibi_otel.lineage.tracker import Tracker, TrackerConfig
from odibi_otel.metrics._defaults import default_metrics_manager, default_openlineage
from odibi_otel.otel import semconv
from odibi_otel.otel._processor_guard import guard_tracer
from odibi_otel.otel._providers import resolve_tracer_provider
from odibi_otel.otel._span_listeners import SpanListener, delivering_directly, notify_end, notify_start
from odibi_otel.pipeline._lazy_node import lazy_engine
from odibi_otel.pipeline._lazy_run import LazyRun, make_engine
from odibi_otel.pipeline._node_execution import NodeOutcome, RunContext, error_type_name, run_node
from odibi_otel.pipeline._plans import plan_node
from odibi_otel.pipeline._run_outcome import (
    input_links,
    pipeline_end_attributes,
    pipeline_error_message,
    run_result,
)
from odibi_otel.pipeline._run_quality import finish_quality, quality_context, start_history
from odibi_otel.pipeline._run_tracker import start_tracker
from odibi_otel.pipeline.cache import NodeCache
from odibi_otel.pipeline.dag import Dag, build_dag
from odibi_otel.pipeline.result import ExecutionResult
from odibi_otel.pipeline.step import Step

__all__ = ["SUPPORTED_ENGINES", "Orchestrator"]

#: Names ``engine_type`` accepts.
SUPPORTED_ENGINES: Final = tuple(ENGINES)


class Orchestrator:
    """Runs pandas pipeline steps as an OpenTelemetry trace.

    The steps are validated when the orchestrator is built (graph, field types, function
    references), so a broken pipeline fails before anything runs.

    Args:
        steps: The pipeline's :class:`~odibi_otel.Step` list.
        engine_type: ``"pandas"`` or ``"spark"`` (``pip install 'odibi-otel[spark]'``; docs/spark.md).
        enable_tracker: Record lineage (schemas, row counts, samples) for the run.
        metrics_manager: A :class:`~odibi_otel.MetricsManager` fed from the run's spans.
        event_bus: An :class:`~odibi_otel.EventBus` whose hooks fire from the run's spans.
        enable_cache: Reuse node outputs from ``cache_dir`` when nothing that decides them changed.
        cache_dir: Folder of the node output cache.
        max_workers: Nodes run at once; above 1 a node starts as soon as its inputs are ready.
        pipeline_name: Names the pipeline span and labels every signal.
        tracer_provider: Provider for the spans; default: the global one (never replaced).
        fail_fast: Stop starting nodes after the first failure (nodes already running finish).
        tracker_config: Sampling and redaction of the tracker (see :class:`TrackerConfig`).
        logger_provider: Provider for the lineage log events; default: the global one if the
            application set one, else the events are not emitted.
        openlineage: An :class:`odibi_otel.openlineage.OpenLineageEmitter` that sends the run's
            OpenLineage events; default: the one ``configure(openlineage=...)`` installed, if any.
        history: Record runs in a run history and find anomalies against it: a URL or path
            (``sqlite:///runs.sqlite``, ``postgresql://...``), a ``HistoryStore`` or ``HistoryConfig``;
            default: ``configure(history=...)``'s, if any (``False``: none). See docs/history.md.
        spark: ``engine_type="spark"``: the SparkSession to use (never stopped by the run);
            default: the active session, else one built for the run and stopped after it.
        spark_master: The cluster of a session built for the run (``local[2]``,
            ``spark://host:port``, ``yarn``, ``k8s://...``); default ``SPARK_MASTER`` or ``local[*]``.
        spark_conf: Spark settings of a session built for the run.
        spark_worker_otlp: Where :func:`odibi_otel.spark.traced` spans go from the Python workers:
            ``{"endpoint": ..., "protocol": "grpc" | "http/protobuf"}``; default the driver's
            ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``.
        materialize: Lazy engines: every step as if ``persist=True`` (cached and counted at its
            node: per-node timings and rows, for one more job per output).
    """

    def __init__(
        self,
        steps: Iterable[Step],
        engine_type: str = "pandas",
        enable_tracker: bool = False,
        metrics_manager: Any | None = None,
        event_bus: Any | None = None,
        enable_cache: bool = False,
        cache_dir: str | os.PathLike[str] = ".odibi_cache",
        max_workers: int = 1,
        pipeline_name: str = "pipeline",
        tracer_provider: trace.TracerProvider | None = None,
        fail_fast: bool = True,
        *,
        tracker_config: TrackerConfig | None = None,
        logger_provider: Any | None = None,
        openlineage: Any | None = None,
        history: Any | None = None,
        spark: Any | None = None,
        spark_master: str | None = None,
        spark_conf: Mapping[str, Any] | None = None,
        spark_worker_otlp: Mapping[str, str] | None = None,
        materialize: bool = False,
    ) -> None:
        self.steps = list(steps)
        engine = make_engine(
            engine_type,
            self.steps,
            enable_cache,
            {"spark": spark, "master": spark_master, "conf": spark_conf, "worker_otlp": spark_worker_otlp},
        )
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise PipelineValidationError(f"max_workers must be an integer >= 1, got {max_workers!r}")
        if not isinstance(pipeline_name, str) or not pipeline_name.strip():
            raise PipelineValidationError(f"pipeline_name must be a non-empty string, got {pipeline_name!r}")
        bad = find_control_character(pipeline_name)
        if bad is not None:
            raise PipelineValidationError(
                f"pipeline_name {pipeline_name!r} contains the control character {bad!r}; "
                "use printable characters only"
            )
        self.engine_type = engine_type
        #: The :class:`~odibi_otel.engines.Engine` that reads, writes and measures the frames.
        self.engine = engine
        self.enable_tracker = enable_tracker
        self.metrics_manager = metrics_manager
        self.event_bus = event_bus
        self.enable_cache = enable_cache
        self.cache_dir = cache_dir
        self.max_workers = max_workers
        self.pipeline_name = pipeline_name
        self.tracer_provider = tracer_provider
        self.fail_fast = fail_fast
        self.materialize = materialize
        # on a lazy engine a sample is a job: off unless the caller's config asks for one
        self.tracker_config = tracker_config or TrackerConfig(capture_samples=not engine.lazy)
        self.logger_provider = logger_provider
        #: An OpenLineage emitter (:class:`odibi_otel.openlineage.OpenLineageEmitter`), or ``None``
        #: for the one ``configure(openlineage=...)`` installed, if any.
        self.openlineage = openlineage
        #: The :class:`~odibi_otel.history.HistoryConfig`; ``None``: configure()'s; ``False``: none.
        self.history: HistoryConfig | bool | None = False if history is False else history_config(history)
        self.dag: Dag = build_dag(self.steps)
        self._plans = {
            name: plan_node(step, pipeline_name, enable_cache, engine)
            for name, step in self.dag.steps.items()
        }
        #: The tracker of the latest run, also when ``execute()`` was interrupted.
        self.last_tracker: Tracker | None = None

    def execute(self) -> ExecutionResult:
        """Run the pipeline once and return its result.

        Returns:
            ``success``, ``pipeline_name``, ``run_id``, ``trace_id`` (32 hex chars), ``span_id``,
            ``duration_ms``, ``nodes_executed`` (count of nodes that ran), ``successful_nodes``,
            ``failed_nodes``, ``skipped_nodes`` (lists of step names), ``cache_hits`` (list),
            ``errors`` ({step: message}), ``outputs`` ({data key: DataFrame}) and ``tracker``.
        """
        return _Run(self).execute()

    def _listeners(self) -> tuple[SpanListener, ...]:
        metrics_manager = self.metrics_manager or default_metrics_manager()
        openlineage = self.openlineage or default_openlineage()
        return tuple(item for item in (metrics_manager, self.event_bus, openlineage) if item is not None)


class _Run:
    """One ``execute()`` call: scheduling, pipeline span and the result."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orchestrator = orchestrator
        self.dag = orchestrator.dag
        self.position = {name: index for index, name in enumerate(self.dag.order)}
        self.waiting = {name: len(parents) for name, parents in self.dag.upstream.items()}
        self.ready: list[tuple[int, str]] = []
        self.succeeded: list[str] = []
        self.succeeded_set: set[str] = set()
        self.failed: list[str] = []
        self.skipped: set[str] = set()
        self.cache_hits: list[str] = []
        self.errors: dict[str, str] = {}
        self.error_types: dict[str, str] = {}
        self.interrupted: list[str] = []
        self.checks: dict[str, list[dict[str, Any]]] = {}
        self.anomalies: dict[str, list[dict[str, Any]]] = {}
        self.stop_scheduling = False
        self.lazy: LazyRun | None = None

    def execute(self) -> ExecutionResult:
        run_id = uuid.uuid4().hex
        listeners = self.orchestrator._listeners()
        engine = lazy_engine(self.orchestrator.engine)
        self.lazy = None if engine is None else LazyRun(engine, run_id)
        try:
            if self.lazy is not None:  # the session is set-up, not pipeline work: before any span
                self.lazy.start()
            with delivering_directly(listeners, run_id):  # not again through a provider they are on
                return self._execute(run_id, listeners)
        finally:
            if self.lazy is not None:
                self.lazy.release()

    def _execute(self, run_id: str, listeners: tuple[SpanListener, ...]) -> ExecutionResult:
        orchestrator = self.orchestrator
        provider = resolve_tracer_provider(orchestrator.tracer_provider)
        # a span processor of the provider that raises must not break the run (nor hide the span
        # from the processors after it): odibi_otel's spans go through a guarded copy of the tracer
        tracer = guard_tracer(
            provider.get_tracer(semconv.INSTRUMENTATION_SCOPE, semconv.INSTRUMENTATION_VERSION)
        )
        history = start_history(
            orchestrator.history, orchestrator.pipeline_name, run_id, orchestrator.engine_type
        )
        span_name = semconv.PIPELINE_SPAN_PREFIX + orchestrator.pipeline_name
        attributes: dict[str, AttributeValue] = {
            semconv.PIPELINE_NAME: orchestrator.pipeline_name,
            semconv.RUN_ID: run_id,
            semconv.PIPELINE_NODES_TOTAL: len(self.dag.steps),
            semconv.PIPELINE_MAX_WORKERS: orchestrator.max_workers,
        }
        if history is not None and history.last_success is not None:
            attributes[semconv.PIPELINE_HISTORY_LAST_SUCCESS] = history.last_success
        start_ns = time.time_ns()
        span = tracer.start_span(
            span_name,
            attributes=attributes,
            start_time=start_ns,
            record_exception=False,
            set_status_on_exception=False,
        )
        tracker = start_tracker(orchestrator, self.dag, run_id, span, start_ns)
        record = notify_start(listeners, "pipeline", span, span_name, attributes, (), start_ns)
        run = RunContext(
            run_id=run_id,
            engine=orchestrator.engine,
            tracer=tracer,
            parent_context=trace.set_span_in_context(span, otel_context.get_current()),
            listeners=listeners,
            cache=NodeCache(orchestrator.cache_dir) if orchestrator.enable_cache else None,
            positions=self.position,
            materialize=orchestrator.materialize,
            tracker=tracker,
            openlineage=(orchestrator.openlineage or default_openlineage()) is not None,
            quality=quality_context(
                orchestrator._plans.values(),
                orchestrator.pipeline_name,
                run_id,
                orchestrator.tracker_config,
                orchestrator.logger_provider,
                history,
            ),
        )
        interrupt: BaseException | None = None
        try:
            self._schedule(run)
        except BaseException as exc:  # KeyboardInterrupt and the like: close the trace, re-raise
            interrupt = exc
            if self.lazy is not None:
                self.lazy.cancel()
        if self.lazy is not None:
            self.lazy.finish(run.uncounted, listeners, orchestrator.pipeline_name)
        self.skipped.update(name for name in self.dag.order if not self._finished(name))
        end_attributes = pipeline_end_attributes(
            [name for name in self.dag.order if name in self.skipped],
            self.succeeded,
            self.failed,
            self.error_types,
            interrupt,
        )
        status = (
            Status(StatusCode.UNSET)
            if not self.failed and interrupt is None
            else Status(StatusCode.ERROR, pipeline_error_message(self.failed, self.errors, interrupt))
        )
        end_ns = time.time_ns()
        if tracker is not None:
            status_text = str(end_attributes[semconv.PIPELINE_STATUS])
            call_safely("Tracker.run_finished", tracker.run_finished, status_text, end_ns)
        span.set_attributes(end_attributes)
        if status.status_code is StatusCode.ERROR:
            span.set_status(status)
        span.end(end_time=end_ns)
        attributes.update(end_attributes)
        notify_end(listeners, record, status, end_ns)
        status_text = str(end_attributes[semconv.PIPELINE_STATUS])
        finish_quality(run.quality, history, status_text, span, (start_ns, end_ns), self.dag.order)
        wait_for_hooks = getattr(orchestrator.event_bus, "wait_for_async", None)
        pending: list[str] = []
        if callable(wait_for_hooks):  # an interrupted run does not wait for slow hooks
            pending = list(wait_for_hooks(0 if interrupt is not None else None, run_id=run_id))
        forget_run(run_id)
        if interrupt is not None:
            raise interrupt
        return run_result(
            self,
            run,
            span.get_span_context(),
            (end_ns - start_ns) / 1e6,
            tracker if orchestrator.enable_tracker else None,
            pending,
        )

    def _schedule(self, run: RunContext) -> None:
        for name in self.dag.order:
            if self.waiting[name] == 0:
                heapq.heappush(self.ready, (self.position[name], name))
        workers = self.orchestrator.max_workers
        if workers == 1:
            while self.ready and not self.stop_scheduling:
                _, name = heapq.heappop(self.ready)
                self._finish(run, self._run_node(run, name))
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="odibi-node") as pool:
            running: dict[Future[NodeOutcome], str] = {}
            try:
                while self.ready or running:
                    while self.ready and not self.stop_scheduling and len(running) < workers:
                        _, name = heapq.heappop(self.ready)
                        running[pool.submit(self._run_node, run, name)] = name
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        del running[future]
                        self._finish(run, future.result())
            except BaseException:
                for future in running:
                    future.cancel()
                # nodes already running finish (the pool waits for them): count what they did, so
                # the pipeline span agrees with their own spans, the lineage and the metrics
                for future in running:
                    if not future.cancelled() and future.exception() is None:
                        self._finish(run, future.result())
                raise

    def _run_node(self, run: RunContext, name: str) -> NodeOutcome:
        try:
            return run_node(
                self.orchestrator._plans[name], run, input_links(self.dag, run.producer_spans, name)
            )
        except BaseException:  # run_node only lets interrupts through (KeyboardInterrupt, ...)
            self.interrupted.append(name)
            raise

    def _finish(self, run: RunContext, outcome: NodeOutcome) -> None:
        name = outcome.name
        if outcome.checks:
            self.checks[name] = list(outcome.checks)
        if outcome.anomalies:
            self.anomalies[name] = list(outcome.anomalies)
        if outcome.error is not None:
            self.failed.append(name)
            self.errors[name] = f"{type(outcome.error).__name__}: {outcome.error}"
            self.error_types[name] = error_type_name(outcome.error)
            self.skipped.update(self.dag.descendants(name))
            if self.orchestrator.fail_fast:
                self.stop_scheduling = True
                if self.lazy is not None:  # the other nodes' Spark jobs stop too
                    self.lazy.cancel()
            return
        self.succeeded.append(name)
        self.succeeded_set.add(name)
        if outcome.cache_hit:
            self.cache_hits.append(name)
        run.data.update(outcome.outputs)
        run.fingerprints.update(outcome.fingerprints)
        for key in self.dag.steps[name].output_keys:
            run.producer_spans[self.dag.producers[key]] = outcome.span_context
        for child in self.dag.downstream[name]:
            self.waiting[child] -= 1
            if self.waiting[child] == 0 and child not in self.skipped:
                heapq.heappush(self.ready, (self.position[child], child))

    def _finished(self, name: str) -> bool:
        done = (self.skipped, self.errors, self.succeeded_set, self.interrupted)
        return any(name in collection for collection in done)

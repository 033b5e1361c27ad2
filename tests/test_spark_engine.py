"""The Spark engine on an embedded local[2] session: the same pipelines, spans, rows and lineage.

Spark is lazy, so these tests check what the telemetry promises for a lazy engine: every job a
node triggers is a child span of it (with its stages), row counts come from the jobs that
compute the frames anyway (the run has exactly as many jobs as the same code run bare), a frame
no job computed says "not computed" (never 0), and a count known only after a later node's
action is still the producing node's.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracing, node_spans_by_step

from odibi_otel import Orchestrator, Step
from odibi_otel.otel import semconv
from odibi_otel.pipeline import ExecutionResult

pytestmark = [pytest.mark.spark, pytest.mark.integration]

PER_CUSTOMER = (
    "SELECT customer_id, count(*) AS orders, sum(amount) AS revenue FROM {table} GROUP BY customer_id"
)


def _write_orders(path: Path, rows: int = 1000) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "amount", "status"])
        for index in range(rows):
            status = "cancelled" if index % 10 == 0 else "completed"
            writer.writerow([index, index % 37, f"{(index % 50) + 0.5:.2f}", status])
    return path


def keep_completed(orders: Any) -> Any:
    """A Spark transform: completed orders with amounts as doubles."""
    from pyspark.sql import functions as F

    return orders.where(F.col("status") == "completed").withColumn("amount", F.col("amount").cast("double"))


def _steps(tmp_path: Path) -> list[Step]:
    source = _write_orders(tmp_path / "orders.csv")
    return [
        Step(name="read_orders", layer="ingest", type="read", value=str(source), outputs=["raw"]),
        Step(
            name="keep_completed",
            layer="transform",
            type="function",
            value=keep_completed,
            inputs=["raw"],
            outputs=["completed"],
        ),
        Step(
            name="per_customer",
            layer="transform",
            type="sql",
            value=PER_CUSTOMER.format(table="completed"),
            inputs=["completed"],
            outputs=["per_customer"],
        ),
        Step(
            name="store",
            layer="store",
            type="write",
            value=str(tmp_path / "out" / "per_customer.parquet"),
            inputs=["per_customer"],
        ),
    ]


def run_on_spark(steps: list[Step], spark: Any, tracing: Tracing, **options: Any) -> ExecutionResult:
    """``steps`` run on the test session with the test's tracer provider; the run must succeed."""
    result = Orchestrator(
        steps, engine_type="spark", spark=spark, tracer_provider=tracing.provider, **options
    ).execute()
    assert result["success"], result["errors"]
    return result


def _jobs_tagged(spark: Any, tag: str) -> list[int]:
    tracker = spark.sparkContext._jsc.sc().statusTracker()
    return sorted(int(job) for job in tracker.getJobIdsForTag(tag))


def _bare(spark: Any, tmp_path: Path) -> int:
    """The same work without odibi_otel; returns how many Spark jobs it ran."""
    tag = f"bare-{uuid.uuid4().hex}"
    context = spark.sparkContext
    context.addJobTag(tag)
    try:
        raw = spark.read.options(header="true").csv(str(tmp_path / "orders.csv"))
        completed = keep_completed(raw)
        completed.createOrReplaceTempView("bare_completed")
        summary = spark.sql(PER_CUSTOMER.format(table="bare_completed"))
        summary.write.mode("overwrite").parquet(str(tmp_path / "bare" / "per_customer.parquet"))
    finally:
        context.removeJobTag(tag)
    context._jsc.sc().listenerBus().waitUntilEmpty(5000)
    return len(_jobs_tagged(spark, tag))


def test_a_spark_run_is_one_trace_with_job_and_stage_spans_under_each_node(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    run_on_spark(_steps(tmp_path), spark_session, tracing, enable_tracker=True)
    spans = tracing.spans()
    nodes = node_spans_by_step(spans)
    by_id = {span.context.span_id: span for span in spans}
    assert {span.context.trace_id for span in spans} == {tracing.pipeline_span().context.trace_id}
    jobs = [span for span in spans if span.name.startswith(semconv.SPARK_JOB_SPAN_PREFIX)]
    stages = [span for span in spans if span.name.startswith(semconv.SPARK_STAGE_SPAN_PREFIX)]
    assert jobs and stages
    for job in jobs:
        assert job.parent is not None and by_id[job.parent.span_id].name.startswith("node ")
        assert job.start_time is not None and job.end_time is not None and job.start_time <= job.end_time
    for stage in stages:
        assert stage.parent is not None and by_id[stage.parent.span_id].name.startswith("spark job ")
    # the write runs the shuffle: its jobs hang under the store node, with Spark's figures
    store_jobs = [job for job in jobs if job.parent.span_id == nodes["store"].context.span_id]
    assert store_jobs
    store = nodes["store"].attributes
    assert store[semconv.NODE_ROWS_OUT] == 37
    assert store[semconv.SPARK_JOBS] == len(store_jobs)
    assert store[semconv.SPARK_OUTPUT_RECORDS] == 37
    assert store[semconv.NODE_OUTPUT_SIZE_BYTES] == store[semconv.SPARK_OUTPUT_BYTES] > 0
    assert store[semconv.SPARK_SHUFFLE_WRITE_BYTES] > 0
    assert store[semconv.SPARK_TASKS] >= 2


def test_row_counts_cost_no_extra_job_and_late_counts_belong_to_the_producing_node(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    steps = _steps(tmp_path)
    bare_jobs = _bare(spark_session, tmp_path)
    result = run_on_spark(steps, spark_session, tracing, enable_tracker=True)
    assert len(_jobs_tagged(spark_session, f"odibi-run-{result['run_id']}")) == bare_jobs
    nodes = node_spans_by_step(tracing.spans())
    # keep_completed's frame was computed only by the store node's job: not counted at its end
    assert semconv.NODE_ROWS_OUT not in nodes["keep_completed"].attributes
    lineage = {step["name"]: step for step in result["tracker"].to_dict()["steps"]}
    assert lineage["read_orders"]["rows_out"] == 1000
    assert lineage["keep_completed"]["rows_out"] == 900
    assert lineage["keep_completed"]["row_delta"] == -100
    assert lineage["per_customer"]["rows_out"] == 37
    assert lineage["store"]["rows_out"] == 37


def test_a_frame_no_job_computed_is_not_computed_never_zero(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    steps = _steps(tmp_path)[:2]  # read and transform: no action at all
    result = run_on_spark(steps, spark_session, tracing, enable_tracker=True)
    nodes = node_spans_by_step(tracing.spans())
    assert semconv.NODE_ROWS_OUT not in nodes["keep_completed"].attributes
    lineage = {step["name"]: step for step in result["tracker"].to_dict()["steps"]}
    assert lineage["keep_completed"]["rows_out"] is None
    assert lineage["keep_completed"]["after"]["completed"]["rows"] is None
    assert lineage["keep_completed"]["after"]["completed"]["schema"] == {
        "order_id": "string",
        "customer_id": "string",
        "amount": "double",
        "status": "string",
    }
    assert lineage["keep_completed"]["after"]["completed"]["sample"] is None  # samples are off on Spark


def test_persist_counts_a_nodes_outputs_at_the_node_for_extra_jobs(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    steps = _steps(tmp_path)
    steps[1] = Step(
        name="keep_completed",
        layer="transform",
        type="function",
        value=keep_completed,
        inputs=["raw"],
        outputs=["completed"],
        persist=True,
    )
    bare_jobs = _bare(spark_session, tmp_path)
    result = run_on_spark(steps, spark_session, tracing)
    nodes = node_spans_by_step(tracing.spans())
    keep = nodes["keep_completed"].attributes
    assert keep[semconv.NODE_ROWS_OUT] == 900  # counted at its own node
    assert keep[semconv.SPARK_JOBS] >= 1
    # the price, documented in docs/spark.md: the count's own jobs (and the later write reads the cache)
    assert len(_jobs_tagged(spark_session, f"odibi-run-{result['run_id']}")) > bare_jobs
    assert not spark_session.sparkContext._jsc.getPersistentRDDs()  # the run's cache is released


def test_materialize_counts_every_node_at_the_node(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    run_on_spark(_steps(tmp_path), spark_session, tracing, materialize=True)
    nodes = node_spans_by_step(tracing.spans())
    assert {name: span.attributes.get(semconv.NODE_ROWS_OUT) for name, span in nodes.items()} == {
        "read_orders": 1000,
        "keep_completed": 900,
        "per_customer": 37,
        "store": 37,
    }


def test_samples_on_spark_are_asked_for_and_never_cut_a_row_count(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    from odibi_otel import TrackerConfig

    config = TrackerConfig(capture_samples=True, sample_rows=3, redact_columns=("customer_id",))
    result = run_on_spark(
        _steps(tmp_path), spark_session, tracing, enable_tracker=True, tracker_config=config
    )
    lineage = {step["name"]: step for step in result["tracker"].to_dict()["steps"]}
    raw = lineage["read_orders"]["after"]["raw"]
    assert raw["rows"] == 1000  # the sample's limit(3) job did not complete the count with 3
    assert raw["sample"]["columns"] == ["order_id", "customer_id", "amount", "status"]
    assert len(raw["sample"]["rows"]) == 3
    assert {row[1] for row in raw["sample"]["rows"]} == {"[REDACTED]"}
    assert lineage["keep_completed"]["rows_out"] == 900

"""Run the customer pipeline on a Spark cluster, and the same Spark code bare (a test's subprocess).

``python spark_cluster_run.py MASTER_URL OTLP_ENDPOINT OUT_DIR`` runs, on one session of the
cluster: the demo's customer pipeline on Spark plus one step whose Python work runs in the
executors' Python workers under :func:`odibi_otel.spark.traced`, with spans exported over OTLP
(gRPC) to ``OTLP_ENDPOINT``; then the same steps as plain Spark calls. It prints one JSON line:
the run's id and result, each step's rows from the lineage, and the Spark jobs of each run.

A subprocess because one Python process holds one SparkContext, and the test session's own is
an embedded ``local[2]`` one.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def add_worker_pid(batches: Iterator[Any]) -> Iterator[Any]:
    """Each row tagged with the pid of the Python worker that handled it."""
    for batch in batches:
        yield batch.assign(worker_pid=os.getpid())


def tag_worker_pids(top: Any) -> Any:
    """A step whose work happens in the executors' Python workers, traced."""
    from odibi_otel.spark import traced

    return top.mapInPandas(traced(add_worker_pid), f"{top.schema.simpleString()[7:-1]},worker_pid:bigint")


def slow_first_attempt(batches: Iterator[Any], marker: str) -> Iterator[Any]:
    """Writes its pid to ``marker`` and stalls (up to a minute) on a task's first attempt only."""
    import time

    from pyspark import TaskContext

    task = TaskContext.get()
    if task is not None and task.attemptNumber() == 0:
        Path(marker).write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
    yield from batches


def stall_once(orders: Any, marker: str) -> Any:
    """A step whose first task attempt stalls until its worker is killed."""
    import functools

    return orders.mapInPandas(functools.partial(slow_first_attempt, marker=marker), orders.schema)


def survive_a_lost_worker(master: str, endpoint: str, out: Path) -> None:
    """The run during which the test kills the worker running its task: prints the run's outcome."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from pyspark.sql import SparkSession

    from odibi_otel import Orchestrator, Step
    from odibi_otel.engines._spark_session import LOOPBACK_CONF

    source = out / "orders.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("order_id,amount\n" + "".join(f"{i},{i}.5\n" for i in range(100)))
    marker = str(out / "task-started")
    steps = [
        Step("read", "ingest", "read", str(source), outputs=["orders"]),
        Step("stall", "transform", "function", stall_once, inputs=["orders"], outputs=["stalled"],
             params={"marker": marker}),
        Step("store", "store", "write", str(out / "stalled.parquet"), inputs=["stalled"]),
    ]  # fmt: skip
    builder = SparkSession.builder.master(master).appName("odibi-lost-worker")
    for key, value in {**LOOPBACK_CONF, "spark.executor.memory": "1g"}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    result = Orchestrator(steps, engine_type="spark", spark=spark, tracer_provider=provider).execute()
    provider.force_flush()
    print(
        json.dumps({"success": result["success"], "errors": result["errors"], "trace_id": result["trace_id"]})
    )
    spark.stop()


def main(master: str, endpoint: str, out: Path) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from pyspark.sql import SparkSession

    from odibi_otel import Orchestrator, Step
    from odibi_otel.cli._demo import load_demo_pipeline
    from odibi_otel.engines._spark_session import LOOPBACK_CONF

    definition = load_demo_pipeline(out / "odibi", "spark")
    steps = [
        *definition.steps,
        Step("tag_worker_pids", "publish", "function", tag_worker_pids, inputs=["top_customers"],
             outputs=["tagged"]),
        Step("store_tagged", "publish", "write", str(out / "odibi" / "tagged.parquet"), inputs=["tagged"]),
    ]  # fmt: skip
    builder = SparkSession.builder.master(master).appName("odibi-cluster-test")
    for key, value in {
        **LOOPBACK_CONF,
        "spark.executor.memory": "1g",
        "spark.sql.shuffle.partitions": "4",
    }.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    provider = TracerProvider(resource=Resource.create({"service.name": "cluster-test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    result = Orchestrator(
        steps,
        engine_type="spark",
        spark=spark,
        pipeline_name=definition.name,
        tracer_provider=provider,
        enable_tracker=True,
        spark_worker_otlp={"endpoint": endpoint, "protocol": "grpc"},
    ).execute()
    provider.force_flush()
    tracker = spark.sparkContext._jsc.sc().statusTracker()
    odibi_jobs = len(tracker.getJobIdsForTag(f"odibi-run-{result['run_id']}"))
    bare_jobs = _bare(spark, steps, out / "bare")
    lineage = result["tracker"].to_dict()
    print(
        json.dumps(
            {
                "success": result["success"],
                "errors": result["errors"],
                "run_id": result["run_id"],
                "trace_id": result["trace_id"],
                "rows": {step["name"]: step["rows_out"] for step in lineage["steps"]},
                "odibi_jobs": odibi_jobs,
                "bare_jobs": bare_jobs,
                "driver_pid": os.getpid(),
            }
        ),
        flush=True,
    )
    spark.stop()


def _bare(spark: Any, steps: list[Any], out: Path) -> int:
    """The same steps as plain Spark calls, in the same order; returns their Spark jobs."""
    from odibi_otel.engines._spark_io import read_spark_frame, write_spark_frame
    from odibi_otel.pipeline.validation import validate_steps

    dag = validate_steps(steps, "spark")
    tag = f"bare-{uuid.uuid4().hex}"
    spark.sparkContext.addJobTag(tag)
    data: dict[str, Any] = {}
    try:
        for name in dag.order:
            step = dag.steps[name]
            inputs = [data[key] for key in step.input_keys]
            if step.type == "read":
                data[step.output_keys[0]] = read_spark_frame(spark, step.resolved_path(), step.params)
            elif step.type == "write":
                target = out / Path(step.resolved_path()).name
                write_spark_frame(inputs[0], target, step.params)
            else:
                function = _function(step)
                names = step.input_parameter_names
                produced = (
                    function(*inputs, **step.keyword_params)
                    if names is None
                    else function(**dict(zip(names, inputs, strict=True)), **step.keyword_params)
                )
                data.update(produced if isinstance(produced, dict) else {step.output_keys[0]: produced})
    finally:
        spark.sparkContext.removeJobTag(tag)
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(10_000)
    return len(spark.sparkContext._jsc.sc().statusTracker().getJobIdsForTag(tag))


def _function(step: Any) -> Any:
    from odibi_otel.pipeline._references import resolve_function

    return resolve_function(step)


if __name__ == "__main__":
    run = survive_a_lost_worker if sys.argv[4:] == ["lost-worker"] else main
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))

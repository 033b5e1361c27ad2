"""Case 8: the Spark engine on an embedded ``local[2]`` session, odibi_otel vs the same Spark code bare.

Two pipelines, each paired and interleaved with its bare twin in the same session:

* the reference pipeline of case 1 in Spark terms (read CSV x2, filter, join, add columns,
  group-by, sort, write parquet): odibi_otel with everything on (spans and lineage log events into
  an OTLP/JSON file, metrics, a no-op hook per event, the tracker without samples) against the
  same DataFrame calls; target: at most 2% slower, and exactly as many Spark jobs;
* tiny nodes: 200 lazy ``withColumn`` steps and one write: the per-node overhead in microseconds
  (informational: on Spark a lazy node is a few microseconds of plan building, so this is close
  to odibi_otel's whole per-node cost on Spark: its span, the observe wrapper, two job tags, the
  listener-bus wait and a status-tracker call).

Also reported: odibi_otel's own time per run (the run minus the time inside the nodes' work,
``_node_execution._do_work``, which calls what the bare code calls). Skipped (reported, not
crashed) when pyspark or Java is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import reference_pipeline as reference
from benchmarks.case_reference import timed_node_work
from benchmarks.common import CaseResult, Measurement, Settings, Telemetry, everything_on, interleaved, ratios

TARGET_RATIO = 1.02
TINY_NODES = 200

ORDERS_SCHEMA = (
    "order_id BIGINT, customer_id BIGINT, product STRING, status STRING, quantity INT, "
    "unit_price DOUBLE, order_date STRING, reference STRING"
)
CUSTOMERS_SCHEMA = "customer_id BIGINT, name STRING, email STRING, region STRING, segment STRING"


def filter_orders(orders: Any) -> Any:
    from pyspark.sql import functions as F

    return orders.where((F.col("status") != "cancelled") & (F.col("quantity") > 0))


def join_customers(orders: Any, customers: Any) -> Any:
    return orders.join(customers, on="customer_id", how="inner")


def add_columns(frame: Any) -> Any:
    from pyspark.sql import functions as F

    return frame.select(
        "*",
        (F.col("quantity") * F.col("unit_price")).alias("revenue"),
        F.substring("order_date", 1, 7).alias("order_month"),
        (F.col("quantity") >= 8).alias("big_order"),
    )


def aggregate(frame: Any) -> Any:
    from pyspark.sql import functions as F

    return frame.groupBy("region", "segment", "order_month").agg(
        F.sum("revenue").alias("revenue"),
        F.count("order_id").alias("orders"),
        F.sum("quantity").alias("quantity"),
        F.sum(F.col("big_order").cast("int")).alias("big_orders"),
    )


def sort_report(frame: Any) -> Any:
    from pyspark.sql import functions as F

    return frame.orderBy(F.col("order_month").asc(), F.col("revenue").desc())


def run_bare(spark: Any, folder: Path, out: Path) -> None:
    """The reference pipeline as plain Spark calls."""
    csv = spark.read.options(header="true")
    orders = csv.schema(ORDERS_SCHEMA).csv(os.fspath(folder / reference.ORDERS_FILE))
    customers = (
        spark.read.options(header="true")
        .schema(CUSTOMERS_SCHEMA)
        .csv(os.fspath(folder / reference.CUSTOMERS_FILE))
    )
    report = sort_report(aggregate(add_columns(join_customers(filter_orders(orders), customers))))
    report.write.mode("overwrite").parquet(os.fspath(out))


def reference_steps(folder: Path, out: Path) -> list[Any]:
    from odibi_otel import Step

    return [
        Step("read_orders", "ingest", "read", os.fspath(folder / reference.ORDERS_FILE), outputs=["orders"],
             params={"schema": ORDERS_SCHEMA}),
        Step("read_customers", "ingest", "read", os.fspath(folder / reference.CUSTOMERS_FILE),
             outputs=["customers"], params={"schema": CUSTOMERS_SCHEMA}),
        Step("filter", "transform", "function", filter_orders, inputs=["orders"], outputs=["valid_orders"]),
        Step("join", "transform", "function", join_customers, inputs=["valid_orders", "customers"],
             outputs=["joined"]),
        Step("add_columns", "transform", "function", add_columns, inputs=["joined"], outputs=["enriched"]),
        Step("aggregate", "transform", "function", aggregate, inputs=["enriched"], outputs=["summary"]),
        Step("sort", "transform", "function", sort_report, inputs=["summary"], outputs=["report"]),
        Step("write_report", "store", "write", os.fspath(out), inputs=["report"]),
    ]  # fmt: skip


def add_one(frame: Any, column: str) -> Any:
    from pyspark.sql import functions as F

    return frame.withColumn(column, F.col("id") + 1)


def tiny_bare(spark: Any, out: Path, nodes: int = TINY_NODES) -> None:
    frame = spark.range(1000)
    for index in range(nodes):
        frame = add_one(frame, f"c{index % 8}")
    frame.write.mode("overwrite").parquet(os.fspath(out))


def tiny_steps(out: Path, nodes: int = TINY_NODES) -> list[Any]:
    from odibi_otel import Step

    steps = [Step("start", "ingest", "function", _range_frame, outputs=["f0"])]
    for index in range(nodes):
        inputs, outputs = [f"f{index}"], [f"f{index + 1}"]
        params = {"column": f"c{index % 8}"}
        steps.append(Step(f"n{index}", "transform", "function", add_one, inputs, outputs, params))
    steps.append(Step("store", "store", "write", os.fspath(out), inputs=[f"f{nodes}"]))
    return steps


def _range_frame() -> Any:
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    assert session is not None
    return session.range(1000)


def run(settings: Settings) -> CaseResult:
    result = CaseResult(
        8, "Spark engine (local[2]): reference pipeline and 200 tiny lazy nodes vs bare Spark"
    )
    spark = _session(result)
    if spark is None:
        return result
    try:
        _reference(spark, settings, result)
        _tiny(spark, settings, result)
    finally:
        spark.stop()
    return result


def _session(result: CaseResult) -> Any | None:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        result.facts["skipped"] = "pyspark is not installed (pip install -e '.[spark]')"
        return None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        result.facts["skipped"] = "Java is not installed (openjdk-17-jre-headless)"
        return None
    from odibi_otel.engines._spark_session import LOOPBACK_CONF

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master("local[2]").appName("odibi-benchmarks")
    for key, value in {**LOOPBACK_CONF, "spark.sql.shuffle.partitions": "4"}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _jobs(spark: Any, tag: str) -> int:
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(5000)
    return len(spark.sparkContext._jsc.sc().statusTracker().getJobIdsForTag(tag))


def _tagged(spark: Any, work: Callable[[], Any]) -> int:
    """Run ``work`` with a job tag of its own; returns how many Spark jobs it ran."""
    tag = f"bench-{uuid.uuid4().hex}"
    spark.sparkContext.addJobTag(tag)
    try:
        work()
    finally:
        spark.sparkContext.removeJobTag(tag)
    return _jobs(spark, tag)


def _reference(spark: Any, settings: Settings, result: CaseResult) -> None:
    orders, customers = (20_000, 1_000) if settings.quick else (1_000_000, 10_000)
    folder = settings.workdir / f"reference-{orders}"
    reference.generate(folder, orders, customers)
    result.facts["reference data"] = f"{orders:,} orders + {customers:,} customers (CSV)"
    telemetry = Telemetry(settings.workdir / "case8.otlp.jsonl")
    out_bare, out_odibi = settings.workdir / "case8-bare.parquet", settings.workdir / "case8-odibi.parquet"
    orchestrator = _spark_orchestrator(reference_steps(folder, out_odibi), telemetry, spark)
    own_times: list[float] = []
    run_ids: list[str] = []

    def instrumented() -> Any:
        work = [0.0]
        begin = time.perf_counter()
        with timed_node_work(work):
            outcome = orchestrator.execute()
        telemetry.flush()
        own_times.append(time.perf_counter() - begin - work[0])
        if not outcome["success"]:
            raise RuntimeError(f"Spark reference pipeline failed: {outcome['errors']}")
        run_ids.append(outcome["run_id"])
        return outcome

    bare_jobs = _tagged(spark, lambda: run_bare(spark, folder, out_bare))  # warm-up, and its job count
    instrumented()
    odibi_jobs = _jobs(spark, f"odibi-run-{run_ids[-1]}")
    result.facts["Spark jobs per run: bare / odibi_otel"] = f"{bare_jobs} / {odibi_jobs}"
    result.facts["check: same number of Spark jobs"] = bare_jobs == odibi_jobs
    own_times.clear()
    rounds = settings.pairs
    times = interleaved(
        {"bare": lambda: run_bare(spark, folder, out_bare), "odibi": (instrumented, telemetry.reset)}, rounds
    )
    telemetry.shutdown()
    bare_median = sorted(times["bare"].wall)[rounds // 2]
    result.add(
        Measurement(
            "reference pipeline: everything-on / bare (wall)",
            "x",
            ratios(times["odibi"].wall, times["bare"].wall),
            target=TARGET_RATIO,
            digits=4,
            note=f"bare run median {bare_median * 1000:.0f} ms",
        )
    )
    result.add(
        Measurement(
            "reference pipeline: odibi_otel's own time in the run (run - node work, flush included) / bare",
            "x",
            [own / bare_median for own in own_times],
            comparison=None,
            digits=4,
            note=f"median {sorted(own_times)[len(own_times) // 2] * 1000:.1f} ms per run",
        )
    )


def _tiny(spark: Any, settings: Settings, result: CaseResult) -> None:
    out_bare, out_odibi = (
        settings.workdir / "case8-tiny-bare.parquet",
        settings.workdir / "case8-tiny.parquet",
    )
    telemetry = Telemetry(settings.workdir / "case8-tiny.otlp.jsonl")
    count = 20 if settings.quick else TINY_NODES
    orchestrator = _spark_orchestrator(tiny_steps(out_odibi, count), telemetry, spark)

    def instrumented() -> Any:
        outcome = orchestrator.execute()
        telemetry.flush()
        if not outcome["success"]:
            raise RuntimeError(f"Spark tiny-nodes pipeline failed: {outcome['errors']}")
        return outcome

    tiny_bare(spark, out_bare, count)
    instrumented()
    variants = {"bare": lambda: tiny_bare(spark, out_bare, count), "odibi": (instrumented, telemetry.reset)}
    times = interleaved(variants, settings.pairs)
    telemetry.shutdown()
    nodes = count + 2
    result.add(
        Measurement(
            f"tiny lazy nodes ({nodes} per run): odibi_otel's cost per node",
            "us",
            [(a - b) / nodes * 1e6 for a, b in zip(times["odibi"].wall, times["bare"].wall, strict=True)],
            comparison=None,
            digits=0,
            note=f"bare run median {sorted(times['bare'].wall)[settings.pairs // 2] * 1000:.0f} ms",
        )
    )


def _spark_orchestrator(steps: list[Any], telemetry: Telemetry, spark: Any) -> Any:
    from odibi_otel import MetricsManager, Orchestrator
    from odibi_otel.lineage.tracker import TrackerConfig

    template = everything_on(steps, telemetry)
    return Orchestrator(
        steps,
        engine_type="spark",
        spark=spark,
        history=False,
        enable_tracker=True,
        tracker_config=TrackerConfig(capture_samples=False),
        metrics_manager=MetricsManager(),
        event_bus=template.event_bus,
        pipeline_name="benchmark",
        tracer_provider=telemetry.tracer_provider,
        logger_provider=telemetry.logger_provider,
    )

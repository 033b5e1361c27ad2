"""``odibi_otel.spark.traced``: Python worker spans in the run's trace, under the node that ran the job.

The worker processes are Spark's own (other pids than the test's); their spans reach a real OTLP
receiver, as they would a Collector.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracing, node_spans_by_step
from test_otlp_integration import Collector, _hex, _wait_until

from odibi_otel import Orchestrator, Step
from odibi_otel.spark import TASK_SPAN_PREFIX, traced

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def add_pid(batches: Iterator[Any]) -> Iterator[Any]:
    """mapInPandas body: tag each row with the Python worker's pid."""
    for batch in batches:
        yield batch.assign(pid=os.getpid())


def tag_with_pid(orders: Any) -> Any:
    """A function step whose Spark work runs in Python workers, traced."""
    return orders.mapInPandas(traced(add_pid), f"{orders.schema.simpleString()[7:-1]},pid:bigint")


def test_python_worker_spans_join_the_trace_under_the_node_that_ran_the_job(
    spark_session: Any, tracing: Tracing, tmp_path: Path, otlp_grpc_receiver: tuple[Collector, int]
) -> None:
    collector, port = otlp_grpc_receiver
    source = tmp_path / "orders.csv"
    source.write_text("order_id,amount\n" + "".join(f"{i},{i * 1.5}\n" for i in range(200)))
    steps = [
        Step(name="read", layer="ingest", type="read", value=str(source), outputs=["orders"]),
        Step(
            name="tag",
            layer="transform",
            type="function",
            value=tag_with_pid,
            inputs=["orders"],
            outputs=["tagged"],
        ),
        Step(
            name="store", layer="store", type="write", value=str(tmp_path / "out.parquet"), inputs=["tagged"]
        ),
    ]
    result = Orchestrator(
        steps,
        engine_type="spark",
        spark=spark_session,
        tracer_provider=tracing.provider,
        spark_worker_otlp={"endpoint": f"http://127.0.0.1:{port}", "protocol": "grpc"},
    ).execute()
    assert result["success"], result["errors"]
    store = node_spans_by_step(tracing.spans())["store"]

    def task_spans() -> list[dict[str, Any]]:
        return [span for span in collector.spans() if span["name"].startswith(TASK_SPAN_PREFIX)]

    _wait_until(lambda: len(task_spans()) >= 1, 30, "worker spans")
    pids = spark_session.read.parquet(str(tmp_path / "out.parquet")).select("pid").distinct().collect()
    worker_pids = {row.pid for row in pids}
    assert os.getpid() not in worker_pids
    for span in task_spans():
        assert _hex(span["traceId"]) == f"{store.context.trace_id:032x}"
        assert _hex(span["parentSpanId"]) == f"{store.context.span_id:016x}"
        attributes = {item["key"]: item["value"] for item in span.get("attributes", [])}
        assert int(attributes["process.pid"]["intValue"]) in worker_pids
    rows = sum(
        int(item["value"]["intValue"])
        for span in task_spans()
        for item in span["attributes"]
        if item["key"] == "odibi.node.rows_out"
    )
    assert rows == 200


def test_outside_a_node_traced_is_the_plain_function(spark_session: Any) -> None:
    frame = spark_session.range(10).toDF("id")
    tagged = frame.mapInPandas(traced(add_pid), "id:bigint,pid:bigint")
    assert tagged.count() == 10

"""Spark pipelines as users write them: pipeline files, the CLI and demo, and what goes wrong.

Faults: an action that fails on the executor (a UDF raising), a missing input, fail_fast
cancelling the run's other Spark jobs; configuration errors before anything runs.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracing, node_spans_by_step
from opentelemetry.trace import StatusCode

from odibi_otel import EventBus, Orchestrator, Step, load_pipeline
from odibi_otel.errors import PipelineFileError, StepFieldError, UnsupportedEngineError
from odibi_otel.otel import semconv

PIPELINE = """\
name: spark_file
engine:
  type: spark
  master: local[1]
  {extra}
steps:
  - {{name: read, layer: ingest, type: read, value: orders.csv, outputs: [orders]}}
"""


def test_a_pipeline_file_names_its_engine(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(extra="conf: {spark.sql.shuffle.partitions: 3}"))
    definition = load_pipeline(path)
    assert definition.engine.type == "spark"
    assert definition.engine.master == "local[1]"
    assert definition.engine.conf == {"spark.sql.shuffle.partitions": "3"}


def test_an_unknown_engine_option_fails_with_the_file_line(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(extra="executors: 4"))
    with pytest.raises(
        PipelineFileError, match=r"pipeline\.yaml:2: field 'engine' has unknown option\(s\) \['executors'\]"
    ):
        load_pipeline(path)


def test_without_pyspark_the_spark_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    step = Step(name="read", layer="ingest", type="read", value="x.csv", outputs=["x"])
    with pytest.raises(UnsupportedEngineError, match=r"pip install 'odibi-otel\[spark\]'"):
        Orchestrator([step], engine_type="spark")


def test_the_pandas_path_never_imports_pyspark(tmp_path: Path) -> None:
    code = (
        "import sys, pandas as pd\n"
        "from odibi_otel import Orchestrator, Step\n"
        f"pd.DataFrame({{'a': [1]}}).to_csv({str(tmp_path / 'a.csv')!r}, index=False)\n"
        f"Orchestrator([Step(name='r', layer='ingest', type='read', value={str(tmp_path / 'a.csv')!r}, "
        "outputs=['a'])]).execute()\n"
        "assert 'pyspark' not in sys.modules, 'pyspark imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.spark
def test_checks_and_the_node_cache_are_refused_on_spark_before_anything_runs(spark_session: Any) -> None:
    step = Step(
        name="read",
        layer="ingest",
        type="read",
        value="x.csv",
        outputs=["x"],
        checks=[{"row_count": {"min": 1}}],
    )
    with pytest.raises(
        StepFieldError, match=r"step 'read': field 'checks' are not supported on engine_type 'spark'"
    ):
        Orchestrator([step], engine_type="spark", spark=spark_session)
    plain = Step(name="read", layer="ingest", type="read", value="x.csv", outputs=["x"])
    with pytest.raises(ValueError, match="enable_cache"):
        Orchestrator([plain], engine_type="spark", spark=spark_session, enable_cache=True)


def explode(batches: Iterator[Any]) -> Iterator[Any]:
    """A mapInPandas body that fails on the executor."""
    for batch in batches:
        if len(batch):
            raise ValueError("bad amount in batch")
        yield batch


def fail_in_udf(orders: Any) -> Any:
    return orders.mapInPandas(explode, orders.schema)


def slow(batches: Iterator[Any], marker: str) -> Iterator[Any]:
    """A mapInPandas body that says it started, then takes a minute unless its job is cancelled."""
    Path(marker).touch()
    deadline = time.monotonic() + 60
    for batch in batches:
        while time.monotonic() < deadline:
            time.sleep(0.05)
        yield batch


def take_a_minute(orders: Any, marker: str) -> Any:
    return orders.mapInPandas(functools.partial(slow, marker=marker), orders.schema)


def fail_once_the_slow_job_runs(orders: Any, marker: str) -> Any:
    """Fails while the other branch's Spark job is running (waits for its task to start)."""
    deadline = time.monotonic() + 60
    while not Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    raise RuntimeError("the other branch failed")


def _orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,amount\n" + "".join(f"{i},{i}.5\n" for i in range(50)))
    return path


@pytest.mark.spark
@pytest.mark.integration
@pytest.mark.reliability
def test_an_executor_failure_marks_job_stage_and_node_with_sparks_error_class(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    errors: list[dict[str, Any]] = []
    bus = EventBus()
    bus.register_hook("node_error", errors.append)
    steps = [
        Step(name="read", layer="ingest", type="read", value=str(_orders(tmp_path)), outputs=["orders"]),
        Step(
            name="udf",
            layer="transform",
            type="function",
            value=fail_in_udf,
            inputs=["orders"],
            outputs=["bad"],
        ),
        Step(name="store", layer="store", type="write", value=str(tmp_path / "out.parquet"), inputs=["bad"]),
    ]
    result = Orchestrator(
        steps,
        engine_type="spark",
        spark=spark_session,
        tracer_provider=tracing.provider,
        event_bus=bus,
        enable_tracker=True,
    ).execute()
    assert not result["success"]
    assert result["failed_nodes"] == ["store"]
    assert "bad amount in batch" in result["errors"]["store"]
    spans = tracing.spans()
    store = node_spans_by_step(spans)["store"]
    assert store.status.status_code is StatusCode.ERROR
    assert store.attributes[semconv.ERROR_TYPE] == "PYTHON_EXCEPTION"
    assert store.attributes[semconv.SPARK_TASKS_FAILED] >= 1
    failed_jobs = [
        s for s in spans if s.name.startswith("spark job ") and s.status.status_code is StatusCode.ERROR
    ]
    assert failed_jobs and all(job.parent.span_id == store.context.span_id for job in failed_jobs)
    assert all(job.attributes[semconv.ERROR_TYPE] == "PYTHON_EXCEPTION" for job in failed_jobs)
    failed_stages = [
        s for s in spans if s.name.startswith("spark stage ") and s.status.status_code is StatusCode.ERROR
    ]
    assert failed_stages and "bad amount in batch" in failed_stages[0].status.description
    assert [event["step_name"] for event in errors] == ["store"]
    # the failed job completed the frames' observations with what it got through: not a count
    lineage = {step["name"]: step for step in result["tracker"].to_dict()["steps"]}
    assert lineage["udf"]["rows_out"] is None
    assert lineage["read"]["rows_out"] is None
    assert errors[0]["error_type"] == "PYTHON_EXCEPTION"


@pytest.mark.spark
@pytest.mark.integration
@pytest.mark.reliability
def test_a_missing_input_fails_its_step_with_one_clear_line(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    steps = [
        Step(name="read_orders", layer="ingest", type="read", value=str(tmp_path / "nope.csv"), outputs=["o"])
    ]
    result = Orchestrator(
        steps, engine_type="spark", spark=spark_session, tracer_provider=tracing.provider
    ).execute()
    assert result["failed_nodes"] == ["read_orders"]
    message = result["errors"]["read_orders"]
    assert "PATH_NOT_FOUND" in message and "nope.csv" in message.splitlines()[0]
    assert (
        node_spans_by_step(tracing.spans())["read_orders"].attributes[semconv.ERROR_TYPE] == "PATH_NOT_FOUND"
    )


@pytest.mark.spark
@pytest.mark.integration
@pytest.mark.reliability
def test_fail_fast_cancels_the_runs_other_spark_jobs(
    spark_session: Any, tracing: Tracing, tmp_path: Path
) -> None:
    source = str(_orders(tmp_path))
    marker = {"marker": str(tmp_path / "slow-task-started")}
    steps = [
        Step(name="read", layer="ingest", type="read", value=source, outputs=["orders"]),
        Step(
            name="slow",
            layer="transform",
            type="function",
            value=take_a_minute,
            inputs=["orders"],
            outputs=["s"],
            params=marker,
        ),
        Step(
            name="store_slow", layer="store", type="write", value=str(tmp_path / "slow.parquet"), inputs=["s"]
        ),
        Step(
            name="fail",
            layer="transform",
            type="function",
            value=fail_once_the_slow_job_runs,
            inputs=["orders"],
            outputs=["f"],
            params=marker,
        ),
    ]
    started = time.monotonic()
    result = Orchestrator(
        steps, engine_type="spark", spark=spark_session, tracer_provider=tracing.provider, max_workers=2
    ).execute()
    elapsed = time.monotonic() - started
    assert set(result["failed_nodes"]) == {"fail", "store_slow"}, result["errors"]
    assert elapsed < 45, f"the slow job was not cancelled ({elapsed:.1f} s)"
    store = node_spans_by_step(tracing.spans())["store_slow"]
    assert store.status.status_code is StatusCode.ERROR
    assert "cancel" in store.status.description.lower()


@pytest.mark.spark
@pytest.mark.integration
def test_the_spark_demo_counts_the_same_rows_per_step_as_the_pandas_demo(tmp_path: Path) -> None:
    def lineage(engine: str) -> dict[str, tuple[Any, Any]]:
        out = tmp_path / engine
        subprocess.run(
            [sys.executable, "-m", "odibi_otel.cli.main", "demo", "--out", str(out), "--engine", engine],
            check=True,
            timeout=300,
            capture_output=True,
        )
        document = json.loads((out / "lineage.json").read_text())
        return {step["name"]: (step["rows_in"], step["rows_out"]) for step in document["steps"]}

    spark = lineage("spark")
    assert spark == lineage("pandas")
    assert spark["publish_top_customers"] == (10, 10)


@pytest.mark.spark
@pytest.mark.integration
def test_a_session_the_orchestrator_built_is_stopped_after_the_run_and_a_given_one_never_is(
    tmp_path: Path,
) -> None:
    code = f"""
import sys
from pyspark.sql import SparkSession
from odibi_otel import Orchestrator, Step
steps = [Step("read", "ingest", "read", {str(_orders(tmp_path))!r}, outputs=["o"]),
         Step("store", "store", "write", {str(tmp_path / "out.parquet")!r}, inputs=["o"])]
built = Orchestrator(steps, engine_type="spark", spark_master="local[1]",
                     spark_conf={{"spark.sql.shuffle.partitions": "1"}}).execute()
assert built["success"], built["errors"]
assert SparkSession.getActiveSession() is None, "the session built for the run is still running"
given = SparkSession.builder.master("local[1]").getOrCreate()
again = Orchestrator(steps, engine_type="spark", spark=given).execute()
assert again["success"], again["errors"]
assert given.range(3).count() == 3, "the given session was stopped"
given.stop()
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, capture_output=True)


@pytest.mark.spark
@pytest.mark.reliability
def test_no_java_is_one_clear_line_before_the_run(tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "name: no_java\nengine: spark\nsteps:\n"
        f"  - {{name: read, layer: ingest, type: read, value: {_orders(tmp_path)}, outputs: [o]}}\n"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "odibi_otel.cli.main", "run", str(pipeline), "--out", str(tmp_path / "out")],
        env={**os.environ, "JAVA_HOME": str(tmp_path / "no-java-here")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: engine 'spark' could not start: [JAVA_GATEWAY_EXITED] Java gateway process exited "
        "before sending its port number. (Spark needs Java 17+ and, for a cluster, a reachable master: "
        "docs/spark.md)"
    ]
    assert "Traceback" not in completed.stderr

"""The customer pipeline on a real Spark standalone cluster (a master and a worker started by the test).

The run happens in a subprocess (one SparkContext per process; the test session holds a local
one) against ``spark://127.0.0.1:<port>``; every span, the driver's and the executors' Python
workers', reaches a real OTLP receiver in this process. The cluster is stopped even when the test
fails, and the test checks that no master or worker process is left.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import wait_for
from spark_cluster import StandaloneCluster, session_processes
from test_otlp_integration import Collector

pytestmark = [pytest.mark.spark, pytest.mark.integration]

TESTS = Path(__file__).resolve().parent


def _hex(value: str) -> str:
    return base64.b64decode(value).hex()


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[StandaloneCluster]:
    pytest.importorskip("pyspark")
    folder = tmp_path / "cluster"
    folder.mkdir()
    started = StandaloneCluster(folder, python_path=str(TESTS))
    try:
        yield started
    finally:
        started.stop()
        left = [pid for process in started.processes() for pid in session_processes(process.pid)]
        assert not left, f"cluster processes still running: {left}"


def test_the_customer_pipeline_on_a_standalone_cluster_is_one_trace_down_to_the_python_workers(
    cluster: StandaloneCluster, otlp_grpc_receiver: tuple[Collector, int], tmp_path: Path
) -> None:
    collector, port = otlp_grpc_receiver
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": str(TESTS)}
    completed = subprocess.run(
        [sys.executable, str(TESTS / "spark_cluster_run.py"), cluster.master_url, f"http://127.0.0.1:{port}",
         str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-6000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["success"], report["errors"]
    # the same rows per step as the pandas demo's (tests/test_demo.py pins those)
    assert report["rows"]["clean_customers"] == 1960
    assert report["rows"]["clean_orders"] == 17725
    assert report["rows"]["publish_top_customers"] == 10
    assert report["rows"]["store_tagged"] == 10
    assert report["odibi_jobs"] == report["bare_jobs"] > 0

    spans = collector.spans()
    assert {_hex(span["traceId"]) for span in spans} == {report["trace_id"]}
    by_id = {_hex(span["spanId"]): span for span in spans}

    def parent(span: dict[str, Any]) -> dict[str, Any]:
        return by_id[_hex(span["parentSpanId"])]

    jobs = [span for span in spans if span["name"].startswith("spark job ")]
    stages = [span for span in spans if span["name"].startswith("spark stage ")]
    tasks = [span for span in spans if span["name"].startswith("spark task ")]
    assert len(jobs) == report["odibi_jobs"]
    assert all(parent(job)["name"].startswith("node ") for job in jobs)
    assert stages and all(parent(stage)["name"].startswith("spark job ") for stage in stages)
    assert tasks and all(parent(task)["name"] == "node store_tagged" for task in tasks)
    worker_pids = {
        int(item["value"]["intValue"])
        for task in tasks
        for item in task["attributes"]
        if item["key"] == "process.pid"
    }
    assert worker_pids and report["driver_pid"] not in worker_pids


@pytest.mark.reliability
def test_a_worker_killed_mid_run_fails_its_tasks_and_the_telemetry_says_so(
    tmp_path: Path, otlp_grpc_receiver: tuple[Collector, int]
) -> None:
    pytest.importorskip("pyspark")
    collector, port = otlp_grpc_receiver
    folder = tmp_path / "cluster"
    folder.mkdir()
    cluster = StandaloneCluster(folder, python_path=str(TESTS), workers=2, cores=1)
    try:
        out = tmp_path / "out"
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": str(TESTS)}
        run = subprocess.Popen(
            [sys.executable, str(TESTS / "spark_cluster_run.py"), cluster.master_url, f"http://127.0.0.1:{port}",
             str(out), "lost-worker"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            marker = out / "task-started"
            wait_for(
                lambda: (marker.exists() and marker.read_text()) or run.poll() is not None, 300, "the task"
            )
            assert run.poll() is None, run.communicate()
            python_worker = int(marker.read_text())
            workers = [p.pid for p in cluster.processes() if p is not cluster.master]
            victim = workers.index(_ancestor_in(python_worker, workers))
            cluster.kill_worker(victim)
            stdout, stderr = run.communicate(timeout=300)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    finally:
        cluster.stop()
        left = [pid for process in cluster.processes() for pid in session_processes(process.pid)]
        assert not left, f"cluster processes still running: {left}"
    assert run.returncode == 0, stderr[-6000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["success"], report["errors"]  # the task ran again on the other worker
    spans = collector.spans()
    store = next(span for span in spans if span["name"] == "node store")
    attributes = {item["key"]: item["value"] for item in store["attributes"]}
    assert int(attributes["odibi.spark.tasks.failed"]["intValue"]) >= 1
    assert int(attributes["odibi.node.rows_out"]["intValue"]) == 100
    assert any(span["name"].startswith("spark stage ") for span in spans)


def _ancestor_in(pid: int, candidates: list[int]) -> int:
    """The first of ``candidates`` among ``pid``'s ancestors (worker <- executor <- daemon <- pid)."""
    current = pid
    while current > 1:
        if current in candidates:
            return current
        stat = Path(f"/proc/{current}/stat").read_text()
        current = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: the parent's pid
    raise AssertionError(f"process {pid} does not descend from a Spark worker {candidates}")

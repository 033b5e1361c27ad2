"""Ctrl-C during a Spark run: the run's Spark jobs are cancelled and every artifact says "interrupted".

A real SIGINT reaches ``odibi-otel run`` while a Spark job of the run is busy in a Python worker
(a minute of work, unless cancelled).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from odibi_otel.otel.otlp_json import read_telemetry_file

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.reliability]

STEPS = """
import time
from pathlib import Path


def _slow(batches, marker):
    Path(marker).touch()
    deadline = time.monotonic() + 60
    for batch in batches:
        while time.monotonic() < deadline:
            time.sleep(0.05)
        yield batch


def take_a_minute(orders, marker):
    import functools
    return orders.mapInPandas(functools.partial(_slow, marker=marker), orders.schema)
"""

PIPELINE = """\
name: spark_interrupted
engine: {{type: spark, master: "local[2]"}}
steps:
  - {{name: read, layer: ingest, type: read, value: orders.csv, outputs: [orders]}}
  - name: slow
    layer: transform
    type: function
    value: "slow_steps:take_a_minute"
    inputs: [orders]
    outputs: [slow]
    params: {{marker: "{marker}"}}
  - {{name: store, layer: store, type: write, value: out/slow.parquet, inputs: [slow]}}
"""


def test_ctrl_c_cancels_the_runs_spark_jobs_and_the_artifacts_say_interrupted(tmp_path: Path) -> None:
    marker = tmp_path / "task-started"
    (tmp_path / "orders.csv").write_text("order_id,amount\n" + "".join(f"{i},{i}.5\n" for i in range(20)))
    (tmp_path / "slow_steps.py").write_text(STEPS)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(marker=marker))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYSPARK_PYTHON": sys.executable}
    process = subprocess.Popen(
        [sys.executable, "-m", "odibi_otel.cli.main", "run", str(pipeline), "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the slow Spark task never started"
            time.sleep(0.1)
        interrupted_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert time.monotonic() - interrupted_at < 40, "the run's Spark job was not cancelled"
    assert process.returncode == 130, stderr
    lineage = json.loads((out / "lineage.json").read_text("utf-8"))
    assert lineage["status"] == "interrupted"
    statuses = {step["name"]: step["status"] for step in lineage["steps"]}
    assert statuses["store"] == "interrupted"
    spans = read_telemetry_file(out / "telemetry.jsonl").spans
    store = next(span for span in spans if span.name == "node store")
    assert store.attributes["odibi.node.status"] == "interrupted"
    jobs = [
        span for span in spans if span.name.startswith("spark job ") and span.parent_span_id == store.span_id
    ]
    assert jobs and all(job.status_code == 2 for job in jobs)  # the cancelled job, marked failed
    assert "interrupted" in (out / "story.html").read_text("utf-8")

"""Spark Connect (``SPARK_REMOTE=sc://...``): supported, with what a Connect client can know.

The server is the one pyspark ships (``sbin/start-connect-server.sh``), started by the test on
127.0.0.1 and stopped even when the test fails. The run happens in a subprocess: a process holds
either a classic SparkContext (the test session's local one) or Connect clients, not both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from spark_cluster import ConnectServer, session_processes

pytestmark = [pytest.mark.spark, pytest.mark.integration]

RUN = """
import json, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from odibi_otel import Orchestrator, Step

folder = sys.argv[1]
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
steps = [
    Step("read", "ingest", "read", f"{folder}/orders.csv", outputs=["orders"]),
    Step("paid", "transform", "sql", "SELECT status, count(*) AS n FROM orders GROUP BY status",
         inputs=["orders"], outputs=["by_status"]),
    Step("store", "store", "write", f"{folder}/out.parquet", inputs=["by_status"]),
]
result = Orchestrator(steps, engine_type="spark", tracer_provider=provider, enable_tracker=True).execute()
nodes = {s.name: dict(s.attributes) for s in exporter.get_finished_spans() if s.name.startswith("node ")}
print(json.dumps({
    "success": result["success"], "errors": result["errors"],
    "rows_out": {name: attributes.get("odibi.node.rows_out") for name, attributes in nodes.items()},
    "spark_keys": sorted({key for a in nodes.values() for key in a if key.startswith("odibi.spark.")}),
    "job_spans": [s.name for s in exporter.get_finished_spans() if s.name.startswith("spark ")],
    "lineage_rows": {s["name"]: s["rows_out"] for s in result["tracker"].to_dict()["steps"]},
}))
"""


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[ConnectServer]:
    pytest.importorskip("pyspark")
    pytest.importorskip("grpc")
    folder = tmp_path / "connect"
    folder.mkdir()
    started = ConnectServer(folder)
    try:
        yield started
    finally:
        started.stop()
        assert started.process.poll() is not None
        assert not session_processes(started.process.pid), "Connect server processes left running"


def test_a_connect_session_gives_node_spans_and_row_counts_and_leaves_job_figures_out(
    server: ConnectServer, tmp_path: Path
) -> None:
    (tmp_path / "orders.csv").write_text(
        "order_id,status\n" + "".join(f"{i},{'paid' if i % 3 else 'open'}\n" for i in range(30))
    )
    env = {**os.environ, "SPARK_REMOTE": server.remote_url}
    env.pop("SPARK_MASTER", None)
    completed = subprocess.run(
        [sys.executable, "-c", RUN, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-6000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["success"], report["errors"]
    assert report["rows_out"]["node store"] == 2  # counted by the write's own reply
    assert report["lineage_rows"]["paid"] == 2
    # no SparkContext in a Connect client: no job/stage spans, and no 0s pretending otherwise
    assert report["job_spans"] == []
    assert report["spark_keys"] == []

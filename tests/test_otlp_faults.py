"""OTLP endpoints that refuse, black-hole or answer slowly never break or stall a run.

Every fault is a real socket on 127.0.0.1. The CLI runs in a subprocess with a short export
timeout; each run must exit 0, finish within the timeout (plus a margin) of a run without an
endpoint, write complete local artifacts, and warn once, not once per span or batch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from oteltest.sink import GrpcSink, HttpSink
from oteltest.sink.handler import RequestHandler

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

EXPORT_TIMEOUT_S = 1.0
#: Time of ``main()`` in the child (imports done): jitter plus importing the OTLP exporters.
MARGIN_S = 1.0
#: Whole process, start-up and exit included (catches exit hangs); looser, as start-up is CPU-bound
#: and the machine may be busy.
PROCESS_MARGIN_S = 2.5

# Runs the CLI's main() and writes how long it took (after imports) to the file named first.
_TIMED_CLI = """\
import sys, time
from odibi_otel.cli import main
started = time.monotonic()
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as timing:
        timing.write(repr(time.monotonic() - started))
sys.exit(code)
"""

PIPELINE = """\
name: faults
steps:
  - {name: read_orders, layer: ingest, type: read, value: orders.csv, outputs: [orders]}
  - {name: double, layer: transform, type: function, value: "fault_steps:double", inputs: [orders],
     outputs: [doubled]}
  - {name: store, layer: store, type: write, value: out/doubled.csv, inputs: [doubled]}
"""

STEPS_MODULE = """\
def double(orders):
    return orders.assign(amount=orders["amount"] * 2)
"""

NODES = ["read_orders", "double", "store"]
_OTEL_VARIABLES = [name for name in os.environ if name.startswith("OTEL_")]


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faults")
    (folder / "orders.csv").write_text("order_id,amount\n1,5.0\n2,7.5\n3,1.0\n")
    (folder / "fault_steps.py").write_text(STEPS_MODULE)
    path = folder / "pipeline.yaml"
    path.write_text(PIPELINE)
    return path


def _environment(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in _OTEL_VARIABLES}
    environment.update(extra)
    return environment


class Timed(NamedTuple):
    completed: subprocess.CompletedProcess[str]
    process_s: float  # the whole subprocess
    main_s: float  # the CLI's main() in it


def _run_cli(pipeline: Path, out: Path, *args: str) -> Timed:
    timing = out.parent / f"{out.name}.timing"
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-c", _TIMED_CLI, str(timing), "run", str(pipeline), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=pipeline.parent,
        env=_environment(),
        check=False,
    )
    process_s = time.monotonic() - started
    return Timed(completed, process_s, float(timing.read_text()))


@pytest.fixture(scope="module")
def baseline(pipeline_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Timed:
    """The same run without any OTLP endpoint."""
    timed = _run_cli(pipeline_file, tmp_path_factory.mktemp("baseline") / "artifacts")
    assert timed.completed.returncode == 0, timed.completed.stderr
    assert timed.completed.stderr == ""
    return timed


def _assert_bounded(timed: Timed, baseline: Timed) -> None:
    extra_main = timed.main_s - baseline.main_s
    extra_process = timed.process_s - baseline.process_s
    assert extra_main <= EXPORT_TIMEOUT_S + MARGIN_S, (timed, baseline)
    assert extra_process <= EXPORT_TIMEOUT_S + PROCESS_MARGIN_S, (timed, baseline)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BlackHole:
    """A TCP listener that accepts connections and never answers (nor closes them)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.connections.append(connection)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        for connection in self.connections:
            connection.close()
        self.thread.join(5)


class SlowCollector(RequestHandler):
    """Answers every OTLP request after ``delay`` seconds; counts what it received."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.span_names: list[str] = []

    def _wait(self) -> None:
        self.released.wait(self.delay)  # the fault: a receiver that takes its time

    def handle_trace(self, request: Any, headers: Any) -> None:
        self._wait()
        with self.lock:
            self.span_names += [
                span.name for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans
            ]

    def handle_metrics(self, request: Any, headers: Any) -> None:
        self._wait()

    def handle_logs(self, request: Any, headers: Any) -> None:
        self._wait()


@pytest.fixture()
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(base URL, protocol) of a faulty endpoint; the parameter is ``fault/protocol``."""
    fault, protocol = request.param.split("/", 1)
    if fault == "refused":
        yield f"http://127.0.0.1:{_free_port()}", protocol  # nothing listens there
    elif fault == "black-holed":
        hole = BlackHole()
        yield f"http://127.0.0.1:{hole.port}", protocol
        hole.close()
    else:  # a real OTLP receiver that answers long after the export timeout
        collector = SlowCollector(delay=30)
        port = _free_port()
        sink_class = GrpcSink if protocol == "grpc" else HttpSink
        sink = sink_class(collector, logging.getLogger("oteltest-sink"), port=port)
        sink.start()
        yield f"http://127.0.0.1:{port}", protocol
        collector.released.set()
        sink.stop()


def _warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.lower().startswith("warning")]


def _assert_artifacts_complete(out: Path) -> None:
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["status"] == "success"
    assert [step["name"] for step in lineage["steps"]] == NODES
    assert all(step["status"] == "success" for step in lineage["steps"])
    story = (out / "story.html").read_text()
    assert story.rstrip().endswith("</html>") and all(node in story for node in NODES)
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["nodes"]) == sorted(NODES)
    assert "odibi_node_duration" in (out / "metrics_prometheus.txt").read_text()
    span_names: set[str] = set()
    events: list[str] = []
    for line in (out / "telemetry.jsonl").read_text().splitlines():
        request = json.loads(line)
        for rs in request.get("resourceSpans", []):
            span_names.update(s["name"] for ss in rs["scopeSpans"] for s in ss["spans"])
        for rl in request.get("resourceLogs", []):
            events += [r.get("eventName", "") for sl in rl["scopeLogs"] for r in sl["logRecords"]]
    assert span_names == {"pipeline faults", *(f"node {node}" for node in NODES)}
    assert events.count("odibi.lineage.snapshot") == len(NODES)
    assert "odibi.lineage.run" in events
    log = [json.loads(line) for line in (out / "odibi.log.jsonl").read_text().splitlines()]
    assert any(entry["message"] == "pipeline faults finished: success" for entry in log)


@pytest.mark.parametrize(
    "endpoint",
    [
        f"{fault}/{protocol}"
        for fault in ("refused", "black-holed", "slow")
        for protocol in ("grpc", "http/protobuf")
    ],
    indirect=True,
)
def test_unusable_endpoint_costs_at_most_the_export_timeout_and_warns_once(
    endpoint: tuple[str, str], pipeline_file: Path, baseline: Timed, tmp_path: Path
) -> None:
    url, protocol = endpoint
    out = tmp_path / "artifacts"
    timed = _run_cli(
        pipeline_file,
        out,
        "--otlp-endpoint",
        url,
        "--otlp-protocol",
        protocol,
        "--export-timeout",
        str(EXPORT_TIMEOUT_S),
    )
    completed = timed.completed
    assert completed.returncode == 0, completed.stderr
    _assert_bounded(timed, baseline)
    _assert_artifacts_complete(out)
    warnings = _warning_lines(completed.stderr)
    assert len(warnings) == 1, completed.stderr
    (warning,) = warnings
    assert f"OTLP export to {url} ({protocol})" in warning
    assert re.search(rf"\b{EXPORT_TIMEOUT_S:g} s\b", warning), warning
    assert completed.stderr.strip() == warning, "nothing but the one warning on stderr"
    assert "Traceback" not in completed.stderr
    log = (out / "odibi.log.jsonl").read_text()
    assert log.count("OTLP export to") == 1  # the log file has it once too


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_slow_receiver_within_the_timeout_gets_everything_without_warnings(
    protocol: str, pipeline_file: Path, baseline: Timed, tmp_path: Path
) -> None:
    collector = SlowCollector(delay=0.3)
    port = _free_port()
    sink_class = GrpcSink if protocol == "grpc" else HttpSink
    sink = sink_class(collector, logging.getLogger("oteltest-sink"), port=port)
    sink.start()
    try:
        out = tmp_path / "artifacts"
        timed = _run_cli(
            pipeline_file,
            out,
            "--otlp-endpoint",
            f"http://127.0.0.1:{port}",
            "--otlp-protocol",
            protocol,
            "--export-timeout",
            str(EXPORT_TIMEOUT_S),
        )
    finally:
        collector.released.set()
        sink.stop()
    completed = timed.completed
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    _assert_bounded(timed, baseline)
    assert sorted(collector.span_names) == sorted(["pipeline faults", *(f"node {n}" for n in NODES)])
    _assert_artifacts_complete(out)


def test_configure_shutdown_is_bounded_by_the_export_timeout(tmp_path: Path) -> None:
    """Library use: ``handle.shutdown()`` returns within the timeout and reports the failure once."""
    hole = BlackHole()
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import json, time
            import pandas as pd
            import odibi_otel
            from odibi_otel import Orchestrator, Step
            from odibi_otel._internal.safety import telemetry_failures

            handle = odibi_otel.configure(
                otlp_endpoint="http://127.0.0.1:{hole.port}", otlp_protocol="grpc", export_timeout=1.0
            )
            steps = [Step("make", "ingest", "function", lambda: pd.DataFrame({{"a": [1]}}), outputs=["a"])]
            for _ in range(3):
                Orchestrator(steps, pipeline_name="bounded").execute()
            started = time.monotonic()
            finished = handle.shutdown()
            elapsed = time.monotonic() - started
            print(json.dumps({{"finished": finished, "elapsed": elapsed, "failures": telemetry_failures()}}))
            """
        )
    )
    try:
        completed = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=60,
            env=_environment(),
            check=False,
        )
    finally:
        hole.close()
    assert completed.returncode == 0, completed.stderr
    out = json.loads(completed.stdout.strip().splitlines()[-1])
    assert out["finished"] is False
    assert out["elapsed"] <= 1.0 + 0.5
    component = f"OTLP export to http://127.0.0.1:{hole.port} (grpc)"
    assert out["failures"][component] >= 1
    # no logging configured: Python's last-resort handler prints the one warning, on one line
    assert completed.stderr.strip().count("\n") == 0, completed.stderr
    assert component in completed.stderr

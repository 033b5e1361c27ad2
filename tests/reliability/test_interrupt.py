"""KeyboardInterrupt during a run: every span that was opened is ended with an error status, lineage
and story say "interrupted", the exception propagates; ``odibi-otel run`` exits 130 with every
artifact written.

The span side of an in-process interrupt is also covered by
``tests/test_orchestrator_spans.py::test_interrupt_closes_every_span_and_propagates``; this file
adds the other signals, open-span accounting, a real SIGINT and the CLI.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

from odibi_otel import Step
from odibi_otel.lineage.from_telemetry import lineage_from_otlp_file

from .harness import Observed, run_cli, write_pipeline

pytestmark = pytest.mark.reliability


class OpenSpans(SpanProcessor):
    """Counts spans started and ended: after a run, nothing may be left open."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, str] = {}
        self.started = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        with self.lock:
            self.open[span.context.span_id] = span.name
            self.started += 1

    def on_end(self, span: Any) -> None:
        with self.lock:
            self.open.pop(span.context.span_id)


def _source() -> pd.DataFrame:
    return pd.DataFrame({"v": range(5)})


def _keep(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def _interrupt(frame: pd.DataFrame) -> pd.DataFrame:
    raise KeyboardInterrupt


@pytest.mark.parametrize("workers", [1, 4])
def test_interrupt_ends_every_open_span_and_writes_interrupted_artifacts(
    tmp_path: Path, workers: int
) -> None:
    accounting = OpenSpans()
    provider = TracerProvider()
    provider.add_span_processor(accounting)
    observed = Observed(tmp_path / "o", tracer_provider=provider)
    steps = [
        Step("source", "ingest", "function", _source, outputs=["raw"]),
        Step("side", "transform", "function", _keep, inputs=["raw"], outputs=["side"]),
        Step("stop", "transform", "function", _interrupt, inputs=["raw"], outputs=["stopped"]),
        Step("after", "store", "function", _keep, inputs=["stopped"], outputs=["never"]),
    ]
    try:
        with pytest.raises(KeyboardInterrupt):
            observed.run(steps, max_workers=workers)
        assert accounting.open == {}  # every span that started has ended
        spans = observed.node_spans()
        assert "after" not in spans and accounting.started == len(spans) + 1
        stop = spans["stop"]
        assert stop.status.status_code is StatusCode.ERROR
        assert stop.attributes["odibi.node.status"] == "interrupted"
        pipeline = observed.pipeline_span()
        assert pipeline.status.status_code is StatusCode.ERROR
        assert pipeline.attributes["odibi.pipeline.status"] == "interrupted"

        # events: the interrupted node and the pipeline fire their error events
        assert [p["step_name"] for p in observed.events.of("node_error")] == ["stop"]
        (pipeline_error,) = observed.events.of("pipeline_error")
        assert "interrupted" in pipeline_error["error_message"]

        # metrics: the run is counted with status interrupted
        (runs,) = observed.samples("odibi_pipeline_runs_total")
        assert runs.labels["status"] == "interrupted" and runs.value == 1
        assert observed.manager.get_summary()["status"] == "interrupted"

        # lineage and story, from the tracker the orchestrator keeps for interrupted runs
        tracker = observed.orchestrator.last_tracker
        assert tracker is not None
        paths = observed.artifacts(tracker)
        lineage = json.loads(paths["lineage"].read_text("utf-8"))
        assert lineage["status"] == "interrupted"
        statuses = {step["name"]: step["status"] for step in lineage["steps"]}
        assert statuses["stop"] == "interrupted" and statuses["after"] == "skipped"
        assert lineage["summary"]["interrupted"] == 1
        assert "interrupted" in paths["story"].read_text("utf-8")
        observed.tracer_provider.force_flush()
        assert lineage_from_otlp_file(paths["telemetry"])["status"] == "interrupted"
    finally:
        observed.close()


MODULE = """
    import signal
    import pandas as pd

    def source():
        return pd.DataFrame({"v": [1, 2, 3]})

    def keep(frame):
        return frame

    def raise_interrupt(frame):
        raise KeyboardInterrupt

    def send_sigint(frame):
        signal.raise_signal(signal.SIGINT)  # what Ctrl-C does: the handler raises in this thread
        return frame
"""


@pytest.mark.parametrize("how", ["raise_interrupt", "send_sigint"])
def test_cli_interrupted_run_exits_130_with_every_artifact_interrupted(tmp_path: Path, how: str) -> None:
    pipeline = {
        "name": "interrupted",
        "steps": [
            {"name": "source", "layer": "ingest", "type": "function", "value": "steps_module:source",
             "outputs": ["raw"]},
            {"name": "stop", "layer": "transform", "type": "function", "value": f"steps_module:{how}",
             "inputs": ["raw"], "outputs": ["stopped"]},
            {"name": "after", "layer": "store", "type": "write", "value": "never.csv", "inputs": ["stopped"]},
        ],
    }  # fmt: skip
    path = write_pipeline(tmp_path / "pipeline", pipeline, MODULE)
    out = tmp_path / "out"
    completed = run_cli("run", str(path), "--out", str(out), cwd=tmp_path)
    assert completed.returncode == 130, completed.stderr
    assert "interrupted" in completed.stderr and "Traceback" not in completed.stderr
    expected = {"story.html", "lineage.json", "metrics.json", "metrics_prometheus.txt",
                "telemetry.jsonl", "odibi.log.jsonl"}  # fmt: skip
    assert expected <= {item.name for item in out.iterdir()}
    assert not list(out.glob(".*.tmp"))
    lineage = json.loads((out / "lineage.json").read_text("utf-8"))
    assert lineage["status"] == "interrupted"
    assert {s["name"]: s["status"] for s in lineage["steps"]} == {
        "source": "success",
        "stop": "interrupted",
        "after": "skipped",
    }
    assert "interrupted" in (out / "story.html").read_text("utf-8")
    assert json.loads((out / "metrics.json").read_text("utf-8"))["status"] == "interrupted"
    assert 'status="interrupted"' in (out / "metrics_prometheus.txt").read_text("utf-8")
    rebuilt = lineage_from_otlp_file(out / "telemetry.jsonl")  # spans and events were flushed
    assert rebuilt == lineage
    assert not (tmp_path / "pipeline" / "never.csv").exists()


def test_nodes_running_when_another_is_interrupted_are_reported_as_what_they_did(tmp_path: Path) -> None:
    """In parallel, nodes already running finish after the interrupt: every signal must agree."""
    interrupted = threading.Event()

    def slow_side(frame: pd.DataFrame) -> pd.DataFrame:
        assert interrupted.wait(10)  # still running when the other node is interrupted
        return frame

    def stop(frame: pd.DataFrame) -> pd.DataFrame:
        interrupted.set()
        raise KeyboardInterrupt

    observed = Observed(tmp_path / "o")
    steps = [
        Step("source", "ingest", "function", _source, outputs=["raw"]),
        Step("side", "transform", "function", slow_side, inputs=["raw"], outputs=["side"]),
        Step("stop", "transform", "function", stop, inputs=["raw"], outputs=["stopped"]),
    ]
    try:
        with pytest.raises(KeyboardInterrupt):
            observed.run(steps, max_workers=4)
        spans = observed.node_spans()
        assert spans["side"].attributes["odibi.node.status"] == "success"
        pipeline = observed.pipeline_span().attributes
        assert pipeline["odibi.pipeline.skipped_nodes"] == ()
        assert pipeline["odibi.pipeline.nodes.succeeded"] == 2
        lineage = observed.orchestrator.last_tracker.to_dict()
        assert {s["name"]: s["status"] for s in lineage["steps"]} == {
            "source": "success",
            "side": "success",
            "stop": "interrupted",
        }
        assert observed.manager.get_summary()["nodes"]["side"]["status"] == "success"
        assert observed.events.per_step("node_complete") == {"source": 1, "side": 1}
    finally:
        observed.close()

"""A node that raises, returns the wrong type or reads a missing file: every signal is complete and
shows the error (spans, metrics, events, lineage, story, the telemetry file, the log).

Each signal's own error handling is tested elsewhere: ``tests/test_orchestrator_spans.py``
(``test_failed_node_span_records_the_exception``,
``test_wrong_return_type_fails_the_node_with_a_clear_message``,
``test_read_of_a_missing_file_fails_that_node_and_spans_complete``),
``tests/test_event_bus.py::test_error_payloads`` and
``tests/test_tracker.py::test_failed_node_has_error_and_its_descendants_are_skipped``. Here the
three faults happen in one run and every output of that run is checked against the others.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from opentelemetry.trace import StatusCode

from odibi_otel import Step, StoryGenerator
from odibi_otel.lineage.from_telemetry import lineage_from_otlp_file

from .harness import Observed, run_cli, write_pipeline

pytestmark = pytest.mark.reliability

#: node → (error type on the span, text that must appear wherever the error is shown)
FAULTS = {
    "raises": ("ValueError", "amount must be positive <b>&amp;</b>"),
    "wrong_type": ("odibi_otel.errors.NodeOutputError", "returned list"),
    "missing_file": ("FileNotFoundError", "no_such_input.csv"),
}


def _source() -> pd.DataFrame:
    return pd.DataFrame({"amount": [1.0, -2.0, 3.0]})


def _raises(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("amount must be positive <b>&amp;</b>")


def _wrong_type(frame: pd.DataFrame) -> list[int]:
    return [1, 2, 3]


def _keep(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def _faulty_steps(tmp_path: Path) -> list[Step]:
    return [
        Step("source", "ingest", "function", _source, outputs=["orders"]),
        Step("raises", "transform", "function", _raises, inputs=["orders"], outputs=["a"]),
        Step("wrong_type", "transform", "function", _wrong_type, inputs=["orders"], outputs=["b"]),
        Step("missing_file", "ingest", "read", str(tmp_path / "no_such_input.csv"), outputs=["c"]),
        Step("after_raises", "store", "write", str(tmp_path / "a.csv"), inputs=["a"]),
        Step("after_wrong", "transform", "function", _keep, inputs=["b"], outputs=["b2"]),
        Step("ok", "transform", "function", _keep, inputs=["orders"], outputs=["fine"]),
    ]


SKIPPED = ["after_raises", "after_wrong"]


@pytest.mark.parametrize("workers", [1, 4])
def test_every_signal_is_complete_and_shows_each_error(
    observed: Observed, tmp_path: Path, workers: int
) -> None:
    result = observed.run(_faulty_steps(tmp_path), fail_fast=False, max_workers=workers)
    assert result["success"] is False
    assert sorted(result["failed_nodes"]) == sorted(FAULTS)
    assert sorted(result["successful_nodes"]) == ["ok", "source"]
    assert sorted(result["skipped_nodes"]) == SKIPPED
    for node, (_, text) in FAULTS.items():
        assert text in result["errors"][node]

    # spans: one per node that ran, all ended, errors recorded with type, status and exception event
    spans = observed.node_spans()
    assert sorted(spans) == sorted([*FAULTS, "ok", "source"])
    pipeline = observed.pipeline_span()
    assert all(span.parent.span_id == pipeline.context.span_id for span in spans.values())
    for node, (error_type, text) in FAULTS.items():
        span = spans[node]
        assert span.status.status_code is StatusCode.ERROR and text in span.status.description
        assert span.attributes["error.type"] == error_type
        assert span.attributes["odibi.node.status"] == "failed"
        (event,) = span.events
        assert event.name == "exception" and text in event.attributes["exception.message"]
    assert pipeline.status.status_code is StatusCode.ERROR
    assert pipeline.attributes["odibi.pipeline.status"] == "failed"
    assert pipeline.attributes["odibi.pipeline.nodes.failed"] == 3
    assert sorted(pipeline.attributes["odibi.pipeline.skipped_nodes"]) == SKIPPED

    # events: one node_error per failure carrying the message, nothing for skipped nodes
    errors = {p["step_name"]: p for p in observed.events.of("node_error")}
    assert sorted(errors) == sorted(FAULTS)
    for node, (error_type, text) in FAULTS.items():
        assert text in errors[node]["error_message"] and errors[node]["error_type"] == error_type
    assert observed.events.per_step("node_start") == dict.fromkeys([*FAULTS, "ok", "source"], 1)
    (pipeline_error,) = observed.events.of("pipeline_error")
    assert "3 node(s) failed" in pipeline_error["error_message"]
    assert observed.events.of("pipeline_complete") == []

    # metrics: one error per failed node labelled with its error type; the run counted as failed
    for node, (error_type, _) in FAULTS.items():
        (sample,) = observed.samples("odibi_node_errors_total", node=node)
        assert sample.value == 1 and sample.labels["error_type"] == error_type
        (duration,) = observed.samples("odibi_node_duration_seconds_count", node=node)
        assert duration.labels["status"] == "failed" and duration.value == 1
    assert observed.samples("odibi_node_errors_total", node="ok") == []
    (runs,) = observed.samples("odibi_pipeline_runs_total")
    assert runs.labels["status"] == "failed" and runs.value == 1
    summary = observed.manager.get_summary()
    assert summary["status"] == "failed" and summary["error_count"] == 3
    assert {name: figures["status"] for name, figures in summary["nodes"].items()} == {
        **dict.fromkeys(FAULTS, "failed"),
        "ok": "success",
        "source": "success",
    }
    app_metrics = observed.app_metrics_json()  # the application's meter provider got them too
    assert app_metrics.count('"odibi.node.errors"') == 1 and "NodeOutputError" in app_metrics

    # lineage and story (written the way `odibi-otel run` writes them)
    paths = observed.artifacts(result["tracker"])
    lineage = json.loads(paths["lineage"].read_text("utf-8"))
    assert lineage["status"] == "failed"
    steps = {step["name"]: step for step in lineage["steps"]}
    for node, (error_type, text) in FAULTS.items():
        assert steps[node]["status"] == "failed"
        assert steps[node]["error"]["type"] == error_type.rsplit(".", 1)[-1]
        assert text in steps[node]["error"]["message"] and "Traceback" in steps[node]["error"]["traceback"]
    assert [steps[name]["status"] for name in SKIPPED] == ["skipped", "skipped"]
    assert lineage["summary"]["failed"] == 3 and lineage["summary"]["skipped"] == 2
    story = paths["story"].read_text("utf-8")
    assert "amount must be positive &lt;b&gt;&amp;amp;&lt;/b&gt;" in story  # escaped, visible
    assert "<b>&amp;</b>" not in story
    for text in ("NodeOutputError", "returned list", "FileNotFoundError", "no_such_input.csv"):
        assert text in story
    metrics_file = json.loads(paths["metrics"].read_text("utf-8"))
    assert metrics_file["status"] == "failed" and metrics_file["error_count"] == 3

    # the telemetry file rebuilds the same lineage and story
    observed.tracer_provider.force_flush()
    rebuilt = lineage_from_otlp_file(paths["telemetry"])
    assert rebuilt == json.loads(paths["lineage"].read_text("utf-8"))
    assert StoryGenerator().render_html(paths["telemetry"]) == story


def test_cli_run_with_failing_nodes_writes_every_artifact_showing_the_errors(tmp_path: Path) -> None:
    module = """
        import pandas as pd

        def source():
            return pd.DataFrame({"amount": [1.0, -2.0, 3.0]})

        def raises(frame):
            raise ValueError("amount must be positive <b>&amp;</b>")

        def wrong_type(frame):
            return [1, 2, 3]
    """
    pipeline = {
        "name": "faulty",
        "steps": [
            {"name": "source", "layer": "ingest", "type": "function", "value": "steps_module:source",
             "outputs": ["orders"]},
            {"name": "raises", "layer": "transform", "type": "function", "value": "steps_module:raises",
             "inputs": ["orders"], "outputs": ["a"]},
            {"name": "wrong_type", "layer": "transform", "type": "function",
             "value": "steps_module:wrong_type", "inputs": ["orders"], "outputs": ["b"]},
            {"name": "missing_file", "layer": "ingest", "type": "read", "value": "no_such_input.csv",
             "outputs": ["c"]},
        ],
    }  # fmt: skip
    path = write_pipeline(tmp_path / "pipeline", pipeline, module)
    out = tmp_path / "out"
    completed = run_cli("run", str(path), "--out", str(out), cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    lineage = json.loads((out / "lineage.json").read_text("utf-8"))
    assert lineage["status"] == "failed"
    # the CLI stops at the first failure (fail fast): the later nodes are skipped, not lost
    statuses = {step["name"]: step["status"] for step in lineage["steps"]}
    assert statuses == {
        "source": "success",
        "raises": "failed",
        "wrong_type": "skipped",
        "missing_file": "skipped",
    }
    names = ("story.html", "metrics.json", "metrics_prometheus.txt", "telemetry.jsonl", "odibi.log.jsonl")
    texts = {name: (out / name).read_text("utf-8") for name in names}
    assert "amount must be positive &lt;b&gt;" in texts["story.html"]
    assert json.loads(texts["metrics.json"])["nodes"]["raises"]["status"] == "failed"
    assert 'odibi_node_errors_total{error_type="ValueError"' in texts["metrics_prometheus.txt"]
    assert "odibi_pipeline_runs_total{" in texts["metrics_prometheus.txt"]
    assert "amount must be positive" in texts["telemetry.jsonl"]
    assert lineage_from_otlp_file(out / "telemetry.jsonl") == lineage
    log = [json.loads(line) for line in texts["odibi.log.jsonl"].splitlines()]
    assert any("failed" in entry["message"] for entry in log)
    assert not list(out.glob(".*.tmp"))

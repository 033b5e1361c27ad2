"""odibi_otel inside a Flask app run by ``opentelemetry-instrument`` (zero-code instrumentation).

This needs ``opentelemetry-distro`` and ``opentelemetry-instrumentation-flask`` installed beside
odibi_otel, which is what ``make test-distro`` sets up (a virtual environment of its own, so pip
resolves the whole ``opentelemetry-*`` set together). In the main suite it is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.instrumentation.flask", reason="run by `make test-distro`")

APP = """
import pandas as pd
from flask import Flask
from opentelemetry import trace

import odibi_otel  # must import cleanly beside the distro's opentelemetry-* versions
from odibi_otel import MetricsManager, Orchestrator, Step

app = Flask(__name__)


@app.route("/refresh")
def refresh():
    steps = [
        Step("load", "ingest", "function", lambda: pd.DataFrame({"v": [1, 2, 3]}), outputs=["raw"]),
        Step("double", "transform", "function", lambda raw: raw * 2, inputs=["raw"], outputs=["out"]),
    ]
    result = Orchestrator(steps, pipeline_name="nightly", metrics_manager=MetricsManager()).execute()
    return {"success": result["success"], "trace_id": result["trace_id"]}


if __name__ == "__main__":
    response = app.test_client().get("/refresh")
    print("RESULT " + response.get_data(as_text=True).replace("\\n", ""), flush=True)
    trace.get_tracer_provider().force_flush()
"""


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in ``text`` (the console exporter prints them one after another)."""
    decoder, objects, index = json.JSONDecoder(), [], 0
    while (start := text.find("{", index)) != -1:
        try:
            value, index = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(value, dict):
            objects.append(value)
    return objects


def test_a_pipeline_in_a_request_is_a_child_of_the_request_span(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(APP))
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert instrument, "opentelemetry-instrument is not installed next to this Python"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_SERVICE_NAME": "reports-app",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    completed = subprocess.run(
        [instrument, sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result_line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(result_line.removeprefix("RESULT "))
    assert result["success"] is True
    spans = [obj for obj in _json_objects(completed.stdout) if "context" in obj and "name" in obj]
    by_name = {span["name"]: span for span in spans}
    request = next(span for span in spans if span["kind"] == "SpanKind.SERVER")
    pipeline = by_name["pipeline nightly"]
    trace_id = request["context"]["trace_id"]
    # the app's providers were used: one trace, the pipeline under the request, the app's resource
    assert pipeline["parent_id"] == request["context"]["span_id"]
    assert {by_name["node load"]["context"]["trace_id"], pipeline["context"]["trace_id"]} == {trace_id}
    assert result["trace_id"] == trace_id.removeprefix("0x")
    assert pipeline["resource"]["attributes"]["service.name"] == "reports-app"

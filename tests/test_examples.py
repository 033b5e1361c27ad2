"""Every script in examples/ runs as a user would run it, exits 0 and prints what it promises.

Each script runs in a fresh temporary working directory, with no ``OTEL_*`` variables (so nothing
is exported anywhere unless the test asks for it). ``examples/hooks/`` and
``examples/customer_pipeline/`` have their own tests (``test_examples_hooks.py``,
``test_demo.py``); :func:`test_every_example_is_covered` makes sure every ``.py`` file is run by
one of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: script (relative to examples/) -> lines (or line fragments) it must print, in this order.
EXPECTED: dict[str, list[str]] = {
    "checks_and_history.py": [
        "day 1: success, checks 2 of 3 passed",
        "day 7: success, checks 2 of 3 passed",
        "day 8: success, checks 2 of 3 passed",
        "anomaly on load_orders: schema: schema differs from the last successful run: removed email",
        "anomaly on load_orders: volume: 486 rows out, fewer than the usual 1,002",
        "anomaly on store_orders: schema: ",
        "8 runs in history.sqlite; story: story.html",
    ],
    "openlineage_events.py": [
        "12 OpenLineage events in",
        "COMPLETE sales.read_orders    orders.csv -> orders",
        "COMPLETE sales.join           orders, customers -> joined",
        "COMPLETE sales.store          gross -> gross.parquet",
        "COMPLETE sales                orders.csv, customers.csv -> gross.parquet",
        "column amount <- orders.amount",
        "column country <- customers.country",
        "trace id ",
    ],
    "seed_complete_observability.py": [
        "[EVENT] pipeline_start: {'event_type': 'pipeline_start'",
        "[EVENT] node_complete: {'event_type': 'node_complete', ",
        "'step_name': 'publish_top_customers'",
        "[EVENT] pipeline_complete: {'event_type': 'pipeline_complete', ",
        "✅ Story generated: story.html",
        "=== METRICS SUMMARY ===",
        "Total duration: ",
        "Cache hit rate: 0.0%",
        "Errors: 0",
        "pipeline success: True; artifacts in ",
        "story.html               written",
        "lineage.json             written",
        "metrics.json             written",
        "metrics_prometheus.txt   written",
    ],
    "seed_sections.py": [
        "### section 1: Using MetricsManager",
        "=== METRICS SUMMARY ===",
        "Total nodes: 8",
        "Cache hit rate: 0.0%",
        "Errors: 0",
        "read_customers:",
        "  Rows: 40",
        "### section 1: Export to Prometheus",
        'odibi_node_rows_total{layer="ingest",node="read_customers",pipeline="pipeline"} 40.0',
        "### section 1: Save Metrics to JSON",
        '"total_nodes": 8,',
        "### section 3: Generate Story",
        "Story generated: execution_story.html",
        "### section 3: Auto-Generate Story on Completion",
        "✅ Story generated: story.html",
        "execution_story.html     written",
        "story.html               written",
    ],
    "getting_started.py": [
        "running pipeline 'orders':",
        "  node read_orders           12 rows",
        "  node paid                   7 rows",
        "  node revenue                3 rows",
        "  node store_revenue          3 rows",
        "success: True, trace id ",
        "     DE       4    187.9",
        "metrics: 4 nodes, 0 errors, success",
        "open the story: file://",
    ],
    "instrumented_app.py": [
        "pipeline success: True",
        "the application's span exporter received 6 spans (one trace):",
        "  nightly-job  [scope nightly_reports]",
        "    pipeline daily_sales  [scope odibi_otel]",
        "      node load_sales  [scope odibi_otel]",
        "      node total_by_store  [scope odibi_otel]",
        "        aggregate totals  [scope nightly_reports]",
        "pipeline span's parent is the app span 'nightly-job': True",
        "pipeline span's resource service.name: nightly-reports",
        "odibi_otel metrics in the application's meter provider: odibi.node.duration, ",
        "log event odibi.lineage.snapshot (load_sales) correlated with span 'node load_sales'",
        "log event odibi.lineage.snapshot (total_by_store) correlated with span 'node total_by_store'",
        "log event odibi.lineage.run (run) correlated with span 'pipeline daily_sales'",
        "hooks fired (EventBus on the app's provider): pipeline_start:daily_sales, "
        "node_complete:load_sales, node_complete:total_by_store, pipeline_complete:daily_sales",
        "global providers still the application's: True",
    ],
    "configure_otlp.py": [
        "configure(): owns tracer provider True, logger provider True, meter provider False",
        "OTLP export: off",
        "pipeline success: True, trace id ",
        "telemetry.jsonl: 5 spans, 5 log records",
        "of sensor_report: 4 node spans, lineage events True",
        "story built from telemetry.jsonl: ",
    ],
    "pii_redaction.py": [
        "pipeline success: True",
        "redacted columns: email, ssn, phone_number, notes",
        " customer_id    name      email        ssn phone_number      notes country  opted_in",
        "           1 Ann Lee [REDACTED] [REDACTED]   [REDACTED] [REDACTED]      US      True",
        "  lineage.json                secret values found: 0",
        "  story.html                  secret values found: 0",
        "  story_from_telemetry.html   secret values found: 0",
        "  telemetry.jsonl             secret values found: 0",
        "no secret appears in any telemetry artifact",
        "data/marketing.csv (the pipeline's own output) holds real e-mails: True",
    ],
    "prometheus_endpoint.py": [
        "serving http://127.0.0.1:",
        "run 1: success=True",
        "run 3: success=False",
        "GET http://127.0.0.1:",
        'odibi_node_duration_seconds_count{layer="transform",node="add_tax",pipeline="orders",'
        'status="failed"} 1.0',
        'odibi_node_errors_total{error_type="KeyError",layer="transform",node="add_tax",'
        'pipeline="orders"} 1.0',
        'odibi_node_rows_total{layer="ingest",node="load_orders",pipeline="orders"} 12.0',
        'odibi_pipeline_last_success_timestamp_seconds{pipeline="orders"} ',
        'odibi_pipeline_runs_total{pipeline="orders",status="failed"} 1.0',
        'odibi_pipeline_runs_total{pipeline="orders",status="success"} 2.0',
        "server stopped",
    ],
}

#: Files each script leaves in its working directory (its default output folder).
ARTIFACTS: dict[str, list[str]] = {
    "checks_and_history.py": ["history.sqlite", "story.html", "lineage.json", "orders.parquet"],
    "openlineage_events.py": ["openlineage.jsonl", "gross.parquet"],
    "seed_complete_observability.py": [
        "story.html", "lineage.json", "metrics.json", "metrics_prometheus.txt",
        "data/gold/revenue_by_country.parquet", "data/publish/top_customers.json",
    ],
    "seed_sections.py": [
        "metrics.json", "metrics_prometheus.txt", "lineage.json", "execution_story.html", "story.html",
    ],
    "getting_started.py": [
        "story.html", "lineage.json", "metrics.json", "metrics_prometheus.txt", "data/revenue.parquet",
    ],
    "instrumented_app.py": [],
    "configure_otlp.py": ["telemetry.jsonl", "story.html", "data/means.csv"],
    "pii_redaction.py": [
        "lineage.json", "story.html", "story_from_telemetry.html", "telemetry.jsonl", "metrics.json",
        "metrics_prometheus.txt", "data/marketing.csv",
    ],
    "prometheus_endpoint.py": [],
}  # fmt: skip

#: Directories whose scripts are run by another test module, and how to tell it covers a script.
OWN_TESTS = {
    "hooks": ROOT / "tests" / "test_examples_hooks.py",
    "customer_pipeline": ROOT / "tests" / "test_demo.py",
}
#: Python files that are imported, not run, and who imports them.
MODULES = {
    "customer_pipeline/transforms.py": EXAMPLES / "customer_pipeline" / "pipeline.yaml",
    "customer_pipeline/transforms_spark.py": EXAMPLES / "customer_pipeline" / "pipeline_spark.yaml",
}

#: sha256 of each seed-tutorial block in the seed scripts (the tutorial's code with odibi_core
#: renamed to odibi_otel, byte for byte). A change here means the script no longer runs the
#: tutorial's code unchanged.
SEED_BLOCKS = {
    ("seed_complete_observability.py", "4", "Complete Observability Example"): (
        "ef2b6f172f72442764d232dd8eeaae58320b8fb88e92b8681619833d23c5c4d9"
    ),
    ("seed_sections.py", "1", "Using MetricsManager"): (
        "31ccccfb5fcafaa537f3cc647dcc2528c81985c2c138e98dda1d6efee6e5e2a1"
    ),
    ("seed_sections.py", "1", "Export to Prometheus"): (
        "b6e7e70d8d11e776b03e9e6bc01efbcffad68952e705e9e6359ffd1ddb6ac120"
    ),
    ("seed_sections.py", "1", "Save Metrics to JSON"): (
        "c28d7fb18b72b6ccec9f7a89a9d5fe671e8dbf25160fde20135ab9bf86ce3592"
    ),
    ("seed_sections.py", "3", "Generate Story"): (
        "41f79891943d3a9de914113a1c536e931775283d345418579aecb3d22667ee43"
    ),
    ("seed_sections.py", "3", "Auto-Generate Story on Completion"): (
        "7aafb230caa8f0a95c4b5fd8fab1d2dc5ef7143e9f3aa5c8cdea8c6ad8406d83"
    ),
}


def _all_python_files() -> list[str]:
    return sorted(path.relative_to(EXAMPLES).as_posix() for path in EXAMPLES.rglob("*.py"))


def _scripts() -> list[str]:
    return [name for name in _all_python_files() if "/" not in name]


def _run(script: str, *args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def _assert_lines_in_order(output: str, expected: Sequence[str], script: str) -> None:
    lines = output.splitlines()
    position = 0
    for fragment in expected:
        matches = [i for i, line in enumerate(lines) if i >= position and fragment in line]
        assert matches, f"{script}: no line containing {fragment!r} after line {position} in:\n{output}"
        position = matches[0] + 1


def test_every_example_is_covered() -> None:
    uncovered = []
    for name in _all_python_files():
        folder, _, file_name = name.rpartition("/")
        if not folder:
            covered = name in EXPECTED and name in ARTIFACTS
        elif name in MODULES:
            covered = Path(name).stem + ":" in MODULES[name].read_text(encoding="utf-8")
        elif folder in OWN_TESTS:
            covered = file_name in OWN_TESTS[folder].read_text(encoding="utf-8")
        else:
            covered = False
        if not covered:
            uncovered.append(name)
    assert not uncovered, f"examples no test runs: {uncovered}"
    assert set(EXPECTED) == set(_scripts())


def test_hooks_examples_are_all_listed_in_their_test() -> None:
    """test_examples_hooks.py runs every file in examples/hooks/ (it asserts that itself too)."""
    text = OWN_TESTS["hooks"].read_text(encoding="utf-8")
    for path in (EXAMPLES / "hooks").glob("*.py"):
        assert f'"{path.name}"' in text


@pytest.mark.parametrize(("script", "section", "title"), sorted(SEED_BLOCKS))
def test_seed_blocks_are_the_tutorials_code(script: str, section: str, title: str) -> None:
    text = (EXAMPLES / script).read_text(encoding="utf-8")
    begin = re.escape(f'seed tutorial, section {section} "{title}": begin')
    end = re.escape(f'seed tutorial, section {section} "{title}": end')
    found = re.search(rf"# ═+ {begin} ═+\n(.*?)# ═+ {end} ═+\n", text, re.DOTALL)
    assert found, f"markers of section {section} {title!r} not found in {script}"
    block = found.group(1)
    assert "odibi_core" not in block
    assert hashlib.sha256(block.encode("utf-8")).hexdigest() == SEED_BLOCKS[(script, section, title)]


@pytest.mark.integration
@pytest.mark.parametrize("script", _scripts())
def test_example_runs(script: str, tmp_path: Path) -> None:
    completed = _run(script, cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    _assert_lines_in_order(completed.stdout, EXPECTED[script], script)
    assert "Traceback" not in completed.stderr, completed.stderr
    for artifact in ARTIFACTS[script]:
        assert (tmp_path / artifact).is_file(), f"{script} did not write {artifact}"


@pytest.mark.integration
def test_seed_complete_observability_with_a_failing_node(tmp_path: Path) -> None:
    completed = _run("seed_complete_observability.py", "--out", "broken", "--fail", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    # error_alert (CRITICAL) runs before log_event (MEDIUM), although registered after it
    _assert_lines_in_order(
        completed.stdout,
        [
            "🚨 CRITICAL ERROR in join_orders: KeyError: ",
            "[EVENT] node_error: {'event_type': 'node_error', ",
            "Errors: 1",
            "pipeline success: False; artifacts in ",
            "story.html               not written",
            "metrics.json             written",
        ],
        "seed_complete_observability.py --fail",
    )
    out = tmp_path / "broken"
    summary = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed"
    assert summary["nodes"]["join_orders"]["status"] == "failed"


@pytest.mark.integration
def test_examples_write_into_out_when_given(tmp_path: Path) -> None:
    completed = _run("getting_started.py", "--out", "elsewhere", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "elsewhere" / "story.html").is_file()
    assert not (tmp_path / "story.html").exists()
    lineage = json.loads((tmp_path / "elsewhere" / "lineage.json").read_text(encoding="utf-8"))
    assert lineage["pipeline_name"] == "orders"
    assert [step["rows_out"] for step in lineage["steps"]] == [12, 7, 3, 3]


@pytest.mark.integration
def test_pii_redaction_check_finds_the_secrets_without_redaction(tmp_path: Path) -> None:
    """The example's leak check is real: with the default TrackerConfig it reports the leaks."""
    completed = _run("pii_redaction.py", "--without-redaction", cwd=tmp_path)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "redacted columns: none" in completed.stdout
    for artifact in ("lineage.json", "story.html", "story_from_telemetry.html", "telemetry.jsonl"):
        assert f"'ann.lee@example.com' in {artifact}" in completed.stdout


class _OtlpRecorder(BaseHTTPRequestHandler):
    """An OTLP/HTTP stand-in: records each request's path and content type, answers 200."""

    received: list[tuple[str, str]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, self.headers.get("Content-Type", "")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    received: list[tuple[str, str]] = []
    handler = type("Recorder", (_OtlpRecorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.integration
def test_configure_otlp_sends_every_signal_to_the_endpoint(
    tmp_path: Path, otlp_receiver: tuple[str, list[tuple[str, str]]]
) -> None:
    endpoint, received = otlp_receiver
    completed = _run(
        "configure_otlp.py",
        "--otlp-endpoint",
        endpoint,
        "--trace-url",
        "http://localhost:16686/trace/{trace_id}",
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "meter provider True" in completed.stdout  # an exporter needs a meter provider
    assert f"OTLP export: {endpoint}" in completed.stdout
    paths = {path for path, _ in received}
    assert {"/v1/traces", "/v1/logs", "/v1/metrics"} <= paths
    assert {content_type for _, content_type in received} == {"application/x-protobuf"}
    trace_id = re.search(r"trace id ([0-9a-f]{32})", completed.stdout)
    assert trace_id
    story = (tmp_path / "story.html").read_text(encoding="utf-8")
    assert f"http://localhost:16686/trace/{trace_id.group(1)}" in story

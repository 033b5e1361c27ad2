"""The ``odibi-otel`` console script, run as users run it: in a subprocess, usually not on a terminal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pytest

pytestmark = pytest.mark.integration

_SCRIPT = Path(sys.executable).with_name("odibi-otel")
COMMAND = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "odibi_otel.cli"]
ARTIFACTS = ["story.html", "lineage.json", "metrics.json", "metrics_prometheus.txt", "telemetry.jsonl",
             "odibi.log.jsonl"]  # fmt: skip
NODES = ["read_orders", "double", "check", "store"]
ANSI = re.compile(r"\x1b\[")

PIPELINE = """\
name: cli_orders
variables:
  factor: "2"
steps:
  - {name: read_orders, layer: ingest, type: read, value: "${data}/orders.csv", outputs: [orders]}
  - name: double
    layer: transform
    type: function
    value: "cli_steps:double"
    inputs: [orders]
    outputs: [doubled]
    params: {factor: "${factor}"}
  - {name: check, layer: transform, type: function, value: "cli_steps:check", inputs: [doubled],
     outputs: [checked]}
  - {name: store, layer: store, type: write, value: "${data}/out/doubled.csv", inputs: [checked]}
"""

STEPS_MODULE = """\
import time


def double(orders, factor):
    return orders.assign(amount=orders["amount"] * float(factor))


def check(doubled):
    if (doubled["amount"] > 100).any():
        time.sleep(0.02)  # a failing node that ran a while: its duration must show

        raise ValueError("amount over 100 after doubling:\\nsecond line of the message")
    return doubled
"""


def _environment(**extra: str) -> dict[str, str]:
    """The test environment without OTEL_* and rich's colour/terminal overrides; 80 columns."""
    overrides = ("OTEL_", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(overrides)}
    environment.update({"COLUMNS": "80", **extra})
    return environment


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env or _environment(),
        check=False,
    )


def cli_all(*commands: Sequence[str], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run independent commands at once (each is mostly interpreter start-up); results in order."""
    running = [
        (
            list(args),
            subprocess.Popen(
                [*COMMAND, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=cwd,
                env=_environment(),
            ),
        )
        for args in commands
    ]
    results = []
    for args, process in running:
        stdout, stderr = process.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(args, process.returncode, stdout, stderr))
    return results


def _make_project(folder: Path) -> Path:
    """pipeline.yaml, its step module and data under data/."""
    (folder / "data").mkdir()
    (folder / "data" / "orders.csv").write_text("order_id,amount\n1,5.0\n2,7.5\n3,1.0\n")
    (folder / "cli_steps.py").write_text(STEPS_MODULE)
    (folder / "pipeline.yaml").write_text(PIPELINE)
    return folder


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return _make_project(tmp_path)


TRACE_URL = "http://jaeger.example:16686/trace/{trace_id}"
RUN_OPTIONS = ("--var", "data=data", "--workers", "2", "--cache", "--prometheus-port", "0",
               "--trace-url", TRACE_URL)  # fmt: skip


class Run(NamedTuple):
    project: Path
    out: Path
    completed: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One successful run with most options, shared by the tests that read its output."""
    project = _make_project(tmp_path_factory.mktemp("project"))
    out = project / "artifacts"
    return Run(project, out, cli("run", "pipeline.yaml", "--out", str(out), *RUN_OPTIONS, cwd=project))


def _error_lines(stderr: str) -> list[str]:
    return stderr.strip().splitlines()


def _assert_one_line_error(completed: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    lines = _error_lines(completed.stderr)
    assert len(lines) == 2, completed.stderr
    error, hint = lines
    assert error.startswith("error: ")
    for fragment in fragments:
        assert fragment in error
    assert hint.startswith("hint: ") and len(hint) > len("hint: ") + 5
    assert "Traceback" not in completed.stderr
    assert not ANSI.search(completed.stderr)


# -- help -----------------------------------------------------------------------------------------


HELP_CASES = {
    "": ["run", "validate", "story", "lineage", "demo", "history", "diff", "--debug", "--version"],
    "run": ["--out", "--workers", "--cache", "--otlp-endpoint", "--otlp-protocol", "--export-timeout",
            "--prometheus-port", "--prometheus-host", "--trace-url", "--var", "--debug", "(repeatable)",
            "--pushgateway", "--textfile-dir", "--openlineage", "--openlineage-file", "--cache-dir",
            "--history", "--no-history", "--history-keep"],
    "validate": ["--var", "--strict", "--debug", "(repeatable)"],
    "story": ["--output", "--title", "--trace-url", "--history", "--no-history"],
    "history": ["--history", "--limit", "--json"],
    "diff": ["RUN_A", "RUN_B", "--pipeline", "--history", "--json"],
    "lineage": ["--output", "--namespace", "--emit"],
    "demo": ["--out", "--workers", "--cache", "--otlp-endpoint", "--export-timeout", "--prometheus-port"],
}  # fmt: skip


def test_help_on_every_command(tmp_path: Path) -> None:
    results = cli_all(*([*filter(None, [command]), "--help"] for command in HELP_CASES), cwd=tmp_path)
    for command, completed in zip(HELP_CASES, results, strict=True):
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.startswith(f"usage: odibi-otel {command}".rstrip()), completed.stdout
        for option in HELP_CASES[command]:
            assert option in completed.stdout, (command, option)
        assert completed.stderr == ""


# -- run ------------------------------------------------------------------------------------------


def test_run_writes_every_artifact_and_prints_plain_lines(first_run: Run) -> None:
    project, out, completed = first_run
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    stdout = completed.stdout
    assert not ANSI.search(stdout), "no escape codes when stdout is not a terminal"
    for node in NODES:  # one line per node
        assert len(re.findall(rf"^\s+ok\s+{node}\s+[\d.]+ ms\s+3 rows$", stdout, re.MULTILINE)) == 1, stdout
    summary = (r"^pipeline cli_orders: success in [\d.]+ s: 4 succeeded, 0 failed, 0 skipped, "
               r"0 cache hits; trace id [0-9a-f]{32}$")  # fmt: skip
    assert re.search(summary, stdout, re.MULTILINE), stdout
    assert f"outputs in {out.resolve()}:" in stdout
    for name in ARTIFACTS:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        assert str(path.resolve()) in stdout, name
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["status"] == "success"
    assert [step["name"] for step in lineage["steps"]] == NODES
    assert (project / "data" / "out" / "doubled.csv").is_file()
    log = [json.loads(line) for line in (out / "odibi.log.jsonl").read_text().splitlines()]
    finished = [entry for entry in log if entry["message"] == "pipeline cli_orders finished: success"]
    assert len(finished) == 1 and finished[0]["trace_id"] == lineage["trace_id"]
    for line in stdout.splitlines():  # nothing was wrapped at 80 columns
        assert not line.startswith(" " * 12), line
    # --prometheus-port 0: a free port on loopback, announced before the run
    serving = r"^serving /metrics at http://127\.0\.0\.1:\d+/metrics during the run$"
    assert re.search(serving, stdout, re.MULTILINE), stdout
    # --trace-url: the story links the trace
    trace_link = TRACE_URL.replace("{trace_id}", lineage["trace_id"])
    assert f'href="{trace_link}"' in (out / "story.html").read_text()


def test_failed_node_exits_1_with_complete_artifacts(project: Path) -> None:
    out = project / "artifacts"
    completed = cli("run", "pipeline.yaml", "--out", str(out), "--var", "data=data", "--var", "factor=50",
                    cwd=project)  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    stdout = completed.stdout
    failed = re.findall(r"^\s*FAILED\s+check\s+[\d.]+ ms\s+(.*)$", stdout, re.MULTILINE)
    assert failed == ["ValueError: amount over 100 after doubling:"], stdout  # first line only
    # the failed node's duration is the span's, not 0.0 (node_error payloads carry duration_ms)
    lineage_steps = {s["name"]: s for s in json.loads((out / "lineage.json").read_text())["steps"]}
    printed_ms = float(re.findall(r"^\s*FAILED\s+check\s+([\d.]+) ms", stdout, re.MULTILINE)[0])
    assert printed_ms >= 20, stdout
    # the skipped node has a line of its own, and never shows as pending
    assert re.search(r"^\s+skip\s+store\s+\(an upstream node failed\)$", stdout, re.MULTILINE), stdout
    assert lineage_steps["store"]["status"] == "skipped"
    assert "pipeline cli_orders: failed" in stdout
    assert "2 succeeded, 1 failed, 1 skipped" in stdout
    assert "  check: ValueError: amount over 100 after doubling: second line of the message" in stdout
    for name in ARTIFACTS:
        assert (out / name).is_file(), name
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["status"] == "failed"
    assert {step["name"]: step["status"] for step in lineage["steps"]} == {
        "read_orders": "success", "double": "success", "check": "failed", "store": "skipped",
    }  # fmt: skip
    assert "amount over 100" in (out / "story.html").read_text()
    assert "Traceback" not in completed.stderr


def test_var_sets_pipeline_variables_and_a_missing_one_is_one_clear_error(project: Path) -> None:
    (project / "other").mkdir()
    shutil.copy(project / "data" / "orders.csv", project / "other" / "orders.csv")
    out = project / "artifacts"
    completed = cli("run", "pipeline.yaml", "--out", str(out), "--var", "data=other", "--var", "factor=3",
                    cwd=project)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert (project / "other" / "out" / "doubled.csv").read_text().splitlines()[1] == "1,15.0"

    missing, malformed = cli_all(
        ["run", "pipeline.yaml", "--out", str(out)],
        ["run", "pipeline.yaml", "--out", str(out), "--var", "data"],
        cwd=project,
    )
    _assert_one_line_error(missing, "${data}", "not defined")
    assert "hint: pass --var NAME=VALUE for it" in missing.stderr, missing.stderr
    _assert_one_line_error(malformed, "--var expects NAME=VALUE")
    assert "--var NAME=VALUE" in malformed.stderr


# (id, extra run arguments, fragments of the one error line, fragment of the hint)
SETUP_ERRORS: list[tuple[str, list[str], list[str], str]] = [
    ("out under a regular file", ["--out", "blocker/artifacts"],
     ["output folder 'blocker/artifacts' is not writable"], "--out"),
    ("out is a regular file", ["--out", "blocker"], ["output folder 'blocker' is not writable"], "--out"),
    ("bad otlp endpoint", ["--otlp-endpoint", "localhost:4317"],
     ["otlp_endpoint must start with http:// or https://"], "--otlp-endpoint"),
]  # fmt: skip


def test_setup_errors_are_one_clear_line_before_the_pipeline_runs(project: Path) -> None:
    (project / "blocker").write_text("a regular file, not a folder")  # root can write anywhere else
    results = cli_all(
        *(
            ["run", "pipeline.yaml", "--var", "data=data", "--out", "out", *extra]
            for _, extra, _, _ in SETUP_ERRORS
        ),
        ["run", "pipeline.yaml", "--workers", "0"],
        ["run", "pipeline.yaml", "--trace-url", "http://jaeger/trace"],
        cwd=project,
    )
    for (name, _, fragments, hint), completed in zip(SETUP_ERRORS, results, strict=False):
        _assert_one_line_error(completed, *fragments)
        assert hint in completed.stderr.splitlines()[-1], (name, completed.stderr)
        assert completed.stdout == "", name
    assert not (project / "data" / "out").exists(), "the pipeline never ran"
    workers, trace_url = results[-2:]
    assert workers.returncode == 2 and "--workers: must be 1 or more" in workers.stderr
    # the option by its CLI name, with a valid example; not the Python parameter or --debug
    assert trace_url.returncode == 2, trace_url.stderr
    assert "argument --trace-url: must contain '{trace_id}'" in trace_url.stderr, trace_url.stderr
    assert "e.g. --trace-url 'http://localhost:16686/trace/{trace_id}'" in trace_url.stderr
    assert "trace_url_template" not in trace_url.stderr and "run with --debug" not in trace_url.stderr


# -- validate -------------------------------------------------------------------------------------


def test_validate_ok(project: Path) -> None:
    completed = cli("validate", "pipeline.yaml", "--var", "data=data", cwd=project)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "pipeline.yaml: pipeline 'cli_orders' is valid: 4 steps"
    assert lines[1:] == [
        "  read_orders [ingest/read] - -> orders",
        "  double [transform/function] orders -> doubled",
        "  check [transform/function] doubled -> checked",
        "  store [store/write] checked -> -",
    ]
    assert not (project / "data" / "out").exists()


def test_validate_warns_about_a_missing_input_file_and_strict_makes_it_an_error(project: Path) -> None:
    warned, strict = cli_all(
        ["validate", "pipeline.yaml", "--var", "data=elsewhere"],
        ["validate", "pipeline.yaml", "--var", "data=elsewhere", "--strict"],
        cwd=project,
    )
    missing = str((project / "elsewhere" / "orders.csv").resolve())
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.strip().splitlines() == [
        f"warning: step 'read_orders': input file {missing!r} does not exist; "
        "the run fails unless it appears first"
    ]
    assert "is valid: 4 steps" in warned.stdout
    _assert_one_line_error(strict, "step 'read_orders'", "does not exist", "(--strict)")
    assert "without --strict this is a warning" in strict.stderr


VALIDATE_ERRORS = {
    "control character in a step name": (
        '  - {name: "load\\nmore", layer: ingest, type: read, value: x.csv, outputs: [k]}\n',
        ["bad.yaml:3", "control character '\\n'"],
    ),
    "misspelt function": (
        "  - {name: f, layer: transform, type: function, value: 'cli_steps:dubble', outputs: [k]}\n",
        ["bad.yaml:3", "has no 'dubble'", "(did you mean 'double'?)"],
    ),
    "integer step name": (
        "  - {name: 7, layer: ingest, type: read, value: x.csv, outputs: [k]}\n",
        ["bad.yaml:3", "step '7'", "got int 7"],
    ),
}


def test_validate_names_the_problem_and_the_line(project: Path) -> None:
    for index, (steps, _) in enumerate(VALIDATE_ERRORS.values()):
        (project / f"bad{index}").mkdir()
        (project / f"bad{index}" / "bad.yaml").write_text("name: bad\nsteps:\n" + steps)
    shutil.copy(project / "cli_steps.py", project / "bad1" / "cli_steps.py")
    results = cli_all(*(["validate", f"bad{i}/bad.yaml"] for i in range(len(VALIDATE_ERRORS))), cwd=project)
    for (name, (_, fragments)), completed in zip(VALIDATE_ERRORS.items(), results, strict=True):
        _assert_one_line_error(completed, *fragments)
        assert "<unnamed>" not in completed.stderr, name


def test_a_file_error_without_a_line_does_not_hint_at_one(project: Path) -> None:
    (project / "broken.yaml").write_text("name: x\nsteps: [\n")
    no_line, with_line = cli_all(["validate", "nowhere.yaml"], ["validate", "broken.yaml"], cwd=project)
    _assert_one_line_error(no_line, "pipeline file not found")
    assert "line shown" not in no_line.stderr
    _assert_one_line_error(with_line, "broken.yaml:")
    assert "at the line shown" in with_line.stderr


def test_pipeline_name_with_a_control_character_is_rejected(project: Path) -> None:
    (project / "tab.yaml").write_text(
        'name: "orders\\tnightly"\nsteps:\n'
        "  - {name: a, layer: ingest, type: read, value: x.csv, outputs: [k]}\n"
    )
    _assert_one_line_error(cli("validate", "tab.yaml", cwd=project), "field 'name'", "control character")


def test_validate_error_is_one_line_and_debug_shows_the_traceback(project: Path) -> None:
    broken = project / "broken.yaml"
    broken.write_text(
        "name: broken\nsteps:\n"
        "  - {name: a, layer: ingest, type: read, value: x.csv, outputs: [k]}\n"
        "  - {name: b, layer: ingest, type: read, outputs: [k],\n"
        "     value: a-much-longer-file-name-so-that-the-message-exceeds-eighty-columns.csv}\n"
    )
    completed = cli("validate", "broken.yaml", cwd=project)
    _assert_one_line_error(completed, "broken.yaml:4", "step 'b'", "'k'")
    for debug_first in (True, False):
        args = (
            ["--debug", "validate", "broken.yaml"] if debug_first else ["validate", "broken.yaml", "--debug"]
        )
        debug = cli(*args, cwd=project)
        assert debug.returncode == 2
        assert "Traceback (most recent call last)" in debug.stderr
        assert "DuplicateOutputError" in debug.stderr
        assert debug.stderr.strip().splitlines()[-2].startswith("error: broken.yaml:4")


# -- story ----------------------------------------------------------------------------------------


def test_story_from_lineage_and_from_telemetry_is_identical(first_run: Run) -> None:
    project, out, completed = first_run
    assert completed.returncode == 0, completed.stderr
    from_lineage, from_telemetry, not_a_story = cli_all(
        ["story", str(out / "lineage.json"), "-o", "a.html"],
        ["story", str(out / "telemetry.jsonl"), "-o", "b.html"],
        ["story", "pipeline.yaml", "-o", "c.html"],
        cwd=project,
    )
    for completed, name in ((from_lineage, "a.html"), (from_telemetry, "b.html")):
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip() == f"story written to {name}"
    html = (project / "a.html").read_text()
    assert html == (project / "b.html").read_text()
    assert all(node in html for node in NODES)
    _assert_one_line_error(not_a_story)
    assert not (project / "c.html").exists()


def test_workers_and_cache_second_run_reports_cache_hits(first_run: Run) -> None:
    project, out, first = first_run
    assert first.returncode == 0, first.stderr
    assert "0 cache hits" in first.stdout
    shutil.copy(out / "telemetry.jsonl", project / "first-telemetry.jsonl")
    second = cli("run", "pipeline.yaml", "--out", str(out), *RUN_OPTIONS, cwd=project)
    assert second.returncode == 0, second.stderr
    assert "4 succeeded, 0 failed, 0 skipped, 3 cache hits" in second.stdout, second.stdout
    assert len(re.findall(r"3 rows \(cached\)$", second.stdout, re.MULTILINE)) == 3  # the write step runs
    assert json.loads((out / "lineage.json").read_text())["status"] == "success"
    assert json.loads((out / "metrics.json").read_text())["cache_hits"] == 3
    # reusing --out replaces every artifact: the line files hold the second run only
    trace_id = json.loads((out / "lineage.json").read_text())["trace_id"]
    log = [json.loads(line) for line in (out / "odibi.log.jsonl").read_text().splitlines()]
    assert {entry.get("trace_id") for entry in log} - {None} == {trace_id}
    telemetry = (out / "telemetry.jsonl").read_text()
    assert first.stdout.split("trace id ")[1][:32] not in telemetry
    # a file holding two runs: the story shows the latest and says so
    both = project / "two-runs.jsonl"
    both.write_text((project / "first-telemetry.jsonl").read_text() + telemetry)
    story = cli("story", str(both), "-o", "two.html", cwd=project)
    assert story.returncode == 0, story.stderr
    assert "two-runs.jsonl holds 2 runs; the story shows the latest: run " in story.stdout, story.stdout
    assert "of pipeline 'cli_orders'" in story.stdout


# -- demo -----------------------------------------------------------------------------------------


def test_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # no ODIBI_HISTORY_URL: the default history, .odibi/history.sqlite in the working directory
    environment = {k: v for k, v in _environment().items() if k != "ODIBI_HISTORY_URL"}
    completed = cli("demo", "--out", str(out), cwd=tmp_path, env=environment)
    assert completed.returncode == 0, completed.stderr
    assert "pipeline customer_pipeline: success" in completed.stdout
    for name in ARTIFACTS:
        assert (out / name).is_file(), name
    assert (out / "raw" / "orders.csv").is_file()
    assert json.loads((out / "lineage.json").read_text())["status"] == "success"
    # the demo's checks: one warn check (customers without an email), the rest pass
    assert "checks: 7 of 8 passed" in completed.stdout
    assert "warn  clean_customers: customers_have_email:" in completed.stdout
    assert f"history    {tmp_path / '.odibi' / 'history.sqlite'}" in completed.stdout
    assert "First recorded run of this pipeline" in (out / "story.html").read_text()
    again = cli("demo", "--out", str(out), cwd=tmp_path, env=environment)
    assert again.returncode == 0, again.stderr
    assert "Compared with previous run" in (out / "story.html").read_text()
    listed = cli("history", "--json", cwd=tmp_path, env=environment)
    assert [run["pipeline"] for run in json.loads(listed.stdout)] == ["customer_pipeline"] * 2


# -- on a terminal ----------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script(1) for a pseudo-terminal")
def _on_a_terminal(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = " ".join([*COMMAND, "run", "pipeline.yaml", *args])
    return subprocess.run(
        ["script", "-eqc", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=project,
        env=_environment(COLUMNS="100", LINES="40", TERM="xterm-256color"),
        check=False,
    )


def test_live_display_shows_a_failed_nodes_duration_and_skipped_nodes(project: Path) -> None:
    completed = _on_a_terminal(project, "--out", str(project / "artifacts"), "--var", "data=data",
                               "--var", "factor=50")  # fmt: skip
    assert completed.returncode == 1, completed.stdout + completed.stderr
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", completed.stdout)
    final_table = plain[plain.rfind("odibi-otel run") :]
    failed_ms = re.search(r"│ check\s+│ failed\s+│\s+│\s+([\d.]+) │", final_table)
    assert failed_ms and float(failed_ms.group(1)) >= 20, final_table
    assert re.search(r"│ store\s+│ skipped\s+│", final_table), final_table
    assert "pending" not in final_table


def test_live_display_on_a_terminal(project: Path) -> None:
    out = project / "artifacts"
    completed = _on_a_terminal(project, "--out", str(out), "--var", "data=data")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    screen = completed.stdout
    assert "\x1b[" in screen, "rich rendered with terminal control codes"
    assert "\x1b[?25l" in screen and screen.rfind("\x1b[?25h") > screen.rfind("\x1b[?25l"), "cursor restored"
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "odibi-otel run" in plain  # the live table's title
    for node in NODES:
        assert re.search(rf"│ {node}\s+│ success │\s+3 │", plain), plain
    assert "cache hits" in plain and "trace id " in plain
    assert "outputs in " in plain and "Traceback" not in plain
    assert (out / "story.html").is_file()

"""``odibi-otel run`` redaction options: a planted secret reaches no artifact the run writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "hunter2-planted-secret"
EMAIL = "planted.person@example.org"

PIPELINE = """\
name: redaction_cli
steps:
  - {name: read_users, layer: ingest, type: read, value: users.csv, outputs: [users]}
  - {name: store_users, layer: store, type: write, value: out/users.parquet, inputs: [users]}
"""


@pytest.fixture()
def pipeline(tmp_path: Path) -> Path:
    (tmp_path / "users.csv").write_text(f"user_id,api_token,contact_email\n1,{SECRET},{EMAIL}\n2,x,y@z\n")
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE)
    return path


def _run(pipeline: Path, out: Path, *options: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "odibi_otel.cli.main", "run", str(pipeline), "--out", str(out), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def _artifacts_containing(out: Path, value: str) -> list[str]:
    return sorted(
        path.name
        for path in out.iterdir()
        if path.is_file() and value in path.read_text("utf-8", errors="replace")
    )


def test_without_redaction_the_values_are_in_the_samples(pipeline: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain"
    _run(pipeline, out)
    assert _artifacts_containing(out, SECRET) == ["lineage.json", "story.html", "telemetry.jsonl"]


def test_redact_options_keep_secrets_out_of_every_artifact(pipeline: Path, tmp_path: Path) -> None:
    out = tmp_path / "redacted"
    _run(pipeline, out, "--redact-pii", "--redact-column", "user_id")
    for value in (SECRET, EMAIL):
        assert _artifacts_containing(out, value) == []
    lineage = (out / "lineage.json").read_text("utf-8")
    assert '"redacted_columns": [\n' in lineage and "[REDACTED]" in lineage


def test_no_samples_captures_no_rows(pipeline: Path, tmp_path: Path) -> None:
    out = tmp_path / "no-samples"
    _run(pipeline, out, "--no-samples")
    assert _artifacts_containing(out, SECRET) == []
    assert _artifacts_containing(out, EMAIL) == []

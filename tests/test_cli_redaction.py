"""``odibi-otel run`` redaction options: a planted secret reaches no artifact the run writes."""

from __future__ import annotations

import json
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


def _run(pipeline: Path, out: Path, *options: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "odibi_otel.cli.main", "run", str(pipeline), "--out", str(out), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=pipeline.parent,
    )
    assert completed.returncode == expect, completed.stderr
    return completed


def _files_containing(folder: Path, value: str) -> list[str]:
    """Every file under ``folder`` (any depth, binary too) holding ``value``."""
    needle = value.encode()
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


def _redacted_columns(out: Path) -> list[str]:
    lineage = json.loads((out / "lineage.json").read_text("utf-8"))
    return list(lineage["steps"][0]["after"]["users"]["redacted_columns"])


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


def test_a_redact_block_in_the_pipeline_file_redacts_and_the_options_add_to_it(
    pipeline: Path, tmp_path: Path
) -> None:
    pipeline.write_text(PIPELINE + "redact:\n  pii: true\n")
    out = tmp_path / "from-file"
    _run(pipeline, out)
    for value in (SECRET, EMAIL):
        assert _files_containing(out, value) == []
    assert _redacted_columns(out) == ["api_token", "contact_email"]
    also = tmp_path / "file-and-option"
    _run(pipeline, also, "--redact-column", "user_id")
    assert _redacted_columns(also) == ["user_id", "api_token", "contact_email"]
    assert _files_containing(also, SECRET) == []


def test_a_bad_redact_block_is_one_line_naming_file_line_and_key(pipeline: Path, tmp_path: Path) -> None:
    pipeline.write_text(PIPELINE + "redact:\n  colums: [user_id]\n")
    completed = _run(pipeline, tmp_path / "out", expect=2)
    error = completed.stderr.strip().splitlines()[0]
    assert error == (
        f"error: {pipeline}:5: field 'redact' has unknown key(s) ['colums']; "
        "allowed: columns, pattern, pii, samples"
    ), completed.stderr


def test_the_node_cache_stays_out_of_the_output_folder(pipeline: Path, tmp_path: Path) -> None:
    out = tmp_path / "shared"
    completed = _run(pipeline, out, "--cache", "--redact-pii")
    assert _files_containing(out, SECRET) == [], "nothing unredacted in the folder a user shares"
    assert (tmp_path / ".odibi_cache").is_dir() and _files_containing(tmp_path / ".odibi_cache", SECRET)
    assert "warning" not in completed.stderr
    # a cache put inside the output folder on purpose: warned about, once
    inside = _run(pipeline, out, "--cache", "--redact-pii", "--cache-dir", str(out / "cache"))
    warnings = [line for line in inside.stderr.splitlines() if "holds unredacted data" in line]
    assert len(warnings) == 1, inside.stderr

"""The benchmark suite's smoke run: ``benchmarks/run.py --quick`` works end to end.

Only that it runs: every case reports a result and the command exits 0. Its timings are
meaningless at quick sizes and nothing here judges them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_quick_benchmark_run_reports_every_case(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=420,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    for case in range(1, 9):
        assert f"result: case {case}: " in completed.stdout, completed.stdout[-4000:]
    document = json.loads(out.read_text("utf-8"))
    assert [case["case"] for case in document["cases"]] == list(range(1, 9))
    assert document["crashed"] == []
    for case in document["cases"]:
        assert case["measurements"], case["title"]
        for measurement in case["measurements"]:
            assert measurement["samples"] >= 1

"""Every script in examples/hooks/ runs (as a user would run it) and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "hooks"

#: Lines (or line fragments) each example must print; a new example needs an entry here.
EXPECTED: dict[str, list[str]] = {
    "slack_notifications.py": [
        "run of 'daily_customers': success=True, pending hooks=[]",
        "run of 'customer_enrichment': success=False, pending hooks=[]",
        "webhook received: 🚀 Pipeline 'daily_customers' started (run ",
        "webhook received: ✅ Pipeline 'daily_customers' completed in ",
        "webhook received: 🚀 Pipeline 'customer_enrichment' started (run ",
        "webhook received: 🚨 Pipeline 'customer_enrichment' FAILED: 1 node(s) failed; first: enrich: "
        "ValueError: column 'segment' is missing",
    ],
    "dashboard_update.py": [
        "pipeline succeeded: True",
        "dashboard got: node=load_orders duration=",
        "dashboard got: node=add_tax duration=",
        "dashboard got: node=total duration=",
    ],
    "data_quality_alert.py": [
        "⚠️  WARNING: Node 'large_orders' produced only 40 rows",
        "pipeline succeeded: True",
    ],
    "auto_cleanup.py": [
        "before cleanup: staged_readings.csv exists = True",
        "pipeline succeeded: True",
        "🧹 Cleaned up ",
    ],
    "exercise_slowest_node.py": ["Slowest node: enrich ("],
    "exercise_zero_rows.py": [
        "⚠️  WARNING: vip_customers produced 0 rows!",
        "rows per output: {'customers': 3, 'vips': 0}",
    ],
}


def _scripts() -> list[str]:
    return sorted(path.name for path in EXAMPLES.iterdir() if path.is_file())


def test_every_example_has_expectations() -> None:
    assert set(_scripts()) == set(EXPECTED)


@pytest.mark.integration
@pytest.mark.parametrize("script", _scripts())
def test_example_runs(script: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    position = 0
    for expected in EXPECTED.get(script, []):  # in this order
        matches = [i for i, line in enumerate(lines) if i >= position and expected in line]
        assert matches, (
            f"{script}: no line containing {expected!r} (after line {position}) in:\n{completed.stdout}"
        )
        position = matches[0] + 1
    assert "Traceback" not in completed.stderr

"""Tutorial hook 4: remove a temporary folder when the pipeline completes.

A write step stages an intermediate CSV in a temporary folder; ``cleanup_dir(folder)``, registered
at LOW priority so it runs after every other completion hook, removes the folder on
``pipeline_complete`` (a failed run keeps it for inspection).

    python examples/hooks/auto_cleanup.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from odibi_otel import EventBus, EventPriority, Orchestrator, Step
from odibi_otel.events import cleanup_dir


def load_readings() -> pd.DataFrame:
    return pd.DataFrame({"sensor": ["a", "b", "c"], "value": [1.5, 2.0, 0.5]})


def main() -> None:
    temp_dir = Path(tempfile.mkdtemp(prefix="odibi-temp-"))
    staged = temp_dir / "staged_readings.csv"

    def report_staged(event_data: dict[str, Any]) -> None:
        print(f"before cleanup: {staged.name} exists = {staged.exists()}")

    event_bus = EventBus()
    event_bus.register_hook("pipeline_complete", report_staged, EventPriority.HIGH)
    event_bus.register_hook("pipeline_complete", cleanup_dir(temp_dir), EventPriority.LOW)
    steps = [
        Step("load_readings", "ingest", "function", load_readings, outputs=["readings"]),
        Step("stage_readings", "store", "write", str(staged), inputs=["readings"]),
    ]
    result = Orchestrator(steps=steps, event_bus=event_bus, pipeline_name="sensors").execute()
    print(f"pipeline succeeded: {result['success']}")
    if temp_dir.exists():
        print(f"temporary folder still there: {temp_dir}")
    else:
        print(f"🧹 Cleaned up {temp_dir}")


if __name__ == "__main__":
    main()

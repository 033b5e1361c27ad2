"""Data checks and the run history: a week of daily runs, then a morning that is different.

Seven "daily" runs of a small orders pipeline are recorded in a SQLite run history. Each run
checks its data (unique ids, known statuses, positive amounts as a warning). On the eighth day the
upstream export is broken: half the orders are missing and the ``email`` column is gone. The run
still succeeds, but the history flags a volume and a schema anomaly, the ``anomaly_detected`` hook
fires, and the story compares the day with the week before it.

    python examples/checks_and_history.py [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odibi_otel import EventBus, Orchestrator, Step, StoryGenerator
from odibi_otel.history import open_history
from odibi_otel.quality import accepted_values, expression, unique


def orders_of_the_day(day: int, broken: bool) -> pd.DataFrame:
    """About 1,000 orders a day; the broken export has half of them and no email column."""
    rng = np.random.default_rng(day)
    count = int(rng.normal(1000, 15)) // (2 if broken else 1)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(count) + day * 10_000,
            "status": rng.choice(["paid", "shipped", "refunded"], count),
            "amount": np.round(rng.lognormal(3, 0.5, count), 2) * np.where(rng.random(count) < 0.01, -1, 1),
            "email": [f"customer{i}@example.com" for i in range(count)],
        }
    )
    return frame.drop(columns="email") if broken else frame


def steps(day: int, broken: bool, out: Path) -> list[Step]:
    return [
        Step(
            "load_orders", "ingest", "function", lambda: orders_of_the_day(day, broken), outputs=["orders"],
            checks=[unique("order_id"), accepted_values("status", ["paid", "shipped", "refunded"]),
                    expression("amount > 0", severity="warn", name="positive_amounts")],
        ),
        Step("store_orders", "store", "write", str(out / "orders.parquet"), inputs=["orders"]),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="output folder (default: here)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    history = open_history(out / "history.sqlite")
    bus = EventBus()
    found: list[dict[str, Any]] = []
    bus.register_hook("anomaly_detected", found.append)
    result: dict[str, Any] = {}
    for day in range(1, 9):
        broken = day == 8
        result = dict(
            Orchestrator(
                steps(day, broken, out), pipeline_name="daily_orders", history=history, event_bus=bus,
                enable_tracker=True,
            ).execute()
        )  # fmt: skip
        checks = result["checks"]["load_orders"]
        passed = sum(1 for check in checks if check["status"] == "pass")
        status = "success" if result["success"] else "failed"
        print(f"day {day}: {status}, checks {passed} of {len(checks)} passed")
    for event in found:
        print(f"anomaly on {event['step_name']}: {event['kind']}: {event['message']}")
    result["tracker"].export_lineage(out / "lineage.json")
    story = StoryGenerator(history=history).generate_story(out / "lineage.json", out / "story.html")
    print(f"{len(history.runs('daily_orders'))} runs in {history.url}; story: {story}")


if __name__ == "__main__":
    main()

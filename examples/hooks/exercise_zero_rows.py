"""Tutorial exercise 2: data-quality monitoring that warns when a node produces 0 rows.

The ``vip_customers`` filter matches nobody. The tutorial's hook is shown as written; the
ready-made ``min_rows_alert(1)`` does the same with logging.

    python examples/hooks/exercise_zero_rows.py
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from odibi_otel import EventBus, Orchestrator, Step


def check_row_count(event_data: dict[str, Any]) -> None:
    row_count = event_data.get("row_count", 0)
    if row_count == 0:
        print(f"⚠️  WARNING: {event_data['step_name']} produced 0 rows!")


def load_customers() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [1, 2, 3], "lifetime_value": [120.0, 80.0, 310.0]})


def vip_customers(customers: pd.DataFrame) -> pd.DataFrame:
    return customers[customers["lifetime_value"] > 1000]


def main() -> None:
    event_bus = EventBus()
    event_bus.register_hook("node_complete", check_row_count)
    steps = [
        Step("load_customers", "ingest", "function", load_customers, outputs=["customers"]),
        Step("vip_customers", "transform", "function", vip_customers, ["customers"], ["vips"]),
    ]
    result = Orchestrator(steps=steps, event_bus=event_bus, pipeline_name="vip").execute()
    rows = {key: len(frame) for key, frame in result["outputs"].items()}
    print(f"rows per output: {rows}")


if __name__ == "__main__":
    main()

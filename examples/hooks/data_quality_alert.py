"""Tutorial hook 3: alert when a node produces too few rows.

``min_rows_alert(100, on_alert=...)`` logs a warning and calls ``on_alert(event_data)`` for every
completed node whose ``row_count`` is below 100. The filter below keeps only 40 of 250 orders.

    python examples/hooks/data_quality_alert.py
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from odibi_otel import EventBus, EventPriority, Orchestrator, Step
from odibi_otel.events import min_rows_alert


def load_orders() -> pd.DataFrame:
    return pd.DataFrame({"order_id": range(250), "status": ["cancelled", "completed"] * 125})


def large_orders(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.head(40)


def send_alert(event_data: dict[str, Any]) -> None:
    # Send to your monitoring system here; the example prints.
    print(f"⚠️  WARNING: Node '{event_data['step_name']}' produced only {event_data['row_count']} rows")


def main() -> None:
    event_bus = EventBus()
    event_bus.register_hook("node_complete", min_rows_alert(100, on_alert=send_alert), EventPriority.HIGH)
    steps = [
        Step("load_orders", "ingest", "function", load_orders, outputs=["orders"]),
        Step("large_orders", "transform", "function", large_orders, ["orders"], ["large"]),
    ]
    result = Orchestrator(steps=steps, event_bus=event_bus, pipeline_name="orders").execute()
    print(f"pipeline succeeded: {result['success']}")


if __name__ == "__main__":
    main()

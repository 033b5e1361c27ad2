"""Tutorial exercise 1: a custom metrics hook that tracks the slowest node.

``enrich`` waits on a (simulated) slow lookup service, so it is the slowest node.

    python examples/hooks/exercise_slowest_node.py
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from odibi_otel import EventBus, Orchestrator, Step

slowest_node: dict[str, Any] = {"name": None, "duration": 0}


def track_slowest_node(event_data: dict[str, Any]) -> None:
    duration = event_data["duration_ms"]
    step_name = event_data["step_name"]
    if duration > slowest_node["duration"]:
        slowest_node.update(name=step_name, duration=duration)


def load_products() -> pd.DataFrame:
    return pd.DataFrame({"sku": ["A1", "B2", "C3"], "price": [9.99, 24.5, 3.25]})


def enrich(products: pd.DataFrame) -> pd.DataFrame:
    time.sleep(0.2)  # stands in for a slow call to a pricing service
    return products.assign(currency="EUR")


def summarise(products: pd.DataFrame) -> pd.DataFrame:
    return products.describe()


def main() -> None:
    event_bus = EventBus()
    event_bus.register_hook("node_complete", track_slowest_node)
    steps = [
        Step("load_products", "ingest", "function", load_products, outputs=["products"]),
        Step("enrich", "transform", "function", enrich, ["products"], ["enriched"]),
        Step("summarise", "publish", "function", summarise, ["enriched"], ["summary"]),
    ]
    Orchestrator(steps=steps, event_bus=event_bus, pipeline_name="products").execute()

    # After execution
    print(f"Slowest node: {slowest_node['name']} ({slowest_node['duration']}ms)")


if __name__ == "__main__":
    main()

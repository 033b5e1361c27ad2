"""Getting started: a first pipeline with spans, metrics, hooks, lineage and an HTML story.

A ``Step`` list (read a CSV, keep the paid orders, total them per country, write parquet) runs
with an ``Orchestrator`` that has a ``MetricsManager``, an ``EventBus`` with two hooks and the
lineage tracker. Afterwards the script writes the same artifacts ``odibi-otel run`` writes
(``lineage.json``, ``story.html``, ``metrics.json``, ``metrics_prometheus.txt``) and prints where
they are. The input CSV is generated into ``<out>/data``.

    python examples/getting_started.py [--out DIR]      # default: the current folder

Nothing leaves the process: without a ``tracer_provider`` and without an application-wide
OpenTelemetry set-up, odibi_otel records the spans on a private provider with no exporter. See
``examples/configure_otlp.py`` to send them to a collector.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from odibi_otel import EventBus, EventPriority, MetricsManager, Orchestrator, Step, StoryGenerator


def write_orders(folder: Path) -> Path:
    """A small orders file: 12 orders, some cancelled, in three countries."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orders.csv"
    pd.DataFrame(
        {
            "order_id": range(1, 13),
            "country": ["DE", "FR", "US", "DE", "US", "US", "FR", "DE", "US", "FR", "DE", "US"],
            "status": ["paid", "paid", "cancelled", "paid", "paid", "paid",
                       "cancelled", "paid", "paid", "paid", "paid", "cancelled"],
            "amount": [30.0, 12.5, 8.0, 99.9, 45.0, 5.0, 60.0, 18.0, 72.5, 9.5, 40.0, 15.0],
        }
    ).to_csv(path, index=False)  # fmt: skip
    return path


def paid_orders(orders: pd.DataFrame, min_amount: float = 0.0) -> pd.DataFrame:
    return orders[(orders["status"] == "paid") & (orders["amount"] >= min_amount)]


def revenue_by_country(orders: pd.DataFrame) -> pd.DataFrame:
    totals = orders.groupby("country", as_index=False)
    return totals.agg(orders=("order_id", "count"), revenue=("amount", "sum"))


def print_node(event_data: dict[str, Any]) -> None:
    print(
        f"  node {event_data['step_name']:<20} {event_data['row_count']:>3} rows  "
        f"{event_data['duration_ms']:.1f} ms"
    )


def print_error(event_data: dict[str, Any]) -> None:
    print(f"  node {event_data['step_name']} FAILED: {event_data['error_message']}")


def main() -> None:
    parser = argparse.ArgumentParser(description="A first odibi_otel pipeline.")
    parser.add_argument("--out", type=Path, default=Path.cwd(), help="output folder (default: current)")
    out = parser.parse_args().out.resolve()
    orders_csv = write_orders(out / "data")

    steps = [
        Step("read_orders", "ingest", "read", str(orders_csv), outputs=["orders"]),
        Step("paid", "transform", "function", paid_orders,
             inputs=["orders"], outputs=["paid_orders"], params={"min_amount": 10}),
        Step("revenue", "transform", "function", revenue_by_country,
             inputs=["paid_orders"], outputs=["revenue"]),
        Step("store_revenue", "store", "write", str(out / "data" / "revenue.parquet"), inputs=["revenue"]),
    ]  # fmt: skip

    metrics = MetricsManager()
    event_bus = EventBus()
    event_bus.register_hook("node_complete", print_node)
    event_bus.register_hook("node_error", print_error, EventPriority.CRITICAL)

    print("running pipeline 'orders':")
    result = Orchestrator(
        steps,
        pipeline_name="orders",
        enable_tracker=True,
        metrics_manager=metrics,
        event_bus=event_bus,
    ).execute()

    print(f"success: {result['success']}, trace id {result['trace_id']}, {result['duration_ms']:.1f} ms")
    print(f"revenue per country:\n{result['outputs']['revenue'].to_string(index=False)}")

    result["tracker"].export_lineage(out / "lineage.json")
    StoryGenerator().generate_story(out / "lineage.json", out / "story.html", title="Orders, first run")
    metrics.save_to_file(out / "metrics.json")
    metrics.export_prometheus(out / "metrics_prometheus.txt")
    summary = metrics.get_summary()
    print(f"metrics: {summary['total_nodes']} nodes, {summary['error_count']} errors, {summary['status']}")
    metrics.shutdown()

    print(f"artifacts in {out}:")
    for name in ("story.html", "lineage.json", "metrics.json", "metrics_prometheus.txt", "data/"):
        print(f"  {name}")
    print(f"open the story: {(out / 'story.html').as_uri()}")


if __name__ == "__main__":
    main()

# ruff: noqa: B018, E402, I001, W291, W293
"""The seed tutorial's code snippets of sections 1 (MetricsManager) and 3 (Story Generator), run.

Each block between ``seed tutorial`` markers below is one of the tutorial's Python snippets as
printed (blank lines and comments included), except that ``odibi_core`` reads ``odibi_otel``.
They run in the tutorial's order, sharing variables as the tutorial does:

1. "Using MetricsManager": a run with a ``MetricsManager``, its summary printed;
2. "Export to Prometheus": ``metrics_prometheus.txt``;
3. "Save Metrics to JSON": ``metrics.json`` (the tutorial's illustration of the file's content is
   a Python dict display, so it runs too, as a no-op; the real file is printed afterwards);
4. "Generate Story": a run with the tracker, ``lineage.json`` and ``execution_story.html``;
5. "Auto-Generate Story on Completion": a ``pipeline_complete`` hook writing ``story.html``.

What the snippets leave open is defined before them: a concrete ``steps`` list (customers and
orders CSVs generated into ``<out>/data/raw``, the active customers' orders joined, revenue per
country and the top customers written under ``<out>/data``), and the working directory, where the
snippets' relative file names land (``--out DIR``, default the current directory).

    python examples/seed_sections.py --out /tmp/seed-sections
"""

from __future__ import annotations

import argparse
import os
import random
import re
from pathlib import Path

import pandas as pd

from odibi_otel import Step

parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
parser.add_argument("--out", type=Path, default=Path.cwd(), help="output folder (default: the current one)")
args = parser.parse_args()
OUT = args.out.resolve()
DATA = OUT / "data"


def generate_inputs(raw: Path) -> tuple[Path, Path]:
    """Write a small, deterministic customers.csv and orders.csv into ``raw``."""
    rng = random.Random(5)
    raw.mkdir(parents=True, exist_ok=True)
    customers = pd.DataFrame(
        {
            "customer_id": range(1, 41),
            "name": [f"Customer {number:02d}" for number in range(1, 41)],
            "country": [rng.choice(["DE", "FR", "GB", "US"]) for _ in range(40)],
            "active": [rng.random() < 0.8 for _ in range(40)],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": range(1001, 1301),
            "customer_id": [rng.randint(1, 40) for _ in range(300)],
            "amount": [round(rng.uniform(5, 250), 2) for _ in range(300)],
        }
    )
    customers.to_csv(raw / "customers.csv", index=False)
    orders.to_csv(raw / "orders.csv", index=False)
    return raw / "customers.csv", raw / "orders.csv"


def filter_active_customers(customers: pd.DataFrame) -> pd.DataFrame:
    return customers[customers["active"]].drop(columns="active")


def join_orders(orders: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    return orders.merge(customers[["customer_id", "name", "country"]], on="customer_id", how="inner")


def revenue_by_country(customer_orders: pd.DataFrame) -> pd.DataFrame:
    revenue = customer_orders.groupby("country", as_index=False).agg(
        orders=("order_id", "count"), revenue=("amount", "sum")
    )
    return revenue.sort_values("revenue", ascending=False, ignore_index=True)


def top_customers(customer_orders: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    totals = customer_orders.groupby(["customer_id", "name"], as_index=False)["amount"].sum()
    return totals.nlargest(top, "amount").reset_index(drop=True)


customers_csv, orders_csv = generate_inputs(DATA / "raw")
steps = [
    Step("read_customers", "ingest", "read", str(customers_csv), outputs=["customers_raw"]),
    Step("read_orders", "ingest", "read", str(orders_csv), outputs=["orders"]),
    Step("filter_active_customers", "transform", "function", filter_active_customers,
         inputs=["customers_raw"], outputs=["customers"]),
    Step("join_orders", "transform", "function", join_orders,
         inputs={"orders": "orders", "customers": "customers"}, outputs=["customer_orders"]),
    Step("revenue_by_country", "transform", "function", revenue_by_country,
         inputs=["customer_orders"], outputs=["revenue"]),
    Step("top_customers", "transform", "function", top_customers,
         inputs=["customer_orders"], outputs=["top_customers"], params={"top": 5}),
    Step("store_revenue", "store", "write", str(DATA / "gold" / "revenue_by_country.parquet"),
         inputs=["revenue"]),
    Step("publish_top_customers", "publish", "write", str(DATA / "publish" / "top_customers.json"),
         inputs=["top_customers"]),
]  # fmt: skip

# The tutorial writes its artifacts relative to the working directory.
OUT.mkdir(parents=True, exist_ok=True)
os.chdir(OUT)

# The tutorial writes its artifacts relative to the working directory.
OUT.mkdir(parents=True, exist_ok=True)
os.chdir(OUT)

# fmt: off

print("\n### section 1: Using MetricsManager")
# ═══ seed tutorial, section 1 "Using MetricsManager": begin ═══
from odibi_otel.orchestrator import Orchestrator
from odibi_otel.metrics_manager import MetricsManager

# Create MetricsManager
metrics = MetricsManager()

# Use in orchestrator
orchestrator = Orchestrator(
    steps=steps,
    engine_type="pandas",
    metrics_manager=metrics  # Pass metrics manager
)

result = orchestrator.execute()

# Get metrics summary
summary = metrics.get_summary()

print("=== METRICS SUMMARY ===")
print(f"Total nodes: {summary['total_nodes']}")
print(f"Total duration: {summary['total_duration_ms']}ms")
print(f"Cache hit rate: {summary['cache_hit_rate']:.1%}")
print(f"Errors: {summary['error_count']}")

# Per-node metrics
for node_name, node_metrics in summary['nodes'].items():
    print(f"\n{node_name}:")
    print(f"  Duration: {node_metrics['duration_ms']}ms")
    print(f"  Rows: {node_metrics['row_count']}")
    print(f"  Memory: {node_metrics['memory_mb']}MB")
# ═══ seed tutorial, section 1 "Using MetricsManager": end ═══

print("\n### section 1: Export to Prometheus")
# ═══ seed tutorial, section 1 "Export to Prometheus": begin ═══
# Export metrics in Prometheus format
metrics.export_prometheus("metrics_prometheus.txt")

# File content:
# # HELP odibi_node_duration_ms Node execution duration in milliseconds
# # TYPE odibi_node_duration_ms gauge
# odibi_node_duration_ms{node="read_customers"} 4520
# odibi_node_duration_ms{node="filter_data"} 1230
# 
# # HELP odibi_cache_hits Cache hit count
# # TYPE odibi_cache_hits counter
# odibi_cache_hits 5
# 
# # HELP odibi_cache_misses Cache miss count
# # TYPE odibi_cache_misses counter
# odibi_cache_misses 2
# ═══ seed tutorial, section 1 "Export to Prometheus": end ═══

print("metrics_prometheus.txt, the rows counter (scope labels left out):")
for line in Path("metrics_prometheus.txt").read_text(encoding="utf-8").splitlines():
    if line.startswith("odibi_node_rows_total{"):
        print("  " + re.sub(r',?otel_scope_[a-z_]+="[^"]*"', "", line).replace("{,", "{"))

print("\n### section 1: Save Metrics to JSON")
# ═══ seed tutorial, section 1 "Save Metrics to JSON": begin ═══
# Save metrics as JSON
metrics.save_to_file("metrics.json")

# File content:
{
  "timestamp": "2024-05-01T12:30:00",
  "pipeline_name": "customer_pipeline",
  "total_duration_ms": 12450,
  "total_nodes": 7,
  "cache_hit_rate": 0.71,
  "error_count": 0,
  "nodes": {
    "read_customers": {
      "duration_ms": 4520,
      "row_count": 10000,
      "memory_mb": 45,
      "throughput": 2212
    },
    "filter_data": {
      "duration_ms": 1230,
      "row_count": 5000,
      "memory_mb": 22,
      "throughput": 4065
    }
  }
}
# ═══ seed tutorial, section 1 "Save Metrics to JSON": end ═══

print("metrics.json as written:")
print(Path("metrics.json").read_text(encoding="utf-8"), end="")

print("\n### section 3: Generate Story")
# ═══ seed tutorial, section 3 "Generate Story": begin ═══
from odibi_otel.orchestrator import Orchestrator
from odibi_otel.story_generator import StoryGenerator

# Execute pipeline with tracker
orchestrator = Orchestrator(
    steps=steps,
    engine_type="pandas",
    enable_tracker=True
)

result = orchestrator.execute()

# Export lineage
result['tracker'].export_lineage("lineage.json")

# Generate HTML story
story_gen = StoryGenerator()
story_gen.generate_story(
    lineage_file="lineage.json",
    output_file="execution_story.html",
    title="Customer Pipeline Execution"
)

print("Story generated: execution_story.html")
# Open in browser to view
# ═══ seed tutorial, section 3 "Generate Story": end ═══

print("\n### section 3: Auto-Generate Story on Completion")
# ═══ seed tutorial, section 3 "Auto-Generate Story on Completion": begin ═══
from odibi_otel.event_bus import EventBus
from odibi_otel.story_generator import StoryGenerator

def generate_story_hook(event_data):
    # Triggered on pipeline_complete
    tracker = event_data.get('tracker')
    if tracker:
        tracker.export_lineage("lineage.json")
        
        story_gen = StoryGenerator()
        story_gen.generate_story("lineage.json", output_file="story.html")
        
        print("✅ Story generated: story.html")

event_bus = EventBus()
event_bus.register_hook("pipeline_complete", generate_story_hook)

orchestrator = Orchestrator(
    steps=steps,
    engine_type="pandas",
    enable_tracker=True,
    event_bus=event_bus
)

result = orchestrator.execute()
# Story auto-generated on completion
# ═══ seed tutorial, section 3 "Auto-Generate Story on Completion": end ═══
# fmt: on

print(f"\nartifacts in {OUT}:")
for artifact in (
    "metrics_prometheus.txt",
    "metrics.json",
    "lineage.json",
    "execution_story.html",
    "story.html",
):
    print(f"  {artifact:<24} {'written' if Path(artifact).is_file() else 'not written'}")

# ruff: noqa: E402, I001, W293
"""The seed tutorial's section 4, "Complete Observability Example", as a runnable script.

Everything between the ``seed tutorial, section 4`` markers below is the tutorial's code as
printed (even its blank lines), except that ``odibi_core`` reads ``odibi_otel``. What the
tutorial leaves open is defined before it:

- ``steps``: a concrete pipeline. Customers and orders CSVs are generated into ``<out>/data/raw``;
  the steps keep the active customers, join their orders, total the revenue per country, rank the
  top customers and write ``<out>/data/gold/revenue_by_country.parquet`` and
  ``<out>/data/publish/top_customers.json``.
- The working directory: the tutorial writes ``lineage.json``, ``story.html``, ``metrics.json``
  and ``metrics_prometheus.txt`` relative to it, so the script changes into the output folder
  (``--out DIR``, default the current directory) before the tutorial's code runs.

    python examples/seed_complete_observability.py --out /tmp/observability
    python examples/seed_complete_observability.py --out /tmp/broken --fail

``--fail`` generates customers without their ``country`` column, so ``join_orders`` raises a
``KeyError``: the tutorial's CRITICAL ``node_error`` hook fires, the downstream nodes are skipped,
and (as the tutorial's hooks are written) no story is generated, since ``pipeline_complete`` does
not fire for a failed run. The script exits 0 either way, like the tutorial's code.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import pandas as pd

from odibi_otel import Step

parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
parser.add_argument("--out", type=Path, default=Path.cwd(), help="output folder (default: the current one)")
parser.add_argument("--fail", action="store_true", help="break the input data so that a node fails")
args = parser.parse_args()
OUT = args.out.resolve()
DATA = OUT / "data"


def generate_inputs(raw: Path, *, drop_country: bool) -> tuple[Path, Path]:
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
    if drop_country:
        customers = customers.drop(columns="country")
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


customers_csv, orders_csv = generate_inputs(DATA / "raw", drop_country=args.fail)
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

# fmt: off
# ═══════════════ seed tutorial, section 4 "Complete Observability Example": begin ═══════════════
from odibi_otel.orchestrator import Orchestrator
from odibi_otel.event_bus import EventBus, EventPriority
from odibi_otel.metrics_manager import MetricsManager
from odibi_otel.story_generator import StoryGenerator

# ──────────────────────────────────────────────────────
# 1. Setup MetricsManager
# ──────────────────────────────────────────────────────
metrics = MetricsManager()

# ──────────────────────────────────────────────────────
# 2. Setup EventBus with Hooks
# ──────────────────────────────────────────────────────
event_bus = EventBus()

# Hook: Log all events
def log_event(event_data):
    event_type = event_data['event_type']
    print(f"[EVENT] {event_type}: {event_data}")

event_bus.register_hook("pipeline_start", log_event)
event_bus.register_hook("pipeline_complete", log_event)
event_bus.register_hook("node_start", log_event)
event_bus.register_hook("node_complete", log_event)
event_bus.register_hook("node_error", log_event)

# Hook: Alert on errors
def error_alert(event_data):
    step_name = event_data['step_name']
    error_msg = event_data['error_message']
    print(f"🚨 CRITICAL ERROR in {step_name}: {error_msg}")
    # Send to Slack, email, etc.

event_bus.register_hook("node_error", error_alert, EventPriority.CRITICAL)

# Hook: Generate story on completion
def auto_generate_story(event_data):
    tracker = event_data.get('tracker')
    if tracker:
        tracker.export_lineage("lineage.json")
        story_gen = StoryGenerator()
        story_gen.generate_story("lineage.json", "story.html")
        print("✅ Story generated: story.html")

event_bus.register_hook("pipeline_complete", auto_generate_story)

# ──────────────────────────────────────────────────────
# 3. Create Orchestrator with Full Observability
# ──────────────────────────────────────────────────────
orchestrator = Orchestrator(
    steps=steps,
    engine_type="pandas",
    
    # Tracking
    enable_tracker=True,
    
    # Metrics
    metrics_manager=metrics,
    
    # Events & Hooks
    event_bus=event_bus
)

# ──────────────────────────────────────────────────────
# 4. Execute Pipeline
# ──────────────────────────────────────────────────────
result = orchestrator.execute()

# ──────────────────────────────────────────────────────
# 5. Export Metrics
# ──────────────────────────────────────────────────────
# Save as JSON
metrics.save_to_file("metrics.json")

# Export to Prometheus
metrics.export_prometheus("metrics_prometheus.txt")

# Print summary
summary = metrics.get_summary()
print("\n=== METRICS SUMMARY ===")
print(f"Total duration: {summary['total_duration_ms']}ms")
print(f"Cache hit rate: {summary['cache_hit_rate']:.1%}")
print(f"Errors: {summary['error_count']}")

# ──────────────────────────────────────────────────────
# 6. View Artifacts
# ──────────────────────────────────────────────────────
# - story.html (interactive execution report)
# - lineage.json (Tracker lineage)
# - metrics.json (metrics summary)
# - metrics_prometheus.txt (Prometheus format)
# ═══════════════ seed tutorial, section 4 "Complete Observability Example": end ═════════════════
# fmt: on

print(f"\npipeline success: {result['success']}; artifacts in {OUT}:")
for artifact in ("story.html", "lineage.json", "metrics.json", "metrics_prometheus.txt"):
    print(f"  {artifact:<24} {'written' if Path(artifact).is_file() else 'not written'}")

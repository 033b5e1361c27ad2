"""The reference pipeline of cases 1 and 7: orders + customers in 7 kinds of step.

read CSV (orders, customers) → filter → join → add columns → group-by aggregate → sort →
write parquet. The bare version calls the same pandas functions in the same order and keeps every
intermediate frame in a dict, as the orchestrator does; the odibi_otel version runs them as
``Step`` s (read/write steps use odibi_otel's own readers and writers, which call the same pandas
functions).

The data is generated deterministically (fixed seed) once per suite run into a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ORDERS_FILE = "orders.csv"
CUSTOMERS_FILE = "customers.csv"
STATUSES = ("shipped", "delivered", "cancelled", "returned", "pending")
REGIONS = ("north", "south", "east", "west", "central", "north-east", "south-west", "islands")
SEGMENTS = ("consumer", "small-business", "enterprise", "public")

#: String columns read as Python ``object`` columns in the "object strings" variant.
ORDER_STRING_COLUMNS = ("product", "status", "order_date", "reference")
CUSTOMER_STRING_COLUMNS = ("name", "email", "region", "segment")


def generate(folder: Path, orders: int, customers: int) -> tuple[Path, Path]:
    """Write ``orders.csv`` and ``customers.csv`` into ``folder`` (same bytes for the same sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    orders_path, customers_path = folder / ORDERS_FILE, folder / CUSTOMERS_FILE
    stamp = folder / f".generated-{orders}-{customers}"
    if stamp.exists():
        return orders_path, customers_path
    rng = np.random.default_rng(20240607)
    days = pd.date_range("2024-01-01", "2024-12-31", freq="D").strftime("%Y-%m-%d").to_numpy()
    products = np.array([f"product-{k:03d}" for k in range(200)], dtype=object)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(orders, dtype=np.int64),
            "customer_id": rng.integers(0, customers, orders),
            "product": products[rng.integers(0, len(products), orders)],
            "status": np.array(STATUSES, dtype=object)[rng.integers(0, len(STATUSES), orders)],
            "quantity": rng.integers(0, 11, orders),
            "unit_price": np.round(rng.uniform(1.0, 250.0, orders), 2),
            "order_date": days[rng.integers(0, len(days), orders)],
            "reference": [f"ref-{value:012x}" for value in rng.integers(0, 2**48, orders)],
        }
    )
    frame.to_csv(orders_path, index=False)
    people = pd.DataFrame(
        {
            "customer_id": np.arange(customers, dtype=np.int64),
            "name": [f"Customer {k:05d}" for k in range(customers)],
            "email": [f"customer{k}@example.org" for k in range(customers)],
            "region": np.array(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), customers)],
            "segment": np.array(SEGMENTS, dtype=object)[rng.integers(0, len(SEGMENTS), customers)],
        }
    )
    people.to_csv(customers_path, index=False)
    stamp.touch()
    return orders_path, customers_path


def read_params(strings: str, columns: tuple[str, ...]) -> dict[str, Any]:
    """``read_csv`` keyword arguments: pandas' default string dtype, or ``object`` string columns."""
    if strings == "object":
        return {"dtype": dict.fromkeys(columns, object)}
    return {}


# -- the five transformations ------------------------------------------------------------------


def filter_orders(orders: pd.DataFrame) -> pd.DataFrame:
    return orders[(orders["status"] != "cancelled") & (orders["quantity"] > 0)]


def join_customers(orders: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    return orders.merge(customers, on="customer_id", how="inner")


def add_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        revenue=frame["quantity"] * frame["unit_price"],
        order_month=frame["order_date"].str.slice(0, 7),
        big_order=frame["quantity"] >= 8,
    )


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby(["region", "segment", "order_month"], as_index=False).agg(
        revenue=("revenue", "sum"),
        orders=("order_id", "count"),
        quantity=("quantity", "sum"),
        big_orders=("big_order", "sum"),
    )


def sort_report(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["order_month", "revenue"], ascending=[True, False], ignore_index=True)


# -- the two ways to run it ----------------------------------------------------------------------


def run_bare(folder: Path, strings: str, out: Path) -> dict[str, pd.DataFrame]:
    """The pipeline as plain pandas calls; every intermediate frame stays in the returned dict."""
    data: dict[str, pd.DataFrame] = {}
    data["orders"] = pd.read_csv(folder / ORDERS_FILE, **read_params(strings, ORDER_STRING_COLUMNS))
    data["customers"] = pd.read_csv(folder / CUSTOMERS_FILE, **read_params(strings, CUSTOMER_STRING_COLUMNS))
    data["valid_orders"] = filter_orders(data["orders"])
    data["joined"] = join_customers(data["valid_orders"], data["customers"])
    data["enriched"] = add_columns(data["joined"])
    data["summary"] = aggregate(data["enriched"])
    data["report"] = sort_report(data["summary"])
    data["report"].to_parquet(out, index=False)
    return data


def steps(folder: Path, strings: str, out: Path) -> list[Any]:
    """The same pipeline as odibi_otel steps (8 nodes)."""
    from odibi_otel import Step

    return [
        Step(
            "read_orders",
            "ingest",
            "read",
            os.fspath(folder / ORDERS_FILE),
            outputs=["orders"],
            params=read_params(strings, ORDER_STRING_COLUMNS),
        ),
        Step(
            "read_customers",
            "ingest",
            "read",
            os.fspath(folder / CUSTOMERS_FILE),
            outputs=["customers"],
            params=read_params(strings, CUSTOMER_STRING_COLUMNS),
        ),
        Step("filter", "transform", "function", filter_orders, inputs=["orders"], outputs=["valid_orders"]),
        Step(
            "join",
            "transform",
            "function",
            join_customers,
            inputs=["valid_orders", "customers"],
            outputs=["joined"],
        ),
        Step("add_columns", "transform", "function", add_columns, inputs=["joined"], outputs=["enriched"]),
        Step("aggregate", "transform", "function", aggregate, inputs=["enriched"], outputs=["summary"]),
        Step("sort", "transform", "function", sort_report, inputs=["summary"], outputs=["report"]),
        Step("write_report", "store", "write", os.fspath(out), inputs=["report"], params={"index": False}),
    ]

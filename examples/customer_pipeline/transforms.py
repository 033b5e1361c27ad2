"""The customer pipeline's transform and publish functions (referenced as ``transforms:<name>``).

Each function takes DataFrames (positionally for list ``inputs``, by parameter name for dict
``inputs``) plus the step's ``params`` as keyword arguments, and returns a DataFrame, or a dict of
DataFrames when the step declares several outputs. None of them modifies its inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd


def clean_customers(raw: pd.DataFrame, country_aliases: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Trim and upper-case country codes, map aliases (``UK`` → ``GB``), normalise emails, and
    keep one row per ``customer_id`` (the first one seen)."""
    customers = raw.copy()
    country = customers["country"].str.strip().str.upper()
    customers["country"] = country.replace(dict(country_aliases or {}))
    email = customers["email"].str.strip().str.lower()
    customers["email"] = email.where(email != "")
    customers["name"] = customers["name"].str.strip()
    customers["segment"] = customers["segment"].str.strip().str.lower()
    customers["signup_date"] = pd.to_datetime(customers["signup_date"])
    customers = customers.drop_duplicates("customer_id", keep="first")
    return customers.sort_values("customer_id").reset_index(drop=True)


def clean_orders(orders: pd.DataFrame, exclude_statuses: Iterable[str] = ()) -> pd.DataFrame:
    """Normalise statuses, drop orders whose status is excluded or whose amount is missing."""
    cleaned = orders.copy()
    cleaned["status"] = cleaned["status"].str.strip().str.lower()
    excluded = {status.lower() for status in exclude_statuses}
    keep = ~cleaned["status"].isin(excluded) & cleaned["amount"].notna()
    cleaned = cleaned[keep].drop_duplicates("order_id")
    cleaned["order_date"] = pd.to_datetime(cleaned["order_date"])
    return cleaned.reset_index(drop=True)


def join_orders(orders: pd.DataFrame, customers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Attach each order's customer attributes; orders of unknown customers go to quarantine.

    Returns ``{"enriched_orders": ..., "unmatched_orders": ...}``.
    """
    attributes = customers[["customer_id", "name", "country", "segment"]]
    merged = orders.merge(attributes, on="customer_id", how="left", validate="many_to_one", indicator=True)
    matched = merged["_merge"] == "both"
    enriched = merged[matched].drop(columns="_merge").reset_index(drop=True)
    unmatched = orders[~orders["customer_id"].isin(customers["customer_id"])].reset_index(drop=True)
    return {"enriched_orders": enriched, "unmatched_orders": unmatched}


def customer_summary(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per customer with orders: count, revenue, average order and first/last order date."""
    summary = (
        orders.groupby(["customer_id", "name", "country", "segment"], as_index=False)
        .agg(
            orders=("order_id", "count"),
            revenue=("amount", "sum"),
            average_order=("amount", "mean"),
            first_order=("order_date", "min"),
            last_order=("order_date", "max"),
        )
        .round({"revenue": 2, "average_order": 2})
    )
    return summary.sort_values(["revenue", "customer_id"], ascending=[False, True]).reset_index(drop=True)


def country_monthly(orders: pd.DataFrame) -> pd.DataFrame:
    """Orders, active customers and revenue per country and calendar month."""
    monthly = orders.assign(month=orders["order_date"].dt.strftime("%Y-%m"))
    summary = monthly.groupby(["country", "month"], as_index=False).agg(
        orders=("order_id", "count"),
        customers=("customer_id", "nunique"),
        revenue=("amount", "sum"),
    )
    summary["revenue"] = summary["revenue"].round(2)
    return summary.sort_values(["country", "month"]).reset_index(drop=True)


def top_customers(summary: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` customers with the highest revenue, ranked from 1."""
    top = summary.nlargest(n, "revenue", keep="first").reset_index(drop=True)
    top.insert(0, "rank", range(1, len(top) + 1))
    return top[["rank", "customer_id", "name", "country", "segment", "orders", "revenue"]]

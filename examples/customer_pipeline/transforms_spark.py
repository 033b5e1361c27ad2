"""The customer pipeline's transforms on Spark (``pipeline_spark.yaml``): the same rules as
``transforms.py``, written with Spark DataFrame operations, so each step yields the same rows.

Each function takes Spark DataFrames and the step's ``params`` and returns a DataFrame (or a dict
of them). Nothing here runs a Spark job: the work happens when a write step needs the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def clean_customers(raw: DataFrame, country_aliases: Mapping[str, str] | None = None) -> DataFrame:
    """Trim and upper-case country codes, map aliases (``UK`` → ``GB``), normalise emails, and
    keep one row per ``customer_id`` (the first one in the file)."""
    country = F.upper(F.trim(F.col("country")))
    for alias, code in dict(country_aliases or {}).items():
        country = F.when(country == alias, F.lit(code)).otherwise(country)
    email = F.lower(F.trim(F.col("email")))
    customers = raw.withColumn("_position", F.monotonically_increasing_id()).select(
        "customer_id",
        F.trim("name").alias("name"),
        F.when(email != "", email).alias("email"),
        country.alias("country"),
        F.to_date("signup_date").alias("signup_date"),
        F.lower(F.trim("segment")).alias("segment"),
        "_position",
    )
    first = Window.partitionBy("customer_id").orderBy("_position")
    return (
        customers.withColumn("_seen", F.row_number().over(first))
        .where(F.col("_seen") == 1)
        .drop("_seen", "_position")
    )


def clean_orders(orders: DataFrame, exclude_statuses: Iterable[str] = ()) -> DataFrame:
    """Normalise statuses, drop orders whose status is excluded or whose amount is missing."""
    excluded = [status.lower() for status in exclude_statuses]
    status = F.lower(F.trim(F.col("status")))
    cleaned = orders.withColumn("status", status).where(F.col("amount").isNotNull())
    if excluded:
        cleaned = cleaned.where(~F.col("status").isin(excluded))
    return cleaned.dropDuplicates(["order_id"]).withColumn("order_date", F.to_date("order_date"))


def join_orders(orders: DataFrame, customers: DataFrame) -> dict[str, DataFrame]:
    """Attach each order's customer attributes; orders of unknown customers go to quarantine."""
    attributes = customers.select("customer_id", "name", "country", "segment")
    return {
        "enriched_orders": orders.join(attributes, on="customer_id", how="inner"),
        "unmatched_orders": orders.join(attributes, on="customer_id", how="left_anti"),
    }


def customer_summary(orders: DataFrame) -> DataFrame:
    """One row per customer with orders: count, revenue, average order and first/last order date."""
    return orders.groupBy("customer_id", "name", "country", "segment").agg(
        F.count("order_id").alias("orders"),
        F.round(F.sum("amount"), 2).alias("revenue"),
        F.round(F.avg("amount"), 2).alias("average_order"),
        F.min("order_date").alias("first_order"),
        F.max("order_date").alias("last_order"),
    )


def country_monthly(orders: DataFrame) -> DataFrame:
    """Orders, active customers and revenue per country and calendar month."""
    monthly = orders.withColumn("month", F.date_format("order_date", "yyyy-MM"))
    return monthly.groupBy("country", "month").agg(
        F.count("order_id").alias("orders"),
        F.countDistinct("customer_id").alias("customers"),
        F.round(F.sum("amount"), 2).alias("revenue"),
    )


def top_customers(summary: DataFrame, n: int = 10) -> DataFrame:
    """The ``n`` customers with the highest revenue, ranked from 1."""
    ranking: Any = Window.orderBy(F.col("revenue").desc(), F.col("customer_id").asc())
    ranked = summary.withColumn("rank", F.row_number().over(ranking)).where(F.col("rank") <= n)
    return ranked.select("rank", "customer_id", "name", "country", "segment", "orders", "revenue")

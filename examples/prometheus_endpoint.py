"""A Prometheus ``/metrics`` endpoint for a process that runs pipelines repeatedly.

``MetricsManager.start_server(port=0)`` serves the manager's metrics on 127.0.0.1 on a free port
(``port=None`` would use ``OTEL_EXPORTER_PROMETHEUS_PORT``, else 9464). The script runs a small
pipeline three times, the third time with a node that fails, fetches ``/metrics`` the way
Prometheus would, and prints selected lines: run counts by status, node duration counts, rows,
errors by type, the last-success timestamp.

    python examples/prometheus_endpoint.py [--runs N]

Point a Prometheus scrape job at the printed address to see the same series in Prometheus
(``collector-config/prometheus.yml`` has one for port 9464).
"""

from __future__ import annotations

import argparse
import re
import urllib.request

import pandas as pd

from odibi_otel import MetricsManager, Orchestrator, Step

SELECTED = (
    "odibi_pipeline_runs_total",
    "odibi_pipeline_last_success_timestamp_seconds",
    "odibi_node_duration_seconds_count",
    "odibi_node_rows_total",
    "odibi_node_errors_total",
)
_SCOPE_LABELS = re.compile(r',?otel_scope_[a-z_]+="[^"]*"')


def load_orders() -> pd.DataFrame:
    return pd.DataFrame({"order_id": [1, 2, 3, 4], "amount": [10.0, 25.5, 7.25, 40.0]})


def add_tax(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(gross=orders["amount"] * 1.2)


def add_tax_broken(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(gross=orders["net_amount"] * 1.2)  # KeyError: there is no such column


def steps_for(transform: object) -> list[Step]:
    return [
        Step("load_orders", "ingest", "function", load_orders, outputs=["orders"]),
        Step("add_tax", "transform", "function", transform, inputs=["orders"], outputs=["taxed"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve /metrics and scrape it once.")
    parser.add_argument("--runs", type=int, default=3, help="pipeline runs; the last one fails (default 3)")
    runs = parser.parse_args().runs

    with MetricsManager() as metrics:  # leaving the block stops the server
        server = metrics.start_server(host="127.0.0.1", port=0)
        print(f"serving {server.url}")
        for number in range(1, runs + 1):
            transform = add_tax_broken if number == runs else add_tax
            result = Orchestrator(
                steps_for(transform), pipeline_name="orders", metrics_manager=metrics
            ).execute()
            print(f"run {number}: success={result['success']}")

        with urllib.request.urlopen(server.url, timeout=5) as response:
            content_type = response.headers["Content-Type"]
            exposition = response.read().decode("utf-8")
        print(f"GET {server.url}: {content_type}, {len(exposition.splitlines())} lines; selected:")
        for line in sorted(exposition.splitlines()):  # families come in no promised order
            if line.startswith(SELECTED):
                print("  " + _SCOPE_LABELS.sub("", line).replace("{,", "{"))
    print("server stopped")


if __name__ == "__main__":
    main()

"""Tutorial hook 2: post each node's duration to a metrics dashboard.

``dashboard_poster(url)`` POSTs ``{"node", "duration", "timestamp", ...}`` JSON on every
``node_complete``. A small HTTP server on 127.0.0.1 (a free port) plays the dashboard API.

    python examples/hooks/dashboard_update.py
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd

from odibi_otel import EventBus, EventPriority, Orchestrator, Step
from odibi_otel.events import dashboard_poster

posted: list[dict[str, Any]] = []


class FakeDashboard(BaseHTTPRequestHandler):
    """Records each posted metric point."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        posted.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def load_orders() -> pd.DataFrame:
    return pd.DataFrame({"order_id": range(1, 501), "amount": [19.5] * 500})


def add_tax(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(amount_with_tax=orders["amount"] * 1.2)


def total(orders: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"revenue": [orders["amount_with_tax"].sum()]})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDashboard)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    dashboard_api = f"http://127.0.0.1:{server.server_port}/api/metrics"
    try:
        event_bus = EventBus()
        event_bus.register_hook("node_complete", dashboard_poster(dashboard_api), EventPriority.MEDIUM)
        steps = [
            Step("load_orders", "ingest", "function", load_orders, outputs=["orders"]),
            Step("add_tax", "transform", "function", add_tax, ["orders"], ["taxed"]),
            Step("total", "publish", "function", total, ["taxed"], ["revenue"]),
        ]
        result = Orchestrator(steps=steps, event_bus=event_bus, pipeline_name="revenue").execute()
        print(f"pipeline succeeded: {result['success']}")
    finally:
        server.shutdown()
        server.server_close()
    for point in posted:
        print(f"dashboard got: node={point['node']} duration={point['duration']}ms at {point['timestamp']}")


if __name__ == "__main__":
    main()

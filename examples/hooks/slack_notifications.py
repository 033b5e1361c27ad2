"""Tutorial hook 1: chat notifications when a pipeline starts, succeeds or fails.

``webhook_notifier(url)`` posts a Slack-compatible ``{"text": ...}`` message. Here a small HTTP
server on 127.0.0.1 (a free port) stands in for the Slack incoming webhook, so the example runs
anywhere and sends nothing off the machine. Two runs: one that succeeds, one whose node fails.

    python examples/hooks/slack_notifications.py
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd

from odibi_otel import EventBus, EventPriority, Orchestrator, Step
from odibi_otel.events import webhook_notifier

received: list[dict[str, Any]] = []


class FakeSlack(BaseHTTPRequestHandler):
    """Records each posted JSON message, answers like Slack does."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # keep the example's output clean
        pass


def load_customers() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [1, 2, 3], "country": ["DE", "FR", "US"]})


def count_by_country(customers: pd.DataFrame) -> pd.DataFrame:
    return customers.groupby("country", as_index=False).size()


def broken_transform(customers: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("column 'segment' is missing")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSlack)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX"
    try:
        # One worker keeps the messages in event order; execute() waits for them before returning.
        event_bus = EventBus(max_async_workers=1)
        notify = webhook_notifier(url, timeout=5.0)
        event_bus.register_hook("pipeline_start", notify, EventPriority.HIGH, async_execution=True)
        event_bus.register_hook("pipeline_complete", notify, EventPriority.HIGH, async_execution=True)
        event_bus.register_hook("pipeline_error", notify, EventPriority.CRITICAL, async_execution=True)

        load = Step("load_customers", "ingest", "function", load_customers, outputs=["customers"])
        good = [load, Step("count", "transform", "function", count_by_country, ["customers"], ["counts"])]
        bad = [load, Step("enrich", "transform", "function", broken_transform, ["customers"], ["rich"])]
        for name, steps in (("daily_customers", good), ("customer_enrichment", bad)):
            result = Orchestrator(steps=steps, event_bus=event_bus, pipeline_name=name).execute()
            print(f"run of {name!r}: success={result['success']}, pending hooks={result['pending_hooks']}")
    finally:
        server.shutdown()
        server.server_close()
    for message in received:
        print("webhook received:", message["text"])


if __name__ == "__main__":
    main()

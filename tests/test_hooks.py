"""Ready-made hooks: webhook/Slack notifier, dashboard poster, min-rows alert, temp-dir cleanup."""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk.trace import TracerProvider

from odibi_otel import EventBus, EventPriority, Orchestrator, Step
from odibi_otel.events.hooks import (
    cleanup_dir,
    dashboard_poster,
    min_rows_alert,
    slack_message,
    webhook_notifier,
)


@dataclass
class LocalServer:
    """An HTTP server on 127.0.0.1 recording each POST; ``status`` sets its answer."""

    url: str
    requests: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    status: int = 200
    hold: threading.Event | None = None

    def next_request(self) -> dict[str, Any]:
        return self.requests.get(timeout=5)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    state = LocalServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.put({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            if state.hold is not None:
                state.hold.wait(10)
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_port}/hook"
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def payload(event: str, **extra: Any) -> dict[str, Any]:
    base = {
        "event_type": event,
        "timestamp": "2026-01-02T03:04:05.000006+00:00",
        "pipeline_name": "daily",
        "run_id": "r1",
        "trace_id": "0" * 31 + "1",
        "span_id": "0" * 15 + "1",
    }
    return {**base, **extra}


def make_frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3]})


def shrink(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.head(1)


def fail(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("no good")


def execute(steps: list[Step], bus: EventBus, **kwargs: Any) -> dict[str, Any]:
    provider = TracerProvider(shutdown_on_exit=False)
    try:
        return Orchestrator(steps, event_bus=bus, tracer_provider=provider, **kwargs).execute()
    finally:
        provider.shutdown()


STEPS = [
    Step("load", "ingest", "function", make_frame, outputs=["raw"]),
    Step("shrink", "transform", "function", shrink, inputs=["raw"], outputs=["small"]),
]


# ------------------------------------------------------------------------------- webhook


@pytest.mark.parametrize(
    ("event_data", "text"),
    [
        (payload("pipeline_start"), "🚀 Pipeline 'daily' started (run r1)"),
        (payload("pipeline_complete", duration_ms=12.5), "✅ Pipeline 'daily' completed in 12.5ms"),
        (payload("pipeline_error", error_message="boom"), "🚨 Pipeline 'daily' FAILED: boom"),
        (
            payload("node_error", step_name="clean", error_message="bad"),
            "❌ Node 'clean' of pipeline 'daily' failed: bad",
        ),
    ],
)
def test_webhook_notifier_posts_slack_messages(
    server: LocalServer, event_data: dict[str, Any], text: str
) -> None:
    webhook_notifier(server.url, headers={"Authorization": "Bearer t0k3n"})(event_data)
    request = server.next_request()
    assert request["json"] == {"text": text}
    assert request["path"] == "/hook"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"] == "Bearer t0k3n"


def test_webhook_notifier_ignores_other_events(server: LocalServer) -> None:
    notify = webhook_notifier(server.url)
    notify(payload("node_complete", step_name="x", row_count=1))
    notify(payload("node_start", step_name="x"))
    assert slack_message(payload("node_start")) is None
    assert server.requests.empty()


def test_webhook_notifier_raises_on_http_error(server: LocalServer) -> None:
    server.status = 500
    with pytest.raises(urllib.error.HTTPError):
        webhook_notifier(server.url)(payload("pipeline_start"))


def test_webhook_notifier_times_out(server: LocalServer) -> None:
    server.hold = threading.Event()
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        webhook_notifier(server.url, timeout=0.2)(payload("pipeline_start"))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "hooks.slack.com", "", None])
def test_http_hooks_reject_non_http_urls(url: Any) -> None:
    with pytest.raises(ValueError, match="http"):
        webhook_notifier(url)
    with pytest.raises(ValueError, match="http"):
        dashboard_poster(url)


@pytest.mark.parametrize("timeout", [0, -1, True, "5"])
def test_http_hooks_reject_bad_timeouts(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        webhook_notifier("http://127.0.0.1:9/x", timeout=timeout)


def test_webhook_in_a_pipeline_with_async_hooks(server: LocalServer) -> None:
    bus = EventBus(max_async_workers=1)
    notify = webhook_notifier(server.url)
    for event, priority in (
        ("pipeline_start", EventPriority.HIGH),
        ("pipeline_complete", EventPriority.HIGH),
        ("pipeline_error", EventPriority.CRITICAL),
        ("node_error", EventPriority.CRITICAL),
    ):
        bus.register_hook(event, notify, priority, async_execution=True)
    ok = execute(STEPS, bus)
    failed = execute([STEPS[0], Step("bad", "transform", "function", fail, ["raw"], ["x"])], bus)
    assert ok["pending_hooks"] == failed["pending_hooks"] == []
    texts = [server.requests.get_nowait()["json"]["text"] for _ in range(5)]  # all posted already
    assert server.requests.empty()
    assert texts[0].startswith("🚀") and texts[1].startswith("✅ Pipeline 'pipeline' completed in ")
    assert texts[2].startswith("🚀")
    assert texts[3] == "❌ Node 'bad' of pipeline 'pipeline' failed: ValueError: no good"
    assert texts[4] == "🚨 Pipeline 'pipeline' FAILED: 1 node(s) failed; first: bad: ValueError: no good"


def test_failing_webhook_is_counted_not_raised(server: LocalServer) -> None:
    server.status = 503
    bus = EventBus()
    bus.register_hook("pipeline_start", webhook_notifier(server.url), async_execution=True)
    result = execute(STEPS, bus)
    assert result["success"]
    assert bus.hook_errors == {("pipeline_start", "webhook_notifier"): 1}


# ----------------------------------------------------------------------------- dashboard


def test_dashboard_poster_posts_each_completed_node(server: LocalServer) -> None:
    bus = EventBus()
    bus.register_hook("node_complete", dashboard_poster(server.url), EventPriority.MEDIUM)
    bus.register_hook("node_start", dashboard_poster(server.url))  # ignored event
    result = execute(STEPS, bus, pipeline_name="daily")
    bodies = [server.requests.get_nowait()["json"] for _ in range(2)]
    assert server.requests.empty()
    assert [body["node"] for body in bodies] == ["load", "shrink"]
    for body in bodies:
        assert set(body) == {"node", "duration", "timestamp", "pipeline", "run_id"}
        assert isinstance(body["duration"], float) and body["duration"] >= 0
        assert body["timestamp"].endswith("+00:00")
        assert (body["pipeline"], body["run_id"]) == ("daily", result["run_id"])


# ------------------------------------------------------------------------------ min rows


def test_min_rows_alert_warns_and_calls_back_below_the_minimum(caplog: pytest.LogCaptureFixture) -> None:
    alerts: list[dict[str, Any]] = []
    bus = EventBus()
    bus.register_hook("node_complete", min_rows_alert(2, on_alert=alerts.append), EventPriority.HIGH)
    with caplog.at_level(logging.WARNING, logger="odibi_otel.hooks"):
        execute(STEPS, bus)
    assert [(a["step_name"], a["row_count"]) for a in alerts] == [("shrink", 1)]
    messages = [r.getMessage() for r in caplog.records if r.name == "odibi_otel.hooks"]
    assert messages == ["node 'shrink' of pipeline 'pipeline' produced only 1 rows (minimum 2)"]


def test_min_rows_alert_ignores_other_events_and_enough_rows() -> None:
    alerts: list[dict[str, Any]] = []
    hook = min_rows_alert(1, on_alert=alerts.append)
    hook(payload("node_start", step_name="x"))
    hook(payload("node_complete", step_name="x", row_count=1))
    hook(payload("node_complete", step_name="y", row_count=0))
    assert [a["step_name"] for a in alerts] == ["y"]


@pytest.mark.parametrize("minimum", [-1, 1.5, "10", True])
def test_min_rows_alert_validates_minimum(minimum: Any) -> None:
    with pytest.raises(ValueError, match="min_rows"):
        min_rows_alert(minimum)


# ------------------------------------------------------------------------------- cleanup


def test_cleanup_dir_removes_the_folder_on_pipeline_complete(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    (temp / "nested").mkdir(parents=True)
    (temp / "nested" / "part.csv").write_text("a\n1\n")
    bus = EventBus()
    bus.register_hook("pipeline_complete", cleanup_dir(temp), EventPriority.LOW)
    assert execute(STEPS, bus)["success"]
    assert not temp.exists()
    execute(STEPS, bus)  # already gone: fine
    assert bus.hook_errors == {}


def test_cleanup_dir_keeps_the_folder_when_the_pipeline_fails(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    bus = EventBus()
    hook = cleanup_dir(str(temp))
    bus.register_hook("pipeline_complete", hook)
    bus.register_hook("pipeline_error", hook)
    result = execute([STEPS[0], Step("bad", "transform", "function", fail, ["raw"], ["x"])], bus)
    assert not result["success"]
    assert temp.is_dir()

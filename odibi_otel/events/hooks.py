"""Ready-made EventBus hooks for the common automations, each registered in one line.

Each function here returns a hook (a callable taking the event payload). The hooks use only the
standard library; the HTTP ones post JSON with ``urllib.request`` and a timeout, and raise on a
failed request so the bus logs and counts the failure (``odibi.hook.errors``). Register the network
ones with ``async_execution=True`` so a slow endpoint never holds up the pipeline::

    bus.register_hook("pipeline_error", webhook_notifier(url), EventPriority.CRITICAL,
                      async_execution=True)

A hook ignores events it has nothing to say about, so registering it for more events is harmless.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["cleanup_dir", "dashboard_poster", "min_rows_alert", "slack_message", "webhook_notifier"]

_logger = logging.getLogger("odibi_otel.hooks")

Payload = dict[str, Any]


def slack_message(event_data: Mapping[str, Any]) -> str | None:
    """The chat message ``webhook_notifier`` sends for an event, or ``None`` for other events."""
    event = event_data.get("event_type")
    pipeline = event_data.get("pipeline_name")
    if event == "pipeline_start":
        return f"🚀 Pipeline '{pipeline}' started (run {event_data.get('run_id')})"
    if event == "pipeline_complete":
        return f"✅ Pipeline '{pipeline}' completed in {event_data.get('duration_ms')}ms"
    if event == "pipeline_error":
        return f"🚨 Pipeline '{pipeline}' FAILED: {event_data.get('error_message')}"
    if event == "node_error":
        return (
            f"❌ Node '{event_data.get('step_name')}' of pipeline '{pipeline}' failed: "
            f"{event_data.get('error_message')}"
        )
    return None


def webhook_notifier(
    url: str, *, timeout: float = 5.0, headers: Mapping[str, str] | None = None
) -> Callable[[Payload], None]:
    """A hook posting a Slack-compatible ``{"text": message}`` JSON message to ``url``.

    It speaks for ``pipeline_start``, ``pipeline_complete``, ``pipeline_error`` and ``node_error``
    (see :func:`slack_message`) and ignores other events.

    Args:
        url: The incoming-webhook address (``http`` or ``https``). It is never logged, as webhook
            addresses usually embed a secret.
        timeout: Seconds before the request is abandoned (and counted as a hook error).
        headers: Extra request headers, e.g. an ``Authorization`` header.

    Raises:
        ValueError: ``url`` is not an http(s) address, or ``timeout`` is not positive.
    """
    post = _json_poster(url, timeout, headers)

    def webhook_notifier(event_data: Payload) -> None:
        message = slack_message(event_data)
        if message is not None:
            post({"text": message})

    return _named(webhook_notifier)


def dashboard_poster(
    url: str, *, timeout: float = 5.0, headers: Mapping[str, str] | None = None
) -> Callable[[Payload], None]:
    """A hook posting each completed node's duration to a dashboard API at ``url``.

    On ``node_complete`` it posts ``{"node", "duration", "timestamp", "pipeline", "run_id"}``
    (``duration`` in milliseconds, ``timestamp`` ISO 8601 UTC) as JSON; it ignores other events.

    Raises:
        ValueError: ``url`` is not an http(s) address, or ``timeout`` is not positive.
    """
    post = _json_poster(url, timeout, headers)

    def dashboard_poster(event_data: Payload) -> None:
        if event_data.get("event_type") != "node_complete":
            return
        post(
            {
                "node": event_data.get("step_name"),
                "duration": event_data.get("duration_ms"),
                "timestamp": event_data.get("timestamp"),
                "pipeline": event_data.get("pipeline_name"),
                "run_id": event_data.get("run_id"),
            }
        )

    return _named(dashboard_poster)


def min_rows_alert(
    min_rows: int, *, on_alert: Callable[[Payload], object] | None = None
) -> Callable[[Payload], None]:
    """A data-quality hook: warns when a completed node produced fewer than ``min_rows`` rows.

    On ``node_complete`` with ``row_count < min_rows`` it logs a warning on the
    ``odibi_otel.hooks`` logger and calls ``on_alert(event_data)`` (e.g. to page someone); it
    ignores other events. ``min_rows_alert(1)`` flags nodes that produced no rows.

    Raises:
        ValueError: ``min_rows`` is not a non-negative integer.
    """
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0:
        raise ValueError(f"min_rows must be a non-negative integer, got {min_rows!r}")

    def min_rows_alert(event_data: Payload) -> None:
        if event_data.get("event_type") != "node_complete":
            return
        row_count = event_data.get("row_count")
        if row_count is None or row_count >= min_rows:  # None: not computed yet (Spark)
            return
        _logger.warning(
            "node '%s' of pipeline '%s' produced only %d rows (minimum %d)",
            event_data.get("step_name"),
            event_data.get("pipeline_name"),
            row_count,
            min_rows,
        )
        if on_alert is not None:
            on_alert(event_data)

    return _named(min_rows_alert)


def cleanup_dir(path: str | os.PathLike[str]) -> Callable[[Payload], None]:
    """A hook removing the folder ``path`` (and everything in it) on ``pipeline_complete``.

    A missing folder is fine; other events are ignored, so a failed run keeps its temporary files
    for inspection.
    """
    folder = Path(path)

    def cleanup_dir(event_data: Payload) -> None:
        if event_data.get("event_type") != "pipeline_complete":
            return
        if folder.is_dir():
            shutil.rmtree(folder)
            _logger.info("odibi_otel: cleaned up %s", folder)

    return _named(cleanup_dir)


def _named(hook: Callable[[Payload], None]) -> Callable[[Payload], None]:
    """Give a hook its factory's plain name: it names the hook in logs and metrics, never the URL."""
    hook.__qualname__ = hook.__name__
    return hook


def _json_poster(
    url: str, timeout: float, headers: Mapping[str, str] | None
) -> Callable[[Mapping[str, Any]], None]:
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("url must be an http:// or https:// address")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    request_headers = {"Content-Type": "application/json", **dict(headers or {})}

    def post(body: Mapping[str, Any]) -> None:
        data = json.dumps(body, default=str).encode("utf-8")
        request = urllib.request.Request(url, data=data, headers=request_headers, method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()

    return post

"""Events: the EventBus (hooks fired from the pipeline's own spans) and ready-made hooks.

The bus is an OpenTelemetry SDK ``SpanProcessor``: ``pipeline_start/complete/error`` and
``node_start/complete/error`` fire from the spans' start and end, hooks run by priority
(CRITICAL → LOW) and can never break the pipeline. Each event's payload keys are described by a
TypedDict (``NodeCompletePayload``, ...). See ``docs/events.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.events.bus import (
        HOOK_ERRORS_METRIC,
        HOOK_EVENT_ATTRIBUTE,
        HOOK_NAME_ATTRIBUTE,
        EventBus,
        EventPriority,
        Hook,
    )
    from odibi_otel.events.hooks import (
        cleanup_dir,
        dashboard_poster,
        min_rows_alert,
        slack_message,
        webhook_notifier,
    )
    from odibi_otel.events.payloads import (
        ANOMALY_DETECTED,
        CHECK_FAILED,
        EVENTS,
        NODE_COMPLETE,
        NODE_ERROR,
        NODE_START,
        PIPELINE_COMPLETE,
        PIPELINE_ERROR,
        PIPELINE_START,
        AnomalyDetectedPayload,
        CheckFailedPayload,
        EventPayload,
        NodeCompletePayload,
        NodeErrorPayload,
        NodeStartPayload,
        PipelineCompletePayload,
        PipelineErrorPayload,
        PipelineStartPayload,
    )

__all__ = [
    "ANOMALY_DETECTED",
    "CHECK_FAILED",
    "EVENTS",
    "AnomalyDetectedPayload",
    "CheckFailedPayload",
    "HOOK_ERRORS_METRIC",
    "HOOK_EVENT_ATTRIBUTE",
    "HOOK_NAME_ATTRIBUTE",
    "NODE_COMPLETE",
    "NODE_ERROR",
    "NODE_START",
    "PIPELINE_COMPLETE",
    "PIPELINE_ERROR",
    "PIPELINE_START",
    "EventBus",
    "EventPayload",
    "EventPriority",
    "Hook",
    "NodeCompletePayload",
    "NodeErrorPayload",
    "NodeStartPayload",
    "PipelineCompletePayload",
    "PipelineErrorPayload",
    "PipelineStartPayload",
    "cleanup_dir",
    "dashboard_poster",
    "min_rows_alert",
    "slack_message",
    "webhook_notifier",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            (
                "EventBus",
                "EventPriority",
                "HOOK_ERRORS_METRIC",
                "HOOK_EVENT_ATTRIBUTE",
                "HOOK_NAME_ATTRIBUTE",
                "Hook",
            ),
            "odibi_otel.events.bus",
        ),
        **dict.fromkeys(
            (
                "cleanup_dir",
                "dashboard_poster",
                "min_rows_alert",
                "slack_message",
                "webhook_notifier",
            ),
            "odibi_otel.events.hooks",
        ),
        **dict.fromkeys(
            (
                "ANOMALY_DETECTED",
                "CHECK_FAILED",
                "AnomalyDetectedPayload",
                "CheckFailedPayload",
                "EVENTS",
                "EventPayload",
                "NODE_COMPLETE",
                "NODE_ERROR",
                "NODE_START",
                "PIPELINE_COMPLETE",
                "PIPELINE_ERROR",
                "PIPELINE_START",
                "NodeCompletePayload",
                "NodeErrorPayload",
                "NodeStartPayload",
                "PipelineCompletePayload",
                "PipelineErrorPayload",
                "PipelineStartPayload",
            ),
            "odibi_otel.events.payloads",
        ),
    },
)

"""OpenLineage events of a run made earlier: from its ``lineage.json`` or telemetry file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from odibi_otel.errors import StoryInputError
from odibi_otel.openlineage._events import RunInfo, node_event, pipeline_event, skipped_node_events
from odibi_otel.openlineage.emitter import DEFAULT_NAMESPACE

__all__ = ["events_from_file", "events_from_lineage"]


def events_from_lineage(
    document: Mapping[str, Any], *, namespace: str = DEFAULT_NAMESPACE, column_lineage: bool = True
) -> list[Any]:
    """The run's events, in order: pipeline START, each node's START and end, pipeline end."""
    info = RunInfo(
        namespace=namespace,
        pipeline=str(document["pipeline_name"]),
        run_id=str(document["run_id"]),
        trace_id=document.get("trace_id"),
        span_id=document.get("span_id"),
        column_lineage=column_lineage,
    )
    steps = [dict(step) for step in document.get("steps", [])]
    start = str(document.get("start_time") or document.get("end_time"))
    end = str(document.get("end_time") or start)
    events = [pipeline_event(info, "running", start)]
    for step in steps:
        if step.get("status") == "skipped":
            continue
        events.append(node_event(info, step, "running", str(step.get("start_time") or start)))
        events.append(node_event(info, step, str(step.get("status")), str(step.get("end_time") or end)))
    events.extend(skipped_node_events(info, steps, end))
    status = str(document.get("status", "success"))
    error = next((s["error"] for s in steps if s.get("error")), None) if status != "success" else None
    events.append(pipeline_event(info, status, end, steps, error))
    return events


def events_from_file(path: str | os.PathLike[str], **kwargs: Any) -> list[Any]:
    """The events of the run in a ``lineage.json`` file, or of the latest run in a telemetry file."""
    file = Path(path)
    document: Mapping[str, Any] | None = None
    if file.suffix.lower() == ".json":
        try:
            loaded = json.loads(file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise StoryInputError(str(file), None, f"cannot read the lineage document: {exc}") from None
        if isinstance(loaded, dict) and "steps" in loaded:
            document = loaded
    if document is None:
        from odibi_otel.lineage.from_telemetry import lineage_from_otlp_file

        document = lineage_from_otlp_file(file)
    return events_from_lineage(document, **kwargs)

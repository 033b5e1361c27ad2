"""The story's "compared with history" view: each step against its earlier recorded runs (pure).

Inputs are the run's own steps (from the lineage document) and the runs the history store holds
for the pipeline up to this run; outputs are the page's note and one :class:`NodeHistory` per step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from odibi_otel.history.records import NodeRecord, RunRecord
from odibi_otel.lineage.schema_diff import merge_schemas
from odibi_otel.story._cards import rows_after, rows_not_computed
from odibi_otel.story._format import NOT_COMPUTED, format_count
from odibi_otel.story._lineage_reader import StepRecord
from odibi_otel.story._timing import step_duration
from odibi_otel.story.model import HistoryNote, NodeHistory, Sparkline

__all__ = ["MAX_HISTORY_POINTS", "history_view", "unavailable_note"]

#: Earlier runs drawn in a step's sparklines.
MAX_HISTORY_POINTS: Final = 20
_WIDTH: Final = 100.0
_HEIGHT: Final = 24.0


def unavailable_note(reason: str) -> HistoryNote:
    """The note of a story whose history store could not be read."""
    return HistoryNote(f"History not shown: {reason}", available=False)


def history_view(
    steps: Sequence[StepRecord], run_id: str, runs: Sequence[RunRecord]
) -> tuple[HistoryNote, dict[str, NodeHistory]]:
    """The page note and each step's history, from ``runs`` (newest first; this run may be among them)."""
    earlier = [run for run in runs if run.run_id != run_id][:MAX_HISTORY_POINTS]
    if not earlier:
        return HistoryNote("First recorded run of this pipeline: nothing to compare with yet.", True), {}
    previous = earlier[0]
    note = HistoryNote(
        f"Compared with previous run {previous.run_id[:12]} ({previous.status}, started "
        f"{_when(previous.started_at)}) and {len(earlier)} recorded run{'s' if len(earlier) != 1 else ''} "
        "in the history.",
        True,
    )
    oldest_first = list(reversed(earlier))
    views = {step.name: _node_history(step, oldest_first, previous) for step in steps}
    return note, {name: view for name, view in views.items() if view is not None}


def _node_history(step: StepRecord, runs: list[RunRecord], previous: RunRecord) -> NodeHistory | None:
    records = [node for run in runs if (node := run.node(step.name)) is not None]
    if not records:
        return None
    rows_now, duration_now = rows_after(step), step_duration(step)
    rows = [float(r.rows_out) for r in records if r.rows_out is not None]
    durations = [r.duration_ms for r in records if r.status != "skipped"]
    sparklines = []
    if rows_now is not None and rows:
        sparklines.append(_sparkline("rows out", [*rows, float(rows_now)], lambda v: f"{v:,.0f}"))
    if duration_now is not None and durations:
        sparklines.append(_sparkline("duration", [*durations, duration_now], lambda v: f"{v:,.0f} ms"))
    return NodeHistory(
        runs=len(records),
        sparklines=tuple(sparklines),
        changes=tuple(_changes(step, previous.node(step.name), rows_now, duration_now)),
    )


def _changes(
    step: StepRecord, before: NodeRecord | None, rows_now: int | None, duration_now: float | None
) -> list[str]:
    if before is None:
        return ["new step: not in the previous run"]
    changes = []
    if before.status != step.status:
        changes.append(f"status {before.status} → {step.status}")
    if before.rows_out is not None and rows_now is not None and before.rows_out != rows_now:
        delta = rows_now - before.rows_out
        changes.append(f"rows out {format_count(before.rows_out)} → {format_count(rows_now)} ({delta:+,})")
    elif rows_not_computed(step):
        previous = "" if before.rows_out is None else f" (previous run: {format_count(before.rows_out)})"
        changes.append(f"rows out {NOT_COMPUTED}{previous}")
    if before.duration_ms > 0 and duration_now is not None:
        ratio = duration_now / before.duration_ms
        if ratio >= 1.5 or ratio <= 1 / 1.5:
            changes.append(f"duration {before.duration_ms:,.0f} ms → {duration_now:,.0f} ms ({ratio:.1f}x)")
    changes.extend(_schema_changes(before.schema, merge_schemas(s.schema for s in step.after)))
    changes.extend(_check_changes(before, step))
    return changes or ["same rows, schema and checks as the previous run"]


def _schema_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    if not before or not after:
        return []
    changes = [f"column {c} added ({after[c]})" for c in after if c not in before]
    changes += [f"column {c} removed" for c in before if c not in after]
    changes += [
        f"column {c} type {before[c]} → {after[c]}" for c in after if c in before and before[c] != after[c]
    ]
    return changes


def _check_changes(before: NodeRecord, step: StepRecord) -> list[str]:
    old = {str(check.get("name")): str(check.get("status")) for check in before.checks}
    return [
        f"check {check.name}: {old[check.name]} → {check.status}"
        for check in step.checks
        if check.name in old and old[check.name] != check.status
    ]


def _sparkline(label: str, values: list[float], show: Callable[[float], str]) -> Sparkline:
    low, high = min(values), max(values)
    span = high - low
    step = _WIDTH / (len(values) - 1) if len(values) > 1 else 0.0
    coords = []
    for index, value in enumerate(values):
        y = _HEIGHT / 2 if span == 0 else (_HEIGHT - 2) - (value - low) / span * (_HEIGHT - 4)
        coords.append((round(index * step, 2), round(y, 2)))
    earlier = values[:-1]
    summary = (
        f"{label}: now {show(values[-1])}; over {len(earlier)} earlier runs "
        f"{show(min(earlier))} to {show(max(earlier))}"
    )
    points = " ".join(f"{x:g},{y:g}" for x, y in coords)
    return Sparkline(label=label, points=points, last_x=coords[-1][0], last_y=coords[-1][1], summary=summary)


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")

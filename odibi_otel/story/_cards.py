"""The cards of a story: everything it shows about one step (pure functions).

Rows before → after with the delta, the schema table with added/removed/changed markers (from the
document's schema diff, or computed from the snapshots' schemas), and the sample tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from odibi_otel.lineage.schema_diff import merge_schemas, schema_diff
from odibi_otel.otel import semconv
from odibi_otel.story._engine_figures import engine_figures
from odibi_otel.story._format import (
    NOT_COMPUTED,
    cell,
    format_bytes,
    format_count,
    format_duration,
    format_offset,
    format_rows,
    status_tone,
)
from odibi_otel.story._lineage_reader import SnapshotRecord, StepRecord
from odibi_otel.story._quality_reader import CheckRecord
from odibi_otel.story._timing import step_duration
from odibi_otel.story.model import Card, CheckRow, NodeHistory, SampleColumn, SampleTable, SchemaRow

__all__ = ["card", "rows_after", "rows_not_computed"]


def card(step: StepRecord, offset_ms: float | None, history: NodeHistory | None = None) -> Card:
    """The card of ``step``, which started ``offset_ms`` after the run (``None``: it never ran)."""
    before_rows = _rows_before(step)
    after_rows = rows_after(step)
    delta = step.row_delta
    # a step with inputs whose rows were not computed has no delta (never one against 0)
    counted_in = before_rows is not None or not (step.inputs and step.start is not None)
    if delta is None and after_rows is not None and step.type != "write" and counted_in:
        delta = after_rows - (before_rows or 0)
    schema = _schema_rows(step)
    has_diff = step.diff is not None or bool(step.after)
    samples = tuple(
        [_sample_table("before", s) for s in step.before] + [_sample_table("after", s) for s in step.after]
    )
    return Card(
        id=step.card_id,
        number=step.index + 1,
        name=step.name,
        layer=step.layer,
        type=step.type,
        status=step.status,
        tone=status_tone(step.status),
        inputs=step.inputs,
        outputs=step.outputs,
        cache_hit=step.cache_hit,
        start_text=format_offset(offset_ms),
        duration_text=format_duration(step_duration(step)),
        rows_before=before_rows,
        rows_after=after_rows,
        row_delta=delta,
        before_text=_before_text(step, before_rows),
        after_text=_after_text(step, after_rows),
        delta_text=_delta_text(delta),
        delta_tone="neutral" if not delta else ("up" if delta > 0 else "down"),
        schema=schema,
        schema_summary=_schema_summary(step, schema, has_diff),
        samples=samples,
        error=step.error,
        checks=tuple(_check_row(check) for check in step.checks),
        anomalies=tuple((anomaly.kind, anomaly.message) for anomaly in step.anomalies),
        history=history,
        engine_figures=engine_figures(step.engine_work),
    )


_CHECK_TONES = {"pass": "success", "warn": "interrupted", "fail": "failed"}


def _check_row(check: CheckRecord) -> CheckRow:
    failing = None
    if check.failing_rows:
        columns = list(dict.fromkeys(column for row in check.failing_rows for column in row))
        failing = SampleTable(
            role="failing",
            key=check.name,
            rows=check.failing_count,
            columns=len(columns),
            summary=f"first {len(check.failing_rows)} of {format_count(check.failing_count)} failing rows",
            captured=True,
            headers=tuple(SampleColumn(name=c, redacted=False) for c in columns),
            body=tuple(tuple(cell(row.get(c)) for c in columns) for row in check.failing_rows),
        )
    return CheckRow(
        name=check.name,
        kind=check.kind,
        severity=check.severity,
        status=check.status,
        tone=_CHECK_TONES.get(check.status, "neutral"),
        failing_count=check.failing_count,
        message=check.message,
        failing=failing,
    )


def _after_text(step: StepRecord, after_rows: int | None) -> str:
    if step.after:
        return _shape(step.after, "outputs")
    if after_rows is not None:
        return format_rows(after_rows)
    if step.status == semconv.STATUS_SUCCESS:
        return f"Rows {NOT_COMPUTED}"
    if step.status == semconv.STATUS_SKIPPED:
        return "Not run (skipped)"
    return f"No output ({step.status})"


def _delta_text(delta: int | None) -> str:
    """The row change in words: ``1 row removed``, ``3 rows added``, ``no rows added or removed``."""
    if delta is None:
        return ""
    if delta == 0:
        return "no rows added or removed"
    count = abs(delta)
    noun = "row" if count == 1 else "rows"
    return f"{format_count(count)} {noun} {'removed' if delta < 0 else 'added'}"


def _before_text(step: StepRecord, rows_before: int | None) -> str:
    if step.before:
        return _shape(step.before, "inputs")
    if rows_before is None:
        return f"Rows {NOT_COMPUTED}" if step.inputs and step.start is not None else "No data"
    return format_rows(rows_before)


def _shape(snapshots: Sequence[SnapshotRecord], noun: str) -> str:
    rows = format_rows(_total_rows(snapshots))
    if len(snapshots) == 1:
        return f"{rows} · {format_count(snapshots[0].columns)} columns"
    return f"{rows} in {len(snapshots)} {noun}"


def _total_rows(snapshots: Sequence[SnapshotRecord]) -> int | None:
    """Rows of the snapshots together; ``None`` ("not computed") when one of them has no count."""
    total = 0
    for snapshot in snapshots:
        if snapshot.rows is None:
            return None
        total += snapshot.rows
    return total


def _sample_table(role: str, snapshot: SnapshotRecord) -> SampleTable:
    captured = snapshot.sample_columns is not None
    columns = snapshot.sample_columns or ()
    summary = f"{format_rows(snapshot.rows)} · {format_count(snapshot.columns)} columns"
    if snapshot.size_bytes is not None:
        summary += f" · ~{format_bytes(snapshot.size_bytes)}"
    return SampleTable(
        role=role,
        key=snapshot.key,
        rows=snapshot.rows,
        columns=snapshot.columns,
        summary=summary,
        captured=captured,
        headers=tuple(SampleColumn(name=c, redacted=c in snapshot.redacted) for c in columns),
        body=tuple(tuple(cell(v) for v in row) for row in snapshot.sample_rows),
    )


def _schema_rows(step: StepRecord) -> tuple[SchemaRow, ...]:
    before = merge_schemas(s.schema for s in step.before)
    after = merge_schemas(s.schema for s in step.after)
    diff = step.diff
    if diff is None and step.after:
        diff = schema_diff(before, after)
    if diff is None:
        return tuple(SchemaRow(column=c, before=t, after=None, marker="input") for c, t in before.items())
    added = {entry["column"]: entry["dtype"] for entry in diff["added"]}
    removed = {entry["column"]: entry["dtype"] for entry in diff["removed"]}
    changed = {entry["column"]: entry for entry in diff["changed"]}
    columns = list(dict.fromkeys([*after, *added, *changed, *before, *removed]))
    rows = []
    for column in columns:
        if column in changed:
            entry = changed[column]
            rows.append(SchemaRow(column, entry["before"], entry["after"], "changed"))
        elif column in removed:
            rows.append(SchemaRow(column, removed[column], None, "removed"))
        elif column in added:
            rows.append(SchemaRow(column, None, added[column], "added"))
        elif column in after:
            rows.append(SchemaRow(column, before.get(column), after[column], "same"))
        else:
            rows.append(SchemaRow(column, before[column], None, "input"))
    return tuple(rows)


def _schema_summary(step: StepRecord, rows: Sequence[SchemaRow], has_diff: bool) -> str:
    if not has_diff:
        if rows:
            return f"{len(rows)} input columns"
        return "Not run" if step.start is None else "No schema recorded"
    parts = [
        f"{sign}{count} {marker}"
        for sign, marker in (("+", "added"), ("-", "removed"), ("~", "changed"))
        if (count := sum(1 for row in rows if row.marker == marker))
    ]
    return " · ".join(parts) if parts else "No schema changes"


def _rows_before(step: StepRecord) -> int | None:
    """Rows the step received: its snapshots, else the document's ``rows_in`` once it started."""
    if step.before:
        return _total_rows(step.before)
    return step.rows_in if step.inputs and step.start is not None else None


def rows_after(step: StepRecord) -> int | None:
    """Rows the step produced: its snapshots, else the document's ``rows_out``."""
    return _total_rows(step.after) if step.after else step.rows_out


def rows_not_computed(step: StepRecord) -> bool:
    """Whether the step succeeded without a count of its rows (a lazy engine's frame no job
    computed): the story says "not computed" of it, never 0."""
    return step.status == semconv.STATUS_SUCCESS and rows_after(step) is None

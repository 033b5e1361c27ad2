"""``odibi-otel history`` and ``odibi-otel diff``: the run history as tables or JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from odibi_otel.history.compare import NodeComparison, RunComparison, compare_runs
from odibi_otel.history.store import open_history
from odibi_otel.story._format import format_count, format_duration

__all__ = ["print_diff", "print_history"]

_STATUS_STYLE = {"success": "green", "failed": "red", "interrupted": "yellow", "skipped": "dim"}


def print_history(location: str, pipeline: str | None, limit: int, as_json: bool, console: Console) -> int:
    """Print the store's runs newest first (``pipeline``'s only when given)."""
    store = open_history(location)
    runs = store.runs(pipeline, limit=limit)
    if as_json:
        console.print_json(json.dumps([run.as_dict() for run in runs]))
        return 0
    if not runs:
        scope = f" of pipeline {pipeline!r}" if pipeline else ""
        console.print(Text(f"no runs{scope} recorded in {store.url}"), soft_wrap=True)
        return 0
    table = Table(title=f"runs in {store.url}", title_justify="left")
    for column, justify in (
        ("started (UTC)", "left"), ("pipeline", "left"), ("run", "left"), ("status", "left"),
        ("duration", "right"), ("rows out", "right"), ("failed checks", "right"), ("anomalies", "right"),
    ):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for run in runs:
        table.add_row(
            _when(run.started_at),
            run.pipeline,
            run.run_id[:12],
            Text(run.status, style=_STATUS_STYLE.get(run.status, "")),
            format_duration(run.duration_ms),
            format_count(run.rows_out),
            _count(run.checks_failed, "red"),
            _count(run.anomaly_count, "yellow"),
        )
    console.print(table)
    return 0


def print_diff(
    location: str, run_a: str, run_b: str, pipeline: str | None, as_json: bool, console: Console
) -> int:
    """Print run ``run_a`` against ``run_b`` node by node."""
    store = open_history(location)
    before, after = store.run(run_a, pipeline), store.run(run_b, pipeline)
    comparison = compare_runs(before, after)
    if as_json:
        console.print_json(json.dumps(comparison.as_dict()))
        return 0
    _print_comparison(comparison, console)
    return 0


def _print_comparison(comparison: RunComparison, console: Console) -> None:
    before, after = comparison.before, comparison.after
    for label, run in (("A", before), ("B", after)):
        console.print(
            Text(
                f"{label}: {run.run_id} {run.pipeline} {run.status} started {_when(run.started_at)} "
                f"({format_duration(run.duration_ms)})"
            ),
            soft_wrap=True,
        )
    table = Table(title_justify="left")
    for column, justify in (
        ("node", "left"), ("status A → B", "left"), ("rows A → B", "right"), ("Δ rows", "right"),
        ("duration A → B", "right"), ("schema", "left"), ("profile", "left"), ("checks A → B", "left"),
    ):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for node in comparison.nodes:
        table.add_row(*_node_cells(node))
    console.print(table)


def _node_cells(node: NodeComparison) -> list[str | Text]:
    a, b = node.before, node.after
    status = f"{a.status if a else '-'} → {b.status if b else '-'}"
    rows = f"{format_count(a.rows_out if a else None)} → {format_count(b.rows_out if b else None)}"
    delta = node.rows_delta
    duration = (
        f"{format_duration(a.duration_ms if a else None)} → {format_duration(b.duration_ms if b else None)}"
    )
    schema = [f"+{c}" for c in node.added_columns] + [f"-{c}" for c in node.removed_columns]
    schema += [f"~{c} {old}→{new}" for c, (old, new) in node.changed_types.items()]
    checks = [f"{name}: {old or '-'}→{new or '-'}" for name, old, new in node.checks if old != new]
    checks += [f"{name}: {new}" for name, old, new in node.checks if old == new and new != "pass"]
    return [
        node.node,
        status,
        rows,
        "" if delta is None else f"{delta:+,}",
        duration,
        Text("\n".join(schema) or "same", style="yellow" if schema else "dim"),
        Text(
            "\n".join(node.profile_changes[:4]) or "same", style="yellow" if node.profile_changes else "dim"
        ),
        Text("\n".join(checks) or ("all pass" if node.checks else "-"), style="red" if checks else "dim"),
    ]


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _count(value: int, style: str) -> Text:
    return Text(str(value), style=style if value else "dim")


def _changes_text(changes: list[str]) -> Text:
    return Text("\n".join(changes) or "same", style="yellow" if changes else "dim")

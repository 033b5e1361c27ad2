"""The end-of-run summary the CLI prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["print_summary"]


def print_summary(result: Mapping[str, Any], console: Console) -> None:
    """The run's outcome: a table on a terminal, one plain line elsewhere, then each failed node's error."""
    succeeded, failed = len(result["successful_nodes"]), len(result["failed_nodes"])
    skipped, cached = len(result["skipped_nodes"]), len(result.get("cache_hits", []))
    status = Text("success", style="green") if result["success"] else Text("failed", style="bold red")
    if console.is_terminal:
        table = Table(title=Text(f"pipeline {result['pipeline_name']}"), show_header=True)
        for column in ("status", "duration", "succeeded", "failed", "skipped", "cache hits"):
            table.add_column(column, justify="left" if column == "status" else "right", no_wrap=True)
        table.add_row(
            status,
            f"{result['duration_ms'] / 1000:.2f} s",
            str(succeeded),
            str(failed),
            str(skipped),
            str(cached),
        )
        console.print(table)
        console.print(Text(_trace_text(result["trace_id"])), soft_wrap=True)
    else:  # plain lines for logs and pipes
        line = Text(f"pipeline {result['pipeline_name']}: ")
        line.append(status)
        line.append(
            f" in {result['duration_ms'] / 1000:.2f} s: {succeeded} succeeded, {failed} failed, "
            f"{skipped} skipped, {cached} cache hits; {_trace_text(result['trace_id'])}"
        )
        console.print(line, soft_wrap=True)
    for node, message in result["errors"].items():
        console.print(Text(f"  {node}: {' '.join(str(message).split())}", style="red"), soft_wrap=True)
    _print_quality(result, console)


def _print_quality(result: Mapping[str, Any], console: Console) -> None:
    """One line on the checks, then a line per check that did not pass and per anomaly."""
    checks = result.get("checks") or {}
    results = [(node, check) for node, found in checks.items() for check in found]
    if results:
        passed = sum(1 for _, check in results if check["status"] == "pass")
        console.print(Text(f"checks: {passed} of {len(results)} passed"), soft_wrap=True)
        for node, check in results:
            if check["status"] != "pass":
                style = "red" if check["status"] == "fail" else "yellow"
                line = f"  {check['status']}  {node}: {check['name']}: {check['message']}"
                console.print(Text(line, style=style), soft_wrap=True)
    for node, found in (result.get("anomalies") or {}).items():
        for anomaly in found:
            line = f"anomaly  {node}: {anomaly['kind']}: {anomaly['message']}"
            console.print(Text(line, style="yellow"), soft_wrap=True)


def _trace_text(trace_id: str) -> str:
    if trace_id.strip("0"):
        return f"trace id {trace_id}"
    return "no trace id (OTEL_SDK_DISABLED)"

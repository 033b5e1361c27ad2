"""The CLI's live view of a run: one line per node with its state, rows and duration.

It listens through an :class:`~odibi_otel.EventBus` (node hooks fire in worker threads, so every
update takes a lock). On a terminal it is a ``rich`` live table; elsewhere (CI logs, pipes) it
prints one plain line per finished node.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from odibi_otel.events.bus import EventBus, EventPriority

__all__ = ["RunProgress"]

_STYLES = {
    "pending": "dim",
    "running": "yellow",
    "success": "green",
    "cached": "cyan",
    "failed": "bold red",
    "skipped": "magenta",
}


class RunProgress:
    """Shows node states while a pipeline runs; use as a context manager around ``execute()``."""

    def __init__(self, step_names: Sequence[str], console: Console | None = None) -> None:
        self.console = console or Console()
        self._rows: dict[str, dict[str, Any]] = {
            name: {"state": "pending", "rows": None, "duration_ms": None} for name in step_names
        }
        self._lock = threading.Lock()
        self._live: Live | None = None

    def attach(self, bus: EventBus) -> None:
        """Register the progress hooks on ``bus`` (lowest priority: user hooks run first)."""
        bus.register_hook("node_start", self._started, EventPriority.LOW, name="progress")
        bus.register_hook("node_complete", self._finished, EventPriority.LOW, name="progress")
        bus.register_hook("node_error", self._finished, EventPriority.LOW, name="progress")

    def __enter__(self) -> RunProgress:
        if self.console.is_terminal:
            # not transient: the final table stays on screen above the summary
            self._live = Live(self._table(), console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.update(self._table(), refresh=True)
            live.__exit__(None, None, None)

    def mark_skipped(self, step_names: Sequence[str]) -> None:
        """Show ``step_names`` as skipped (they did not run because an upstream node failed)."""
        for name in step_names:
            self._update(name, state="skipped")
            if self._live is None:
                self.console.print(
                    f"{'skip':>6}  {name}  (an upstream node failed)",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )

    def _started(self, event: dict[str, Any]) -> None:
        self._update(event["step_name"], state="running")

    def _finished(self, event: dict[str, Any]) -> None:
        failed = event["event_type"] == "node_error"
        cached = bool(event.get("cache_hit")) and not failed
        name = event["step_name"]
        duration = event.get("duration_ms")
        self._update(
            name,
            state="failed" if failed else "cached" if cached else "success",
            rows=None if failed else event.get("row_count"),
            duration_ms=duration,
        )
        if self._live is None:
            if failed:
                # one line per node: the first line of the message (the summary repeats it)
                lines = str(event.get("error_message") or "").strip().splitlines()
                detail = lines[0] if lines else "failed"
            else:
                rows = event.get("row_count")
                counted = "rows not computed" if rows is None else f"{rows} row{'' if rows == 1 else 's'}"
                detail = counted + (" (cached)" if cached else "")
            self.console.print(
                f"{'FAILED' if failed else 'ok':>6}  {name}  {duration or 0:.1f} ms  {detail}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def _update(self, name: str, **changes: Any) -> None:
        with self._lock:
            if name in self._rows:
                self._rows[name].update(changes)
            if self._live is not None:
                self._live.update(self._table())

    def _table(self) -> Table:
        table = Table(title="odibi-otel run", expand=False)
        table.add_column("node")
        table.add_column("state")
        table.add_column("rows", justify="right")
        table.add_column("ms", justify="right")
        for name, row in self._rows.items():
            state = row["state"]
            table.add_row(
                Text(name),  # user text: never parsed as rich markup
                Text(state, style=_STYLES[state]),
                _rows_text(row),
                "" if row["duration_ms"] is None else f"{row['duration_ms']:.1f}",
            )
        return table


def _rows_text(row: dict[str, Any]) -> str:
    """A row's rows column: the count, "not computed" for a lazy engine's uncounted output, or blank."""
    if row["rows"] is not None:
        return f"{row['rows']:,}"
    return "not computed" if row["state"] == "success" else ""

"""Two runs side by side: per node rows, duration, schema, profile and check results (pure logic)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from odibi_otel.history.records import NodeRecord, RunRecord

__all__ = ["NodeComparison", "RunComparison", "compare_runs"]

#: A column's null fraction must move by more than this (0-1) to be listed as a profile change.
NULL_FRACTION_CHANGE: Final = 0.01


@dataclass(frozen=True)
class NodeComparison:
    """One node in both runs (``None`` on the side it did not exist)."""

    node: str
    before: NodeRecord | None
    after: NodeRecord | None
    added_columns: list[str] = field(default_factory=list)
    removed_columns: list[str] = field(default_factory=list)
    changed_types: dict[str, tuple[str, str]] = field(default_factory=dict)
    profile_changes: list[str] = field(default_factory=list)
    checks: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @property
    def rows_delta(self) -> int | None:
        """Rows out after minus before, when both are known."""
        if self.before is None or self.after is None:
            return None
        if self.before.rows_out is None or self.after.rows_out is None:
            return None
        return self.after.rows_out - self.before.rows_out

    @property
    def duration_ratio(self) -> float | None:
        """Duration after / before, when both ran."""
        if self.before is None or self.after is None or self.before.duration_ms <= 0:
            return None
        return self.after.duration_ms / self.before.duration_ms

    @property
    def changed(self) -> bool:
        """Whether anything but timings differs."""
        return bool(
            self.before is None
            or self.after is None
            or self.rows_delta
            or self.added_columns
            or self.removed_columns
            or self.changed_types
            or self.profile_changes
            or any(before != after for _, before, after in self.checks)
            or self.before.status != self.after.status
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "node": self.node,
            "status": [_get(self.before, "status"), _get(self.after, "status")],
            "rows_out": [_get(self.before, "rows_out"), _get(self.after, "rows_out")],
            "rows_delta": self.rows_delta,
            "duration_ms": [_get(self.before, "duration_ms"), _get(self.after, "duration_ms")],
            "duration_ratio": self.duration_ratio,
            "added_columns": self.added_columns,
            "removed_columns": self.removed_columns,
            "changed_types": {column: list(types) for column, types in self.changed_types.items()},
            "profile_changes": self.profile_changes,
            "checks": [
                {"name": name, "before": before, "after": after} for name, before, after in self.checks
            ],
        }


@dataclass(frozen=True)
class RunComparison:
    """Run ``before`` against run ``after``, node by node in ``after``'s order."""

    before: RunRecord
    after: RunRecord
    nodes: list[NodeComparison]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``odibi-otel diff --json``)."""
        return {
            "before": {key: value for key, value in self.before.as_dict().items() if key != "nodes"},
            "after": {key: value for key, value in self.after.as_dict().items() if key != "nodes"},
            "nodes": [node.as_dict() for node in self.nodes],
        }


def compare_runs(before: RunRecord, after: RunRecord) -> RunComparison:
    """Line ``before`` and ``after`` up node by node."""
    names = [node.node for node in after.nodes]
    names += [node.node for node in before.nodes if node.node not in names]
    return RunComparison(
        before, after, [_compare_node(name, before.node(name), after.node(name)) for name in names]
    )


def _compare_node(name: str, before: NodeRecord | None, after: NodeRecord | None) -> NodeComparison:
    if before is None or after is None:
        return NodeComparison(name, before, after)
    old, new = before.schema, after.schema
    return NodeComparison(
        node=name,
        before=before,
        after=after,
        added_columns=[column for column in new if column not in old] if old else [],
        removed_columns=[column for column in old if column not in new] if new else [],
        changed_types={
            column: (old[column], new[column])
            for column in new
            if column in old and old[column] != new[column]
        },
        profile_changes=_profile_changes(before.profile, after.profile),
        checks=_checks(before, after),
    )


def _profile_changes(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    changes = []
    for column, new in after.items():
        old = before.get(column)
        if old is None:
            continue
        was, now = float(old.get("null_fraction", 0.0)), float(new.get("null_fraction", 0.0))
        if abs(now - was) > NULL_FRACTION_CHANGE:
            changes.append(f"{column}: nulls {was:.1%} -> {now:.1%}")
        for stat in ("min", "max", "mean"):
            if stat in old and stat in new and old[stat] != new[stat]:
                changes.append(f"{column}: {stat} {old[stat]:.6g} -> {new[stat]:.6g}")
    return changes


def _checks(before: NodeRecord, after: NodeRecord) -> list[tuple[str, str | None, str | None]]:
    old = {check["name"]: check.get("status") for check in before.checks}
    new = {check["name"]: check.get("status") for check in after.checks}
    names = list(new) + [name for name in old if name not in new]
    return [(name, old.get(name), new.get(name)) for name in names]


def _get(record: NodeRecord | None, attribute: str) -> Any:
    return None if record is None else getattr(record, attribute)

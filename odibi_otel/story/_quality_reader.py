"""A step's check results and anomaly findings in a lineage document (``checks`` / ``anomalies``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from odibi_otel._internal.json_reader import child

if TYPE_CHECKING:
    from odibi_otel.story._lineage_reader import LineageReader

__all__ = ["AnomalyRecord", "CheckRecord", "read_anomalies", "read_checks"]


@dataclass(frozen=True)
class CheckRecord:
    """One check result of a step (``checks`` entries)."""

    name: str
    kind: str
    severity: str
    status: str
    failing_count: int
    message: str
    failing_rows: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class AnomalyRecord:
    """One anomaly finding of a step (``anomalies`` entries)."""

    kind: str
    message: str


def read_checks(reader: LineageReader, step: Mapping[str, Any], place: str) -> tuple[CheckRecord, ...]:
    """The step's ``checks`` (absent: none)."""
    checks = []
    for where, entry in _entries(reader, step, place, "checks", "an array of check results"):
        rows = entry.get("failing_rows") or []
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            reader.expect(child(where, "failing_rows"), "an array of objects", rows)
        checks.append(
            CheckRecord(
                name=reader.text_field(entry, "name", where, required=True) or "",
                kind=reader.text_field(entry, "kind", where) or "",
                severity=reader.text_field(entry, "severity", where) or "error",
                status=reader.text_field(entry, "status", where, required=True) or "",
                failing_count=reader.count_field(entry, "failing_count", where) or 0,
                message=reader.text_field(entry, "message", where) or "",
                failing_rows=tuple(rows),
            )
        )
    return tuple(checks)


def read_anomalies(reader: LineageReader, step: Mapping[str, Any], place: str) -> tuple[AnomalyRecord, ...]:
    """The step's ``anomalies`` (absent: none)."""
    return tuple(
        AnomalyRecord(
            kind=reader.text_field(entry, "kind", where, required=True) or "",
            message=reader.text_field(entry, "message", where) or "",
        )
        for where, entry in _entries(reader, step, place, "anomalies", "an array of anomalies")
    )


def _entries(
    reader: LineageReader, step: Mapping[str, Any], place: str, key: str, expected: str
) -> list[tuple[str, Mapping[str, Any]]]:
    """``(place, object)`` of each entry of the step's array ``key`` (absent: none)."""
    raw = step.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        reader.expect(child(place, key), expected, raw)
    entries = []
    for index, item in enumerate(raw):
        where = child(child(place, key), index)
        entries.append((where, reader.mapping(item, where)))
    return entries

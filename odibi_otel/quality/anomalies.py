"""Anomalies: is this node run different from that node's recent successful runs?

Four kinds, each judged against the same node in the same pipeline:

* ``volume``: rows out, modified z-score over the last runs (median / MAD);
* ``duration``: the node's duration, same rule, and only when the difference is also above an
  absolute floor (a 2 ms node taking 4 ms is not news);
* ``schema``: columns added, removed or with a changed type vs the last successful run;
* ``null_rate``: a column's null fraction rose more than ``null_rate_jump`` above its median.

Volume and duration need at least ``min_history`` earlier runs; schema needs one. Pure logic: the
history store supplies :class:`NodeBaseline`, the orchestrator the :class:`NodeFacts` of the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from odibi_otel.quality.stats import median, modified_z_score

__all__ = ["ANOMALY_KINDS", "Anomaly", "AnomalyRules", "NodeBaseline", "NodeFacts", "detect_anomalies"]

ANOMALY_KINDS: Final = ("volume", "schema", "duration", "null_rate")


@dataclass(frozen=True)
class NodeFacts:
    """What one run of a node showed (``rows_out`` is ``None`` when not known)."""

    rows_out: int | None
    duration_ms: float
    schema: Mapping[str, str] = field(default_factory=dict)
    null_fractions: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeBaseline:
    """The node's recent successful runs, newest first."""

    runs: Sequence[NodeFacts] = ()


@dataclass(frozen=True)
class AnomalyRules:
    """How anomalies are judged.

    Args:
        window: Earlier successful runs compared with (newest first).
        min_history: Runs needed before volume, duration and null-rate findings are made.
        z_threshold: ``|modified z-score|`` above which volume and duration are anomalous.
        null_rate_jump: Rise of a column's null fraction (0-1) above its median that is anomalous.
        duration_floor_ms: A duration change smaller than this is never anomalous.
        volume_floor: Relative floor of the volume scale (fraction of the median), so a history
            of identical counts does not flag a one-row change.
        duration_floor: Relative floor of the duration scale: timings vary by some 10% on a
            shared machine, so at the default a node must take about 1.5x its usual time.
        fail_on: Kinds that fail the node when found (default: none; findings are signals).
        kinds: Kinds looked for.
    """

    window: int = 20
    min_history: int = 5
    z_threshold: float = 3.5
    null_rate_jump: float = 0.1
    duration_floor_ms: float = 100.0
    volume_floor: float = 0.01
    duration_floor: float = 0.1
    fail_on: Sequence[str] = ()
    kinds: Sequence[str] = ANOMALY_KINDS

    def __post_init__(self) -> None:
        if self.min_history < 1 or self.window < self.min_history:
            raise ValueError(f"window ({self.window}) must be >= min_history ({self.min_history}) >= 1")
        if not self.z_threshold > 0:
            raise ValueError(f"z_threshold must be > 0, got {self.z_threshold!r}")
        if not 0 < self.null_rate_jump <= 1:
            raise ValueError(f"null_rate_jump must be in (0, 1], got {self.null_rate_jump!r}")
        for name in (*self.fail_on, *self.kinds):
            if name not in ANOMALY_KINDS:
                raise ValueError(f"unknown anomaly kind {name!r}; expected one of {', '.join(ANOMALY_KINDS)}")


@dataclass(frozen=True)
class Anomaly:
    """One finding: ``kind``, a one-line ``message`` and the figures behind it."""

    kind: str
    message: str
    column: str | None = None
    value: float | None = None
    expected: float | None = None
    score: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (history store, story, events); infinite scores become strings."""
        score: float | str | None = self.score
        if self.score is not None and math.isinf(self.score):
            score = "inf" if self.score > 0 else "-inf"
        return {
            "kind": self.kind,
            "message": self.message,
            "column": self.column,
            "value": self.value,
            "expected": self.expected,
            "score": score,
            "details": dict(self.details),
        }


def detect_anomalies(facts: NodeFacts, baseline: NodeBaseline, rules: AnomalyRules) -> list[Anomaly]:
    """The anomalies of ``facts`` against ``baseline`` under ``rules`` (empty without history)."""
    history = list(baseline.runs[: rules.window])
    if not history:
        return []
    found: list[Anomaly] = []
    if "schema" in rules.kinds:
        found.extend(_schema(facts.schema, history[0].schema))
    if len(history) >= rules.min_history:
        if "volume" in rules.kinds:
            found.extend(_volume(facts, history, rules))
        if "duration" in rules.kinds:
            found.extend(_duration(facts, history, rules))
        if "null_rate" in rules.kinds:
            found.extend(_null_rates(facts, history, rules))
    return found


def _volume(facts: NodeFacts, history: list[NodeFacts], rules: AnomalyRules) -> list[Anomaly]:
    past = [float(run.rows_out) for run in history if run.rows_out is not None]
    if facts.rows_out is None or len(past) < rules.min_history:
        return []
    centre = median(past)
    floor = max(abs(centre) * rules.volume_floor, 1.0)
    score = modified_z_score(float(facts.rows_out), past, min_scale=floor)
    if abs(score) <= rules.z_threshold:
        return []
    direction = "fewer" if facts.rows_out < centre else "more"
    return [
        Anomaly(
            "volume",
            f"{facts.rows_out:,} rows out, {direction} than the usual {centre:,.0f} "
            f"(robust z {score:+.1f} over {len(past)} runs)",
            value=float(facts.rows_out),
            expected=centre,
            score=score,
        )
    ]


def _duration(facts: NodeFacts, history: list[NodeFacts], rules: AnomalyRules) -> list[Anomaly]:
    past = [run.duration_ms for run in history]
    centre = median(past)
    if abs(facts.duration_ms - centre) < rules.duration_floor_ms:
        return []
    score = modified_z_score(facts.duration_ms, past, min_scale=centre * rules.duration_floor)
    if abs(score) <= rules.z_threshold:
        return []
    ratio = facts.duration_ms / centre if centre > 0 else math.inf
    return [
        Anomaly(
            "duration",
            f"took {facts.duration_ms:,.0f} ms, {ratio:.1f}x the usual {centre:,.0f} ms "
            f"(robust z {score:+.1f} over {len(past)} runs)",
            value=facts.duration_ms,
            expected=centre,
            score=score,
        )
    ]


def _schema(now: Mapping[str, str], before: Mapping[str, str]) -> list[Anomaly]:
    if not now or not before:
        return []
    added = [column for column in now if column not in before]
    removed = [column for column in before if column not in now]
    changed = {
        column: {"before": before[column], "after": now[column]}
        for column in now
        if column in before and before[column] != now[column]
    }
    if not (added or removed or changed):
        return []
    parts = []
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    if changed:
        parts.append(
            "type changed " + ", ".join(f"{c} {d['before']} -> {d['after']}" for c, d in changed.items())
        )
    return [
        Anomaly(
            "schema",
            "schema differs from the last successful run: " + "; ".join(parts),
            details={"added": added, "removed": removed, "changed": changed},
        )
    ]


def _null_rates(facts: NodeFacts, history: list[NodeFacts], rules: AnomalyRules) -> list[Anomaly]:
    found = []
    for column, fraction in facts.null_fractions.items():
        past = [run.null_fractions[column] for run in history if column in run.null_fractions]
        if len(past) < rules.min_history:
            continue
        centre = median(past)
        if fraction - centre > rules.null_rate_jump:
            found.append(
                Anomaly(
                    "null_rate",
                    f"column {column!r} is {fraction:.0%} null, usually {centre:.0%}",
                    column=column,
                    value=fraction,
                    expected=centre,
                )
            )
    return found

"""What the history keeps: one :class:`RunRecord` per run, one :class:`NodeRecord` per node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from odibi_otel.quality.anomalies import NodeFacts

__all__ = ["NodeRecord", "RunRecord"]


@dataclass(frozen=True)
class NodeRecord:
    """One node of one run.

    ``rows_out`` is ``None`` when it is not known (a failed or skipped node); ``profile`` maps
    each output column to its profile (``null_fraction``, ``min``/``max``/``mean``,
    ``distinct_estimate``); ``checks`` and ``anomalies`` are the results' dicts.
    """

    node: str
    status: str
    duration_ms: float = 0.0
    rows_in: int | None = None
    rows_out: int | None = None
    output_bytes: int | None = None
    schema: Mapping[str, str] = field(default_factory=dict)
    profile: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    checks: Sequence[Mapping[str, Any]] = ()
    anomalies: Sequence[Mapping[str, Any]] = ()

    @property
    def failed_checks(self) -> list[Mapping[str, Any]]:
        """Check results that did not pass (``warn`` or ``fail``)."""
        return [check for check in self.checks if check.get("status") != "pass"]

    def facts(self) -> NodeFacts:
        """This record as anomaly detection compares it."""
        return NodeFacts(
            rows_out=self.rows_out,
            duration_ms=self.duration_ms,
            schema=dict(self.schema),
            null_fractions={
                column: float(values.get("null_fraction", 0.0)) for column, values in self.profile.items()
            },
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "node": self.node,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "output_bytes": self.output_bytes,
            "schema": dict(self.schema),
            "profile": {column: dict(values) for column, values in self.profile.items()},
            "checks": [dict(check) for check in self.checks],
            "anomalies": [dict(anomaly) for anomaly in self.anomalies],
        }


@dataclass(frozen=True)
class RunRecord:
    """One pipeline run: ids, times (Unix seconds), status and its nodes in run order."""

    run_id: str
    pipeline: str
    status: str
    started_at: float
    ended_at: float | None = None
    trace_id: str | None = None
    engine: str = "pandas"
    host: str | None = None
    nodes: Sequence[NodeRecord] = ()

    @property
    def duration_ms(self) -> float | None:
        """Wall-clock duration, when the run ended."""
        return None if self.ended_at is None else (self.ended_at - self.started_at) * 1000.0

    @property
    def rows_out(self) -> int:
        """Rows out summed over the nodes that report them."""
        return sum(node.rows_out or 0 for node in self.nodes)

    @property
    def checks_failed(self) -> int:
        """Check results of the run that did not pass."""
        return sum(len(node.failed_checks) for node in self.nodes)

    @property
    def anomaly_count(self) -> int:
        """Anomaly findings of the run."""
        return sum(len(node.anomalies) for node in self.nodes)

    def node(self, name: str) -> NodeRecord | None:
        """The record of node ``name``, if the run has one."""
        return next((node for node in self.nodes if node.node == name), None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``odibi-otel history --json``)."""
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_ms": self.duration_ms,
            "trace_id": self.trace_id,
            "engine": self.engine,
            "host": self.host,
            "rows_out": self.rows_out,
            "checks_failed": self.checks_failed,
            "anomalies": self.anomaly_count,
            "nodes": [node.as_dict() for node in self.nodes],
        }

"""Rows of the history tables to and from :class:`RunRecord` / :class:`NodeRecord` (JSON columns)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from odibi_otel.history.records import NodeRecord, RunRecord
from odibi_otel.quality.anomalies import NodeFacts

__all__ = [
    "BASELINE_QUERY",
    "NODE_COLUMNS",
    "RUN_COLUMNS",
    "facts_from_row",
    "node_from_row",
    "node_row",
    "run_from_row",
    "run_row",
]

RUN_COLUMNS: Final = "run_id, pipeline, trace_id, engine, status, started_at, ended_at, host"
NODE_COLUMNS: Final = (
    "run_id, position, node, status, duration_ms, rows_in, rows_out, output_bytes, "
    "schema_json, profile_json, checks_json, anomalies_json, nulls_json"
)

#: Per node, the figures of the pipeline's last N successful runs that anomaly detection reads,
#: newest first (parameters: pipeline, N); one query, two small JSON columns per node.
BASELINE_QUERY: Final = (
    "SELECT n.node, n.rows_out, n.duration_ms, n.schema_json, n.nulls_json FROM odibi_nodes n "
    "JOIN (SELECT run_id, started_at FROM odibi_runs WHERE pipeline = ? AND status = 'success' "
    "ORDER BY started_at DESC, run_id DESC LIMIT ?) r ON n.run_id = r.run_id "
    "WHERE n.status = 'success' ORDER BY r.started_at DESC, r.run_id DESC"
)


def facts_from_row(row: Sequence[Any]) -> tuple[str, NodeFacts]:
    """``(node, facts)`` of a :data:`BASELINE_QUERY` row."""
    node, rows_out, duration_ms, schema, nulls = row
    return node, NodeFacts(rows_out, float(duration_ms or 0.0), _load(schema, {}), _load(nulls, {}))


def run_row(run: RunRecord) -> tuple[Any, ...]:
    """The ``odibi_runs`` row of ``run`` (in :data:`RUN_COLUMNS` order)."""
    return (
        run.run_id,
        run.pipeline,
        run.trace_id,
        run.engine,
        run.status,
        run.started_at,
        run.ended_at,
        run.host,
    )


def node_row(run_id: str, position: int, node: NodeRecord) -> tuple[Any, ...]:
    """The ``odibi_nodes`` row of ``node``, the ``position``-th node of run ``run_id``."""
    return (
        run_id, position, node.node, node.status, node.duration_ms, node.rows_in, node.rows_out,
        node.output_bytes, _dump(node.schema), _dump(node.profile), _dump(list(node.checks)),
        _dump(list(node.anomalies)), _dump(node.facts().null_fractions),
    )  # fmt: skip


def _dump(value: Any) -> str:
    return json.dumps(_finite(value), separators=(",", ":"), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinite floats as ``None`` (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _load(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


def run_from_row(row: Sequence[Any], nodes: list[NodeRecord]) -> RunRecord:
    """The run of an ``odibi_runs`` row, with its ``nodes``."""
    run_id, pipeline, trace_id, engine, status, started_at, ended_at, host = row
    return RunRecord(
        run_id=run_id,
        pipeline=pipeline,
        status=status,
        started_at=float(started_at),
        ended_at=None if ended_at is None else float(ended_at),
        trace_id=trace_id,
        engine=engine or "pandas",
        host=host,
        nodes=tuple(nodes),
    )


def node_from_row(row: Sequence[Any]) -> NodeRecord:
    """The node of an ``odibi_nodes`` row."""
    node, status, duration_ms, rows_in, rows_out, output_bytes, schema, profile, checks, anomalies = row[2:12]
    return NodeRecord(
        node=node,
        status=status,
        duration_ms=float(duration_ms or 0.0),
        rows_in=rows_in,
        rows_out=rows_out,
        output_bytes=output_bytes,
        schema=_load(schema, {}),
        profile=_load(profile, {}),
        checks=tuple(_load(checks, [])),
        anomalies=tuple(_load(anomalies, [])),
    )

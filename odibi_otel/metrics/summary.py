"""The layout of :meth:`MetricsManager.get_summary() <odibi_otel.metrics.manager.MetricsManager.get_summary>`.

The summary describes the latest run (it is reset when a pipeline span starts) and is what
``save_to_file()`` writes as JSON. See ``docs/metrics.md`` (Summary and JSON file).
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["MetricsSummary", "NodeMetrics"]


class NodeMetrics(TypedDict):
    """The latest figures of one node (``MetricsSummary["nodes"][step_name]``)."""

    #: The node span's duration (or the last ``record(NODE_DURATION)``), in ms, 3 decimals.
    duration_ms: float
    #: Rows of all the node's outputs (a write node: the rows written); ``None`` while they are
    #: not computed (Spark: a frame no job has computed yet; a later job's count fills it in).
    row_count: int | None
    #: Resident memory of the process right after the node, in MiB (bytes / 1,048,576), 2 decimals;
    #: on Spark, the peak execution memory of the node's stages.
    memory_mb: float
    #: Rows per second of the node's execution, 1 decimal; ``None`` when its rows were not
    #: computed when it ended (Spark).
    throughput: float | None
    #: Estimated in-memory size of the node's output DataFrames, in bytes; on Spark, the bytes
    #: the node's jobs wrote, ``None`` when they wrote none.
    data_size_bytes: int | None
    #: Whether the outputs came from the node cache; ``None`` when the cache was off or the node
    #: is not cacheable.
    cache_hit: bool | None
    #: ``"success"`` or ``"failed"``.
    status: str
    #: The step's ``layer``.
    layer: str


class MetricsSummary(TypedDict):
    """The latest run's figures, as ``get_summary()`` returns them and ``save_to_file()`` writes them."""

    #: The latest run's pipeline.
    pipeline_name: str
    #: When the latest run started (UTC, ISO 8601 to the second); before any run, when the
    #: manager was created.
    timestamp: str
    #: The latest run's final status (``success``, ``failed``, ``interrupted``); ``None`` while
    #: it runs.
    status: str | None
    #: Nodes that ran (or were ``record()``-ed) in the latest run.
    total_nodes: int
    #: The pipeline span's duration in ms (3 decimals); before a run finished, the sum of the
    #: nodes' ``duration_ms``.
    total_duration_ms: float
    #: ``cache_hits / (cache_hits + cache_misses)``; ``0.0`` with no cache lookups.
    cache_hit_rate: float
    #: Cache hits of the latest run.
    cache_hits: int
    #: Cache misses of the latest run.
    cache_misses: int
    #: Failed nodes of the latest run (plus ``ERROR_COUNT`` increments).
    error_count: int
    #: Pipeline runs this manager has seen finish (all pipelines, since it was created).
    runs: int
    #: Per node, in the order they finished.
    nodes: dict[str, NodeMetrics]

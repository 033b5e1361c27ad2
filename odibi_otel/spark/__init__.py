"""Spark helpers for code that runs inside Spark's Python workers.

:func:`traced` wraps a function passed to ``mapInPandas`` / ``applyInPandas`` / ``mapInArrow``
so that each task running it is a span in the run's trace, child of the node span that started
the job (docs/spark.md).
"""

from __future__ import annotations

from odibi_otel.spark.traced import OTLP_ENDPOINT_PROPERTY, OTLP_PROTOCOL_PROPERTY, TASK_SPAN_PREFIX, traced

__all__ = ["OTLP_ENDPOINT_PROPERTY", "OTLP_PROTOCOL_PROPERTY", "TASK_SPAN_PREFIX", "traced"]

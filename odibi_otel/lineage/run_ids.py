"""OpenLineage run ids of an odibi_otel run and of its nodes, derived from the odibi run id.

Deterministic, so the orchestrator can put a node's OpenLineage run id on its span before any
event is sent, and a file converted later (``odibi-otel lineage``) gets the same ids again.
"""

from __future__ import annotations

import uuid
from typing import Final

__all__ = ["node_run_uuid", "pipeline_run_uuid"]

_NAMESPACE: Final = uuid.UUID("6f0d5b0e-3c4a-4a44-9a56-0d1b1e7d0d1b")


def pipeline_run_uuid(run_id: str) -> str:
    """The OpenLineage ``runId`` of the pipeline run ``run_id`` (its 32 hex digits as a UUID)."""
    try:
        return str(uuid.UUID(hex=run_id))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, run_id))


def node_run_uuid(run_id: str, step_name: str) -> str:
    """The OpenLineage ``runId`` of node ``step_name`` in the run ``run_id``."""
    return str(uuid.uuid5(_NAMESPACE, f"{run_id}/{step_name}"))

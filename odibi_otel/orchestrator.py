"""The odibi_core tutorial's import path ``odibi_otel.orchestrator``, kept as it is.

The code lives in :mod:`odibi_otel.pipeline.orchestrator`; this module re-exports it.
"""

from odibi_otel.pipeline.orchestrator import Orchestrator

__all__ = ["Orchestrator"]

"""Run history: every run recorded in SQLite or PostgreSQL, compared with the runs before it.

See ``docs/history.md``. :func:`open_history` opens a store by URL; ``Orchestrator(history=...)``
and ``configure(history=...)`` record runs into it; :func:`compare_runs` lines two runs up.
"""

from odibi_otel.history.compare import NodeComparison, RunComparison, compare_runs
from odibi_otel.history.recorder import HISTORY_URL_ENV, HistoryConfig, HistoryRun, history_config
from odibi_otel.history.records import NodeRecord, RunRecord
from odibi_otel.history.store import DEFAULT_KEEP, HistoryError, HistoryStore, open_history

__all__ = [
    "DEFAULT_KEEP",
    "HISTORY_URL_ENV",
    "HistoryConfig",
    "HistoryError",
    "HistoryRun",
    "HistoryStore",
    "NodeComparison",
    "NodeRecord",
    "RunComparison",
    "RunRecord",
    "compare_runs",
    "history_config",
    "open_history",
]

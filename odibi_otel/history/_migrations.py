"""The history schema, as numbered migrations applied in order when a store is opened.

Each migration is a list of statements valid on both SQLite and PostgreSQL. A store records the
highest applied version in ``odibi_schema_version``; opening applies the ones above it, in one
transaction, under a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so two
processes opening a new store at once do not both migrate it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: runs and nodes
    (
        """CREATE TABLE odibi_runs (
            run_id TEXT PRIMARY KEY,
            pipeline TEXT NOT NULL,
            trace_id TEXT,
            engine TEXT,
            status TEXT NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            ended_at DOUBLE PRECISION
        )""",
        "CREATE INDEX odibi_runs_by_pipeline ON odibi_runs (pipeline, started_at)",
        """CREATE TABLE odibi_nodes (
            run_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            node TEXT NOT NULL,
            status TEXT NOT NULL,
            duration_ms DOUBLE PRECISION,
            rows_in BIGINT,
            rows_out BIGINT,
            output_bytes BIGINT,
            schema_json TEXT,
            PRIMARY KEY (run_id, node)
        )""",
    ),
    # 2: column profiles, check results and anomaly findings; the host a run ran on
    (
        "ALTER TABLE odibi_nodes ADD COLUMN profile_json TEXT",
        "ALTER TABLE odibi_nodes ADD COLUMN checks_json TEXT",
        "ALTER TABLE odibi_nodes ADD COLUMN anomalies_json TEXT",
        # null fraction per column, apart from the profile: what the baselines read every run
        "ALTER TABLE odibi_nodes ADD COLUMN nulls_json TEXT",
        "ALTER TABLE odibi_runs ADD COLUMN host TEXT",
    ),
)

#: The schema version this release writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)

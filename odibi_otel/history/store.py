"""The run history store: SQLite on one machine, PostgreSQL for runs on many hosts.

:func:`open_history` takes a URL (``sqlite:///path``, a plain file path, ``postgresql://...``)
and returns a :class:`HistoryStore`. Every operation opens its own connection, so one store is
safe to share between threads and parallel runs; SQLite runs in WAL mode with a busy timeout,
writes take the write lock up front (``BEGIN IMMEDIATE``). The schema is migrated on open.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from odibi_otel.errors import OdibiError
from odibi_otel.history._migrations import MIGRATIONS, SCHEMA_VERSION
from odibi_otel.history._rows import (
    BASELINE_QUERY,
    NODE_COLUMNS,
    RUN_COLUMNS,
    facts_from_row,
    node_from_row,
    node_row,
    run_from_row,
    run_row,
)
from odibi_otel.history.records import NodeRecord, RunRecord
from odibi_otel.quality.anomalies import NodeFacts

__all__ = [
    "DEFAULT_KEEP",
    "HistoryError",
    "HistoryStore",
    "open_history",
]

#: Runs kept per pipeline unless told otherwise (older ones are pruned when a run is recorded).
DEFAULT_KEEP: Final = 200
_SQLITE_BUSY_TIMEOUT_S: Final = 30.0
_PG_CONNECT_TIMEOUT_S: Final = 5
_PG_MIGRATION_LOCK: Final = 0x0D1B1  # advisory lock key serialising migrations


class HistoryError(OdibiError, RuntimeError):
    """The history store cannot be opened, read or written; the message names the store."""


class HistoryStore:
    """A run history in a SQL database (use :func:`open_history`).

    Args:
        url: The store's URL, as shown in messages.
        dialect: ``"sqlite"`` or ``"postgresql"``.
        target: The SQLite file (or ``file:`` URI) or the PostgreSQL connection string.
    """

    def __init__(self, url: str, dialect: str, target: str) -> None:
        self.url = url
        self.dialect = dialect
        self._target = target
        self._migrated = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ writing

    def record_run(self, run: RunRecord, keep: int = DEFAULT_KEEP) -> None:
        """Store ``run`` and its nodes; prune the pipeline to its ``keep`` newest runs (one transaction)."""
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep!r}")
        self.migrate()
        with self._write() as cursor:
            self._execute(cursor, "DELETE FROM odibi_nodes WHERE run_id = ?", (run.run_id,))
            self._execute(cursor, "DELETE FROM odibi_runs WHERE run_id = ?", (run.run_id,))
            self._execute(
                cursor,
                f"INSERT INTO odibi_runs ({RUN_COLUMNS}) VALUES ({_marks(RUN_COLUMNS)})",
                run_row(run),
            )
            for position, node in enumerate(run.nodes):
                self._execute(
                    cursor,
                    f"INSERT INTO odibi_nodes ({NODE_COLUMNS}) VALUES ({_marks(NODE_COLUMNS)})",
                    node_row(run.run_id, position, node),
                )
            self._prune(cursor, run.pipeline, keep)

    def _prune(self, cursor: Any, pipeline: str, keep: int) -> None:
        self._execute(
            cursor,
            "SELECT run_id FROM odibi_runs WHERE pipeline = ? ORDER BY started_at DESC, run_id DESC",
            (pipeline,),
        )
        old = [row[0] for row in cursor.fetchall()[keep:]]
        for run_id in old:
            self._execute(cursor, "DELETE FROM odibi_nodes WHERE run_id = ?", (run_id,))
            self._execute(cursor, "DELETE FROM odibi_runs WHERE run_id = ?", (run_id,))

    # ------------------------------------------------------------------------------ reading

    def runs(
        self,
        pipeline: str | None = None,
        *,
        limit: int = 50,
        before: float | None = None,
        status: str | None = None,
        with_nodes: bool = True,
    ) -> list[RunRecord]:
        """Runs newest first: of ``pipeline`` (default all), started at or before ``before``."""
        self.migrate()
        clauses: list[str] = []
        values: list[Any] = []
        if pipeline is not None:
            clauses.append("pipeline = ?")
            values.append(pipeline)
        if before is not None:
            clauses.append("started_at <= ?")
            values.append(before)
        if status is not None:
            clauses.append("status = ?")
            values.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT {RUN_COLUMNS} FROM odibi_runs {where} ORDER BY started_at DESC, run_id DESC LIMIT ?"
        with self._read() as cursor:
            self._execute(cursor, query, (*values, int(limit)))
            rows = cursor.fetchall()
            nodes = self._nodes(cursor, [row[0] for row in rows]) if with_nodes else {}
        return [run_from_row(row, nodes.get(row[0], [])) for row in rows]

    def run(self, reference: str, pipeline: str | None = None) -> RunRecord:
        """The run ``reference`` names: a run id (or a unique prefix), ``latest`` or ``previous``.

        Raises:
            HistoryError: no such run, or a prefix that matches several.
        """
        if reference in ("latest", "previous"):
            runs = self.runs(pipeline, limit=2)
            index = 0 if reference == "latest" else 1
            if len(runs) <= index:
                scope = f" of pipeline {pipeline!r}" if pipeline else ""
                raise HistoryError(f"{self.url}: there is no {reference} run{scope}")
            return runs[index]
        self.migrate()
        with self._read() as cursor:
            self._execute(
                cursor,
                f"SELECT {RUN_COLUMNS} FROM odibi_runs WHERE substr(run_id, 1, ?) = ? "
                "ORDER BY started_at DESC",
                (len(reference), reference),
            )
            rows = cursor.fetchall()
            if len(rows) != 1:
                found = "no run" if not rows else f"{len(rows)} runs"
                raise HistoryError(f"{self.url}: {found} with id {reference!r}")
            nodes = self._nodes(cursor, [rows[0][0]])
        return run_from_row(rows[0], nodes.get(rows[0][0], []))

    def baselines(self, pipeline: str, window: int) -> dict[str, list[NodeFacts]]:
        """Per node, its figures in the pipeline's last ``window`` successful runs, newest first.

        A node that failed inside an otherwise successful run is left out of its baseline.
        """
        self.migrate()
        baselines: dict[str, list[NodeFacts]] = {}
        with self._read() as cursor:
            self._execute(cursor, BASELINE_QUERY, (pipeline, int(window)))
            for row in cursor.fetchall():
                node, facts = facts_from_row(row)
                baselines.setdefault(node, []).append(facts)
        return baselines

    def last_success(self, pipeline: str) -> float | None:
        """When the pipeline's last successful run ended (Unix seconds), if it has one."""
        runs = self.runs(pipeline, limit=1, status="success", with_nodes=False)
        return runs[0].ended_at if runs else None

    def pipelines(self) -> list[str]:
        """Pipeline names with at least one recorded run."""
        self.migrate()
        with self._read() as cursor:
            self._execute(cursor, "SELECT DISTINCT pipeline FROM odibi_runs ORDER BY pipeline", ())
            return [row[0] for row in cursor.fetchall()]

    def schema_version(self) -> int:
        """The store's schema version (0 for an empty store)."""
        with self._read() as cursor:
            return self._version(cursor)

    def _nodes(self, cursor: Any, run_ids: Sequence[str]) -> dict[str, list[NodeRecord]]:
        if not run_ids:
            return {}
        marks = ", ".join("?" for _ in run_ids)
        self._execute(
            cursor,
            f"SELECT {NODE_COLUMNS} FROM odibi_nodes WHERE run_id IN ({marks}) ORDER BY run_id, position",
            tuple(run_ids),
        )
        nodes: dict[str, list[NodeRecord]] = {}
        for row in cursor.fetchall():
            nodes.setdefault(row[0], []).append(node_from_row(row))
        return nodes

    # ---------------------------------------------------------------------------- migrations

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        """Apply the migrations up to ``target`` the store does not have yet (once per store object)."""
        if self._migrated and target == SCHEMA_VERSION:
            return
        with self._lock, self._write() as cursor:
            if self.dialect == "postgresql":
                self._execute(cursor, "SELECT pg_advisory_xact_lock(?)", (_PG_MIGRATION_LOCK,))
            self._execute(
                cursor, "CREATE TABLE IF NOT EXISTS odibi_schema_version (version INTEGER NOT NULL)", ()
            )
            current = self._version(cursor)
            if current > SCHEMA_VERSION:
                raise HistoryError(
                    f"{self.url}: schema version {current} is newer than this odibi_otel's "
                    f"({SCHEMA_VERSION}); upgrade odibi_otel"
                )
            for version in range(current + 1, target + 1):
                for statement in MIGRATIONS[version - 1]:
                    self._execute(cursor, statement, ())
            if target > current:
                self._execute(cursor, "DELETE FROM odibi_schema_version", ())
                self._execute(cursor, "INSERT INTO odibi_schema_version (version) VALUES (?)", (target,))
        if target == SCHEMA_VERSION:
            self._migrated = True

    def _version(self, cursor: Any) -> int:
        if self.dialect == "postgresql":
            self._execute(cursor, "SELECT to_regclass('odibi_schema_version') IS NOT NULL", ())
            if not cursor.fetchone()[0]:
                return 0
        try:
            self._execute(cursor, "SELECT MAX(version) FROM odibi_schema_version", ())
        except Exception:
            if self.dialect == "postgresql":
                raise
            return 0  # SQLite: no such table yet
        row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # --------------------------------------------------------------------------- connections

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._connection() as connection:
            cursor = connection.cursor()
            try:
                if self.dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                connection.commit() if self.dialect == "postgresql" else cursor.execute("COMMIT")
            except BaseException:
                connection.rollback()
                raise

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._connection() as connection:
            cursor = connection.cursor()
            try:
                yield cursor
            finally:
                connection.rollback()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        try:
            connection = _connect(self.dialect, self._target)
        except HistoryError:
            raise
        except Exception as exc:
            raise HistoryError(f"{self.url}: cannot open the history store: {exc}") from exc
        try:
            yield connection
        finally:
            connection.close()

    def _execute(self, cursor: Any, statement: str, values: Sequence[Any]) -> None:
        if self.dialect == "postgresql":
            statement = statement.replace("?", "%s")
        cursor.execute(statement, tuple(values))

    def __repr__(self) -> str:
        return f"HistoryStore({self.url!r})"


def _marks(columns: str) -> str:
    """One ``?`` placeholder per column of a comma-separated column list."""
    return ", ".join("?" for _ in columns.split(","))


def _connect(dialect: str, target: str) -> Any:
    """A new connection: SQLite in WAL mode with a busy timeout, or PostgreSQL via psycopg."""
    if dialect == "sqlite":
        import sqlite3  # imported on first use: most runs of a library user never need it

        connection = sqlite3.connect(
            target,
            timeout=_SQLITE_BUSY_TIMEOUT_S,
            isolation_level=None,
            uri=target.startswith("file:"),
            check_same_thread=False,
        )
        if "mode=ro" not in target:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        return connection
    import psycopg

    return psycopg.connect(target, connect_timeout=_PG_CONNECT_TIMEOUT_S)


def open_history(location: str | os.PathLike[str] | HistoryStore) -> HistoryStore:
    """A :class:`HistoryStore` for ``location``; the schema is created or migrated on first use.

    Args:
        location: ``sqlite:///abs/path.sqlite``, ``sqlite:relative.sqlite``, a plain file path
            (SQLite; its folder is created), ``postgresql://user@host:port/db`` (needs
            ``pip install 'odibi-otel[postgres]'``), or a store (returned as is).

    Raises:
        HistoryError: an unknown URL scheme, or PostgreSQL without its driver.
    """
    if isinstance(location, HistoryStore):
        return location
    text = os.fspath(location)
    scheme = urlsplit(text).scheme.lower() if "://" in text or text.startswith("sqlite:") else ""
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise HistoryError(
                f"{_shown(text)}: a PostgreSQL history needs psycopg: pip install 'odibi-otel[postgres]'"
            ) from None
        return HistoryStore(_shown(text), "postgresql", text)
    if scheme == "sqlite":
        return _sqlite_store(text, _sqlite_path(text))
    if scheme:
        raise HistoryError(f"{text}: unknown history URL scheme {scheme!r}; use sqlite:/// or postgresql://")
    return _sqlite_store(text, text)


def _sqlite_path(url: str) -> str:
    """The file (or ``file:`` URI with the query) a ``sqlite:`` URL names."""
    parts = urlsplit(url)
    path = unquote(parts.path if parts.netloc == "" else f"//{parts.netloc}{parts.path}")
    if url.startswith("sqlite:///"):
        path = "/" + path.lstrip("/")
    elif url.startswith("sqlite://"):
        path = path.lstrip("/")
    if not path:
        raise HistoryError(f"{url}: a sqlite URL names a file: sqlite:///absolute/path.sqlite")
    return f"file:{path}?{parts.query}" if parts.query else path


def _sqlite_store(url: str, target: str) -> HistoryStore:
    path = target[5:].split("?")[0] if target.startswith("file:") else target
    folder = Path(path).parent
    if "mode=ro" not in target:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(f"{url}: cannot create the folder of the history file: {exc}") from exc
    return HistoryStore(url, "sqlite", target)


def _shown(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()

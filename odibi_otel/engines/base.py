"""The engine interface: what the orchestrator and the tracker need from a dataframe library.

An engine reads and writes frames by file extension, tells a frame from anything else, and
describes a frame cheaply (rows, columns, size, schema, a small sample) for spans, metrics and
lineage. Everything above this interface is engine-agnostic; adding an engine means one new
module implementing :class:`Engine` and one line in :data:`ENGINES`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from opentelemetry.util.types import AttributeValue

from odibi_otel.errors import UnsupportedEngineError
from odibi_otel.quality.checks import Check, CheckResult
from odibi_otel.quality.profile import FrameProfile

__all__ = [
    "ENGINES",
    "FILE_FORMATS",
    "Engine",
    "EngineWork",
    "FrameDescription",
    "file_format",
    "get_engine",
    "labelled_types",
]

#: File extension → format name, for ``read`` and ``write`` steps.
FILE_FORMATS: Final[Mapping[str, str]] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

#: Engine name → ``"module:attribute"`` of its instance, imported on first use.
ENGINES: Final[Mapping[str, str]] = {
    "pandas": "odibi_otel.engines.pandas_engine:pandas_engine",
    "spark": "odibi_otel.engines.spark_engine:SparkEngine",
}


def labelled_types(labels: Sequence[str], types: Iterable[str]) -> dict[str, str]:
    """``{column: type}`` in column order; a repeated column name gets a ``#2``, ``#3`` suffix."""
    schema: dict[str, str] = {}
    for label, type_name in zip(labels, types, strict=True):
        unique, count = label, 1
        while unique in schema:
            count += 1
            unique = f"{label}#{count}"
        schema[unique] = type_name
    return schema


def file_format(path: str | os.PathLike[str]) -> str | None:
    """The format name for ``path``'s extension, or ``None`` when it is not supported."""
    return FILE_FORMATS.get(Path(path).suffix.lower())


@dataclass(frozen=True, slots=True)
class FrameDescription:
    """One frame as lineage records it: counts, schema and the first rows.

    Attributes:
        rows: Row count; ``None`` when the engine cannot know it without computing the frame
            (a lazy engine before an action computed it).
        labels: Each column's name as text, in order.
        schema: ``{column: type name}``; a repeated column name gets a ``#2``, ``#3`` suffix.
        sample: The first rows as a detached 2-D object array (rows by columns), or ``None`` when
            no sample was asked for.
        rows_later: For ``rows`` still ``None``: asks again (never blocks), e.g. at the end of the
            run, after a later node's action computed the frame.
        sample_later: Takes the sample asked for at the end of the run instead (a lazy engine: a
            sample is a job, which must not be the one that counts the frame's rows).
    """

    rows: int | None
    labels: list[str]
    schema: dict[str, str]
    sample: Any | None
    rows_later: Callable[[], int | None] | None = None
    sample_later: Callable[[], Any] | None = None


class Engine(Protocol):
    """A dataframe library as the orchestrator and tracker use it.

    Implementations must be safe to call from several threads at once (nodes run in parallel)
    and must never hold on to the frames they are given.
    """

    #: The name ``Orchestrator(engine_type=...)`` selects the engine by.
    name: str
    #: What the engine's frames are called in error messages, e.g. ``"DataFrame"``.
    frame_type_name: str
    #: The sqlglot dialect of :meth:`sql`'s queries (checked before a run), e.g. ``"duckdb"``.
    sql_dialect: str
    #: Whether frames are computed later than the node that defines them (Spark): the orchestrator
    #: then opens a :meth:`node_scope` per node and asks for row counts again after later actions.
    lazy: bool

    def read(self, path: Path, params: Mapping[str, Any] | None) -> Any:
        """Read the file ``path`` in the format its extension names; ``params`` go to the reader."""

    def write(self, frame: Any, path: Path, params: Mapping[str, Any] | None) -> None:
        """Write ``frame`` to ``path`` in the format its extension names, atomically."""

    def sql(self, query: str, tables: Mapping[str, Any]) -> Any:
        """The frame ``query`` returns, with each frame of ``tables`` visible under its name."""

    def is_frame(self, value: object) -> bool:
        """Whether ``value`` is one of the engine's frames."""

    def row_count(self, frame: Any) -> int | None:
        """Rows of ``frame``; ``None`` when they are not known without computing it."""

    def column_count(self, frame: Any) -> int:
        """Columns of ``frame``."""

    def size_bytes(self, frame: Any) -> int | None:
        """Estimated bytes ``frame`` holds in memory, without work proportional to its rows.

        ``None`` when the engine cannot tell without computing it.
        """

    def describe(self, frame: Any, sample_rows: int) -> FrameDescription:
        """Rows, column labels, schema and (when ``sample_rows`` > 0) the first rows of ``frame``."""

    def check(self, check: Check, frame: Any, inputs: Mapping[str, Any]) -> CheckResult:
        """Run a data check on ``frame`` (``inputs``: the step's input frames by data key).

        Never raises for a check that cannot run: the result fails with the reason.
        """

    def profile(self, frame: Any, sample_rows: int, *, statistics: bool = True) -> FrameProfile:
        """Schema, null fractions and (from at most ``sample_rows`` rows) column statistics.

        ``statistics=False``: the schema and null fractions only (what anomaly detection reads).
        """


def get_engine(name: str, **options: Any) -> Engine:
    """The engine called ``name``, made with ``options`` (e.g. ``spark=``, ``master=``, ``conf=``).

    Raises:
        UnsupportedEngineError: There is no such engine, or its library is not installed.
    """
    target = ENGINES.get(name) if isinstance(name, str) else None
    if target is None:
        raise UnsupportedEngineError(
            f"engine_type {name!r} is not supported; supported engines: {', '.join(ENGINES)}"
        )
    module_name, _, attribute = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    engine: Engine = factory(**options)
    return engine


@dataclass(frozen=True, slots=True)
class EngineWork:
    """One unit of work an engine ran for a node (a Spark job or stage), as a child span.

    Attributes:
        name: The span name, e.g. ``"spark job 3"``.
        start_ns: When the engine started it (epoch nanoseconds).
        end_ns: When it ended.
        attributes: Its figures as span attributes.
        failure: Why it failed, or ``None`` when it succeeded.
        children: Its own parts (a job's stages), each a child span of this one.
    """

    name: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, AttributeValue]
    failure: str | None = None
    children: tuple[EngineWork, ...] = ()

"""Reading and writing Spark DataFrames by file extension, and SQL over them.

A read is lazy (Spark may run a small job to find a CSV header or infer a schema, as it would in
the same code without odibi_otel); a write is an action. Params of a read step are reader
options (``schema`` may be a DDL string such as ``"id INT, name STRING"``); params of a write
step are writer options plus ``mode`` (default ``overwrite``) and ``partitionBy``.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from odibi_otel.engines.base import file_format

__all__ = ["read_spark_frame", "run_spark_sql", "write_spark_frame"]

#: Options a CSV read and write get unless the step says otherwise (pandas' defaults: a header row).
_CSV_DEFAULTS: Final[Mapping[str, str]] = {"header": "true"}

#: Spark's reader method per format: JSON Lines is Spark's own JSON; a ``.json`` file is one document.
_READ_DEFAULTS: Final[Mapping[str, Mapping[str, str]]] = {
    "csv": _CSV_DEFAULTS,
    "json": {"multiLine": "true"},
    "jsonl": {},
    "parquet": {},
}

_view_numbers = itertools.count(1)


def read_spark_frame(spark: Any, path: Path, params: Mapping[str, Any] | None) -> Any:
    """``spark.read`` in the format ``path``'s extension names; ``params`` are reader options."""
    fmt = _format_of(path)
    options = dict(params or {})
    schema = options.pop("schema", None)
    reader = spark.read.options(**{**_READ_DEFAULTS[fmt], **_as_options(options)})
    if schema is not None:
        reader = reader.schema(schema)
    location = os.fspath(path)
    if fmt == "csv":
        return reader.csv(location)
    if fmt == "parquet":
        return reader.parquet(location)
    return reader.json(location)


def write_spark_frame(frame: Any, path: Path, params: Mapping[str, Any] | None) -> None:
    """``frame.write`` in the format ``path``'s extension names (a folder of part files)."""
    fmt = _format_of(path)
    options = dict(params or {})
    mode = options.pop("mode", "overwrite")
    partition_by = options.pop("partitionBy", None)
    defaults = _CSV_DEFAULTS if fmt == "csv" else {}
    writer = frame.write.mode(mode).options(**{**defaults, **_as_options(options)})
    if partition_by:
        columns = [partition_by] if isinstance(partition_by, str) else list(partition_by)
        writer = writer.partitionBy(*columns)
    location = os.fspath(path)
    if fmt == "csv":
        writer.csv(location)
    elif fmt == "parquet":
        writer.parquet(location)
    else:
        writer.json(location)


def run_spark_sql(spark: Any, query: str, tables: Mapping[str, Any], scope: str) -> tuple[Any, list[str]]:
    """The frame ``query`` returns, with each frame of ``tables`` visible under its name.

    Each table is a temporary view of a name unique to this query (``scope`` + a counter); the
    query's table names are rewritten to those views, so two parallel runs (or nodes) in one
    session never see each other's tables. Returns the frame and the view names, which the caller
    drops when the run ends (a Spark Connect frame is analysed again when an action runs).
    """
    views = {name: f"odibi_{scope}_{next(_view_numbers)}_{_identifier(name)}" for name in tables}
    for name, frame in tables.items():
        frame.createOrReplaceTempView(views[name])
    return spark.sql(_rename_tables(query, views)), list(views.values())


def _rename_tables(query: str, views: Mapping[str, str]) -> str:
    """``query`` with each table name of ``views`` replaced by its view (sqlglot, Spark dialect)."""
    import sqlglot
    from sqlglot import expressions

    tree = sqlglot.parse_one(query, read="spark")
    ctes = {cte.alias_or_name for cte in tree.find_all(expressions.CTE)}
    for table in tree.find_all(expressions.Table):
        name = table.name
        if name in views and name not in ctes and not table.args.get("db"):
            table.set("this", expressions.to_identifier(views[name]))
            if not table.alias:
                table.set("alias", expressions.TableAlias(this=expressions.to_identifier(name)))
    return tree.sql(dialect="spark")


def _identifier(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _as_options(options: Mapping[str, Any]) -> dict[str, str]:
    """Option values as Spark wants them: booleans as ``true``/``false``, the rest as text."""
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in options.items()
    }


def _format_of(path: Path) -> str:
    fmt = file_format(path)
    if fmt is None:
        raise ValueError(f"unsupported file extension: {os.fspath(path)!r}")
    return fmt

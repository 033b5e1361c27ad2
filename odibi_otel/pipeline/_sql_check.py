"""Checking a ``sql`` step's query before anything runs: its syntax and the tables it reads.

Queries are parsed with sqlglot in the engine's dialect (DuckDB for pandas, Spark SQL for Spark);
sqlglot is imported only when a pipeline has a ``sql`` step.
"""

from __future__ import annotations

from typing import Any

from odibi_otel.errors import StepFieldError
from odibi_otel.pipeline.step import Step

__all__ = ["check_sql", "output_columns", "parse_sql", "tables_read"]


def parse_sql(query: str, dialect: str) -> Any:
    """The sqlglot expression of ``query`` (one statement).

    Raises:
        ValueError: ``query`` is not one valid statement in ``dialect``; the message says where.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first['line']}, column {first['col']}" if first.get("line") else ""
        reason = str(first.get("description") or exc).split("\n")[0].split(" but got <Token")[0]
        raise ValueError(f"is not valid {dialect} SQL{where}: {reason}") from None
    if len(statements) != 1:
        raise ValueError(f"must hold exactly one SQL statement, got {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Query):  # e.g. a misspelt keyword parses as a bare name
        raise ValueError(f"must be a query (SELECT, WITH ... SELECT, UNION ...), got {query.strip()[:60]!r}")
    return statement


def tables_read(expression: Any) -> set[str]:
    """The names of the tables ``expression`` reads (CTEs it defines itself left out)."""
    from sqlglot import exp

    defined = {cte.alias_or_name for cte in expression.find_all(exp.CTE)}
    return {table.name for table in expression.find_all(exp.Table) if table.name not in defined}


def check_sql(step: Step, dialect: str) -> Any:
    """Parse ``step``'s query and check every table it reads is one of its inputs; returns the tree.

    Raises:
        StepFieldError: naming the step and the field (``value`` for syntax, ``inputs`` for tables).
    """
    try:
        expression = parse_sql(str(step.value), dialect)
    except ValueError as exc:
        raise StepFieldError(step.name, "value", str(exc)) from None
    unknown = sorted(tables_read(expression) - set(step.table_names))
    if unknown:
        raise StepFieldError(
            step.name,
            "inputs",
            f"does not provide table(s) {unknown} that the query reads; tables: {sorted(step.table_names)}",
        )
    return expression


def output_columns(expression: Any) -> list[str] | None:
    """The names of the columns a ``SELECT`` returns, or ``None`` when they cannot be known (``*``)."""
    from sqlglot import exp

    if not isinstance(expression, exp.Query):
        return None
    selects = expression.selects
    if not selects or any(isinstance(item, exp.Star) or item.is_star for item in selects):
        return None
    names = [item.alias_or_name for item in selects]
    return names if all(names) else None

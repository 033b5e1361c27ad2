"""Column lineage of a node (pure: no I/O).

- ``sql`` steps: derived from the query with sqlglot in the engine's dialect, given the input
  tables' columns; each output column lists the input columns it is computed from, ``IDENTITY``
  when it is a bare column, ``AGGREGATION`` under an aggregate function, ``TRANSFORMATION``
  otherwise.
- ``function`` steps: by name, an approximation. An output column with the name of an input
  column is an identity edge; any other output column depends on every column of every input
  (``INDIRECT``), since the function's code is not analysed.
- ``read``/``write``: every column is an identity edge between the file and the frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ColumnEdge", "function_columns", "identity_columns", "sql_columns"]

#: output column -> [(input dataset key, input column, type, subtype)]
ColumnEdge = tuple[str, str, str, str]
ColumnMap = dict[str, list[ColumnEdge]]


def identity_columns(source: str, columns: Sequence[str]) -> ColumnMap:
    """Every column comes unchanged from ``source``."""
    return {column: [(source, column, "DIRECT", "IDENTITY")] for column in columns}


def function_columns(inputs: Mapping[str, Sequence[str]], outputs: Sequence[str]) -> ColumnMap:
    """By name: same-named columns are identity edges, new ones depend on every input column."""
    result: ColumnMap = {}
    for column in outputs:
        same = [(key, column, "DIRECT", "IDENTITY") for key, names in inputs.items() if column in names]
        if same:
            result[column] = same[:1]
        else:
            result[column] = [
                (key, name, "INDIRECT", "TRANSFORMATION") for key, names in inputs.items() for name in names
            ]
    return result


def sql_columns(query: str, dialect: str, tables: Mapping[str, Sequence[str]]) -> ColumnMap:
    """Output column -> the input ``(table, column)`` edges it is computed from.

    ``tables`` maps each table the query may read to its column names. Raises ``ValueError`` when
    sqlglot cannot follow the query.
    """
    from sqlglot import exp, parse_one
    from sqlglot.errors import SqlglotError
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify

    schema: dict[str, Any] = {table: dict.fromkeys(columns, "TEXT") for table, columns in tables.items()}
    try:
        expression: Any = qualify(parse_one(query, read=dialect), schema=schema, dialect=dialect)
        result: ColumnMap = {}
        for column in expression.named_selects:
            node = lineage(column, expression, schema=schema, dialect=dialect)
            result[column] = _edges(node, exp)
    except (SqlglotError, KeyError, IndexError) as exc:
        raise ValueError(f"cannot derive column lineage: {exc}") from None
    return result


def _edges(node: Any, exp: Any) -> list[ColumnEdge]:
    subtype = "IDENTITY"
    for step in node.walk():  # the select expressions from the output down to the tables
        expression = step.expression
        if isinstance(expression, exp.Table):
            continue
        inner = expression.this if isinstance(expression, exp.Alias) else expression
        if inner.find(exp.AggFunc) is not None:
            subtype = "AGGREGATION"
            break
        if not isinstance(inner, exp.Column):
            subtype = "TRANSFORMATION"
    edges: list[ColumnEdge] = []
    for leaf in node.walk():
        if isinstance(leaf.expression, exp.Table):
            column = leaf.name.split(".")[-1].strip('"`')
            edge = (leaf.expression.name, column, "DIRECT", subtype)
            if edge not in edges:
                edges.append(edge)
    return edges

"""SQL over pandas frames, through DuckDB (an embedded SQL engine, imported only when a query runs).

Each query gets its own in-memory DuckDB connection, so queries of parallel nodes never see each
other's tables; the input frames are registered under their table names (zero-copy where DuckDB
can scan the pandas arrays) and the result comes back as a new ``pandas.DataFrame``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pandas as pd

__all__ = ["SQL_DIALECT", "run_sql"]

#: The sqlglot dialect name of the SQL the pandas engine runs (used to check queries before a run).
SQL_DIALECT: Final = "duckdb"


def run_sql(query: str, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The result of ``query`` with each frame of ``tables`` visible as a table of that name."""
    import duckdb

    connection: Any = duckdb.connect(":memory:")
    try:
        for name, frame in tables.items():
            connection.register(name, frame)
        result: pd.DataFrame = connection.execute(query).df()
        return result
    finally:
        connection.close()

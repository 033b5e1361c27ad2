"""The pandas engine: frames are ``pandas.DataFrame`` objects, read and written with pandas' own
readers and writers, and measured without work proportional to their rows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pandas as pd

from odibi_otel.engines._pandas_describe import column_labels, head_values, labelled_schema
from odibi_otel.engines._pandas_io import read_frame, write_frame
from odibi_otel.engines._pandas_quality import evaluate_check, profile_frame
from odibi_otel.engines._pandas_size import column_arrays, estimate_frame_bytes
from odibi_otel.engines._pandas_sql import SQL_DIALECT, run_sql
from odibi_otel.engines.base import FrameDescription
from odibi_otel.errors import UnsupportedEngineError
from odibi_otel.quality.checks import Check, CheckResult
from odibi_otel.quality.profile import FrameProfile

__all__ = ["PANDAS", "PandasEngine", "pandas_engine"]


class PandasEngine:
    """:class:`~odibi_otel.engines.base.Engine` for ``pandas.DataFrame`` (stateless)."""

    name: Final = "pandas"
    frame_type_name: Final = "DataFrame"
    sql_dialect: Final = SQL_DIALECT
    lazy: Final = False

    def read(self, path: Path, params: Mapping[str, Any] | None) -> pd.DataFrame:
        """``pandas.read_csv`` / ``read_parquet`` / ``read_json`` by extension."""
        return read_frame(path, params)

    def write(self, frame: pd.DataFrame, path: Path, params: Mapping[str, Any] | None) -> None:
        """``to_csv`` (without the index) / ``to_parquet`` / ``to_json`` by extension, atomically."""
        write_frame(frame, path, params)

    def sql(self, query: str, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Run ``query`` with DuckDB; each frame of ``tables`` is a table of that name."""
        return run_sql(query, tables)

    def is_frame(self, value: object) -> bool:
        """Whether ``value`` is a ``pandas.DataFrame``."""
        return isinstance(value, pd.DataFrame)

    def row_count(self, frame: pd.DataFrame) -> int:
        """``len(frame)``."""
        return len(frame)

    def column_count(self, frame: pd.DataFrame) -> int:
        """``len(frame.columns)``."""
        return len(frame.columns)

    def size_bytes(self, frame: pd.DataFrame) -> int:
        """Like ``memory_usage(deep=True).sum()``, with object columns measured on a sample."""
        return estimate_frame_bytes(frame)

    def describe(self, frame: pd.DataFrame, sample_rows: int) -> FrameDescription:
        """Counts, schema and the first rows, reading each column's array once."""
        labels = column_labels(frame)
        arrays = column_arrays(frame)
        sample = head_values(frame, sample_rows, arrays) if sample_rows > 0 else None
        return FrameDescription(len(frame), labels, labelled_schema(labels, arrays), sample)

    def check(self, check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> CheckResult:
        """Vectorized over the whole frame; see :mod:`odibi_otel.engines._pandas_quality`."""
        return evaluate_check(check, frame, inputs)

    def profile(self, frame: pd.DataFrame, sample_rows: int, *, statistics: bool = True) -> FrameProfile:
        """Null fractions from every row, the rest from an evenly spaced sample."""
        return profile_frame(frame, sample_rows, statistics=statistics)


#: The pandas engine instance (it keeps no state).
PANDAS: Final = PandasEngine()


def pandas_engine(**options: Any) -> PandasEngine:
    """The pandas engine (:data:`PANDAS`); it takes no options."""
    if options:
        raise UnsupportedEngineError(
            f"engine_type 'pandas' takes no {', '.join(sorted(options))} option (that is for 'spark')"
        )
    return PANDAS

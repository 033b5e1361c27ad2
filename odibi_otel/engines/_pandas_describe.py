"""Describing pandas DataFrames: column labels as text, ``{column: dtype}`` schemas, first rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from odibi_otel.engines._pandas_size import column_arrays
from odibi_otel.engines.base import labelled_types

__all__ = ["column_label", "column_labels", "dtype_name", "frame_schema", "head_values", "labelled_schema"]


def column_label(column: Any) -> str:
    """A column name as text: strings as they are, tuples (MultiIndex) joined with ``.``."""
    if isinstance(column, str):
        return column
    if isinstance(column, tuple):
        return ".".join(map(str, column))
    return str(column)


def frame_schema(frame: pd.DataFrame) -> dict[str, str]:
    """``{column: dtype}`` in column order; a repeated column name gets a ``#2``, ``#3`` suffix."""
    return labelled_schema(column_labels(frame), column_arrays(frame))


def column_labels(frame: pd.DataFrame) -> list[str]:
    """Each column's :func:`column_label`, in order."""
    return [column_label(column) for column in _column_names(frame.columns)]


def _column_names(columns: pd.Index) -> list[Any]:
    """The column Index's values as Python objects.

    pandas' default string Index is Arrow-backed: converting its Arrow array in one call costs a
    sixth of ``tolist()``, which boxes one value at a time. Nulls are left to ``tolist()``, which
    gives them as pandas shows them (NaN).
    """
    arrow = getattr(getattr(columns, "_data", None), "_pa_array", None)
    if arrow is not None and getattr(arrow, "null_count", 1) == 0:
        try:
            return list(arrow.to_pylist())
        except Exception:
            pass
    return columns.tolist()


def labelled_schema(labels: Sequence[str], arrays: Sequence[Any]) -> dict[str, str]:
    """:func:`frame_schema` from a frame's :func:`column_labels` and its column arrays."""
    # each column array's dtype is what ``frame.dtypes`` holds, without building that Series
    return labelled_types(labels, (dtype_name(getattr(array, "dtype", None)) for array in arrays))


_NUMPY_DTYPE_NAMES: dict[np.dtype[Any], str] = {}


def dtype_name(dtype: Any) -> str:
    """``str(dtype)``; numpy's are remembered (its ``__str__`` is Python code, ~3 µs per column)."""
    if not isinstance(dtype, np.dtype):
        return str(dtype)
    name = _NUMPY_DTYPE_NAMES.get(dtype)
    if name is None:
        name = str(dtype)
        if len(_NUMPY_DTYPE_NAMES) < 1024:  # structured dtypes are unbounded in variety
            _NUMPY_DTYPE_NAMES[dtype] = name
    return name


def head_values(frame: pd.DataFrame, count: int, arrays: Sequence[Any] | None = None) -> np.ndarray:
    """The first ``count`` rows as a detached 2-D object array (what ``iloc[:count].to_numpy(object)`` gives).

    Sliced column by column: building the row slice as a DataFrame and converting it cost about
    three times as much on small frames, where a node's instrumentation is all per-node overhead.
    """
    try:
        if arrays is None:
            arrays = column_arrays(frame)
        values = np.empty((min(count, len(frame)), len(arrays)), dtype=object)
        for position, array in enumerate(arrays):
            values[:, position] = _head(array, count)
        return values
    except Exception:  # an array type that slices or converts differently: pandas' own way
        return frame.iloc[:count].to_numpy(dtype=object, copy=True)


def _head(array: Any, count: int) -> Any:
    """The first ``count`` values of one column array, as ``to_numpy(dtype=object)`` gives them.

    Arrow text columns (pandas' default ``str``) are read straight from their Arrow array: a
    fifth of the cost of pandas' slice-then-convert. Arrow gives a missing value as ``None``;
    it becomes the column's own missing value (NaN for ``str``, ``pd.NA`` for ``string``), as
    pandas would give it.
    """
    arrow = getattr(array, "_pa_array", None)
    if arrow is not None and _is_arrow_text(arrow.type):
        values = arrow.slice(0, count).to_pylist()
        if None in values:
            missing = getattr(array.dtype, "na_value", None)
            values = [missing if value is None else value for value in values]
        return values
    head = array[:count]
    return head if isinstance(head, np.ndarray) else head.to_numpy(dtype=object)


#: Arrow types read by ``to_pylist`` (by name: importing pyarrow here would slow ``import odibi_otel``).
_ARROW_TEXT: Final = frozenset({"string", "large_string"})


def _is_arrow_text(arrow_type: Any) -> bool:
    return str(arrow_type) in _ARROW_TEXT

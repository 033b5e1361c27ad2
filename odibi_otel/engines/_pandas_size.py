"""In-memory size of a DataFrame without O(rows) Python work.

Fixed-width (numpy), Arrow-backed and categorical columns report their exact buffer sizes. Columns
of Python objects would need a ``sys.getsizeof`` per value (that is what
``memory_usage(deep=True)`` does, and why it is slow): instead a fixed-size random sample of values
is measured and scaled up. Frames with at most :data:`SAMPLE_SIZE` rows are measured exactly.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

__all__ = ["SAMPLE_SIZE", "column_arrays", "estimate_frame_bytes"]

#: Values measured per object column; beyond this the mean size of a sample is scaled up.
SAMPLE_SIZE: Final = 1000
_POINTER_BYTES: Final = np.dtype(object).itemsize
_rng = np.random.default_rng(0x0D1B1)


def estimate_frame_bytes(frame: pd.DataFrame) -> int:
    """Estimated bytes held by ``frame`` (values and index), like ``memory_usage(deep=True).sum()``."""
    total = _index_bytes(frame.index)
    blocks = _blocks(frame)
    if blocks is None:
        return total + sum(_array_bytes(array) for array in column_arrays(frame))
    for block in blocks:
        total += _block_bytes(block.values)
    return total


def _blocks(frame: pd.DataFrame) -> Sequence[Any] | None:
    """pandas' storage blocks of ``frame``, or ``None`` where they are not available.

    A block holds several columns of one numpy dtype in one 2-D array: one ``nbytes`` measures
    them all, where going column by column costs a Python call (and a cache miss) per column.
    """
    blocks = getattr(getattr(frame, "_mgr", None), "blocks", None)
    return blocks if isinstance(blocks, tuple) else None


def _block_bytes(values: object) -> int:
    if isinstance(values, np.ndarray):
        if values.dtype.kind != "O":
            return int(values.nbytes)
        columns = values if values.ndim == 2 else (values,)
        return sum(_object_bytes(column) for column in columns)
    return _array_bytes(values)


def column_arrays(frame: pd.DataFrame) -> list[Any]:
    """Each column's values (an ndarray or ExtensionArray), for reading only (never modify them).

    pandas' ``_iter_column_arrays`` hands out the stored arrays without building a Series per
    column (``frame.items()`` does, which cost more than measuring a small frame); where it is
    missing or fails, the public ``items()`` gives the same arrays.
    """
    iterate = getattr(frame, "_iter_column_arrays", None)
    if callable(iterate):
        try:
            return list(iterate())
        except Exception:
            pass
    return [column.array for _, column in frame.items()]


def _index_bytes(index: pd.Index) -> int:
    if isinstance(index, pd.RangeIndex):
        return int(index.memory_usage())
    if isinstance(index, pd.MultiIndex):
        return sum(_array_bytes(index.get_level_values(i).array) for i in range(index.nlevels))
    return _array_bytes(index.array)


def _array_bytes(array: object) -> int:
    arrow = getattr(array, "_pa_array", None)  # pandas' Arrow-backed arrays hold a ChunkedArray
    if arrow is not None:
        return _arrow_bytes(arrow)
    if isinstance(array, pd.Categorical):
        return int(array.codes.nbytes) + _array_bytes(array.categories.array)
    if _holds_python_objects(array):
        return _object_bytes(np.asarray(array, dtype=object))
    return int(getattr(array, "nbytes", 0))


#: ``{id(chunked array): (weak reference to it, its nbytes)}``: see :func:`_arrow_bytes`.
_ARROW_BYTES: dict[int, tuple[weakref.ref[Any], int]] = {}


def _arrow_bytes(chunked: Any) -> int:
    """A pyarrow ChunkedArray's ``nbytes``, measured once per array.

    Arrow arrays are immutable and pandas shares them between frames (a copy, an ``assign`` of
    another column, a pass-through step): each node would measure the same array again, and
    pyarrow's ``nbytes`` (it works out the byte ranges the array references, to count a slice
    right) costs 5 µs when hot and about 45 µs between two nodes' pandas work.
    """
    key = id(chunked)
    known = _ARROW_BYTES.get(key)
    if known is not None and known[0]() is chunked:
        return known[1]
    size = int(chunked.nbytes)
    try:
        reference = weakref.ref(chunked, functools.partial(_forget_arrow, key))
    except TypeError:  # not weakly referenceable: measured each time
        return size
    _ARROW_BYTES[key] = (reference, size)
    return size


def _forget_arrow(key: int, dead: weakref.ref[Any]) -> None:
    known = _ARROW_BYTES.get(key)
    if known is not None and known[0] is dead:
        del _ARROW_BYTES[key]


def _holds_python_objects(array: object) -> bool:
    dtype = getattr(array, "dtype", None)
    if isinstance(dtype, np.dtype):  # the common case, answered without pandas' generic dtype checks
        return dtype.kind == "O"
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage == "python"
    return dtype is not None and pd.api.types.is_object_dtype(dtype)


def _object_bytes(values: np.ndarray) -> int:
    count = len(values)
    if count <= SAMPLE_SIZE:
        measured = sum(map(sys.getsizeof, values))
        return count * _POINTER_BYTES + measured
    sample = values[_rng.integers(0, count, SAMPLE_SIZE)]
    mean = sum(map(sys.getsizeof, sample)) / SAMPLE_SIZE
    return count * _POINTER_BYTES + int(mean * count)

"""In-memory size of a DataFrame without O(rows) Python work.

Fixed-width (numpy), Arrow-backed and categorical columns report their exact buffer sizes. Columns
of Python objects would need a ``sys.getsizeof`` per value (that is what
``memory_usage(deep=True)`` does, and why it is slow): instead a random sample of values is
measured and scaled up. The sample is :data:`SAMPLE_SIZE` values, grown (up to
:data:`MAX_SAMPLE_SIZE`) for columns whose values vary so much in size that the estimate's
standard error would exceed :data:`TARGET_RELATIVE_ERROR` (free text, say), so an estimate is off
by more than 1% only with about 1 chance in 1,000. Frames with at most :data:`SAMPLE_SIZE` rows
are measured exactly.
"""

from __future__ import annotations

import sys
from typing import Any, Final

import numpy as np
import pandas as pd

__all__ = ["MAX_SAMPLE_SIZE", "SAMPLE_SIZE", "TARGET_RELATIVE_ERROR", "column_arrays", "estimate_frame_bytes"]

#: Values measured per object column; beyond this the mean size of a sample is scaled up.
SAMPLE_SIZE: Final = 1000
#: Most values measured per object column, however varied their sizes.
MAX_SAMPLE_SIZE: Final = 16_000
#: Standard error (relative to the column's estimated bytes) the sample is grown to reach.
TARGET_RELATIVE_ERROR: Final = 0.003
_POINTER_BYTES: Final = np.dtype(object).itemsize
_rng = np.random.default_rng(0x0D1B1)


def estimate_frame_bytes(frame: pd.DataFrame) -> int:
    """Estimated bytes held by ``frame`` (values and index), like ``memory_usage(deep=True).sum()``."""
    total = _index_bytes(frame.index)
    for array in column_arrays(frame):
        total += _array_bytes(array)
    return total


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
    if isinstance(array, pd.Categorical):
        return int(array.codes.nbytes) + _array_bytes(array.categories.array)
    if _holds_python_objects(array):
        return _object_bytes(np.asarray(array, dtype=object))
    return int(getattr(array, "nbytes", 0))


def _holds_python_objects(array: object) -> bool:
    dtype = getattr(array, "dtype", None)
    if pd.api.types.is_object_dtype(dtype):
        return True
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "python"


def _object_bytes(values: np.ndarray) -> int:
    count = len(values)
    if count <= SAMPLE_SIZE:
        measured = sum(map(sys.getsizeof, values))
        return count * _POINTER_BYTES + measured
    sample = values[_rng.integers(0, count, SAMPLE_SIZE)]
    sizes = np.fromiter(map(sys.getsizeof, sample), dtype=np.int64, count=SAMPLE_SIZE)
    needed = _sample_needed(sizes)
    if needed > SAMPLE_SIZE:
        if needed >= count:  # measuring every value is no dearer than that sample
            return count * _POINTER_BYTES + sum(map(sys.getsizeof, values))
        extra = values[_rng.integers(0, count, needed - SAMPLE_SIZE)]
        more = np.fromiter(map(sys.getsizeof, extra), dtype=np.int64, count=len(extra))
        sizes = np.concatenate([sizes, more])
    mean = int(sizes.sum()) / len(sizes)
    return count * _POINTER_BYTES + int(mean * count)


def _sample_needed(sizes: np.ndarray) -> int:
    """Values to measure so the column's estimate has :data:`TARGET_RELATIVE_ERROR` standard error."""
    spread = float(sizes.std(ddof=1))
    if spread == 0.0:
        return len(sizes)
    per_value = float(sizes.mean()) + _POINTER_BYTES
    needed = (spread / (TARGET_RELATIVE_ERROR * per_value)) ** 2
    return min(MAX_SAMPLE_SIZE, max(len(sizes), int(needed) + 1))

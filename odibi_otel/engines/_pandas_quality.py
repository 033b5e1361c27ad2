"""Checks and column profiles on pandas DataFrames.

Checks are vectorized over the whole frame (they are about every row); profiles read the null
counts of every column (vectorized) and everything else from an evenly spaced sample of at most
``sample_rows`` rows, so their cost does not grow with the frame beyond the null counts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from odibi_otel.engines._pandas_describe import column_label, frame_schema
from odibi_otel.engines._pandas_size import column_arrays
from odibi_otel.quality.checks import (
    MAX_FAILING_ROWS,
    STATUS_FAIL,
    STATUS_PASS,
    STATUS_WARN,
    Check,
    CheckResult,
)
from odibi_otel.quality.profile import ColumnProfile, FrameProfile

__all__ = ["DISTINCT_SAMPLE_ROWS", "evaluate_check", "profile_frame"]

#: Rows a text column's distinct count is estimated from.
DISTINCT_SAMPLE_ROWS: Final = 10_000


def evaluate_check(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> CheckResult:
    """Run ``check`` on ``frame``; ``inputs`` are the step's input frames by data key.

    A check that cannot run (a missing column, an invalid expression) fails with the reason.
    Failing rows are returned unredacted; the caller redacts them.
    """
    try:
        failing, message, sample = _EVALUATORS[check.kind](check, frame, inputs)
    except Exception as exc:
        failing, message, sample = 1, f"could not run: {type(exc).__name__}: {exc}", None
    if failing == 0:
        return CheckResult(check.name, check.kind, check.severity, STATUS_PASS, 0, message)
    status = STATUS_FAIL if check.severity == "error" else STATUS_WARN
    rows = _records(sample) if sample is not None else ()
    return CheckResult(check.name, check.kind, check.severity, status, failing, message, rows)


def profile_frame(frame: pd.DataFrame, sample_rows: int, *, statistics: bool = True) -> FrameProfile:
    """Schema, null fraction of every column, and from a sample: numeric min/max/mean, distinct count.

    Works on the stored column arrays: a null count is free for Arrow-backed columns (their
    ``null_count``) and for integer and boolean numpy columns (they hold none), one vectorized pass
    otherwise; everything else reads an evenly spaced slice of at most ``sample_rows`` rows.
    ``statistics=False`` stops at the schema and the null fractions.
    """
    rows = len(frame)
    schema = frame_schema(frame)
    step = max(1, -(-rows // sample_rows)) if sample_rows > 0 and rows else 1
    columns: dict[str, ColumnProfile] = {}
    for label, array in zip(schema, column_arrays(frame), strict=True):
        nulls = _null_count(array)
        profile: ColumnProfile = {"null_fraction": nulls / rows if rows else 0.0}
        if statistics:
            with contextlib.suppress(TypeError, ValueError):  # mixed object columns: no stats
                profile.update(_column_stats(array, step, rows - nulls))
        columns[label] = profile
    return FrameProfile(rows=rows, schema=schema, columns=columns, sampled_rows=-(-rows // step))


def _null_count(array: Any) -> int:
    if isinstance(array, np.ndarray):
        if array.dtype.kind in "iub":
            return 0
        if array.dtype.kind == "f":
            return int(np.isnan(array).sum())
        if array.dtype.kind in "mM":
            return int(np.isnat(array).sum())
    arrow = getattr(array, "_pa_array", None)  # pandas' Arrow-backed arrays (str, ArrowDtype)
    if arrow is not None:
        return int(arrow.null_count)
    return int(pd.isna(array).sum())


def _column_stats(array: Any, step: int, present: int) -> ColumnProfile:
    """min/max/mean of a numeric column from every ``step``-th value; a text column's distinct count."""
    stats: ColumnProfile = {}
    dtype = array.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return stats
    if pd.api.types.is_numeric_dtype(dtype):
        array = array[::step] if step > 1 else array
        values = np.asarray(array, dtype="float64") if not isinstance(array, np.ndarray) else array
        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
        if len(values):
            stats["min"] = float(values.min())
            stats["max"] = float(values.max())
            stats["mean"] = float(values.mean())
    elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        stats["distinct_estimate"] = _distinct_estimate(array, present)
    return stats


def _value_counts(array: Any) -> np.ndarray:
    """How often each distinct non-null value occurs in a uniform sample of the column (sorted rows
    keep the reads in order); pyarrow's own kernels for Arrow-backed text, unsorted."""
    rows = None
    if len(array) > DISTINCT_SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(0).integers(0, len(array), DISTINCT_SAMPLE_ROWS))
    arrow = getattr(array, "_pa_array", None)
    if arrow is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        sample = arrow.take(pa.array(rows)) if rows is not None else arrow
        found = pc.value_counts(sample.drop_null())
        return np.asarray(found.field("counts"), dtype=np.int64)
    sample = array.take(rows) if rows is not None else array
    return np.asarray(pd.Series(sample).value_counts(dropna=True, sort=False).to_numpy(), dtype=np.int64)


def _distinct_estimate(array: Any, present: int) -> int:
    """Distinct non-null values, estimated from :data:`DISTINCT_SAMPLE_ROWS` random rows.

    Hashing every text value costs far more than the rest of a profile, so the count is estimated
    with Shlosser's estimator from a uniform sample (fixed seed; random rather than evenly spaced
    rows, which alias with periodic data): ``d + f1 * sum((1-q)^i f_i) / sum(i q (1-q)^(i-1) f_i)``
    where ``d`` values were seen in the sample, ``f_i`` of them ``i`` times, ``q`` the sampled
    fraction. Exact when the column is no longer than the sample; right for all-unique columns
    and for a few categories.
    """
    if present == 0:
        return 0
    counts = _value_counts(array)
    seen, sampled = len(counts), int(counts.sum())
    if sampled == 0 or sampled >= present:
        return seen
    q = sampled / present
    frequency = np.bincount(counts)  # frequency[i]: values seen i times
    times = np.arange(len(frequency))
    numerator = float(((1 - q) ** times * frequency)[1:].sum())
    denominator = float((times * q * (1 - q) ** (times - 1) * frequency)[1:].sum())
    estimate = seen + frequency[1] * numerator / denominator if denominator > 0 else seen
    return int(min(present, round(estimate)))


def _records(frame: pd.DataFrame) -> tuple[dict[str, Any], ...]:
    head = frame.head(MAX_FAILING_ROWS)
    labels = [column_label(column) for column in head.columns]
    return tuple(dict(zip(labels, row, strict=True)) for row in head.itertuples(index=False, name=None))


Outcome = tuple[int, str, pd.DataFrame | None]


def _not_null(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> Outcome:
    columns = list(check.params["columns"])
    mask = frame[columns].isna().any(axis=1)
    count = int(mask.sum())
    per_column = {column: int(frame[column].isna().sum()) for column in columns}
    detail = ", ".join(f"{column}: {n}" for column, n in per_column.items() if n)
    return count, f"{count} row(s) with nulls ({detail})" if count else "no nulls", frame[mask]


def _unique(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> Outcome:
    columns = list(check.params["columns"])
    keys = frame[columns]
    mask = keys.duplicated(keep=False) & keys.notna().all(axis=1)
    count = int(mask.sum())
    message = f"{count} row(s) share a value of {', '.join(columns)}" if count else "all unique"
    return count, message, frame[mask]


def _accepted_values(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> Outcome:
    column = check.params["column"]
    values = frame[column]
    mask = values.notna() & ~values.isin(list(check.params["values"]))
    count = int(mask.sum())
    unexpected = sorted(map(str, values[mask].unique()[:5]))
    message = f"{count} row(s) with other values, e.g. {', '.join(unexpected)}" if count else "all accepted"
    return count, message, frame[mask]


def _row_count(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> Outcome:
    rows, low, high = len(frame), check.params.get("min"), check.params.get("max")
    if low is not None and rows < low:
        return 1, f"{rows} row(s); expected at least {low}", None
    if high is not None and rows > high:
        return 1, f"{rows} row(s); expected at most {high}", None
    return 0, f"{rows} row(s)", None


def _expression(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> Outcome:
    condition = check.params["condition"]
    # pandas' own expression grammar (columns, comparisons, arithmetic, and/or/not; no calls or
    # imports), not Python's eval; no ``@name`` can reach this module's variables
    result = frame.eval(condition, local_dict={}, global_dict={})
    if not isinstance(result, pd.Series) or not pd.api.types.is_bool_dtype(result.dtype):
        raise TypeError(f"{condition!r} is not a per-row true/false condition")
    mask = ~result.fillna(False).astype(bool)
    count = int(mask.sum())
    return count, f"{count} row(s) where {condition!r} does not hold" if count else "holds", frame[mask]


def _relationship(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> Outcome:
    column, target, field = check.params["column"], check.params["to"], check.params["field"]
    parent = inputs[target]
    values = frame[column]
    mask = values.notna() & ~values.isin(parent[field].dropna().unique())
    count = int(mask.sum())
    message = f"{count} row(s) whose {column} is not in {target}.{field}" if count else "all found"
    return count, message, frame[mask]


def _freshness(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> Outcome:
    column, max_age = check.params["column"], float(check.params["max_age"])
    stamps = pd.to_datetime(frame[column], utc=True, errors="coerce").dropna()
    if stamps.empty:
        return 1, f"no timestamps in {column}", None
    newest = stamps.max()
    age = time.time() - newest.timestamp()
    if age > max_age:
        return 1, f"newest {column} is {newest.isoformat()}, {_hours(age)} old (max {_hours(max_age)})", None
    return 0, f"newest {column} is {_hours(age)} old", None


def _custom(check: Check, frame: pd.DataFrame, inputs: Mapping[str, Any]) -> Outcome:
    function: Callable[[pd.DataFrame], Any] = check.params["function"]
    result = function(frame)
    failing_rows = None
    if isinstance(result, tuple) and len(result) == 2:
        result, failing_rows = result
    if not isinstance(result, (bool, np.bool_)):
        raise TypeError(f"returned {type(result).__name__}; expected True/False or (passed, failing_rows)")
    if failing_rows is not None and not isinstance(failing_rows, pd.DataFrame):
        raise TypeError(f"returned failing rows as {type(failing_rows).__name__}; expected a DataFrame")
    if result:
        return 0, "passed", None
    count = len(failing_rows) if failing_rows is not None and len(failing_rows) else 1
    return count, "failed", failing_rows


def _hours(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


_EVALUATORS: dict[str, Callable[[Check, pd.DataFrame, Mapping[str, Any]], Outcome]] = {
    "not_null": _not_null,
    "unique": _unique,
    "accepted_values": _accepted_values,
    "row_count": _row_count,
    "expression": _expression,
    "relationship": _relationship,
    "freshness": _freshness,
    "custom": _custom,
}

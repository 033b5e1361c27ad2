"""Turning DataFrame cell values into JSON-safe, faithful values (pure functions).

Timestamps become ISO 8601 strings, NaN/NaT/None become ``null``, infinities the strings
``"Infinity"``/``"-Infinity"``, ``Decimal`` its exact string, bytes ``"base64:..."``; nested lists and
dicts are converted recursively (bounded in length and depth); strings longer than the limit are
cut and marked with ``… [+N chars]``.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

from odibi_otel._internal.text import MAX_STRING, truncate_text

__all__ = ["MAX_ITEMS", "MAX_STRING", "json_safe"]

MAX_ITEMS: Final = 50
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_MAX_DEPTH: Final = 6


def json_safe(value: Any, max_string: int = MAX_STRING, _depth: int = 0) -> Any:
    """A JSON-serialisable rendering of ``value`` (see the module docstring for the rules)."""
    kind = type(value)  # the common sample values first, by exact type (cheaper than isinstance)
    if kind is str:
        return truncate_text(value, max_string)
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if kind is float:
        return _float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array holds a single scalar
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return truncate_text(value, max_string)
    if isinstance(value, np.generic) and not isinstance(value, (np.datetime64, np.timedelta64)):
        # datetime64/timedelta64 are converted below: their .item() is an int for ns units
        item = value.item()
        if type(item) is type(value):  # longdouble and the like have no Python equivalent
            item = complex(item) if isinstance(item, np.complexfloating) else float(item)
        return json_safe(item, max_string, _depth)
    if isinstance(value, int):
        # OTLP carries 64-bit integers only: bigger ones are kept exactly, as text
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, float):
        return _float(value)
    if _is_missing(value):
        return None
    converted = _convert_scalar(value, max_string)
    if converted is not _UNHANDLED:
        return converted
    if _depth >= _MAX_DEPTH:
        return truncate_text(repr(value), max_string)
    if isinstance(value, Mapping):
        items = list(value.items())
        result = {
            truncate_text(str(key), max_string): json_safe(item, max_string, _depth + 1)
            for key, item in items[:MAX_ITEMS]
        }
        if len(items) > MAX_ITEMS:
            result["…"] = f"[+{len(items) - MAX_ITEMS} items]"
        return result
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        items = list(value)
        result_list = [json_safe(item, max_string, _depth + 1) for item in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            result_list.append(f"… [+{len(items) - MAX_ITEMS} items]")
        return result_list
    return truncate_text(str(value), max_string)


_UNHANDLED: Final = object()


def _convert_scalar(value: Any, max_string: int) -> Any:
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.timedelta64):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, Decimal):
        if value.is_nan():  # also a signalling NaN, which float() refuses
            return None
        return str(value) if value.is_finite() else _float(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return truncate_text("base64:" + base64.b64encode(raw).decode("ascii"), max_string)
    if isinstance(value, (uuid.UUID, pd.Period, pd.Interval, complex)):
        return truncate_text(str(value), max_string)
    return _UNHANDLED


def _float(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _is_missing(value: Any) -> bool:
    if value is pd.NaT or value is pd.NA:
        return True
    try:
        result = pd.isna(value)
    except (TypeError, ValueError, ArithmeticError):  # e.g. Decimal("sNaN") signals
        return False
    return isinstance(result, (bool, np.bool_)) and bool(result)

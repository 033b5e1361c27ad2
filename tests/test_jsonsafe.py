"""JSON-safe sample values: every conversion rule of ``odibi_otel._internal.jsonsafe``, table-driven."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from odibi_otel._internal.text import truncate_text
from odibi_otel.lineage.jsonsafe import MAX_ITEMS, MAX_STRING, json_safe

PARIS = dt.timezone(dt.timedelta(hours=1))

CASES: list[tuple[str, Any, Any]] = [
    # plain JSON values pass through
    ("none", None, None),
    ("true", True, True),
    ("false", False, False),
    ("int", 42, 42),
    ("big int beyond int64: exact, as text", 2**70, str(2**70)),
    ("int64 max stays a number", 2**63 - 1, 2**63 - 1),
    ("float", 1.5, 1.5),
    ("negative zero", -0.0, -0.0),
    ("string", "héllo", "héllo"),
    ("empty string", "", ""),
    # missing values → null
    ("nan", float("nan"), None),
    ("numpy nan", np.float64("nan"), None),
    ("float32 nan", np.float32("nan"), None),
    ("pd.NA", pd.NA, None),
    ("pd.NaT", pd.NaT, None),
    ("numpy NaT datetime", np.datetime64("NaT"), None),
    ("numpy NaT timedelta", np.timedelta64("NaT"), None),
    ("decimal NaN", Decimal("NaN"), None),
    ("decimal signalling NaN", Decimal("sNaN"), None),
    # infinities → strings (JSON has no infinity)
    ("+inf", math.inf, "Infinity"),
    ("-inf", -math.inf, "-Infinity"),
    ("numpy +inf", np.float64("inf"), "Infinity"),
    ("numpy -inf", np.float32("-inf"), "-Infinity"),
    ("decimal +inf", Decimal("Infinity"), "Infinity"),
    ("decimal -inf", Decimal("-Infinity"), "-Infinity"),
    # timestamps → ISO 8601 (time zone kept)
    ("naive timestamp", pd.Timestamp("2024-03-01 12:30:00"), "2024-03-01T12:30:00"),
    ("utc timestamp", pd.Timestamp("2024-03-01 12:30", tz="UTC"), "2024-03-01T12:30:00+00:00"),
    (
        "tz-aware timestamp",
        pd.Timestamp("2024-07-01 12:30", tz="Europe/Paris"),
        "2024-07-01T12:30:00+02:00",
    ),
    ("timestamp with ns", pd.Timestamp("2024-03-01 00:00:00.000000001"), "2024-03-01T00:00:00.000000001"),
    ("datetime", dt.datetime(2024, 3, 1, 8, 0, tzinfo=PARIS), "2024-03-01T08:00:00+01:00"),
    ("date", dt.date(2024, 3, 1), "2024-03-01"),
    ("time", dt.time(8, 15, 30), "08:15:30"),
    (
        "numpy datetime64[ns]",
        np.datetime64("2024-03-01T00:00:00.000000001", "ns"),
        "2024-03-01T00:00:00.000000001",
    ),
    ("numpy datetime64[s]", np.datetime64("2024-03-01T10:00:00", "s"), "2024-03-01T10:00:00"),
    ("numpy datetime64[D]", np.datetime64("2024-03-01", "D"), "2024-03-01T00:00:00"),
    ("timedelta", pd.Timedelta("1 day 2 hours"), "P1DT2H0M0S"),
    ("python timedelta", dt.timedelta(seconds=90), "P0DT0H1M30S"),
    ("numpy timedelta64[ns]", np.timedelta64(5, "ns"), "P0DT0H0M0.000000005S"),
    ("numpy timedelta64[s]", np.timedelta64(5, "s"), "P0DT0H0M5S"),
    # Decimal exact (never through float)
    ("decimal", Decimal("0.1"), "0.1"),
    ("decimal trailing zeros", Decimal("1.10"), "1.10"),
    ("decimal many digits", Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),
    # bytes → base64 with a prefix
    ("bytes", b"\x00\xffab", "base64:AP9hYg=="),
    ("bytearray", bytearray(b"ab"), "base64:YWI="),
    ("memoryview", memoryview(b"ab"), "base64:YWI="),
    ("numpy bytes", np.bytes_(b"ab"), "base64:YWI="),
    ("empty bytes", b"", "base64:"),
    # numpy scalars → Python values
    ("numpy int64", np.int64(7), 7),
    ("numpy uint8", np.uint8(255), 255),
    ("numpy float32", np.float32(0.5), 0.5),
    ("numpy bool", np.bool_(True), True),
    ("numpy str", np.str_("x"), "x"),
    ("numpy longdouble", np.longdouble(1.5), 1.5),
    ("numpy complex", np.complex128(1 + 2j), "(1+2j)"),
    ("numpy clongdouble", np.clongdouble(1 + 1j), "(1+1j)"),
    ("0-d array", np.array(5), 5),
    ("0-d nan array", np.array(np.nan), None),
    # other scalars → text
    ("uuid", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("period", pd.Period("2024-03", "M"), "2024-03"),
    ("interval", pd.Interval(0, 1), "(0, 1]"),
    ("complex", 1j, "1j"),
    # nested containers, converted recursively
    ("list", [1, None, float("nan"), "a"], [1, None, None, "a"]),
    ("tuple", (1, 2), [1, 2]),
    ("frozenset", frozenset({3}), [3]),
    (
        "dict",
        {"a": pd.Timestamp("2024-01-01"), "b": [Decimal("1.5")]},
        {"a": "2024-01-01T00:00:00", "b": ["1.5"]},
    ),
    ("dict with non-string keys", {1: "x", (2, 3): "y"}, {"1": "x", "(2, 3)": "y"}),
    ("nested lists and dicts", [{"k": [1, [2, {"z": None}]]}], [{"k": [1, [2, {"z": None}]]}]),
    ("numpy 1-d array", np.array([1, 2, 3]), [1, 2, 3]),
    ("numpy 2-d array", np.array([[1.0, np.nan], [np.inf, 2.0]]), [[1.0, None], ["Infinity", 2.0]]),
    (
        "numpy datetime array",
        np.array(["2024-01-01T00:00:00.5"], dtype="datetime64[ns]"),
        ["2024-01-01T00:00:00.500000"],
    ),
    ("numpy object array", np.array([pd.NA, b"a"], dtype=object), [None, "base64:YQ=="]),
    ("series", pd.Series([1, None]), [1.0, None]),
    ("empty list", [], []),
    ("empty dict", {}, {}),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_json_safe(value: Any, expected: Any) -> None:
    result = json_safe(value)
    assert result == expected
    assert type(result) is type(expected) or isinstance(result, type(expected))
    # and the result really is strict JSON (no NaN/Infinity tokens)
    assert json.loads(json.dumps(result, allow_nan=False)) == json.loads(json.dumps(expected))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(7), int),
        (np.float32(0.5), float),
        (np.bool_(False), bool),
        (np.uint64(2**63), str),  # beyond int64: kept exactly as text
        (np.longdouble(2.5), float),
    ],
)
def test_numpy_scalars_become_builtin_types(value: Any, expected: type) -> None:
    assert type(json_safe(value)) is expected


def test_negative_zero_keeps_its_sign() -> None:
    assert math.copysign(1.0, json_safe(-0.0)) == -1.0


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("eleven char", 10, "eleven cha… [+1 chars]"),
        ("x" * 1000, 5, "xxxxx… [+995 chars]"),
        ("", 0, ""),
        ("ab", 0, "… [+2 chars]"),
        # lone surrogates cannot be UTF-8 encoded (JSON files, OTLP): escaped
        ("ok\udcff", 10, "ok\\udcff"),
        ("\udcff" * 3, 2, "\\udcff\\udcff… [+1 chars]"),
        ("😀 fine", 10, "😀 fine"),
    ],
)
def test_truncate_text(text: str, limit: int, expected: str) -> None:
    assert truncate_text(text, limit) == expected


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("a" * (MAX_STRING + 3), MAX_STRING, "a" * MAX_STRING + "… [+3 chars]"),
        ("abcdef", 3, "abc… [+3 chars]"),
        (["abcdef"], 3, ["abc… [+3 chars]"]),
        ({"abcdef": "uvwxyz"}, 3, {"abc… [+3 chars]": "uvw… [+3 chars]"}),
        (b"abcdefgh", 10, "base64:YWJ… [+9 chars]"),
        (uuid.UUID(int=1), 8, "00000000… [+28 chars]"),
    ],
)
def test_long_strings_are_truncated_with_a_marker(value: Any, limit: int, expected: Any) -> None:
    assert json_safe(value, limit) == expected


def test_default_limit_is_max_string() -> None:
    long = "é" * (MAX_STRING * 5)
    result = json_safe(long)
    assert result.startswith("é" * MAX_STRING)
    assert result.endswith(f"… [+{MAX_STRING * 4} chars]")


@pytest.mark.parametrize(
    "container",
    [
        list(range(MAX_ITEMS + 7)),
        tuple(range(MAX_ITEMS + 7)),
        np.arange(MAX_ITEMS + 7),
        pd.Series(range(MAX_ITEMS + 7)),
    ],
    ids=["list", "tuple", "ndarray", "series"],
)
def test_long_sequences_are_cut_with_a_marker(container: Any) -> None:
    result = json_safe(container)
    assert result[:MAX_ITEMS] == list(range(MAX_ITEMS))
    assert result[MAX_ITEMS:] == ["… [+7 items]"]


def test_large_dicts_are_cut_with_a_marker() -> None:
    result = json_safe({f"k{i}": i for i in range(MAX_ITEMS + 2)})
    assert len(result) == MAX_ITEMS + 1
    assert result["k0"] == 0
    assert result["…"] == "[+2 items]"


def test_deep_nesting_is_bounded() -> None:
    value: Any = "leaf"
    for _ in range(20):
        value = [value]
    result = json_safe(value)
    json.dumps(result, allow_nan=False)
    depth = 0
    while isinstance(result, list):
        result, depth = result[0], depth + 1
    assert isinstance(result, str)
    assert depth < 20


def test_unknown_objects_become_their_text() -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    assert json_safe(Thing()) == "a thing"
    assert json_safe(Thing(), 3) == "a t… [+4 chars]"


def test_a_dataframe_row_is_json_safe() -> None:
    frame = pd.DataFrame(
        {
            "when": pd.to_datetime(["2024-01-01 10:00", None]).tz_localize("UTC"),
            "amount": [Decimal("9.99"), None],
            "score": [np.inf, np.nan],
            "tags": [["a", "b"], {"k": np.int64(1)}],
            "blob": [b"\x01", None],
            "nullable": pd.array([1, None], dtype="Int64"),
        }
    )
    rows = [[json_safe(v) for v in row] for row in frame.to_numpy(dtype=object)]
    assert rows == [
        ["2024-01-01T10:00:00+00:00", "9.99", "Infinity", ["a", "b"], "base64:AQ==", 1],
        [None, None, None, {"k": 1}, None, None],
    ]
    json.dumps(rows, allow_nan=False)

"""Schemas of frames and their differences: ``odibi_otel.lineage.schema_diff``, table-driven."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from odibi_otel.engines._pandas_describe import column_label, column_labels, frame_schema
from odibi_otel.lineage.schema_diff import merge_schemas, schema_diff


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("name", "name"),
        ("", ""),
        (0, "0"),
        (1.5, "1.5"),
        (None, "None"),
        (True, "True"),
        (("a", "b"), "a.b"),
        (("a", 1), "a.1"),
        (("a", ""), "a."),
        (pd.Timestamp("2024-01-01"), "2024-01-01 00:00:00"),
    ],
)
def test_column_label(column: Any, expected: str) -> None:
    assert column_label(column) == expected


FRAMES: list[tuple[str, pd.DataFrame, dict[str, str]]] = [
    ("empty", pd.DataFrame(), {}),
    (
        "common dtypes",
        pd.DataFrame(
            {
                "i": np.array([1], dtype="int64"),
                "f": np.array([1.0], dtype="float32"),
                "b": [True],
                "o": pd.Series([object()], dtype=object),
                "t": pd.to_datetime(["2024-01-01"]).as_unit("ns"),
                "tz": pd.to_datetime(["2024-01-01"]).as_unit("ns").tz_localize("UTC"),
                "n": pd.array([1], dtype="Int64"),
                "c": pd.Categorical(["x"]),
            }
        ),
        {
            "i": "int64",
            "f": "float32",
            "b": "bool",
            "o": "object",
            "t": "datetime64[ns]",
            "tz": "datetime64[ns, UTC]",
            "n": "Int64",
            "c": "category",
        },
    ),
    ("column order kept", pd.DataFrame({"z": [1], "a": [1.0]}), {"z": "int64", "a": "float64"}),
    (
        "duplicate names get #2, #3",
        pd.DataFrame([[1, 2.0, "x"]], columns=["a", "a", "a"]).astype({"a": object}),
        {"a": "object", "a#2": "object", "a#3": "object"},
    ),
    (
        "duplicate names keep their own dtypes",
        pd.concat([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1.5]})], axis=1),
        {"a": "int64", "a#2": "float64"},
    ),
    (
        "a suffix that is already taken is skipped",
        pd.DataFrame([[1, 2, 3]], columns=["a", "a#2", "a"]),
        {"a": "int64", "a#2": "int64", "a#3": "int64"},
    ),
    (
        "non-string column names",
        pd.DataFrame({"i": [1], "f": [2.0], "o": pd.Series(["x"], dtype=object)}).set_axis(
            pd.Index([0, 1.5, None], dtype=object), axis=1
        ),
        {"0": "int64", "1.5": "float64", "None": "object"},
    ),
    (
        "int and str names that print alike",
        pd.DataFrame([[1, 2.0]], columns=pd.Index([1, "1"], dtype=object)),
        {"1": "int64", "1#2": "float64"},
    ),
    (
        "MultiIndex columns",
        pd.DataFrame(
            [[1, 2.0, "x"]],
            columns=pd.MultiIndex.from_tuples([("sales", "q1"), ("sales", "q2"), ("meta", "id")]),
        ).astype({("meta", "id"): object}),
        {"sales.q1": "int64", "sales.q2": "float64", "meta.id": "object"},
    ),
    (
        "MultiIndex with non-string levels",
        pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([(2024, 1), (2024, 2)])),
        {"2024.1": "int64", "2024.2": "int64"},
    ),
    ("zero rows still have a schema", pd.DataFrame({"a": pd.Series([], dtype="int8")}), {"a": "int8"}),
]


@pytest.mark.parametrize(("frame", "expected"), [f[1:] for f in FRAMES], ids=[f[0] for f in FRAMES])
def test_frame_schema(frame: pd.DataFrame, expected: dict[str, str]) -> None:
    schema = frame_schema(frame)
    assert schema == expected
    assert list(schema) == list(expected)  # column order


def test_frame_schema_of_the_default_string_dtype_is_stable() -> None:
    schema = frame_schema(pd.DataFrame({"s": ["a"]}))
    assert schema == {"s": str(pd.DataFrame({"s": ["a"]})["s"].dtype)}


@pytest.mark.parametrize(
    ("schemas", "expected"),
    [
        ([], {}),
        ([{"a": "int64"}], {"a": "int64"}),
        ([{"a": "int64"}, {"b": "str"}], {"a": "int64", "b": "str"}),
        (
            [{"id": "int64", "x": "str"}, {"id": "int64", "y": "float64"}],
            {"id": "int64", "x": "str", "y": "float64"},
        ),
        # the first schema that has a column decides its dtype
        ([{"id": "int64"}, {"id": "float64"}], {"id": "int64"}),
        ([{}, {"a": "bool"}, {}], {"a": "bool"}),
    ],
)
def test_merge_schemas(schemas: list[dict[str, str]], expected: dict[str, str]) -> None:
    merged = merge_schemas(schemas)
    assert merged == expected
    assert list(merged) == list(expected)


DIFFS: list[tuple[str, dict[str, str], dict[str, str], dict[str, list[dict[str, str]]]]] = [
    ("both empty", {}, {}, {"added": [], "removed": [], "changed": []}),
    (
        "identical",
        {"a": "int64", "b": "str"},
        {"a": "int64", "b": "str"},
        {"added": [], "removed": [], "changed": []},
    ),
    (
        "reordered only",
        {"a": "int64", "b": "str"},
        {"b": "str", "a": "int64"},
        {"added": [], "removed": [], "changed": []},
    ),
    (
        "from nothing (a source)",
        {},
        {"a": "int64", "b": "str"},
        {
            "added": [{"column": "a", "dtype": "int64"}, {"column": "b", "dtype": "str"}],
            "removed": [],
            "changed": [],
        },
    ),
    (
        "to nothing (a sink)",
        {"a": "int64"},
        {},
        {"added": [], "removed": [{"column": "a", "dtype": "int64"}], "changed": []},
    ),
    (
        "added, removed and changed at once",
        {"id": "int64", "amount": "int64", "email": "str"},
        {"id": "int64", "amount": "float64", "total": "float64"},
        {
            "added": [{"column": "total", "dtype": "float64"}],
            "removed": [{"column": "email", "dtype": "str"}],
            "changed": [{"column": "amount", "before": "int64", "after": "float64"}],
        },
    ),
    (
        "renamed column is removed + added",
        {"old": "int64"},
        {"new": "int64"},
        {
            "added": [{"column": "new", "dtype": "int64"}],
            "removed": [{"column": "old", "dtype": "int64"}],
            "changed": [],
        },
    ),
    (
        "order of each list follows its schema",
        {"r2": "int8", "r1": "int8", "k": "int8", "c2": "int8", "c1": "int8"},
        {"a2": "int8", "k": "int8", "c1": "str", "a1": "int8", "c2": "str"},
        {
            "added": [{"column": "a2", "dtype": "int8"}, {"column": "a1", "dtype": "int8"}],
            "removed": [{"column": "r2", "dtype": "int8"}, {"column": "r1", "dtype": "int8"}],
            "changed": [
                {"column": "c1", "before": "int8", "after": "str"},
                {"column": "c2", "before": "int8", "after": "str"},
            ],
        },
    ),
    (
        "timezone change is a type change",
        {"t": "datetime64[ns]"},
        {"t": "datetime64[ns, UTC]"},
        {
            "added": [],
            "removed": [],
            "changed": [{"column": "t", "before": "datetime64[ns]", "after": "datetime64[ns, UTC]"}],
        },
    ),
]


@pytest.mark.parametrize(("before", "after", "expected"), [d[1:] for d in DIFFS], ids=[d[0] for d in DIFFS])
def test_schema_diff(before: dict[str, str], after: dict[str, str], expected: dict[str, Any]) -> None:
    assert schema_diff(before, after) == expected


def test_schema_diff_of_real_frames_with_duplicates_and_multiindex() -> None:
    before = pd.DataFrame(
        [[1, 2, "x"]],
        columns=pd.MultiIndex.from_tuples([("k", "id"), ("v", "n"), ("v", "n")]),
    )
    after = before.copy()
    after[("v", "total")] = 1.5
    after = after.astype({("k", "id"): "float64"})
    after = after.drop(columns=[("v", "n")])
    diff = schema_diff(frame_schema(before), frame_schema(after))
    assert diff == {
        "added": [{"column": "v.total", "dtype": "float64"}],
        "removed": [
            {"column": "v.n", "dtype": "int64"},
            {"column": "v.n#2", "dtype": frame_schema(before)["v.n#2"]},
        ],
        "changed": [{"column": "k.id", "before": "int64", "after": "float64"}],
    }


def test_schema_diff_does_not_modify_its_arguments() -> None:
    before, after = {"a": "int64"}, {"a": "float64", "b": "str"}
    schema_diff(before, after)
    assert before == {"a": "int64"}
    assert after == {"a": "float64", "b": "str"}


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param(pd.Index(["a", "b", "ü"]), id="default-str"),
        pytest.param(pd.Index(["a", None, "c"], dtype="str"), id="str-with-null"),
        pytest.param(pd.Index(["a", "b"], dtype="string[pyarrow]"), id="arrow-string"),
        pytest.param(pd.Index(["a", 1, 2.5], dtype=object), id="object"),
        pytest.param(pd.Index([3, 1, 2]), id="int"),
        pytest.param(pd.MultiIndex.from_tuples([("a", 1), ("b", 2)]), id="multiindex"),
    ],
)
def test_column_labels_agree_with_the_column_index(columns: pd.Index) -> None:
    frame = pd.DataFrame(np.zeros((2, len(columns))), columns=columns)
    assert column_labels(frame) == [column_label(column) for column in frame.columns.tolist()]

"""DataFrames with odd content through a full run: tracker, metrics, events, cache, writes, story.

The tracker's row sample of each frame is also compared with pandas' own row slice here. Sample
conversion of odd values is unit-tested in ``tests/test_tracker.py``
(``test_sample_values_are_json_safe_and_faithful``, ``test_odd_column_labels_in_snapshots``) and
``tests/test_jsonsafe.py``; here each odd frame goes through everything a run does with data,
twice (the second run from the cache), and every output is checked.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from odibi_otel import Step, StoryGenerator
from odibi_otel.lineage.from_telemetry import lineage_from_otlp_file

from .harness import Observed

pytestmark = [
    pytest.mark.reliability,
    # pandas' own warnings while writing such frames (they are the data's, not odibi_otel's)
    pytest.mark.filterwarnings("ignore:The DataFrame has column names of mixed type"),
    pytest.mark.filterwarnings("ignore:Period.* is deprecated"),
]

HUGE = 2_000_000  # characters in the huge strings


def _frames() -> dict[str, Callable[[], pd.DataFrame]]:
    return {
        "empty": lambda: pd.DataFrame(),
        "no_rows": lambda: pd.DataFrame(
            {"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype=object)}
        ),
        "zero_columns": lambda: pd.DataFrame(index=range(4)),
        "duplicate_columns": lambda: pd.DataFrame([[1, 2, "x"], [3, 4, "y"]], columns=["a", "a", "b"]),
        "multiindex_columns": lambda: pd.DataFrame(
            [[1, 2.5], [3, None]], columns=pd.MultiIndex.from_tuples([("x", "a"), ("x", "b")])
        ),
        "multiindex_rows": lambda: pd.DataFrame(
            {"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
        ),
        "non_string_columns": lambda: pd.DataFrame(
            {0: [1], 1.5: [2], None: [3], (1, 2): [4], dt.date(2020, 1, 1): [5], True: [6]}
        ),
        "mixed_objects": lambda: pd.DataFrame(
            {
                "m": [
                    1,
                    "a",
                    2.5,
                    None,
                    b"\x00\xff",
                    decimal.Decimal("1.10"),
                    uuid.UUID(int=1),
                    [1, "x"],
                    {"k": 1},
                    object(),
                ],
            }
        ),
        "huge_strings": lambda: pd.DataFrame(
            {
                "s": pd.Series(["x" * HUGE, "\ud800 lone surrogate", "é" * 10], dtype=object),
                "y" * 5000: ["y" * HUGE, "b", "c"],
            }
        ),
        "nan_nat_inf": lambda: pd.DataFrame(
            {
                "f": [np.nan, np.inf, -np.inf, -0.0],
                "t": [pd.NaT, pd.Timestamp("2020-01-01"), pd.NaT, pd.Timestamp.max],
                "td": [pd.NaT, pd.Timedelta(1), pd.Timedelta.max, pd.Timedelta.min],
                "o": pd.Series([None, pd.NA, np.nan, pd.NaT], dtype=object),
            }
        ),
        "timezones": lambda: pd.DataFrame(
            {
                "berlin_dst": pd.date_range("2024-03-31 00:30", periods=3, freq="h", tz="Europe/Berlin"),
                "utc": pd.date_range("2024-01-01", periods=3, tz="UTC"),
                "kolkata": pd.date_range("2024-01-01", periods=3, tz="Asia/Kolkata"),
            }
        ),
        "nested_objects": lambda: pd.DataFrame(
            {
                "n": [
                    {"a": [1, {"b": [2, [3, [4, [5, [6, [7]]]]]]}]},
                    [[[[[[[[1]]]]]]]],
                    (1, 2),
                    {1, 2},
                    np.array([1, 2]),
                    pd.DataFrame({"x": [1]}),
                ],
            }
        ),
        "big_integers": lambda: pd.DataFrame({"i": [2**63 - 1, -(2**63)], "o": [2**200, -(2**100)]}),
        "extension_dtypes": lambda: pd.DataFrame(
            {
                "cat": pd.Categorical(["a", None, "b"]),
                "int": pd.array([1, None, 3], dtype="Int64"),
                "bool": pd.array([True, None, False], dtype="boolean"),
                "str": pd.array(["a", None, "c"], dtype="string"),
                "arrow": pd.array([1, None, 3], dtype="int64[pyarrow]"),
                "period": pd.period_range("2020-01", periods=3, freq="M"),
                "interval": pd.interval_range(0, 3),
                "complex": [1 + 2j, np.nan, 0j],
            }
        ),
        "html_everywhere": lambda: pd.DataFrame(
            {"<script>alert(1)</script>": ["</script><script>alert(2)</script>"]}
        ),
    }


FRAMES = _frames()

#: More frames for the tracker's row sample alone (plain ones, and more rows than it keeps).
SAMPLE_FRAMES = {
    **FRAMES,
    "numbers_and_text": lambda: pd.DataFrame(
        {"i": [1, 2, 3], "f": [0.5, np.nan, -0.0], "s": ["a", None, "c"]}
    ),
    "object_text": lambda: pd.DataFrame({"s": pd.Series(["x", None, "z"], dtype=object)}),
    "datetimes": lambda: pd.DataFrame(
        {
            "t": [pd.NaT, pd.Timestamp("2020-01-01")],
            "tz": pd.date_range("2024-03-31 00:30", periods=2, freq="h", tz="Europe/Berlin"),
            "td": [pd.Timedelta(1), pd.NaT],
        }
    ),
    "sparse": lambda: pd.DataFrame({"sparse": pd.arrays.SparseArray([0, 0, 1])}),
    "ten_rows": lambda: pd.DataFrame({"i": range(10), "s": [f"v{k}" for k in range(10)]}),
}


@pytest.mark.parametrize("label", list(SAMPLE_FRAMES))
def test_tracker_sample_equals_pandas_row_slice_as_objects(label: str) -> None:
    from odibi_otel.engines._pandas_describe import head_values

    frame = SAMPLE_FRAMES[label]()
    expected = frame.iloc[:5].to_numpy(dtype=object, copy=True)
    got = head_values(frame, 5)
    assert got.shape == expected.shape and got.dtype == object
    assert [[(type(v), repr(v)) for v in row] for row in got] == [
        [(type(v), repr(v)) for v in row] for row in expected
    ]


def _write_steps(out: Path) -> list[Step]:
    return [
        Step(f"write_{fmt}", "store", "write", str(out / f"data.{fmt}"), inputs=["same"])
        for fmt in ("csv", "parquet", "jsonl")
    ]


@pytest.mark.parametrize("label", list(FRAMES))
def test_odd_frame_through_a_full_run_twice(tmp_path: Path, label: str) -> None:
    frame = FRAMES[label]()
    make = _closure(frame)
    steps = [
        Step("make", "ingest", "function", make, outputs=["odd"]),
        Step("same", "transform", "function", _identity, inputs=["odd"], outputs=["same"]),
        *_write_steps(tmp_path / "out"),
    ]
    for attempt in ("cold", "warm"):
        observed = Observed(tmp_path / attempt)
        try:
            result = observed.run(steps, fail_fast=False, enable_cache=True, cache_dir=tmp_path / "cache")
            _check_run(observed, result, frame, attempt)
        finally:
            observed.close()


def _closure(frame: pd.DataFrame) -> Callable[[], pd.DataFrame]:
    def make() -> pd.DataFrame:
        return frame

    return make


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def _check_run(observed: Observed, result: dict[str, Any], frame: pd.DataFrame, attempt: str) -> None:
    rows, columns = frame.shape
    assert {"make", "same"} <= set(result["successful_nodes"]), result["errors"]
    # what the nodes handed on is the frame itself, or (from the cache) an exact copy
    for key in ("odd", "same"):
        got = result["outputs"][key]
        if got is not frame:
            assert attempt == "warm" and "make" in result["cache_hits"]
            pd.testing.assert_frame_equal(got, frame, check_exact=True)
            assert list(got.columns) == list(frame.columns)  # labels keep their types

    # writes either work or fail cleanly, visible everywhere
    for name in ("write_csv", "write_parquet", "write_jsonl"):
        assert (name in result["successful_nodes"]) != (name in result["failed_nodes"])
        if name in result["failed_nodes"]:
            assert observed.node_spans()[name].attributes["odibi.node.status"] == "failed"
            assert [p["step_name"] for p in observed.events.of("node_error")].count(name) == 1
        else:
            assert (observed.folder.parent / "out" / f"data.{name.removeprefix('write_')}").is_file()
    assert not list((observed.folder.parent / "out").glob(".*.tmp"))  # failed writes leave nothing

    # spans and events carry the frame's true shape
    make_span = observed.node_spans()["make"].attributes
    assert make_span["odibi.node.rows_out"] == rows and make_span["odibi.node.columns_out"] == columns
    (complete,) = [p for p in observed.events.of("node_complete") if p["step_name"] == "make"]
    assert complete["row_count"] == rows and complete["column_count"] == columns

    # metrics
    (sample,) = observed.samples("odibi_node_rows_total", node="make")
    assert sample.value == rows

    # lineage: counts, schema, a JSON-safe sample
    tracker = result["tracker"]
    document = tracker.to_dict()
    snapshot = {step["name"]: step for step in document["steps"]}["make"]["after"]["odd"]
    assert snapshot["rows"] == rows and snapshot["columns"] == columns and len(snapshot["schema"]) == columns
    if snapshot["sample"] is not None:
        assert len(snapshot["sample"]["rows"]) == min(rows, 5)
        assert all(len(row) == columns for row in snapshot["sample"]["rows"])
    text = json.dumps(document, allow_nan=False)  # strict JSON: no NaN/Infinity literals
    assert len(text) < 200_000  # huge strings are cut in samples

    # story from the lineage file and from the telemetry file: the same page
    paths = observed.artifacts(tracker)
    story = paths["story"].read_text("utf-8")
    # the page's own script and its JSON data block only; payloads are text
    opening = '<script type="application/json" id="story-data">'
    assert story.count("<script") == 2 and story.count(opening) == 1
    json.loads(story.split(opening, 1)[1].split("</script>", 1)[0])  # the data block is whole
    assert lineage_from_otlp_file(paths["telemetry"]) == json.loads(paths["lineage"].read_text("utf-8"))
    assert StoryGenerator().render_html(paths["telemetry"]) == story
    json.loads(paths["metrics"].read_text("utf-8"))

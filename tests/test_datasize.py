"""DataFrame size estimates: exact for small frames, close for large object columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odibi_otel.datasize import SAMPLE_SIZE, estimate_frame_bytes


def deep(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(deep=True).sum())


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(pd.DataFrame({"i": np.arange(10), "f": np.linspace(0, 1, 10)}), id="numeric"),
        pytest.param(
            pd.DataFrame({"o": pd.Series(["a", "bb", None, "dddd"] * 5, dtype=object)}), id="object"
        ),
        pytest.param(
            pd.DataFrame({"s": pd.Series(["x", "yy", None], dtype="string[python]")}), id="python-str"
        ),
        pytest.param(
            pd.DataFrame({"s": pd.Series(["x", "yy", None], dtype="string[pyarrow]")}), id="arrow-str"
        ),
        pytest.param(pd.DataFrame({"c": pd.Categorical(["lo", "hi", "lo", "mid"])}), id="categorical"),
        pytest.param(pd.DataFrame({"t": pd.date_range("2024-01-01", periods=7, freq="D")}), id="datetime"),
        pytest.param(
            pd.DataFrame({"v": [1, 2, 3]}, index=pd.Index(["k1", "k2", "k3"], dtype=object)), id="obj-index"
        ),
        pytest.param(pd.DataFrame({"v": [1.0, 2.0]}, index=pd.RangeIndex(5, 7)), id="range-index"),
        pytest.param(pd.DataFrame(), id="empty"),
    ],
)
def test_small_frames_are_measured_exactly(frame: pd.DataFrame) -> None:
    assert estimate_frame_bytes(frame) == deep(frame)


def test_multiindex_counts_every_level() -> None:
    index = pd.MultiIndex.from_arrays([np.arange(4, dtype="int64"), np.arange(10, 14, dtype="int32")])
    frame = pd.DataFrame({"v": np.zeros(4)}, index=index)
    assert estimate_frame_bytes(frame) == 4 * 8 + 4 * 8 + 4 * 4


def test_large_object_columns_are_estimated_closely_from_a_sample() -> None:
    rng = np.random.default_rng(7)
    rows = SAMPLE_SIZE * 50
    lengths = rng.integers(1, 40, rows)
    values = np.array(["x" * int(n) for n in lengths], dtype=object)
    frame = pd.DataFrame({"text": values, "n": np.arange(rows)})
    exact = deep(frame)
    estimate = estimate_frame_bytes(frame)
    assert estimate != 0
    assert abs(estimate - exact) / exact < 0.02


def test_uniform_large_object_column_is_exact() -> None:
    frame = pd.DataFrame({"o": pd.Series(["same"] * (SAMPLE_SIZE * 3), dtype=object)})
    assert estimate_frame_bytes(frame) == deep(frame)

"""DataFrame size estimates: exact for small frames, close for large object columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odibi_otel.engines import _pandas_size as datasize
from odibi_otel.engines._pandas_size import SAMPLE_SIZE, estimate_frame_bytes


def deep(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(deep=True).sum())


def _consolidated_mixed() -> pd.DataFrame:
    """Several columns per dtype, stored by pandas as one 2-D block per dtype."""
    columns: dict[str, object] = {f"i{k}": np.arange(6, dtype="int64") * k for k in range(3)}
    columns.update({f"f{k}": np.linspace(0, k, 6) for k in range(2)})
    columns.update({f"o{k}": np.array(["a" * (j + k) for j in range(6)], dtype=object) for k in range(2)})
    frame = pd.DataFrame(columns)
    frame[["o0", "o1"]] = frame[["o0", "o1"]].astype(object)
    return frame._consolidate()


def _column_by_column() -> pd.DataFrame:
    frame = pd.DataFrame({"a": np.arange(4)})
    for k in range(5):
        frame[f"c{k}"] = np.arange(4, dtype="float64") * k
    frame["o"] = pd.Series(["x", None, "yyy", "z"], dtype=object)
    return frame


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
        pytest.param(_consolidated_mixed(), id="consolidated-blocks"),
        pytest.param(_consolidated_mixed()[["o1", "i0", "f1"]], id="column-subset"),
        pytest.param(_column_by_column(), id="unconsolidated"),
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


def test_consolidated_object_columns_are_each_sampled() -> None:
    rng = np.random.default_rng(11)
    rows = SAMPLE_SIZE * 20
    short = np.array(["s" * int(n) for n in rng.integers(1, 5, rows)], dtype=object)
    long = np.array(["L" * int(n) for n in rng.integers(100, 200, rows)], dtype=object)
    frame = pd.DataFrame({"short": short, "long": long}).astype(object)._consolidate()
    assert any(block.values.ndim == 2 and block.values.shape[0] == 2 for block in frame._mgr.blocks)
    exact = deep(frame)
    assert abs(estimate_frame_bytes(frame) - exact) / exact < 0.02


def test_frames_without_pandas_blocks_are_measured_by_column(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _consolidated_mixed()
    monkeypatch.setattr(datasize, "_blocks", lambda frame: None)
    assert estimate_frame_bytes(frame) == deep(frame)

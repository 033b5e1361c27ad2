"""The node output cache: hits, misses on every change that matters, damaged entries, safe format."""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from odibi_otel import Orchestrator, Step, load_pipeline
from odibi_otel.pipeline.cache import NodeCache, content_fingerprint

if TYPE_CHECKING:
    from tests.conftest import Tracing


def scale(frame: pd.DataFrame, factor: int) -> pd.DataFrame:
    out = frame.copy()
    out["scaled"] = out["v"] * factor
    return out


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"total": [int(frame["scaled"].sum())], "rows": [len(frame)]})


class Runner:
    """Runs the same pipeline repeatedly against one cache folder and one tracer provider."""

    def __init__(self, tracing: Tracing, cache_dir: Path) -> None:
        self.tracing = tracing
        self.cache_dir = cache_dir

    def run(self, steps: list[Step], **kwargs: Any) -> dict[str, Any]:
        self.tracing.clear()
        result = Orchestrator(
            steps,
            enable_cache=True,
            cache_dir=self.cache_dir,
            tracer_provider=self.tracing.provider,
            **kwargs,
        ).execute()
        assert result["success"] is True, result["errors"]
        return result

    def cache_hit_attributes(self) -> dict[str, bool]:
        return {
            name: span.attributes["odibi.node.cache_hit"] for name, span in self.tracing.node_spans().items()
        }


@pytest.fixture()
def runner(tracing: Tracing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    monkeypatch.chdir(tmp_path)
    return Runner(tracing, tmp_path / "cache")


def write_source(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")


def pipeline(factor: int = 2, function: Callable[..., pd.DataFrame] = scale) -> list[Step]:
    return [
        Step("read", "ingest", "read", "data.csv", outputs=["raw"]),
        Step(
            "scale",
            "transform",
            "function",
            function,
            inputs=["raw"],
            outputs=["scaled"],
            params={"factor": factor},
        ),
        Step("summary", "publish", "function", summarise, inputs=["scaled"], outputs=["summary"]),
    ]


def test_second_run_hits_and_returns_the_same_data(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n2,20\n3,30\n")
    first = runner.run(pipeline())
    assert first["cache_hits"] == []
    assert runner.cache_hit_attributes() == {"read": False, "scale": False, "summary": False}
    sizes = {
        name: span.attributes["odibi.node.output.size_bytes"]
        for name, span in runner.tracing.node_spans().items()
    }

    second = runner.run(pipeline())
    assert second["cache_hits"] == ["read", "scale", "summary"]
    assert runner.cache_hit_attributes() == {"read": True, "scale": True, "summary": True}
    assert second["outputs"]["summary"].to_dict("list") == {"total": [120], "rows": [3]}
    for key, frame in first["outputs"].items():
        pd.testing.assert_frame_equal(second["outputs"][key], frame, check_index_type=True)
    spans = runner.tracing.node_spans()
    assert {name: span.attributes["odibi.node.output.size_bytes"] for name, span in spans.items()} == sizes
    assert spans["scale"].attributes["odibi.node.rows_out"] == 3
    assert spans["scale"].attributes["odibi.node.columns_out"] == 3
    assert spans["summary"].attributes["odibi.node.rows_in"] == 3


COUNTED_CALLS: list[int] = []


def counted_scale(frame: pd.DataFrame, factor: int) -> pd.DataFrame:
    COUNTED_CALLS.append(factor)
    return scale(frame, factor)


def test_cache_hit_does_not_call_the_function(runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")
    monkeypatch.setattr(sys.modules[__name__], "COUNTED_CALLS", [])
    runner.run(pipeline(function=counted_scale))
    runner.run(pipeline(function=counted_scale))
    assert COUNTED_CALLS == [2]


def test_closure_over_changing_state_is_recomputed(runner: Runner) -> None:
    """A closure's captured values are part of the key, so a side-effect list that grew is a miss."""
    write_source(Path("data.csv"), "id,v\n1,10\n")
    calls: list[int] = []

    def counted(frame: pd.DataFrame, factor: int) -> pd.DataFrame:
        calls.append(factor)
        return scale(frame, factor)

    runner.run(pipeline(function=counted))
    second = runner.run(pipeline(function=counted))
    assert calls == [2, 2]
    assert second["cache_hits"] == ["read"]


def test_source_change_with_same_size_and_mtime_is_a_miss(runner: Runner) -> None:
    source = Path("data.csv")
    write_source(source, "id,v\n1,10\n2,20\n3,30\n")
    runner.run(pipeline())
    assert runner.run(pipeline())["cache_hits"] == ["read", "scale", "summary"]

    before = source.stat()
    write_source(source, "id,v\n1,10\n2,99\n3,30\n")  # same length, new content
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = source.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    result = runner.run(pipeline())
    assert result["cache_hits"] == []
    assert runner.cache_hit_attributes() == {"read": False, "scale": False, "summary": False}
    assert result["outputs"]["raw"]["v"].tolist() == [10, 99, 30]
    assert result["outputs"]["summary"].to_dict("list") == {"total": [278], "rows": [3]}
    assert runner.run(pipeline())["cache_hits"] == ["read", "scale", "summary"]


def test_source_change_beyond_the_head_rows_is_a_miss(runner: Runner) -> None:
    source = Path("data.csv")
    rows = "".join(f"{i},{i}\n" for i in range(200))
    write_source(source, "id,v\n" + rows)
    runner.run(pipeline())
    write_source(source, "id,v\n" + rows.replace("199,199", "199,100"))
    result = runner.run(pipeline())
    assert result["cache_hits"] == []
    assert result["outputs"]["raw"]["v"].iloc[-1] == 100


def test_params_change_is_a_miss_and_each_version_stays_cached(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n2,20\n")
    assert runner.run(pipeline(factor=2))["outputs"]["summary"]["total"].tolist() == [60]

    changed = runner.run(pipeline(factor=3))
    assert changed["cache_hits"] == ["read"]
    assert runner.cache_hit_attributes() == {"read": True, "scale": False, "summary": False}
    assert changed["outputs"]["summary"]["total"].tolist() == [90]

    back = runner.run(pipeline(factor=2))
    assert back["cache_hits"] == ["read", "scale", "summary"]
    assert back["outputs"]["summary"]["total"].tolist() == [60]


def test_read_params_change_is_a_miss(runner: Runner) -> None:
    write_source(Path("data.csv"), "id;v\n1;10\n")
    steps = [Step("read", "ingest", "read", "data.csv", outputs=["raw"], params={"sep": ";"})]
    assert list(runner.run(steps)["outputs"]["raw"].columns) == ["id", "v"]
    steps = [Step("read", "ingest", "read", "data.csv", outputs=["raw"], params={"sep": ","})]
    result = runner.run(steps)
    assert result["cache_hits"] == []
    assert list(result["outputs"]["raw"].columns) == ["id;v"]


def test_function_source_change_is_a_miss(
    runner: Runner, write_module: Callable[..., str], tmp_path: Path
) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n2,20\n")
    module = write_module(
        """
        def scale(frame, factor):
            out = frame.copy()
            out["scaled"] = out["v"] * factor
            return out
        """
    )
    (tmp_path / "pipeline.yaml").write_text(
        textwrap.dedent(
            f"""
            name: p
            steps:
              - {{name: read, layer: ingest, type: read, value: data.csv, outputs: [raw]}}
              - name: scale
                layer: transform
                type: function
                value: "{module}:scale"
                inputs: [raw]
                outputs: [scaled]
                params: {{factor: 2}}
              - {{name: summary, layer: publish, type: function, value: "{__name__}:summarise",
                  inputs: [scaled], outputs: [summary]}}
            """
        ),
        "utf-8",
    )
    _, steps = load_pipeline(tmp_path / "pipeline.yaml")
    runner.run(steps)
    assert runner.run(steps)["cache_hits"] == ["read", "scale", "summary"]

    # a new process after the function was edited: same name, same params, new code
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            def scale(frame, factor):
                out = frame.copy()
                out["scaled"] = out["v"] * factor + 1000
                return out
            """
        ),
        "utf-8",
    )
    del sys.modules[module]
    importlib.invalidate_caches()
    _, steps = load_pipeline(tmp_path / "pipeline.yaml")
    result = runner.run(steps)
    assert result["cache_hits"] == ["read"]
    assert result["outputs"]["scaled"]["scaled"].tolist() == [1020, 1040]
    assert result["outputs"]["summary"]["total"].tolist() == [2060]


def test_python_function_code_is_part_of_the_key(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")

    def make(offset: int) -> Callable[..., pd.DataFrame]:
        if offset == 0:

            def scale(frame: pd.DataFrame, factor: int) -> pd.DataFrame:
                return frame.assign(scaled=frame["v"] * factor)
        else:

            def scale(frame: pd.DataFrame, factor: int) -> pd.DataFrame:
                return frame.assign(scaled=frame["v"] * factor - 1)

        return scale

    first, second = make(0), make(1)
    assert first.__qualname__ == second.__qualname__
    runner.run(pipeline(function=first))
    result = runner.run(pipeline(function=second))
    assert result["cache_hits"] == ["read"]
    assert result["outputs"]["scaled"]["scaled"].tolist() == [19]


def _arrow_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*.arrow"))


@pytest.mark.parametrize("damage", ["truncate", "flip-byte", "empty", "delete-data", "garbage-manifest"])
def test_damaged_entry_is_a_miss_not_a_crash_and_is_repaired(runner: Runner, damage: str) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n2,20\n3,30\n")
    runner.run([Step("read", "ingest", "read", "data.csv", outputs=["raw"])])
    (entry,) = _arrow_files(runner.cache_dir)
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip-byte":
        position = len(data) // 2
        entry.write_bytes(data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "delete-data":
        entry.unlink()
    else:
        (entry.parent / "manifest.json").write_text("{not json", "utf-8")

    steps = [Step("read", "ingest", "read", "data.csv", outputs=["raw"])]
    result = runner.run(steps)
    assert result["cache_hits"] == []
    assert runner.cache_hit_attributes() == {"read": False}
    assert result["outputs"]["raw"]["v"].tolist() == [10, 20, 30]

    repaired = runner.run(steps)
    assert repaired["cache_hits"] == ["read"]
    assert repaired["outputs"]["raw"]["v"].tolist() == [10, 20, 30]


def test_cache_holds_only_arrow_ipc_and_json_never_pickle(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n2,20\n")
    runner.run(pipeline())
    files = sorted(path for path in runner.cache_dir.rglob("*") if path.is_file())
    assert len(files) == 6  # three entries: manifest + one output each
    for path in files:
        head = path.read_bytes()[:8]
        assert not head.startswith(b"\x80"), f"{path} looks like a pickle"
        assert path.suffix not in {".pkl", ".pickle"}
        if path.name == "manifest.json":
            assert head.startswith(b"{")
        else:
            assert path.suffix == ".arrow"
            assert head.startswith(b"ARROW1")


def test_write_steps_are_never_cached_and_always_write(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")
    steps = [
        Step("read", "ingest", "read", "data.csv", outputs=["raw"]),
        Step("store", "store", "write", "out/copy.json", inputs=["raw"]),
    ]
    runner.run(steps)
    Path("out/copy.json").unlink()
    result = runner.run(steps)
    assert result["cache_hits"] == ["read"]
    assert "odibi.node.cache_hit" not in runner.tracing.node_spans()["store"].attributes
    assert pd.read_json("out/copy.json").to_dict("list") == {"id": [1], "v": [10]}


def test_missing_source_with_cache_fails_the_node_cleanly(runner: Runner) -> None:
    runner.tracing.clear()
    result = Orchestrator(
        [Step("read", "ingest", "read", "absent.csv", outputs=["raw"])],
        enable_cache=True,
        cache_dir=runner.cache_dir,
        tracer_provider=runner.tracing.provider,
    ).execute()
    assert result["success"] is False
    assert result["errors"]["read"].startswith("FileNotFoundError")
    span = runner.tracing.node_spans()["read"]
    assert span.attributes["odibi.node.cache_hit"] is False
    assert span.attributes["error.type"] == "FileNotFoundError"


def test_unkeyable_params_are_computed_every_time(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")
    calls: list[str] = []

    class Opaque:
        pass

    def uses_object(frame: pd.DataFrame, marker: Any) -> pd.DataFrame:
        calls.append("run")
        return frame

    steps = [
        Step("read", "ingest", "read", "data.csv", outputs=["raw"]),
        Step(
            "opaque",
            "transform",
            "function",
            uses_object,
            inputs=["raw"],
            outputs=["o"],
            params={"marker": Opaque()},
        ),
        Step("after", "transform", "function", lambda o: o.assign(w=1), inputs=["o"], outputs=["w"]),
    ]
    runner.run(steps)
    second = runner.run(steps)
    assert calls == ["run", "run"]
    assert "opaque" not in second["cache_hits"]
    assert "odibi.node.cache_hit" not in runner.tracing.node_spans()["opaque"].attributes
    # downstream of an uncacheable node is keyed by the content it received, so it can still hit
    assert second["cache_hits"] == ["read", "after"]


def test_node_cache_round_trip_and_content_fingerprint(tmp_path: Path) -> None:
    cache = NodeCache(tmp_path / "c")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]}, index=pd.Index([5, 7], name="k"))
    assert cache.load("ab" * 32, ["out"]) is None
    assert cache.store("ab" * 32, {"out": frame}) is True
    loaded = cache.load("ab" * 32, ["out"])
    assert loaded is not None
    pd.testing.assert_frame_equal(loaded["out"], frame)
    assert cache.load("ab" * 32, ["other"]) is None

    assert content_fingerprint(frame) == content_fingerprint(frame.copy())
    changed = frame.copy()
    changed.loc[7, "a"] = 3
    assert content_fingerprint(changed) != content_fingerprint(frame)
    assert content_fingerprint(frame.rename(columns={"a": "z"})) != content_fingerprint(frame)
    assert content_fingerprint(frame.astype({"a": "float64"})) != content_fingerprint(frame)


def test_outputs_arrow_cannot_store_are_recomputed_not_fatal(runner: Runner) -> None:
    calls: list[int] = []

    def mixed() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"mixed": pd.Series([1, "a", 2.5], dtype=object)})

    steps = [Step("mixed", "ingest", "function", mixed, outputs=["m"])]
    first = runner.run(steps)
    second = runner.run(steps)
    assert calls == [1, 1]
    assert second["cache_hits"] == []
    assert second["outputs"]["m"]["mixed"].tolist() == [1, "a", 2.5]
    assert first["outputs"]["m"]["mixed"].tolist() == [1, "a", 2.5]
    assert list(runner.cache_dir.rglob("*.arrow")) == []
    assert list(runner.cache_dir.rglob(".staging-*")) == []


# --- values a function uses besides its code and params -----------------------------------------


def _make_scaler(factor: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def scale_by_closure(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(scaled=frame["v"] * factor)

    return scale_by_closure


@dataclasses.dataclass
class Rate:
    rate: float

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(scaled=frame["v"] * self.rate)


class OpaqueRate:
    def __init__(self, rate: float) -> None:
        self.rate = rate

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(scaled=frame["v"] * self.rate)


def _read_then(function: Callable[..., pd.DataFrame], **params: Any) -> list[Step]:
    return [
        Step("read", "ingest", "read", "data.csv", outputs=["raw"]),
        Step("scale", "transform", "function", function, inputs=["raw"], outputs=["scaled"], params=params),
    ]


def test_closure_values_are_part_of_the_key(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")
    assert runner.run(_read_then(_make_scaler(2)))["outputs"]["scaled"]["scaled"].tolist() == [20]
    assert runner.run(_read_then(_make_scaler(2)))["cache_hits"] == ["read", "scale"]
    changed = runner.run(_read_then(_make_scaler(3)))
    assert changed["cache_hits"] == ["read"]
    assert changed["outputs"]["scaled"]["scaled"].tolist() == [30]


def test_bound_method_object_state_is_part_of_the_key(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")
    runner.run(_read_then(Rate(0.5).apply))
    assert runner.run(_read_then(Rate(0.5).apply))["cache_hits"] == ["read", "scale"]
    changed = runner.run(_read_then(Rate(0.25).apply))
    assert changed["cache_hits"] == ["read"]
    assert changed["outputs"]["scaled"]["scaled"].tolist() == [2.5]


def test_method_of_an_object_without_a_stable_description_is_not_cached(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")
    runner.run(_read_then(OpaqueRate(0.5).apply))
    changed = runner.run(_read_then(OpaqueRate(0.25).apply))
    assert changed["cache_hits"] == ["read"]
    assert "odibi.node.cache_hit" not in runner.tracing.node_spans()["scale"].attributes
    assert changed["outputs"]["scaled"]["scaled"].tolist() == [2.5]


def _total(lookup: Any) -> float:
    return float(np.asarray(lookup, dtype="float64").sum())


def add_lookup(frame: pd.DataFrame, lookup: Any) -> pd.DataFrame:
    return frame.assign(scaled=_total(lookup))


@pytest.mark.parametrize(
    ("original", "changed"),
    [
        pytest.param(
            pd.DataFrame({"v": range(200)}),
            pd.DataFrame({"v": range(200)}).replace({100: 7}),
            id="dataframe-changed-past-the-repr",
        ),
        pytest.param(
            pd.Series(np.arange(5000)), pd.Series(np.arange(5000)).replace({2500: 0}), id="series-changed-mid"
        ),
        pytest.param(np.arange(5000), np.where(np.arange(5000) == 2500, 0, np.arange(5000)), id="ndarray"),
        pytest.param(
            pd.DataFrame({"v": [1.0000001]}),
            pd.DataFrame({"v": [1.0000002]}),
            id="dataframe-below-repr-precision",
        ),
    ],
)
def test_data_params_are_keyed_by_full_content(runner: Runner, original: Any, changed: Any) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")
    first = runner.run(_read_then(add_lookup, lookup=original))
    same = runner.run(_read_then(add_lookup, lookup=original.copy()))
    assert same["cache_hits"] == ["read", "scale"]
    other = runner.run(_read_then(add_lookup, lookup=changed))
    assert other["cache_hits"] == ["read"]
    assert other["outputs"]["scaled"]["scaled"].tolist() == [_total(changed)]
    assert first["outputs"]["scaled"]["scaled"].tolist() == [_total(original)]
    assert _total(changed) != _total(original)


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


def test_param_whose_repr_raises_is_just_not_cached(runner: Runner) -> None:
    write_source(Path("data.csv"), "id,v\n1,10\n")
    steps = _read_then(lambda frame, marker: frame.assign(scaled=1), marker=BrokenRepr())
    runner.run(steps)
    second = runner.run(steps)
    assert second["cache_hits"] == ["read"]
    assert second["outputs"]["scaled"]["scaled"].tolist() == [1]

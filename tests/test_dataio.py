"""Reading and writing DataFrames by extension, atomically; read and write steps in a pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from odibi_otel import Orchestrator, Step
from odibi_otel._internal.atomic import atomic_path, write_text_atomic
from odibi_otel.engines._pandas_io import read_frame, write_frame

if TYPE_CHECKING:
    from tests.conftest import Tracing

FRAME = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"], "amount": [1.5, 2.0, 3.25]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson"])
def test_round_trip_by_extension(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / "nested" / f"data{suffix}"
    write_frame(FRAME, path)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    back = read_frame(path)
    assert back.to_dict("list") == FRAME.to_dict("list")


def test_formats_on_disk(tmp_path: Path) -> None:
    write_frame(FRAME, tmp_path / "d.csv")
    assert (tmp_path / "d.csv").read_text().splitlines() == [
        "id,name,amount",
        "1,a,1.5",
        "2,b,2.0",
        "3,c,3.25",
    ]
    write_frame(FRAME, tmp_path / "d.jsonl")
    assert (tmp_path / "d.jsonl").read_text().splitlines()[0] == '{"id":1,"name":"a","amount":1.5}'
    write_frame(FRAME, tmp_path / "d.json")
    assert (tmp_path / "d.json").read_text().startswith('[{"id":1,"name":"a","amount":1.5},')
    assert (tmp_path / "d.parquet").exists() is False
    write_frame(FRAME, tmp_path / "d.parquet")
    assert (tmp_path / "d.parquet").read_bytes()[:4] == b"PAR1"


def test_params_go_to_the_reader_and_writer(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    write_frame(FRAME, path, {"sep": ";"})
    assert path.read_text().splitlines()[0] == "id;name;amount"
    assert read_frame(path, {"sep": ";", "usecols": ["id", "amount"]}).to_dict("list") == {
        "id": [1, 2, 3],
        "amount": [1.5, 2.0, 3.25],
    }
    write_frame(FRAME, path, {"index": True})
    assert path.read_text().splitlines()[0] == ",id,name,amount"


def test_unsupported_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unsupported file extension: '.*data\.xlsx'"):
        read_frame(tmp_path / "data.xlsx")
    with pytest.raises(ValueError, match="unsupported file extension"):
        write_frame(FRAME, tmp_path / "data.txt")


def test_failed_write_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    write_frame(FRAME, path)
    before = path.read_bytes()
    unwritable = pd.DataFrame({"mixed": pd.Series([1, "a"], dtype=object)})
    with pytest.raises(Exception, match=r"(?i)(conversion|convert|type)"):
        write_frame(unwritable, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.parquet"]


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.txt"
    write_text_atomic(target, "first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError, match="stop"), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("stop")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.txt"]
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent
        assert temporary != target
        temporary.write_text("second")
    assert target.read_text() == "second"


def test_read_and_write_steps_in_a_pipeline(
    tmp_path: Path, tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_frame(FRAME, "input.parquet")
    steps = [
        Step(
            "read", "ingest", "read", "input.parquet", outputs=["raw"], params={"columns": ["id", "amount"]}
        ),
        Step("to_json", "store", "write", "out/raw.json", inputs=["raw"]),
        Step("to_jsonl", "store", "write", "out/raw.jsonl", inputs=["raw"]),
        Step("to_csv", "store", "write", "out/raw.csv", inputs=["raw"], params={"sep": "|"}),
    ]
    result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
    assert result["success"] is True, result["errors"]
    assert list(result["outputs"]) == ["raw"]
    assert list(result["outputs"]["raw"].columns) == ["id", "amount"]
    expected = {"id": [1, 2, 3], "amount": [1.5, 2.0, 3.25]}
    assert read_frame("out/raw.json").to_dict("list") == expected
    assert read_frame("out/raw.jsonl").to_dict("list") == expected
    assert Path("out/raw.csv").read_text().splitlines()[0] == "id|amount"
    spans = tracing.node_spans()
    assert spans["read"].attributes["odibi.node.columns_out"] == 2
    assert spans["to_csv"].attributes["odibi.node.rows_in"] == 3

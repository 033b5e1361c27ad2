"""Unwritable output folders fail before anything runs; a full disk never leaves a half-written file.

Single-writer cases already tested: ``tests/test_dataio.py::test_failed_write_leaves_the_old_file_untouched``,
``tests/test_tracker.py::test_failed_export_leaves_the_old_file_and_no_temporary_file``,
``tests/test_telemetry_file.py::test_write_failures_are_reported_logged_once_and_leave_no_partial_line``.
Here every atomic writer is made to hit ENOSPC half-way through its data, and the CLI is run against
output folders it cannot use and a disk that fills up while it writes its artifacts.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import odibi_otel._internal.atomic as atomic
import odibi_otel.engines._pandas_io as dataio
from odibi_otel import MetricsManager, Orchestrator, Step, StoryGenerator
from odibi_otel.cli.run_folder import OutputFolderError, check_output_folder
from odibi_otel.engines._pandas_io import write_frame
from odibi_otel.pipeline.cache import NodeCache

from .harness import run_cli, run_python, write_pipeline

pytestmark = pytest.mark.reliability

OLD = b"previous content, must survive\n"


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _HalfWriter:
    """A binary file that accepts half of the first write, then reports a full disk."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        self._stream.write(bytes(data[: max(1, len(data) // 2)]))
        self._stream.flush()
        raise _enospc()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __enter__(self) -> _HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()


@pytest.fixture()
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make every atomic write (files written through ``odibi_otel._internal.atomic``) fail half-way."""

    def install() -> None:
        real_open = builtins.open

        def half_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            stream = real_open(path, mode, *args, **kwargs)
            return _HalfWriter(stream) if "w" in mode else stream

        monkeypatch.setattr(atomic, "open", half_open, raising=False)

        def half_writer(frame: pd.DataFrame, path: Path, params: dict[str, Any]) -> None:
            frame.to_csv(path, index=False)
            data = Path(path).read_bytes()
            Path(path).write_bytes(data[: len(data) // 2])  # the disk filled up mid-way
            raise _enospc()

        for kind in ("csv", "parquet", "json", "jsonl"):
            monkeypatch.setitem(dataio._WRITERS, kind, half_writer)  # type: ignore[arg-type]

    return install


def _lineage_source(tmp_path: Path) -> Path:
    result = Orchestrator(
        [Step("make", "ingest", "function", lambda: pd.DataFrame({"v": [1, 2]}), outputs=["v"])],
        enable_tracker=True,
    ).execute()
    path = tmp_path / "source-lineage.json"
    result["tracker"].export_lineage(path)
    return path


def _writers(tmp_path: Path) -> dict[str, tuple[Path, Callable[[], object]]]:
    """Each atomic writer of the package: the file it writes and how to make it write."""
    manager = MetricsManager()
    tracker = Orchestrator(
        [Step("make", "ingest", "function", lambda: pd.DataFrame({"v": [1, 2]}), outputs=["v"])],
        enable_tracker=True,
        metrics_manager=manager,
    ).execute()["tracker"]
    lineage = _lineage_source(tmp_path)
    frame = pd.DataFrame({"v": range(1000)})
    out = tmp_path / "out"
    return {
        "lineage.json": (out / "lineage.json", lambda: tracker.export_lineage(out / "lineage.json")),
        "story.html": (
            out / "story.html",
            lambda: StoryGenerator().generate_story(lineage, out / "story.html"),
        ),
        "metrics.json": (out / "metrics.json", lambda: manager.save_to_file(out / "metrics.json")),
        "metrics_prometheus.txt": (
            out / "metrics_prometheus.txt",
            lambda: manager.export_prometheus(out / "metrics_prometheus.txt"),
        ),
        "data.csv": (out / "data.csv", lambda: write_frame(frame, out / "data.csv")),
        "data.parquet": (out / "data.parquet", lambda: write_frame(frame, out / "data.parquet")),
        "data.jsonl": (out / "data.jsonl", lambda: write_frame(frame, out / "data.jsonl")),
    }


@pytest.mark.parametrize(
    "artifact",
    ["lineage.json", "story.html", "metrics.json", "metrics_prometheus.txt", "data.csv", "data.parquet",
     "data.jsonl"],
)  # fmt: skip
def test_full_disk_mid_write_keeps_the_previous_file_and_leaves_no_temporary_file(
    tmp_path: Path, full_disk: Callable[[], None], artifact: str
) -> None:
    target, write = _writers(tmp_path)[artifact]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(OLD)
    full_disk()
    with pytest.raises(OSError) as caught:
        write()
    assert caught.value.errno == errno.ENOSPC
    assert str(target) in str(caught.value)  # the error says which file could not be written
    assert target.read_bytes() == OLD
    assert sorted(item.name for item in target.parent.iterdir()) == [artifact]


def test_full_disk_while_caching_is_a_miss_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(self: Path, data: bytes) -> int:
        raise _enospc()

    cache = NodeCache(tmp_path / "cache")
    monkeypatch.setattr(Path, "write_bytes", no_space)
    assert cache.store("ab" * 32, {"out": pd.DataFrame({"v": [1, 2]})}) is False
    assert cache.load("ab" * 32, ["out"]) is None
    assert [item for item in (tmp_path / "cache").rglob("*") if not item.is_dir()] == []


# -- output folders the CLI cannot use --------------------------------------------------------------

MODULE = """
    from pathlib import Path
    import pandas as pd

    def source():
        Path(__file__).with_name("node-ran.marker").write_text("ran")
        return pd.DataFrame({"v": [1, 2, 3]})
"""
PIPELINE = {
    "name": "marker",
    "steps": [
        {"name": "source", "layer": "ingest", "type": "function", "value": "steps_module:source",
         "outputs": ["raw"]},
        {"name": "store", "layer": "store", "type": "write", "value": "copy.csv", "inputs": ["raw"]},
    ],
}  # fmt: skip


def _unusable_folders(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    folders = {"is a file": a_file, "under a file": a_file / "out"}
    if os.geteuid() != 0:  # root writes anywhere: no permission test then
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        read_only.chmod(0o500)
        folders["read-only"] = read_only / "out"
    return folders


def test_unusable_output_folder_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path / "pipeline", PIPELINE, MODULE)
    for label, folder in _unusable_folders(tmp_path).items():
        with pytest.raises(OutputFolderError, match="not writable"):
            check_output_folder(folder)  # the API raises the same error the CLI reports
        completed = run_cli("run", str(pipeline), "--out", str(folder), cwd=tmp_path)
        assert completed.returncode == 2, (label, completed.stdout, completed.stderr)
        assert "output folder" in completed.stderr and "not writable" in completed.stderr, label
        assert "Traceback" not in completed.stderr
        assert not (tmp_path / "pipeline" / "node-ran.marker").exists(), label
        assert not (tmp_path / "pipeline" / "copy.csv").exists(), label


def test_full_disk_while_the_cli_writes_its_artifacts(tmp_path: Path) -> None:
    """ENOSPC on lineage.json: a clear error naming the file, the previous file intact, no temp file."""
    pipeline = write_pipeline(tmp_path / "pipeline", PIPELINE, MODULE)
    out = tmp_path / "out"
    out.mkdir()
    (out / "lineage.json").write_bytes(OLD)
    code = """
        import builtins, errno, os, sys
        from pathlib import Path
        import odibi_otel._internal.atomic as atomic
        from odibi_otel.cli import main

        real_open = builtins.open

        class Half:
            def __init__(self, stream):
                self.stream = stream
            def write(self, data):
                self.stream.write(data[: len(data) // 2])
                self.stream.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            def __getattr__(self, name):
                return getattr(self.stream, name)
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                self.stream.close()

        def half_open(path, mode="r", *args, **kwargs):
            stream = real_open(path, mode, *args, **kwargs)
            return Half(stream) if Path(path).name.startswith(".lineage.json.") else stream

        atomic.open = half_open
        sys.exit(main(sys.argv[1:]))
    """
    completed = run_python(code, "run", str(pipeline), "--out", str(out), cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert "No space left on device" in completed.stderr and "lineage.json" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert (out / "lineage.json").read_bytes() == OLD
    assert not [item.name for item in out.iterdir() if item.name.endswith(".tmp")]
    for name in ("metrics.json", "metrics_prometheus.txt", "telemetry.jsonl", "odibi.log.jsonl"):
        assert (out / name).stat().st_size > 0, name  # written before the disk filled up
    json.loads((out / "metrics.json").read_text("utf-8"))  # whole, not cut

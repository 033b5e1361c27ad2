"""Reading and writing DataFrames by file extension (csv, parquet, json, jsonl)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import pandas as pd

from odibi_otel._internal.atomic import atomic_path
from odibi_otel.engines.base import file_format

__all__ = ["read_frame", "write_frame"]


def _read_json(path: Path, **params: Any) -> pd.DataFrame:
    frame: pd.DataFrame = pd.read_json(path, **params)
    return frame


def _read_jsonl(path: Path, **params: Any) -> pd.DataFrame:
    frame: pd.DataFrame = pd.read_json(path, lines=True, **params)
    return frame


_READERS: Final[Mapping[str, Callable[..., pd.DataFrame]]] = {
    "csv": pd.read_csv,
    "parquet": pd.read_parquet,
    "json": _read_json,
    "jsonl": _read_jsonl,
}

_WRITERS: Final[Mapping[str, Callable[[pd.DataFrame, Path, dict[str, Any]], None]]] = {
    "csv": lambda frame, path, params: frame.to_csv(path, **{"index": False, **params}),
    "parquet": lambda frame, path, params: frame.to_parquet(path, **params),
    "json": lambda frame, path, params: frame.to_json(
        path, **{"orient": "records", "date_format": "iso", **params}
    ),
    "jsonl": lambda frame, path, params: frame.to_json(
        path, **{"orient": "records", "lines": True, "date_format": "iso", **params}
    ),
}


def read_frame(path: str | os.PathLike[str], params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Read ``path`` with the pandas reader its extension selects; ``params`` go to that reader."""
    reader = _READERS[_format_of(path)]
    return reader(Path(path), **dict(params or {}))


def write_frame(
    frame: pd.DataFrame, path: str | os.PathLike[str], params: Mapping[str, Any] | None = None
) -> None:
    """Write ``frame`` to ``path`` atomically, in the format its extension selects.

    CSV files are written without the index unless ``params`` says otherwise.
    """
    writer = _WRITERS[_format_of(path)]
    with atomic_path(path) as temporary:
        writer(frame, temporary, dict(params or {}))


def _format_of(path: str | os.PathLike[str]) -> str:
    fmt = file_format(path)
    if fmt is None:
        raise ValueError(f"unsupported file extension: {os.fspath(path)!r}")
    return fmt

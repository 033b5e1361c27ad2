"""The node output cache: outputs stored on disk, reused only when nothing that decides them changed.

A node's cache key hashes everything that decides its outputs:

- the step's type, value and params (DataFrame / array params by their full content),
  odibi_otel's and pandas' versions;
- for function steps, the function's source code and the content of the file that defines it
  (so an edit to a helper in the same module invalidates too), plus the values its closure
  captured, its default argument values and a bound method's object;
- for read steps, the source file's path, size, modification time **and content hash**;
- the fingerprints of its inputs, in order.

An output's fingerprint is derived from the key of the node that produced it (provenance), so
downstream keys change whenever anything upstream changes, without hashing DataFrames. Outputs of
nodes that cannot be keyed are fingerprinted by content (``pandas.util.hash_pandas_object``).

Entries are Arrow IPC files plus a manifest with their SHA-256; a missing, truncated or altered
entry is a miss, never a crash, and is replaced. Nothing is ever unpickled. Outputs Arrow cannot
give back exactly (column names that are not strings, object columns whose dtype or value types
it would change) are not stored, so a hit returns what the node returned. Values without a
stable description (identity-based or abbreviated reprs) make a node uncacheable, never stale.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc

from odibi_otel._version import __version__
from odibi_otel.pipeline._references import function_name
from odibi_otel.pipeline.step import Step

__all__ = ["NodeCache", "content_fingerprint", "output_fingerprint", "static_key_part"]

_logger = logging.getLogger("odibi_otel.cache")
_FORMAT_VERSION: Final = 2  # 2: a RangeIndex is stored as metadata and restored as a RangeIndex
_MANIFEST: Final = "manifest.json"


def static_key_part(step: Step, function: Callable[..., Any] | None) -> str | None:
    """The run-independent part of ``step``'s cache key, or ``None`` when it cannot be cached.

    Write steps are never cached (their effect is the file they write).
    """
    if step.type == "write":
        return None
    params = _canonical_json(step.keyword_params)
    if params is None:
        return None
    parts: dict[str, Any] = {
        "format": _FORMAT_VERSION,
        "odibi_otel": __version__,
        "pandas": pd.__version__,
        "type": step.type,
        "params": params,
        "inputs": list(step.input_keys),
        "input_names": list(step.input_parameter_names or ()),
        "outputs": list(step.output_keys),
    }
    if step.type == "function":
        assert function is not None
        code = _function_code_digest(function)
        state = _captured_state(function)
        if code is None or state is None:
            return None
        parts["function"] = function_name(function)
        parts["code"] = code
        parts["state"] = state
    elif step.type == "sql":
        parts["query"] = step.value
    else:
        parts["path"] = str(step.resolved_path().resolve())
    return _digest(json.dumps(parts, sort_keys=True).encode())


def node_key(static_part: str, source_file: Path | None, input_fingerprints: Sequence[str]) -> str:
    """Combine the static key part with the run's facts: source file state and input fingerprints."""
    digest = hashlib.sha256(static_part.encode())
    if source_file is not None:
        stat = source_file.stat()
        digest.update(f"|{stat.st_size}|{stat.st_mtime_ns}|".encode())
        digest.update(_file_digest(source_file).encode())
    for fingerprint in input_fingerprints:
        digest.update(b"|" + fingerprint.encode())
    return digest.hexdigest()


def output_fingerprint(key: str, output_key: str) -> str:
    """Fingerprint of output ``output_key`` of the node whose cache key is ``key``."""
    return _digest(f"{key}/{output_key}".encode())


def content_fingerprint(frame: pd.DataFrame) -> str | None:
    """Fingerprint of a DataFrame's full content, index, columns and dtypes; ``None`` if unhashable."""
    try:
        row_hashes = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(row_hashes.tobytes())
    digest.update(repr(list(frame.columns)).encode())
    digest.update(repr([str(dtype) for dtype in frame.dtypes]).encode())
    return digest.hexdigest()


class NodeCache:
    """Node outputs stored under ``directory``, one folder per cache key."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def load(self, key: str, output_keys: Sequence[str]) -> dict[str, pd.DataFrame] | None:
        """The outputs stored under ``key``, or ``None`` (a miss) if absent or damaged."""
        entry = self._entry(key)
        try:
            manifest = json.loads((entry / _MANIFEST).read_text("utf-8"))
            if manifest.get("format") != _FORMAT_VERSION or sorted(manifest["outputs"]) != sorted(
                output_keys
            ):
                return None
            return {name: _read_output(entry, meta) for name, meta in manifest["outputs"].items()}
        except FileNotFoundError:
            if entry.exists():  # incomplete entry: drop it so this run's store() replaces it
                shutil.rmtree(entry, ignore_errors=True)
            return None
        except Exception as exc:  # a damaged entry is a miss, and is dropped to be stored afresh
            _logger.warning("odibi_otel cache entry %s is unreadable, recomputing: %s", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
            return None

    def store(self, key: str, outputs: Mapping[str, pd.DataFrame]) -> bool:
        """Store ``outputs`` under ``key`` atomically; ``False`` if they cannot be stored."""
        entry = self._entry(key)
        if entry.exists():
            return True
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
        try:
            manifest = {
                "format": _FORMAT_VERSION,
                "outputs": {
                    name: _write_output(staging, f"{index}.arrow", frame)
                    for index, (name, frame) in enumerate(outputs.items())
                },
            }
            (staging / _MANIFEST).write_text(json.dumps(manifest), "utf-8")
            os.replace(staging, entry)
            return True
        except Exception as exc:  # e.g. a column Arrow cannot represent: just don't cache
            _logger.info("odibi_otel cache: not storing %s: %s", key[:12], exc)
            return False
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / key


def _write_output(folder: Path, file_name: str, frame: pd.DataFrame) -> dict[str, str]:
    if not _labels_round_trip(frame.columns):
        # Arrow would store them as text: a hit would return "0" where the node returned 0
        raise TypeError("column names that are not strings do not survive Arrow; not cached")
    table = pa.Table.from_pandas(frame, preserve_index=None)  # None: a RangeIndex stays a RangeIndex
    _check_round_trip(frame, table.to_pandas())
    sink = pa.BufferOutputStream()
    with pyarrow.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    (folder / file_name).write_bytes(data)
    return {"file": file_name, "sha256": _digest(data)}


def _labels_round_trip(columns: pd.Index) -> bool:
    """Whether Arrow gives these column labels back as they are: strings, or tuples of strings."""
    if isinstance(columns, pd.MultiIndex):
        return all(isinstance(part, str) for label in columns for part in label)
    return all(isinstance(label, str) for label in columns)


def _check_round_trip(frame: pd.DataFrame, restored: pd.DataFrame) -> None:
    """Raise unless ``restored`` (what a hit would return) has ``frame``'s dtypes, index and values' types.

    Arrow types Python-object columns by their values: ``[1, None]`` comes back as float64,
    ``[True, False]`` as bool, lists as arrays, ``pd.NA``/``NaN`` as ``None``. Such outputs are not
    cached, so a hit never hands the next node something its cold run did not.
    """
    same = (
        list(map(str, restored.dtypes)) == list(map(str, frame.dtypes))
        and str(restored.index.dtype) == str(frame.index.dtype)
        and list(restored.index.names) == list(frame.index.names)
        and list(restored.columns.names) == list(frame.columns.names)
    )
    if same:
        for position, dtype in enumerate(frame.dtypes):
            if pd.api.types.is_object_dtype(dtype):
                before = frame.iloc[:, position].map(type, na_action=None).tolist()
                after = restored.iloc[:, position].map(type, na_action=None).tolist()
                if before != after:
                    same = False
                    break
    if not same:
        raise TypeError("Arrow would not give these outputs back exactly (dtypes or value types); not cached")


def _read_output(entry: Path, meta: Mapping[str, str]) -> pd.DataFrame:
    data = (entry / meta["file"]).read_bytes()
    if _digest(data) != meta["sha256"]:
        raise ValueError(f"checksum mismatch for {meta['file']}")
    frame: pd.DataFrame = pyarrow.ipc.open_file(pa.BufferReader(data)).read_all().to_pandas()
    return frame


def _function_code_digest(function: Callable[..., Any]) -> str | None:
    target = inspect.unwrap(function)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        if code is None:
            return None
        source = repr((code.co_code, code.co_consts, code.co_names))
    digest = hashlib.sha256(source.encode())
    with contextlib.suppress(OSError, TypeError):
        defining_file = inspect.getsourcefile(target)
        if defining_file:
            digest.update(_file_digest(Path(defining_file)).encode())
    return digest.hexdigest()


def _captured_state(function: Callable[..., Any]) -> str | None:
    """JSON of the values a function uses besides its code (closure cells, a bound method's object,
    default argument values: ``lambda frame=frame: ...`` in a loop has one source, many values).

    ``None`` when one of them has no stable description: such a function is not cached.
    """
    target: Any = inspect.unwrap(function)
    values: list[Any] = []
    if inspect.ismethod(target):
        values.append(target.__self__)
        target = target.__func__
    values.append(getattr(target, "__defaults__", None))
    values.append(getattr(target, "__kwdefaults__", None))
    for cell in getattr(target, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell
            values.append(None)
    return _canonical_json(values)


def _data_fingerprint(item: Any) -> str | None:
    """Full-content fingerprint of pandas/numpy data (their reprs abbreviate and round), else ``None``."""
    if isinstance(item, np.ndarray) and not item.dtype.hasobject:
        return _digest(item.tobytes() + f"|{item.dtype.str}|{item.shape}".encode())
    if isinstance(item, np.ndarray):
        item = pd.DataFrame({"values": item.ravel()}).assign(shape=str(item.shape))
    elif isinstance(item, pd.Index):
        item = item.to_frame(index=False)
    elif isinstance(item, pd.Series):
        item = item.to_frame()
    if not isinstance(item, pd.DataFrame):
        return None
    fingerprint = content_fingerprint(item)
    if fingerprint is None:
        raise TypeError(f"cannot fingerprint {type(item).__name__}")
    return fingerprint


def _canonical_json(value: Any) -> str | None:
    def default(item: Any) -> str:
        fingerprint = _data_fingerprint(item)
        if fingerprint is not None:
            return f"{type(item).__qualname__}:{fingerprint}"
        text = repr(item)
        if " at 0x" in text or "..." in text:  # identity-based or abbreviated: not the value itself
            raise TypeError(text)
        return f"{type(item).__qualname__}:{text}"

    try:
        return json.dumps(value, sort_keys=True, default=default)
    except Exception:  # no stable description (or a repr that fails): not cacheable
        return None


def _file_digest(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

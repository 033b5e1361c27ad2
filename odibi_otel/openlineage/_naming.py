"""Dataset names per the OpenLineage naming conventions (pure: no I/O).

Files are ``file`` / absolute path; object stores and HDFS keep their scheme and authority as
the namespace (``s3://bucket`` + ``path/in/bucket``); the frames passed between nodes are
datasets of the pipeline's own namespace, ``odibi://<pipeline>``, named by their data key, so a
catalog draws one connected graph.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["DatasetName", "file_dataset", "frame_dataset"]

#: Schemes whose namespace is ``scheme://authority`` (the authority names a bucket or cluster).
_AUTHORITY_SCHEMES = ("s3", "s3a", "s3n", "gs", "abfss", "wasbs", "hdfs", "dbfs")


class DatasetName(NamedTuple):
    """An OpenLineage dataset identity."""

    namespace: str
    name: str

    @property
    def uri(self) -> str:
        """A URI for the ``dataSource`` facet."""
        if self.namespace == "file":
            return Path(self.name).as_uri()
        return f"{self.namespace.rstrip('/')}/{self.name.lstrip('/')}"


def file_dataset(location: str | os.PathLike[str], base_dir: Path | None = None) -> DatasetName:
    """The dataset of a read/write step's path or URI (relative paths resolved on ``base_dir``)."""
    text = os.fspath(location)
    parts = urlsplit(text)
    if parts.scheme in _AUTHORITY_SCHEMES and parts.netloc:
        return DatasetName(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/"))
    if parts.scheme == "file":
        return DatasetName("file", os.path.normpath(parts.path))
    path = Path(text)
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return DatasetName("file", os.path.normpath(path))


def frame_dataset(pipeline: str, key: str) -> DatasetName:
    """The dataset of the frame ``key`` that nodes of ``pipeline`` pass to each other."""
    return DatasetName(f"odibi://{pipeline}", key)

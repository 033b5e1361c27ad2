"""Engines: the dataframe libraries pipelines run on, behind one small interface.

The orchestrator and the tracker speak only to :class:`Engine` (read, write, tell a frame,
count and measure it, describe its schema and first rows); :func:`get_engine` returns the engine
``Orchestrator(engine_type=...)`` names. Today: ``pandas`` (:mod:`.pandas_engine`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.engines.base import (
        ENGINES,
        FILE_FORMATS,
        Engine,
        FrameDescription,
        file_format,
        get_engine,
    )
    from odibi_otel.engines.pandas_engine import PandasEngine

__all__ = [
    "ENGINES",
    "FILE_FORMATS",
    "Engine",
    "FrameDescription",
    "PandasEngine",
    "file_format",
    "get_engine",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        **dict.fromkeys(
            ("ENGINES", "FILE_FORMATS", "Engine", "FrameDescription", "file_format", "get_engine"),
            "odibi_otel.engines.base",
        ),
        "PandasEngine": "odibi_otel.engines.pandas_engine",
    },
)

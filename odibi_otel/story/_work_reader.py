"""A step's engine work in a lineage document (``engine_work``: Spark jobs and their stages).

Each entry is a job with its ``figures`` (the span attributes Spark reported) and its ``parts``
(the job's stage attempts). Absent for pandas steps. Pure reading, like the rest of the reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from odibi_otel._internal.json_reader import child

if TYPE_CHECKING:
    from odibi_otel.story._lineage_reader import LineageReader

__all__ = ["WorkRecord", "read_engine_work"]


@dataclass(frozen=True)
class WorkRecord:
    """One unit of engine work (a Spark job or stage) with its parts."""

    name: str
    start: datetime | None
    end: datetime | None
    duration_ms: float | None
    failure: str | None
    figures: Mapping[str, int | str]
    parts: tuple[WorkRecord, ...] = ()

    @property
    def status(self) -> str:
        """``failed`` or ``success``, as the story's tones name them."""
        return "failed" if self.failure is not None else "success"


def read_engine_work(
    reader: LineageReader, raw: Mapping[str, Any], place: str, key: str = "engine_work"
) -> tuple[WorkRecord, ...]:
    """The ``engine_work`` entries of a step (``key="parts"``: a job's stages); absent: none."""
    entries = raw.get(key)
    if entries is None:
        return ()
    here = child(place, key)
    return tuple(
        _read_work(reader, reader.mapping(entry, child(here, index)), child(here, index))
        for index, entry in enumerate(reader.array(entries, here, "an array of jobs"))
    )


def _read_work(reader: LineageReader, raw: Mapping[str, Any], place: str) -> WorkRecord:
    figures = reader.mapping_field(raw, "figures", place) or {}
    return WorkRecord(
        name=reader.text_field(raw, "name", place, required=True) or "",
        start=reader.timestamp_field(raw, "start_time", place),
        end=reader.timestamp_field(raw, "end_time", place),
        duration_ms=reader.duration_field(raw, "duration_ms", place),
        failure=reader.text_field(raw, "failure", place),
        figures={
            str(k): v for k, v in figures.items() if isinstance(v, (int, str)) and not isinstance(v, bool)
        },
        parts=read_engine_work(reader, raw, place, "parts"),
    )

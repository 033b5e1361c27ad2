"""A step's engine figures on its card: the totals of its Spark jobs, in words (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from odibi_otel.otel import semconv
from odibi_otel.story._format import format_bytes, format_count, format_duration
from odibi_otel.story._work_reader import WorkRecord

__all__ = ["engine_figures"]

_COUNT: Final = format_count


def _millis(value: int) -> str:
    return format_duration(float(value))


def _cpu(value: int) -> str:
    return format_duration(value / 1e6)


#: (label, figure, formatter) in card order; figures a step's jobs do not have are left out.
_FIGURES: Final[Sequence[tuple[str, str, Callable[[int], str]]]] = (
    ("Tasks", semconv.SPARK_TASKS, _COUNT),
    ("Failed tasks", semconv.SPARK_TASKS_FAILED, _COUNT),
    ("Records read", semconv.SPARK_INPUT_RECORDS, _COUNT),
    ("Bytes read", semconv.SPARK_INPUT_BYTES, format_bytes),
    ("Records written", semconv.SPARK_OUTPUT_RECORDS, _COUNT),
    ("Bytes written", semconv.SPARK_OUTPUT_BYTES, format_bytes),
    ("Shuffle read", semconv.SPARK_SHUFFLE_READ_BYTES, format_bytes),
    ("Shuffle written", semconv.SPARK_SHUFFLE_WRITE_BYTES, format_bytes),
    ("Spilled (memory)", semconv.SPARK_SPILL_MEMORY_BYTES, format_bytes),
    ("Spilled (disk)", semconv.SPARK_SPILL_DISK_BYTES, format_bytes),
    ("Peak execution memory", semconv.SPARK_PEAK_EXECUTION_MEMORY, format_bytes),
    ("Executor run time", semconv.SPARK_EXECUTOR_RUN_TIME_MS, _millis),
    ("Executor CPU time", semconv.SPARK_EXECUTOR_CPU_TIME_NS, _cpu),
)
_ZERO_HIDDEN: Final = frozenset(
    (semconv.SPARK_TASKS_FAILED, semconv.SPARK_SPILL_MEMORY_BYTES, semconv.SPARK_SPILL_DISK_BYTES)
)


def engine_figures(jobs: Sequence[WorkRecord]) -> tuple[tuple[str, str], ...]:
    """``(label, text)`` pairs for the card of a step whose engine ran ``jobs`` (none: empty)."""
    if not jobs:
        return ()
    failed = sum(1 for job in jobs if job.failure is not None)
    figures = [("Spark jobs", f"{len(jobs)}" + (f" ({failed} failed)" if failed else ""))]
    for label, key, text in _FIGURES:
        value = _total(jobs, key)
        if value is None or (value == 0 and key in _ZERO_HIDDEN):
            continue
        figures.append((label, text(value)))
    return tuple(figures)


def _total(jobs: Sequence[WorkRecord], key: str) -> int | None:
    values = [_number(job.figures, key) for job in jobs]
    present = [value for value in values if value is not None]
    if not present:
        return None
    return max(present) if key == semconv.SPARK_PEAK_EXECUTION_MEMORY else sum(present)


def _number(figures: Mapping[str, int | str], key: str) -> int | None:
    value = figures.get(key)
    return value if isinstance(value, int) else None

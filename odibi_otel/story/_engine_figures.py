"""A step's engine work in words (pure): its card's Spark figures and each job's or stage's
waterfall label.

The figures are the totals of the step's Spark jobs, as the node span carries them (sums; the
peak execution memory is the largest job's), formatted like the story's other figures: counts
with thousands separators, bytes humanised, times as durations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from odibi_otel.otel import semconv
from odibi_otel.story._format import format_bytes, format_count, format_duration
from odibi_otel.story._work_reader import WorkRecord

__all__ = ["engine_figures", "work_detail"]

#: Longest Spark description (job description, stage name) shown beside a waterfall bar.
_MAX_DETAIL_CHARS: Final = 80


def _count(value: int) -> str:
    return format_count(value)


def _millis(value: int) -> str:
    return format_duration(float(value))


def _cpu(value: int) -> str:
    return format_duration(value / 1e6)


#: (label, figure, formatter) in card order after jobs and tasks; figures the step's jobs do not
#: have are left out.
_FIGURES: Final[Sequence[tuple[str, str, Callable[[int], str]]]] = (
    ("Records read", semconv.SPARK_INPUT_RECORDS, _count),
    ("Bytes read", semconv.SPARK_INPUT_BYTES, format_bytes),
    ("Records written", semconv.SPARK_OUTPUT_RECORDS, _count),
    ("Bytes written", semconv.SPARK_OUTPUT_BYTES, format_bytes),
    ("Shuffle read", semconv.SPARK_SHUFFLE_READ_BYTES, format_bytes),
    ("Shuffle written", semconv.SPARK_SHUFFLE_WRITE_BYTES, format_bytes),
    ("Spilled (memory)", semconv.SPARK_SPILL_MEMORY_BYTES, format_bytes),
    ("Spilled (disk)", semconv.SPARK_SPILL_DISK_BYTES, format_bytes),
    ("Peak execution memory", semconv.SPARK_PEAK_EXECUTION_MEMORY, format_bytes),
    ("Executor run time", semconv.SPARK_EXECUTOR_RUN_TIME_MS, _millis),
    ("Executor CPU time", semconv.SPARK_EXECUTOR_CPU_TIME_NS, _cpu),
)
#: Figures shown only when not 0: nothing spilled is the usual case, not news.
_ZERO_HIDDEN: Final = frozenset((semconv.SPARK_SPILL_MEMORY_BYTES, semconv.SPARK_SPILL_DISK_BYTES))


def engine_figures(jobs: Sequence[WorkRecord]) -> tuple[tuple[str, str], ...]:
    """``(label, text)`` pairs for the card of a step whose engine ran ``jobs`` (none: empty).

    ``Spark jobs`` and ``Tasks`` say how many failed (``3 (1 failed)``); then records and bytes
    read and written, shuffle, spill (when any), peak execution memory and executor times.
    """
    if not jobs:
        return ()
    failed_jobs = sum(1 for job in jobs if job.failure is not None)
    figures = [("Spark jobs", _with_failed(len(jobs), failed_jobs))]
    tasks = _total(jobs, semconv.SPARK_TASKS)
    if tasks is not None:
        figures.append(("Tasks", _with_failed(tasks, _total(jobs, semconv.SPARK_TASKS_FAILED) or 0)))
    for label, key, text in _FIGURES:
        value = _total(jobs, key)
        if value is None or (value == 0 and key in _ZERO_HIDDEN):
            continue
        figures.append((label, text(value)))
    return tuple(figures)


def work_detail(work: WorkRecord) -> str:
    """The text beside a job's or stage's waterfall bar: Spark's description of it (a job's
    description, a stage's name), after ``failed`` when it failed; ``""`` when there is neither."""
    description = work.figures.get(semconv.SPARK_JOB_DESCRIPTION, work.figures.get(semconv.SPARK_STAGE_NAME))
    text = _cut(description) if isinstance(description, str) else ""
    if work.failure is None:
        return text
    return f"failed · {text}" if text else "failed"


def _cut(text: str) -> str:
    """``text`` on one line, at most :data:`_MAX_DETAIL_CHARS` long (the tooltip has the same)."""
    line = " ".join(text.split())
    return line if len(line) <= _MAX_DETAIL_CHARS else line[: _MAX_DETAIL_CHARS - 1] + "…"


def _with_failed(total: int, failed: int) -> str:
    return format_count(total) + (f" ({format_count(failed)} failed)" if failed else "")


def _total(jobs: Sequence[WorkRecord], key: str) -> int | None:
    values = [_number(job.figures, key) for job in jobs]
    present = [value for value in values if value is not None]
    if not present:
        return None
    return max(present) if key == semconv.SPARK_PEAK_EXECUTION_MEMORY else sum(present)


def _number(figures: Mapping[str, int | str], key: str) -> int | None:
    value = figures.get(key)
    return value if isinstance(value, int) else None

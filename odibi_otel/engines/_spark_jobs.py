"""Spark jobs and stages as :class:`~odibi_otel.engines.base.EngineWork` (pure: JSON in, records out).

The input is what the driver's monitoring REST API answers (``/api/v1/applications/<app>/jobs/<id>``
and ``.../stages/<id>?details=false``); times are Spark's own (``2026-12-04T03:37:47.832GMT``).
Skipped stages (their output was already computed) have no times and no span; the job counts them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from opentelemetry.util.types import AttributeValue

from odibi_otel.engines.base import EngineWork
from odibi_otel.otel import semconv

__all__ = ["job_work", "parse_spark_time", "stage_work", "work_totals"]

#: REST stage field → span attribute, summed over stages for the job and node totals.
STAGE_FIGURES: Final[Mapping[str, str]] = {
    "numTasks": semconv.SPARK_TASKS,
    "numFailedTasks": semconv.SPARK_TASKS_FAILED,
    "inputRecords": semconv.SPARK_INPUT_RECORDS,
    "inputBytes": semconv.SPARK_INPUT_BYTES,
    "outputRecords": semconv.SPARK_OUTPUT_RECORDS,
    "outputBytes": semconv.SPARK_OUTPUT_BYTES,
    "shuffleReadBytes": semconv.SPARK_SHUFFLE_READ_BYTES,
    "shuffleWriteBytes": semconv.SPARK_SHUFFLE_WRITE_BYTES,
    "executorRunTime": semconv.SPARK_EXECUTOR_RUN_TIME_MS,
    "executorCpuTime": semconv.SPARK_EXECUTOR_CPU_TIME_NS,
    "memoryBytesSpilled": semconv.SPARK_SPILL_MEMORY_BYTES,
    "diskBytesSpilled": semconv.SPARK_SPILL_DISK_BYTES,
}
#: Figures that are a peak, not a sum: the largest stage's.
_PEAK_FIGURES: Final[Mapping[str, str]] = {"peakExecutionMemory": semconv.SPARK_PEAK_EXECUTION_MEMORY}
_SUMMED: Final = frozenset(STAGE_FIGURES.values())
_PEAKS: Final = frozenset(_PEAK_FIGURES.values())
_MAX_FAILURE: Final = 1000
#: The last line of a Python traceback: ``ValueError: ...``, ``pkg.CustomError: ...``.
_RAISED: Final = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b")


def parse_spark_time(text: object) -> int | None:
    """Epoch nanoseconds of a REST time such as ``2026-12-04T03:37:47.832GMT`` (``None`` if absent)."""
    if not isinstance(text, str) or not text:
        return None
    moment = datetime.strptime(text.removesuffix("GMT"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000) * 1_000_000


def stage_work(stage: Mapping[str, Any], fallback_end_ns: int) -> EngineWork | None:
    """One stage attempt as a span record; ``None`` for a stage that never ran (skipped)."""
    start = parse_spark_time(stage.get("submissionTime"))
    if start is None:
        return None
    end = parse_spark_time(stage.get("completionTime")) or max(start, fallback_end_ns)
    attributes: dict[str, AttributeValue] = {
        semconv.SPARK_STAGE_ID: int(stage["stageId"]),
        semconv.SPARK_STAGE_ATTEMPT: int(stage.get("attemptId", 0)),
        semconv.SPARK_STAGE_NAME: str(stage.get("name", "")),
        semconv.SPARK_STATUS: str(stage.get("status", "")),
    }
    for field, key in {**STAGE_FIGURES, **_PEAK_FIGURES}.items():
        value = stage.get(field)
        if isinstance(value, int):
            attributes[key] = value
    failure = stage.get("failureReason") if stage.get("status") == "FAILED" else None
    return EngineWork(
        name=f"{semconv.SPARK_STAGE_SPAN_PREFIX}{stage['stageId']}.{stage.get('attemptId', 0)}",
        start_ns=start,
        end_ns=end,
        attributes=attributes,
        failure=_first_line(failure) if failure else None,
    )


def job_work(job: Mapping[str, Any], stages: Sequence[Mapping[str, Any]], fallback_end_ns: int) -> EngineWork:
    """One job with its stage attempts (``stages``: every attempt of the job's stages)."""
    start = parse_spark_time(job.get("submissionTime")) or fallback_end_ns
    end = parse_spark_time(job.get("completionTime")) or max(start, fallback_end_ns)
    children = tuple(
        sorted(
            (work for work in (stage_work(stage, end) for stage in stages) if work is not None),
            key=lambda work: (work.start_ns, work.name),
        )
    )
    status = str(job.get("status", ""))
    attributes: dict[str, AttributeValue] = {
        semconv.SPARK_JOB_ID: int(job["jobId"]),
        semconv.SPARK_STATUS: status,
        semconv.SPARK_STAGES: len(children),
        **work_totals(children),
    }
    description = job.get("description") or job.get("name")
    if description:
        attributes[semconv.SPARK_JOB_DESCRIPTION] = str(description)
    failed = [child.failure for child in children if child.failure]
    failure = None
    if status == "FAILED":
        failure = failed[0] if failed else "the job failed"
    elif status != "SUCCEEDED":  # e.g. cancelled by Ctrl-C, its end not yet delivered by Spark
        failure = f"the job was {status.lower() or 'unfinished'} when its node ended"
    return EngineWork(
        name=f"{semconv.SPARK_JOB_SPAN_PREFIX}{job['jobId']}",
        start_ns=start,
        end_ns=end,
        attributes=attributes,
        failure=failure,
        children=children,
    )


def work_totals(works: Iterable[EngineWork]) -> dict[str, int]:
    """The summed figures (and the peaks) of ``works``' stage-level attributes."""
    totals: dict[str, int] = {}
    for work in works:
        for key, value in work.attributes.items():
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            if key in _SUMMED:
                totals[key] = totals.get(key, 0) + value
            elif key in _PEAKS:
                totals[key] = max(totals.get(key, 0), value)
    return totals


def _first_line(text: object) -> str:
    """The failure's first line; for a Python worker's traceback, with the exception it ended in."""
    lines = str(text).strip().splitlines()
    if not lines:
        return "failed"
    first = lines[0]
    if first.endswith("Traceback (most recent call last):"):
        raised = next((line for line in lines[1:] if _RAISED.match(line)), None)
        if raised is not None:
            first = f"{first.removesuffix('Traceback (most recent call last):').rstrip()} {raised}"
    return first[:_MAX_FAILURE]

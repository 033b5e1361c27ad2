"""Spark's REST answers as job and stage records (pure: no Spark needed)."""

from __future__ import annotations

from odibi_otel.engines._spark_jobs import job_work, parse_spark_time, work_totals
from odibi_otel.otel import semconv


def _stage(stage_id: int, status: str = "COMPLETE", **figures: object) -> dict[str, object]:
    return {
        "stageId": stage_id,
        "attemptId": 0,
        "name": f"parquet at Native.java:{stage_id}",
        "status": status,
        "submissionTime": "2026-12-04T03:37:47.832GMT",
        "completionTime": "2026-12-04T03:37:49.937GMT",
        "numTasks": 2,
        "numFailedTasks": 0,
        "outputBytes": 100,
        "peakExecutionMemory": 10 * stage_id,
        **figures,
    }


def _job(status: str = "SUCCEEDED") -> dict[str, object]:
    return {
        "jobId": 7,
        "name": "parquet at NativeMethodAccessorImpl.java:0",
        "submissionTime": "2026-12-04T03:37:47.800GMT",
        "completionTime": "2026-12-04T03:37:50.000GMT",
        "stageIds": [1, 2, 3],
        "status": status,
    }


def test_spark_times_are_epoch_nanoseconds() -> None:
    assert parse_spark_time("1970-01-01T00:00:01.250GMT") == 1_250_000_000
    assert parse_spark_time(None) is None
    assert parse_spark_time("") is None


def test_a_job_has_its_stages_as_parts_with_summed_figures_and_the_peak_of_peaks() -> None:
    skipped = {"stageId": 3, "attemptId": 0, "status": "SKIPPED"}  # never ran: no times, no span
    work = job_work(_job(), [_stage(1), _stage(2, outputBytes=50), skipped], fallback_end_ns=0)
    assert work.name == "spark job 7"
    assert [part.name for part in work.children] == ["spark stage 1.0", "spark stage 2.0"]
    assert work.attributes[semconv.SPARK_OUTPUT_BYTES] == 150
    assert work.attributes[semconv.SPARK_TASKS] == 4
    assert work.attributes[semconv.SPARK_PEAK_EXECUTION_MEMORY] == 20
    assert work.attributes[semconv.SPARK_STAGES] == 2
    assert work.attributes[semconv.SPARK_JOB_DESCRIPTION].startswith("parquet at")
    assert work.failure is None
    assert work.end_ns - work.start_ns == 2_200_000_000
    assert work_totals([work, work])[semconv.SPARK_OUTPUT_BYTES] == 300
    assert work_totals([work, work])[semconv.SPARK_PEAK_EXECUTION_MEMORY] == 20


def test_a_failed_stage_names_the_python_exception_it_ended_in() -> None:
    reason = (
        "Job aborted due to stage failure: [PYTHON_EXCEPTION] An exception was thrown from the Python "
        'worker: Traceback (most recent call last):\n  File "x.py", line 3, in f\n'
        "    raise ValueError('bad amount')\nValueError: bad amount\n\tat org.apache.spark..."
    )
    failed = _stage(1, status="FAILED", numFailedTasks=2, failureReason=reason)
    work = job_work(_job("FAILED"), [failed], fallback_end_ns=0)
    assert work.failure is not None and work.failure.endswith("worker: ValueError: bad amount")
    assert work.children[0].failure == work.failure
    assert work.attributes[semconv.SPARK_TASKS_FAILED] == 2


def test_a_job_not_finished_when_its_node_ended_is_not_a_success() -> None:
    running = {**_job("RUNNING"), "completionTime": None}
    work = job_work(running, [], fallback_end_ns=parse_spark_time("2026-12-04T03:37:55.000GMT") or 0)
    assert work.failure == "the job was running when its node ended"
    assert work.end_ns > work.start_ns

"""Metrics of batch runs: pushed to a Pushgateway or written for node_exporter's textfile collector.

A pipeline run from cron, Airflow or a Kubernetes Job ends seconds after its last node, before
Prometheus's next scrape. At the end of each run (success, failure or Ctrl-C) a
:class:`~odibi_otel.MetricsManager` can therefore hand the run's series to Prometheus the two ways
Prometheus recommends for batch jobs:

- **Pushgateway**: ``PUT`` to ``/metrics/job/<job>/pipeline/<pipeline>``. A failed or interrupted
  run is sent with ``POST`` and without ``odibi_pipeline_last_success_timestamp_seconds``, so the
  gateway keeps the last *successful* run's value while every other series is replaced.
- **textfile collector**: ``<dir>/odibi_<pipeline>.prom``, written atomically (temporary file and
  rename in the same folder); a failed run carries the previous file's last-success sample over.

Set it for every run of the process with ``configure(pushgateway_url=..., textfile_dir=...)``
(or :func:`set_batch_export`), or call :meth:`MetricsManager.push` /
:meth:`MetricsManager.write_textfile` yourself. A failing push or write never changes the run's
outcome: it is logged once per run as a warning and counted in ``telemetry_failures()``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.sdk.metrics.export import MetricsData

from odibi_otel._internal.atomic import write_bytes_atomic
from odibi_otel._internal.safety import count_failure
from odibi_otel.metrics._data_filter import select_points
from odibi_otel.metrics.prometheus_text import PrometheusRenderer
from odibi_otel.metrics.pushgateway import DEFAULT_JOB, push_exposition
from odibi_otel.otel import semconv

__all__ = [
    "LAST_SUCCESS_SERIES",
    "BatchExport",
    "batch_export",
    "export_run",
    "push_run",
    "run_exposition",
    "set_batch_export",
    "textfile_path",
    "write_run_textfile",
]

#: The Prometheus name of the gauge only a successful run advances.
LAST_SUCCESS_SERIES = "odibi_pipeline_last_success_timestamp_seconds"

_logger = logging.getLogger("odibi_otel.metrics")
Collect = Callable[[], MetricsData | None]


@dataclass(frozen=True)
class BatchExport:
    """Where every run's metrics go when it ends.

    Args:
        pushgateway_url: Pushgateway base URL (``http://host:9091``; ``user:password@`` for basic auth).
        job: The ``job`` of the pushed group.
        grouping_key: More labels of the group, after ``pipeline`` (e.g. ``{"instance": "host1"}``).
        headers: Extra HTTP headers of the push (e.g. an ``Authorization`` bearer token).
        timeout: Seconds a push may take.
        textfile_dir: Folder read by node_exporter's ``--collector.textfile.directory``.
    """

    pushgateway_url: str | None = None
    job: str = DEFAULT_JOB
    grouping_key: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    textfile_dir: str | os.PathLike[str] | None = None


_lock = threading.Lock()
_current: BatchExport | None = None


def set_batch_export(settings: BatchExport | None) -> None:
    """Send every run's metrics to ``settings`` from now on (``None``: stop)."""
    global _current
    with _lock:
        _current = settings


def batch_export() -> BatchExport | None:
    """The process-wide batch export settings, if any."""
    return _current


def run_exposition(data: MetricsData | None, pipeline: str, succeeded: bool) -> bytes:
    """The Prometheus text of ``pipeline``'s series; without the last-success gauge if it failed."""
    dropped = () if succeeded else (semconv.METRIC_PIPELINE_LAST_SUCCESS,)
    selected = select_points(data, only_pipeline=pipeline, drop_metrics=dropped)
    return PrometheusRenderer().render(selected)


def push_run(
    collect: Collect, gateway_url: str, pipeline: str, succeeded: bool, *,
    job: str = DEFAULT_JOB, grouping_key: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None, timeout: float = 5.0,
) -> None:  # fmt: skip
    """Push ``pipeline``'s series: ``PUT`` after a success, ``POST`` (keeping last success) otherwise."""
    key = {semconv.LABEL_PIPELINE: pipeline, **(grouping_key or {})}
    push_exposition(
        gateway_url, run_exposition(collect(), pipeline, succeeded), job=job, grouping_key=key,
        replace=succeeded, timeout=timeout, headers=headers,
    )  # fmt: skip


def textfile_path(directory: str | os.PathLike[str], pipeline: str) -> Path:
    """``<directory>/odibi_<pipeline>.prom``, the pipeline name reduced to ``[A-Za-z0-9_]``."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", pipeline) or "pipeline"
    return Path(directory) / f"odibi_{safe}.prom"


def write_run_textfile(
    collect: Collect, directory: str | os.PathLike[str], pipeline: str, succeeded: bool
) -> Path:
    """Write ``pipeline``'s series for the textfile collector (atomically) and return the file."""
    path = textfile_path(directory, pipeline)
    body = run_exposition(collect(), pipeline, succeeded)
    if not succeeded:
        body += _previous_last_success(path)
    write_bytes_atomic(path, body)
    return path


def export_run(collect: Collect, pipeline: str, succeeded: bool, settings: BatchExport | None = None) -> None:
    """Push and/or write the ended run's metrics per ``settings`` (default: the process-wide ones).

    Never raises: a failure is one warning and a count in ``telemetry_failures()``.
    """
    settings = settings or batch_export()
    if settings is None:
        return
    if settings.pushgateway_url:
        try:
            push_run(
                collect, settings.pushgateway_url, pipeline, succeeded, job=settings.job,
                grouping_key=settings.grouping_key, headers=settings.headers, timeout=settings.timeout,
            )  # fmt: skip
        except Exception as exc:
            count_failure("Pushgateway push")
            _logger.warning("odibi_otel: metrics of pipeline %r not pushed: %s", pipeline, exc)
    if settings.textfile_dir is not None:
        try:
            write_run_textfile(collect, settings.textfile_dir, pipeline, succeeded)
        except Exception as exc:
            count_failure("textfile collector file")
            _logger.warning("odibi_otel: metrics textfile of pipeline %r not written: %s", pipeline, exc)


def _previous_last_success(path: Path) -> bytes:
    """The last-success family of the previous file, to carry over a failed run."""
    try:
        lines = path.read_bytes().splitlines(keepends=True)
    except OSError:
        return b""
    name = LAST_SUCCESS_SERIES.encode()
    kept = [
        line
        for line in lines
        if line.startswith(name + b"{") or line.startswith(name + b" ") or line.split(b" ")[2:3] == [name]
    ]
    return b"".join(kept)

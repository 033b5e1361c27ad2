"""Running a pipeline with full observability into one folder (what ``odibi-otel run`` does).

The folder receives ``story.html``, ``lineage.json``, ``metrics.json``,
``metrics_prometheus.txt``, ``telemetry.jsonl`` (spans and log events as OTLP/JSON lines) and
``odibi.log.jsonl`` (the run's log as JSON lines). They are written also when the run fails, and
when it is interrupted (with status ``interrupted``). Every artifact describes the latest run only:
reusing a folder replaces all of them (the two line files are started anew, then written as the
run goes; the others are written atomically at its end).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.text import Text

from odibi_otel.cli._json_logging import json_lines_handler
from odibi_otel.cli._progress import RunProgress
from odibi_otel.errors import OdibiError
from odibi_otel.events.bus import EventBus
from odibi_otel.history.recorder import history_config
from odibi_otel.history.store import HistoryStore
from odibi_otel.lineage.tracker import Tracker, TrackerConfig
from odibi_otel.metrics.manager import MetricsManager
from odibi_otel.pipeline.orchestrator import Orchestrator
from odibi_otel.pipeline.result import ExecutionResult
from odibi_otel.pipeline.step import Step
from odibi_otel.setup import TelemetryHandle, configure
from odibi_otel.story import check_trace_url_template

__all__ = ["ARTIFACTS", "OutputFolderError", "RunReport", "check_output_folder", "run_to_folder"]

#: Artifact kind → file name inside the output folder.
ARTIFACTS: Final = {
    "story": "story.html",
    "lineage": "lineage.json",
    "metrics": "metrics.json",
    "prometheus": "metrics_prometheus.txt",
    "telemetry": "telemetry.jsonl",
    "log": "odibi.log.jsonl",
}

_logger = logging.getLogger("odibi_otel")
_TEMPORALITY_VARIABLE: Final = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"


class OutputFolderError(OdibiError, OSError):
    """The output folder cannot be created or written to."""


@dataclass
class RunReport:
    """The result of :func:`run_to_folder`: the orchestrator's result and the files written."""

    result: ExecutionResult | dict[str, Any]
    artifacts: dict[str, Path] = field(default_factory=dict)
    prometheus_url: str | None = None


def check_output_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` if needed and prove it is writable, before anything runs."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except (OSError, ValueError) as exc:  # ValueError: a path the OS cannot take (NUL byte)
        reason = getattr(exc, "strerror", None) or exc
        raise OutputFolderError(f"output folder {str(path)!r} is not writable: {reason}") from exc
    return path


def run_to_folder(
    steps: Sequence[Step],
    pipeline_name: str,
    out_dir: str | os.PathLike[str],
    *,
    max_workers: int = 1,
    enable_cache: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,  # default: .odibi_cache in the working directory
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    prometheus_port: int | None = None,
    prometheus_host: str | None = None,
    trace_url: str | None = None,
    tracker_config: TrackerConfig | None = None,
    event_bus: EventBus | None = None,
    console: Console | None = None,
    export_timeout: float | None = None,
    pushgateway_url: str | None = None,
    pushgateway_job: str = "odibi",
    textfile_dir: str | os.PathLike[str] | None = None,
    openlineage: Any = None,
    history: Any = None,
    history_keep: int | None = None,
    engine_type: str = "pandas",
    spark_master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    materialize: bool = False,
) -> RunReport:
    """Run ``steps`` with spans, metrics, events, lineage and story, writing every artifact to ``out_dir``.

    OpenTelemetry is set up with :func:`~odibi_otel.configure` (which keeps providers the
    application already set). A run is a batch job: its OTLP metrics use delta temporality unless
    ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` says otherwise, and with
    ``pushgateway_url`` / ``textfile_dir`` its metrics are pushed / written when it ends.

    ``history`` (a URL, path or ``HistoryConfig``) records the run there, finds anomalies against
    the runs before it and gives the story its "compared with history" view; ``history_keep``
    bounds the runs kept per pipeline. ``engine_type``, ``spark_master`` and ``spark_conf`` choose
    the engine (docs/spark.md), ``materialize`` counts every node's outputs at the node; Spark's
    Python workers export ``traced`` spans to ``otlp_endpoint``.

    Raises :class:`OutputFolderError` before running if ``out_dir`` is not writable; re-raises
    ``KeyboardInterrupt`` after writing the artifacts.
    """
    if trace_url is not None:  # a bad template fails now, not after the run
        check_trace_url_template(trace_url)
    folder = check_output_folder(out_dir)
    paths = {kind: folder / name for kind, name in ARTIFACTS.items()}
    for kind in ("telemetry", "log"):  # one rule for every artifact: it describes this run only
        paths[kind].unlink(missing_ok=True)
    if isinstance(openlineage, (str, os.PathLike)) and Path(openlineage).resolve().is_relative_to(
        folder.resolve()
    ):
        Path(openlineage).unlink(missing_ok=True)
    history_settings = history_config(history)
    if history_settings is not None and history_keep is not None:
        history_settings = dataclasses.replace(history_settings, keep=history_keep)
    log_handler = json_lines_handler(paths["log"])
    _logger.addHandler(log_handler)
    previous_level = _logger.level
    if _logger.level == logging.NOTSET or _logger.level > logging.INFO:
        _logger.setLevel(logging.INFO)  # the log file gets the run's INFO records
    try:
        handle = configure(
            otlp_endpoint=otlp_endpoint,
            otlp_protocol=otlp_protocol,
            prometheus_port=prometheus_port,
            prometheus_host=prometheus_host,
            spans_file=paths["telemetry"],
            export_timeout=export_timeout,
            pushgateway_url=pushgateway_url,
            pushgateway_job=pushgateway_job,
            textfile_dir=textfile_dir,
            openlineage=openlineage,
            # deltas from short-lived processes add up in a Collector's deltatocumulative processor
            metrics_temporality=None if os.environ.get(_TEMPORALITY_VARIABLE, "").strip() else "delta",
            resource_attributes=_stable_instance(pipeline_name),
        )
    except BaseException:
        _detach(log_handler, previous_level)
        raise
    # With OTEL_SDK_DISABLED nothing is global: a local manager still gives metrics.json.
    manager = handle.metrics_manager or MetricsManager(pipeline_name=pipeline_name)
    bus = event_bus or EventBus()
    report = RunReport(result={}, prometheus_url=handle.prometheus_url)
    try:
        orchestrator = Orchestrator(
            steps,
            enable_tracker=True,
            tracker_config=tracker_config,
            metrics_manager=manager,
            event_bus=bus,
            enable_cache=enable_cache,
            cache_dir=_cache_folder(cache_dir, folder, tracker_config if enable_cache else None),
            max_workers=max_workers,
            pipeline_name=pipeline_name,
            # configure()'s providers (the application's own when it had some); explicit, so a
            # second run in one process uses live providers, not the first run's shut-down ones
            tracer_provider=None if handle.disabled else handle.tracer_provider,
            logger_provider=None if handle.disabled else handle.logger_provider,
            history=history_settings if history_settings is not None else False,
            engine_type=engine_type,
            spark_master=spark_master,
            spark_conf=spark_conf,
            materialize=materialize,
            spark_worker_otlp=_worker_otlp(engine_type, otlp_endpoint, otlp_protocol),
        )
    except BaseException:
        _close(handle, manager, log_handler, previous_level)
        raise
    if console is not None and report.prometheus_url:
        console.print(Text(f"serving /metrics at {report.prometheus_url} during the run"), soft_wrap=True)
    progress = RunProgress([step.name for step in orchestrator.steps], console)
    progress.attach(bus)
    interrupted = True
    try:
        with progress:
            report.result = orchestrator.execute()
            progress.mark_skipped(report.result["skipped_nodes"])
        interrupted = False
        _logger.info(
            "pipeline %s finished: %s",
            pipeline_name,
            "success" if report.result["success"] else "failed",
            extra={"run_id": report.result["run_id"], "trace_id": report.result["trace_id"]},
        )
    finally:
        try:
            report.artifacts, failures = _write_artifacts(
                orchestrator.last_tracker,
                manager,
                handle,
                paths,
                trace_url,
                history_settings.store if history_settings is not None else None,
            )
        finally:
            _close(handle, manager, log_handler, previous_level)  # flushes the OpenLineage events
        if isinstance(openlineage, (str, os.PathLike)) and Path(openlineage).is_file():
            report.artifacts["openlineage"] = Path(openlineage)
        # an interrupt propagating wins over a failed artifact (already logged)
        if failures and not interrupted:
            raise failures[0]
    return report


def _stable_instance(pipeline_name: str) -> dict[str, str] | None:
    """``service.instance.id`` = ``<pipeline>@<host>`` unless the environment sets one.

    The SDK would give every process a random id, making each run a new metric stream; one
    identity per pipeline and host lets a Collector's ``deltatocumulative`` add runs up.
    """
    if "service.instance.id" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        return None
    return {"service.instance.id": f"{pipeline_name}@{socket.gethostname()}"}


def _cache_folder(cache_dir: str | os.PathLike[str] | None, out: Path, config: TrackerConfig | None) -> Path:
    """The node cache folder: ``.odibi_cache`` in the working directory unless given.

    The cache holds frames as computed, before redaction; kept inside a shared output folder it
    would leak what redaction hides from the artifacts, so that case gets a warning.
    """
    folder = Path(cache_dir) if cache_dir is not None else Path(".odibi_cache")
    redacting = config is not None and (
        bool(config.redact_columns) or config.redact_pattern is not None or not config.capture_samples
    )
    if redacting and folder.resolve().is_relative_to(out.resolve()):
        _logger.warning(
            "odibi_otel: the node cache %s is inside the output folder %s and holds unredacted data; "
            "do not share that folder, or pass a --cache-dir outside it",
            folder,
            out,
        )
    return folder


def _write_artifacts(
    tracker: Tracker | None,
    manager: MetricsManager,
    handle: TelemetryHandle,
    paths: dict[str, Path],
    trace_url: str | None,
    history: HistoryStore | None = None,
) -> tuple[dict[str, Path], list[OSError]]:
    """Write every artifact; one that fails (full disk, ...) does not keep the others from trying."""
    from odibi_otel.story.generator import StoryGenerator

    writers: list[tuple[tuple[str, ...], Callable[[], object]]] = [
        (("metrics",), lambda: manager.save_to_file(paths["metrics"])),
        (("prometheus",), lambda: manager.export_prometheus(paths["prometheus"])),
    ]
    if tracker is not None:
        story = StoryGenerator(trace_url_template=trace_url, history=history)

        def lineage_and_story() -> None:
            tracker.export_lineage(paths["lineage"])
            story.generate_story(paths["lineage"], paths["story"])

        writers.append((("lineage", "story"), lineage_and_story))
    written: dict[str, Path] = {}
    failures: list[OSError] = []
    for kinds, write in writers:
        try:
            write()
        except OSError as exc:
            _logger.error("odibi_otel: could not write %s: %s", " and ".join(kinds), exc)
            failures.append(exc)  # the previous file, if any, is left whole (atomic writes)
            continue
        written.update({kind: paths[kind] for kind in kinds})
    if handle.telemetry_file is not None:
        written["telemetry"] = paths["telemetry"]
    written["log"] = paths["log"]
    return written, failures


def _close(
    handle: TelemetryHandle, manager: MetricsManager, log_handler: logging.Handler, previous_level: int
) -> None:
    try:
        handle.shutdown()  # bounded by the export timeout
        if manager is not handle.metrics_manager:
            manager.shutdown()
    finally:
        _detach(log_handler, previous_level)


def _detach(log_handler: logging.Handler, previous_level: int) -> None:
    _logger.removeHandler(log_handler)
    log_handler.close()
    if _logger.level == logging.INFO:
        _logger.setLevel(previous_level)


_PROTOCOL_VARIABLE = "OTEL_EXPORTER_OTLP_PROTOCOL"


def _worker_otlp(engine_type: str, endpoint: str | None, protocol: str | None) -> dict[str, str] | None:
    """Where Spark's Python workers send ``traced`` spans: the run's OTLP receiver, if it has one."""
    if engine_type != "spark" or not endpoint:
        return None
    return {
        "endpoint": endpoint,
        "protocol": protocol or os.environ.get(_PROTOCOL_VARIABLE) or "http/protobuf",
    }

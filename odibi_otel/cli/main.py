"""The ``odibi-otel`` command line: run, validate, story, lineage, demo, history and diff.

Errors are one clear line plus a hint (exit code 2); ``--debug`` shows the traceback. ``run``
exits 1 when the pipeline failed and 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from odibi_otel.cli._options import build_parser, history_location, spark_conf, tracker_config, variables
from odibi_otel.cli._summary import print_summary
from odibi_otel.errors import OdibiError

if TYPE_CHECKING:
    from odibi_otel.lineage.config import TrackerConfig
    from odibi_otel.pipeline._file_engine import EngineSettings
    from odibi_otel.pipeline.step import Step

__all__ = ["main"]

# Hints by exception class name, looked up along the class hierarchy (most specific first).
_HINTS = {
    "UndefinedVariableError": "pass --var NAME=VALUE for it (repeatable), or give it a default in the "
    "file's `variables:` block or as ${NAME:-default}",
    "PipelineFileError": "check the file path and its YAML/JSON syntax",
    "PipelineValidationError": "fix the step named above; `odibi-otel validate FILE` checks without running",
    "OutputFolderError": "choose another --out folder or fix its permissions",
    "OtlpConfigurationError": "check --otlp-endpoint/--otlp-protocol and the OTEL_EXPORTER_OTLP_* variables",
    "PrometheusEndpointError": "choose another --prometheus-port (0 picks a free one)",
    "StoryInputError": "pass a lineage.json or an OTLP/JSON lines telemetry file",
    "OpenLineageMissing": "pip install 'odibi-otel[openlineage]'",
    "TelemetryFileError": "the telemetry file is damaged at the line shown",
    "VariableError": "pass --var NAME=VALUE, e.g. --var raw_dir=data/raw",
    "MissingInputFileError": "create the file or fix the step's path; without --strict this is a warning",
    "HistoryError": "check --history / ODIBI_HISTORY_URL; `odibi-otel history` lists the recorded runs",
    "FileNotFoundError": "check the path",
    "PermissionError": "check the file permissions",
}


class MissingInputFileError(OdibiError, FileNotFoundError):
    """``validate --strict``: a read step's input file does not exist."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``odibi-otel`` console script; returns the exit code.

    Exit codes: 0 success, 1 the pipeline ran and failed, 2 usage or configuration error (one
    line plus a hint on stderr), 130 interrupted.
    """
    parser = build_parser(
        {
            "run": _run,
            "validate": _validate,
            "story": _story,
            "lineage": _lineage,
            "demo": _demo,
            "history": _history,
            "diff": _diff,
        }
    )
    args = parser.parse_args(argv)
    console = Console(stderr=False, highlight=False)
    errors = Console(stderr=True, highlight=False)
    _configure_logging(args.debug)
    try:
        return int(args.handler(args, console))
    except KeyboardInterrupt:
        errors.print("interrupted; artifacts written with status 'interrupted'", markup=False, soft_wrap=True)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        expected = isinstance(exc, (OdibiError, OSError, ValueError))
        kind = type(exc).__name__
        prefix = "error" if expected else f"internal error ({kind})"
        message = " ".join(str(exc).split()) or kind  # one line, whatever the message holds
        errors.print(Text(f"{prefix}: {message}", style="bold red"), soft_wrap=True)
        hint = _hint(exc)
        if hint is None:
            hint = "see the traceback above" if args.debug else "run with --debug for the full traceback"
        errors.print(Text(f"hint: {hint}"), soft_wrap=True)
        return 2


# "file.yaml:12:" or "file.json:3:5:" at the start of a message: a line is shown.
_LINE_SHOWN = re.compile(r"^\S+\.(?:ya?ml|json):\d+", re.IGNORECASE)


def _hint(exc: BaseException) -> str | None:
    for cls in type(exc).__mro__:
        if cls.__name__ in _HINTS:
            hint = _HINTS[cls.__name__]
            if cls.__name__ == "PipelineFileError" and _LINE_SHOWN.match(str(exc)):
                hint += " at the line shown"
            return hint
    return None


class _CliLogFormatter(logging.Formatter):
    """``warning: message`` lines; tracebacks only with ``--debug`` (the log file keeps them)."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if not record.name.startswith("odibi_otel"):
            message = f"{record.name}: {message}"
        elif message.startswith("odibi_otel: "):
            message = message.removeprefix("odibi_otel: ")
        text = f"{record.levelname.lower()}: {message}"
        if self.debug and record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _configure_logging(debug: bool) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_odibi_cli", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._odibi_cli = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setLevel(logging.WARNING)  # the console shows warnings; the log file has everything
    handler.setFormatter(_CliLogFormatter(debug))
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)


def _run(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.pipeline.pipeline_file import load_pipeline

    definition = load_pipeline(args.pipeline, variables(args.var))
    return _run_steps(
        definition.name, definition.steps, args, console, definition.redaction, definition.engine
    )


def _run_steps(
    name: str,
    steps: Sequence[Step],
    args: argparse.Namespace,
    console: Console,
    file_redaction: TrackerConfig | None = None,
    file_engine: EngineSettings | None = None,
) -> int:
    from odibi_otel.cli.run_folder import run_to_folder
    from odibi_otel.pipeline._file_engine import EngineSettings
    from odibi_otel.pipeline._file_redaction import merge_redaction

    history = history_location(args)
    engine = file_engine or EngineSettings()
    engine_type = args.engine or engine.type
    conf = {**engine.conf, **spark_conf(args.spark_conf)} if engine_type == "spark" else None

    report = run_to_folder(
        steps,
        name,
        args.out,
        max_workers=args.workers,
        enable_cache=args.cache,
        cache_dir=args.cache_dir,
        otlp_endpoint=args.otlp_endpoint,
        otlp_protocol=args.otlp_protocol,
        prometheus_port=args.prometheus_port,
        prometheus_host=args.prometheus_host,
        trace_url=args.trace_url,
        # the file's redact: block and the --redact-* options add up
        tracker_config=merge_redaction(file_redaction, tracker_config(args, engine_type)),
        console=console,
        export_timeout=args.export_timeout,
        pushgateway_url=args.pushgateway,
        pushgateway_job=args.pushgateway_job,
        textfile_dir=args.textfile_dir,
        openlineage=args.openlineage_file or (True if args.openlineage else None),
        history=history,
        history_keep=args.history_keep,
        engine_type=engine_type,
        spark_master=(args.spark_master or engine.master) if engine_type == "spark" else None,
        spark_conf=conf,
        materialize=args.materialize,
    )
    print_summary(report.result, console)
    console.print(Text(f"outputs in {args.out.resolve()}:"), soft_wrap=True)
    for kind, path in report.artifacts.items():
        console.print(Text(f"  {kind:<10} {path.resolve()}"), soft_wrap=True)
    if history is not None:
        shown = history if "://" in history else str(Path(history).resolve())
        console.print(Text(f"  {'history':<10} {shown} (odibi-otel history lists the runs)"), soft_wrap=True)
    return 0 if report.result.get("success") else 1


def _validate(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.pipeline.dag import build_dag
    from odibi_otel.pipeline.pipeline_file import load_pipeline

    name, steps = load_pipeline(args.pipeline, variables(args.var))
    dag = build_dag(steps)  # load_pipeline validated every step (SQL in the file's engine's dialect)
    missing = [step for step in steps if step.type == "read" and not step.resolved_path().exists()]
    for step in missing:
        problem = f"step {step.name!r}: input file {str(step.resolved_path())!r} does not exist"
        if args.strict:
            raise MissingInputFileError(f"{problem} (--strict)")
        logging.getLogger("odibi_otel.cli").warning("%s; the run fails unless it appears first", problem)
    console.print(Text(f"{args.pipeline}: pipeline {name!r} is valid: {len(steps)} steps"), soft_wrap=True)
    for step_name in dag.order:
        step = dag.steps[step_name]
        inputs = ", ".join(step.input_keys) or "-"
        outputs = ", ".join(step.output_keys) or "-"
        console.print(Text(f"  {step_name} [{step.layer}/{step.type}] {inputs} -> {outputs}"), soft_wrap=True)
    return 0


def _story(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.story.generator import StoryGenerator

    output = StoryGenerator(
        trace_url_template=args.trace_url, history=history_location(args, must_exist=True)
    ).generate_story(args.file, output_file=args.output, title=args.title)
    console.print(Text(f"story written to {output}"), soft_wrap=True)
    runs = _runs_in(args.file)
    if len(runs) > 1:
        latest = runs[-1]
        console.print(
            Text(
                f"{args.file} holds {len(runs)} runs; the story shows the latest: run "
                f"{latest['run_id']} of pipeline {latest['pipeline_name']!r}, started {latest['start_time']}"
            ),
            soft_wrap=True,
        )
    return 0


def _lineage(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.cli._lineage import convert_to_openlineage

    return convert_to_openlineage(args.file, args.output, args.namespace, args.emit, console)


def _runs_in(file: Path) -> list[dict[str, Any]]:
    """The odibi_otel runs of a telemetry file (none for a lineage document)."""
    from odibi_otel.lineage.from_telemetry import list_runs
    from odibi_otel.otel.otlp_json import read_telemetry_file

    if file.suffix.lower() == ".json":  # a lineage document holds one run
        return []
    try:
        return list_runs(read_telemetry_file(file))
    except (OdibiError, OSError):
        return []


def _history(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.cli._history import print_history

    return print_history(_existing_history(args), args.pipeline, args.limit, args.json, console)


def _diff(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.cli._history import print_diff

    return print_diff(_existing_history(args), args.run_a, args.run_b, args.pipeline, args.json, console)


def _existing_history(args: argparse.Namespace) -> str:
    from odibi_otel.cli._options import DEFAULT_HISTORY_PATH
    from odibi_otel.history.store import HistoryError

    location = history_location(args, must_exist=True)
    if location is None:
        raise HistoryError(
            f"no run history at {DEFAULT_HISTORY_PATH} in {Path.cwd()}; `odibi-otel run` records there "
            "by default, or pass --history URL"
        )
    return location


def _demo(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.cli._demo import load_demo_pipeline

    definition = load_demo_pipeline(args.out, args.engine or "pandas")
    return _run_steps(definition.name, definition.steps, args, console, file_engine=definition.engine)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

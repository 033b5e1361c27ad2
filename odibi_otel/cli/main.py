"""The ``odibi-otel`` command line: run, validate, story and demo.

Errors are one clear line plus a hint (exit code 2); ``--debug`` shows the traceback. ``run``
exits 1 when the pipeline failed and 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from odibi_otel._version import __version__
from odibi_otel.errors import OdibiError
from odibi_otel.lineage.config import PII_PATTERN, TrackerConfig

if TYPE_CHECKING:
    from odibi_otel.pipeline.step import Step

__all__ = ["main"]

# Hints by exception class name, looked up along the class hierarchy (most specific first).
_HINTS = {
    "PipelineFileError": "check the file path and its YAML/JSON syntax at the line shown",
    "PipelineValidationError": "fix the step named above; `odibi-otel validate FILE` checks without running",
    "OutputFolderError": "choose another --out folder or fix its permissions",
    "OtlpConfigurationError": "check --otlp-endpoint/--otlp-protocol and the OTEL_EXPORTER_OTLP_* variables",
    "PrometheusEndpointError": "choose another --prometheus-port (0 picks a free one)",
    "StoryInputError": "pass a lineage.json or an OTLP/JSON lines telemetry file",
    "TelemetryFileError": "the telemetry file is damaged at the line shown",
    "VariableError": "pass --var NAME=VALUE, e.g. --var raw_dir=data/raw",
    "FileNotFoundError": "check the path",
    "PermissionError": "check the file permissions",
}


class VariableError(ValueError):
    """A malformed ``--var``."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``odibi-otel`` console script; returns the exit code.

    Exit codes: 0 success, 1 the pipeline ran and failed, 2 usage or configuration error (one
    line plus a hint on stderr), 130 interrupted.
    """
    parser = _parser()
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


def _hint(exc: BaseException) -> str | None:
    for cls in type(exc).__mro__:
        if cls.__name__ in _HINTS:
            return _HINTS[cls.__name__]
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odibi-otel",
        description="Run pandas pipelines as OpenTelemetry traces, with metrics, lineage and an HTML story.",
        epilog="exit codes: 0 success, 1 the pipeline failed, 2 usage or configuration error, "
        "130 interrupted. OTEL_* variables are honoured; options win over them.",
    )
    parser.add_argument("--version", action="version", version=f"odibi-otel {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a pipeline file with full observability")
    run.add_argument("pipeline", type=Path, help="pipeline file (.yaml, .yml or .json)")
    _add_run_options(run, default_out="odibi-output")
    run.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="set a ${NAME} pipeline variable"
    )
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a pipeline file without running it")
    validate.add_argument("pipeline", type=Path, help="pipeline file (.yaml, .yml or .json)")
    validate.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="set a ${NAME} pipeline variable"
    )
    validate.set_defaults(handler=_validate)

    story = commands.add_parser("story", help="build the HTML story from lineage.json or a telemetry file")
    story.add_argument("file", type=Path, help="lineage.json or OTLP/JSON lines (spans + logs)")
    story.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("story.html"),
        help="HTML file to write (default story.html)",
    )
    story.add_argument("--title", default=None, help="page title (default: from the pipeline name)")
    story.add_argument(
        "--trace-url",
        default=None,
        metavar="TEMPLATE",
        help="trace link, e.g. http://localhost:16686/trace/{trace_id}",
    )
    story.set_defaults(handler=_story)

    demo = commands.add_parser("demo", help="generate demo data and run the customer pipeline")
    _add_run_options(demo, default_out="demo-output")
    demo.set_defaults(handler=_demo)
    for sub in (run, validate, story, demo):
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _add_run_options(command: argparse.ArgumentParser, default_out: str) -> None:
    command.add_argument(
        "--out", type=Path, default=Path(default_out), help=f"output folder (default {default_out})"
    )
    command.add_argument("--workers", type=_positive_int, default=1, help="nodes run at once (default 1)")
    command.add_argument("--cache", action="store_true", help="reuse unchanged node outputs")
    command.add_argument(
        "--otlp-endpoint",
        default=None,
        metavar="URL",
        help="OTLP receiver base URL, e.g. http://localhost:4318 (default OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    command.add_argument(
        "--otlp-protocol",
        default=None,
        choices=["grpc", "http/protobuf"],
        help="OTLP protocol (default OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)",
    )
    command.add_argument(
        "--export-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="max seconds per OTLP export and final flush (default OTEL_EXPORTER_OTLP_TIMEOUT or 10)",
    )
    command.add_argument(
        "--prometheus-port",
        type=_port,
        default=None,
        metavar="P",
        help="serve /metrics on port P during the run (0 = a free port)",
    )
    command.add_argument(
        "--prometheus-host",
        default=None,
        metavar="HOST",
        help="bind address (default OTEL_EXPORTER_PROMETHEUS_HOST or 127.0.0.1)",
    )
    command.add_argument(
        "--trace-url",
        default=None,
        metavar="TEMPLATE",
        help="story link, e.g. http://localhost:16686/trace/{trace_id}",
    )
    privacy = command.add_argument_group("sample redaction (lineage, story, log events)")
    privacy.add_argument(
        "--redact-column",
        action="append",
        default=[],
        metavar="NAME",
        help="never capture values of this column (repeatable)",
    )
    privacy.add_argument(
        "--redact-pattern", default=None, metavar="REGEX", help="redact columns whose name matches REGEX"
    )
    privacy.add_argument(
        "--redact-pii",
        action="store_true",
        help="redact columns named like personal data or secrets (email, ssn, password, token, ...)",
    )
    privacy.add_argument("--no-samples", action="store_true", help="capture no sample rows at all")


def _tracker_config(args: argparse.Namespace) -> TrackerConfig:
    """The tracker's sampling and redaction from the CLI options."""
    patterns = [
        pattern for pattern in (args.redact_pattern, PII_PATTERN if args.redact_pii else None) if pattern
    ]
    return TrackerConfig(
        capture_samples=not args.no_samples,
        redact_columns=tuple(args.redact_column),
        redact_pattern="|".join(f"(?:{pattern})" for pattern in patterns) or None,
    )


def _variables(pairs: Sequence[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise VariableError(f"--var expects NAME=VALUE, got {pair!r}")
        variables[name] = value
    return variables


def _run(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.pipeline.pipeline_file import load_pipeline

    name, steps = load_pipeline(args.pipeline, _variables(args.var))
    return _run_steps(name, steps, args, console)


def _run_steps(name: str, steps: Sequence[Step], args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.cli.run_folder import run_to_folder

    report = run_to_folder(
        steps,
        name,
        args.out,
        max_workers=args.workers,
        enable_cache=args.cache,
        otlp_endpoint=args.otlp_endpoint,
        otlp_protocol=args.otlp_protocol,
        prometheus_port=args.prometheus_port,
        prometheus_host=args.prometheus_host,
        trace_url=args.trace_url,
        tracker_config=_tracker_config(args),
        console=console,
        export_timeout=args.export_timeout,
    )
    _print_summary(report.result, console)
    console.print(Text(f"outputs in {args.out.resolve()}:"), soft_wrap=True)
    for kind, path in report.artifacts.items():
        console.print(Text(f"  {kind:<10} {path.resolve()}"), soft_wrap=True)
    return 0 if report.result.get("success") else 1


def _print_summary(result: Mapping[str, Any], console: Console) -> None:
    succeeded, failed = len(result["successful_nodes"]), len(result["failed_nodes"])
    skipped, cached = len(result["skipped_nodes"]), len(result.get("cache_hits", []))
    status = Text("success", style="green") if result["success"] else Text("failed", style="bold red")
    if console.is_terminal:
        table = Table(title=Text(f"pipeline {result['pipeline_name']}"), show_header=True)
        for column in ("status", "duration", "succeeded", "failed", "skipped", "cache hits"):
            table.add_column(column, justify="left" if column == "status" else "right", no_wrap=True)
        table.add_row(
            status,
            f"{result['duration_ms'] / 1000:.2f} s",
            str(succeeded),
            str(failed),
            str(skipped),
            str(cached),
        )
        console.print(table)
        console.print(Text(_trace_text(result["trace_id"])), soft_wrap=True)
    else:  # plain lines for logs and pipes
        line = Text(f"pipeline {result['pipeline_name']}: ")
        line.append(status)
        line.append(
            f" in {result['duration_ms'] / 1000:.2f} s: {succeeded} succeeded, {failed} failed, "
            f"{skipped} skipped, {cached} cache hits; {_trace_text(result['trace_id'])}"
        )
        console.print(line, soft_wrap=True)
    for node, message in result["errors"].items():
        console.print(Text(f"  {node}: {' '.join(str(message).split())}", style="red"), soft_wrap=True)


def _trace_text(trace_id: str) -> str:
    if trace_id.strip("0"):
        return f"trace id {trace_id}"
    return "no trace id (OTEL_SDK_DISABLED)"


def _validate(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.pipeline.pipeline_file import load_pipeline
    from odibi_otel.pipeline.validation import validate_steps

    name, steps = load_pipeline(args.pipeline, _variables(args.var))
    dag = validate_steps(steps)
    console.print(Text(f"{args.pipeline}: pipeline {name!r} is valid: {len(steps)} steps"), soft_wrap=True)
    for step_name in dag.order:
        step = dag.steps[step_name]
        inputs = ", ".join(step.input_keys) or "-"
        outputs = ", ".join(step.output_keys) or "-"
        console.print(Text(f"  {step_name} [{step.layer}/{step.type}] {inputs} -> {outputs}"), soft_wrap=True)
    return 0


def _story(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.story.generator import StoryGenerator

    output = StoryGenerator(trace_url_template=args.trace_url).generate_story(
        args.file, output_file=args.output, title=args.title
    )
    console.print(Text(f"story written to {output}"), soft_wrap=True)
    return 0


def _demo(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.cli._demo import load_demo_pipeline

    name, steps = load_demo_pipeline(args.out)
    return _run_steps(name, steps, args, console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

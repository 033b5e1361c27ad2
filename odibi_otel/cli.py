"""The ``odibi-otel`` command line: run, validate, story and demo.

Errors are one clear line plus a hint (exit code 2); ``--debug`` shows the traceback. ``run``
exits 1 when the pipeline failed and 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from odibi_otel._version import __version__
from odibi_otel.errors import OdibiError

__all__ = ["main"]

_HINTS = {
    "PipelineFileError": "check the file path and its YAML/JSON syntax at the line shown",
    "OutputFolderError": "choose another --out folder or fix its permissions",
    "OtlpConfigurationError": "check --otlp-endpoint and the OTEL_EXPORTER_OTLP_* variables",
    "StoryInputError": "pass a lineage.json or an OTLP/JSON lines telemetry file",
    "TelemetryFileError": "the telemetry file is damaged at the line shown",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``odibi-otel`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console(stderr=False, highlight=False)
    errors = Console(stderr=True, highlight=False)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the console shows warnings; the log file has all
        handler.setLevel(logging.WARNING)
    try:
        return int(args.handler(args, console))
    except KeyboardInterrupt:
        errors.print("interrupted; artifacts written with status 'interrupted'", markup=False)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        expected = isinstance(exc, (OdibiError, OSError, ValueError))
        kind = type(exc).__name__
        prefix = "error" if expected else f"internal error ({kind})"
        errors.print(Text(f"{prefix}: {exc}", style="bold red"))
        errors.print(Text(f"hint: {_HINTS.get(kind, 'run with --debug for the full traceback')}"))
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odibi-otel",
        description="Run pandas pipelines as OpenTelemetry traces, with metrics, lineage and an HTML story.",
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
    validate.add_argument("pipeline", type=Path)
    validate.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    validate.set_defaults(handler=_validate)

    story = commands.add_parser("story", help="build the HTML story from lineage.json or a telemetry file")
    story.add_argument("file", type=Path, help="lineage.json or OTLP/JSON lines (spans + logs)")
    story.add_argument("-o", "--output", type=Path, default=Path("story.html"))
    story.add_argument("--title", default=None)
    story.add_argument(
        "--trace-url", default=None, metavar="TEMPLATE", help="e.g. http://localhost:16686/trace/{trace_id}"
    )
    story.set_defaults(handler=_story)

    demo = commands.add_parser("demo", help="generate demo data and run the customer pipeline")
    _add_run_options(demo, default_out="demo-output")
    demo.set_defaults(handler=_demo)
    for sub in (run, validate, story, demo):
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _add_run_options(command: argparse.ArgumentParser, default_out: str) -> None:
    command.add_argument(
        "--out", type=Path, default=Path(default_out), help=f"output folder (default {default_out})"
    )
    command.add_argument("--workers", type=int, default=1, help="nodes run at once (default 1)")
    command.add_argument("--cache", action="store_true", help="reuse unchanged node outputs")
    command.add_argument("--otlp-endpoint", default=None, metavar="URL", help="OTLP receiver base URL")
    command.add_argument("--otlp-protocol", default=None, choices=["grpc", "http/protobuf"])
    command.add_argument(
        "--prometheus-port", type=int, default=None, metavar="P", help="serve /metrics on port P"
    )
    command.add_argument(
        "--prometheus-host", default=None, metavar="HOST", help="bind address (default 127.0.0.1)"
    )
    command.add_argument(
        "--trace-url",
        default=None,
        metavar="TEMPLATE",
        help="story link, e.g. http://localhost:16686/trace/{trace_id}",
    )


def _variables(pairs: Sequence[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--var expects NAME=VALUE, got {pair!r}")
        variables[name] = value
    return variables


def _run(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.pipeline_file import load_pipeline

    name, steps = load_pipeline(args.pipeline, _variables(args.var))
    return _run_steps(name, steps, args, console)


def _run_steps(name: str, steps: list, args: argparse.Namespace, console: Console) -> int:  # type: ignore[type-arg]
    from odibi_otel.run_folder import run_to_folder

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
        console=console,
    )
    _print_summary(report.result, console)
    console.print(Text(f"outputs in {args.out.resolve()}:"))
    for kind, path in report.artifacts.items():
        console.print(Text(f"  {kind:<10} {path}"))
    return 0 if report.result.get("success") else 1


def _print_summary(result: dict, console: Console) -> None:  # type: ignore[type-arg]
    table = Table(title=Text(f"pipeline {result['pipeline_name']}"), show_header=True)
    table.add_column("status")
    table.add_column("duration", justify="right")
    table.add_column("succeeded", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("trace id")
    status = Text("success", style="green") if result["success"] else Text("failed", style="bold red")
    table.add_row(
        status,
        f"{result['duration_ms'] / 1000:.2f} s",
        str(len(result["successful_nodes"])),
        str(len(result["failed_nodes"])),
        str(len(result["skipped_nodes"])),
        result["trace_id"],
    )
    console.print(table)
    for node, message in result["errors"].items():
        console.print(Text(f"  {node}: {message}", style="red"))


def _validate(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.pipeline_file import load_pipeline
    from odibi_otel.validation import validate_steps

    name, steps = load_pipeline(args.pipeline, _variables(args.var))
    dag = validate_steps(steps)
    console.print(Text(f"{args.pipeline}: pipeline {name!r} is valid: {len(steps)} steps"))
    for step_name in dag.order:
        step = dag.steps[step_name]
        inputs = ", ".join(step.input_keys) or "-"
        outputs = ", ".join(step.output_keys) or "-"
        console.print(Text(f"  {step_name} [{step.layer}/{step.type}] {inputs} -> {outputs}"))
    return 0


def _story(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.story_generator import StoryGenerator

    output = StoryGenerator(trace_url_template=args.trace_url).generate_story(
        args.file, output_file=args.output, title=args.title
    )
    console.print(Text(f"story written to {output}"))
    return 0


def _demo(args: argparse.Namespace, console: Console) -> int:
    from odibi_otel.demo import load_demo_pipeline

    name, steps = load_demo_pipeline(args.out)
    return _run_steps(name, steps, args, console)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

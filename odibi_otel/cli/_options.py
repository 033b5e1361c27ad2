"""The ``odibi-otel`` command line's options: the parser, argument types and what options configure."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from odibi_otel._version import __version__
from odibi_otel.cli._engine_options import add_engine_options
from odibi_otel.lineage.config import PII_PATTERN, TrackerConfig

__all__ = [
    "DEFAULT_HISTORY_PATH",
    "Handler",
    "VariableError",
    "build_parser",
    "history_location",
    "tracker_config",
    "variables",
]

#: Where the CLI records runs unless told otherwise (relative to the working directory).
DEFAULT_HISTORY_PATH = ".odibi/history.sqlite"

#: Runs one command: ``(parsed arguments, console) -> exit code``.
Handler: TypeAlias = Callable[[argparse.Namespace, Any], int]


class VariableError(ValueError):
    """A malformed ``--var``."""


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The ``odibi-otel`` argument parser; ``handlers`` maps each command to the function running it."""
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
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a ${NAME} pipeline variable (repeatable)",
    )
    run.set_defaults(handler=handlers["run"])

    validate = commands.add_parser("validate", help="check a pipeline file without running it")
    validate.add_argument("pipeline", type=Path, help="pipeline file (.yaml, .yml or .json)")
    validate.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a ${NAME} pipeline variable (repeatable)",
    )
    validate.add_argument(
        "--strict",
        action="store_true",
        help="treat a read step whose input file does not exist as an error (default: a warning)",
    )
    validate.set_defaults(handler=handlers["validate"])

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
        type=_trace_url,
        default=None,
        metavar="TEMPLATE",
        help="trace link, e.g. http://localhost:16686/trace/{trace_id}",
    )
    story.set_defaults(handler=handlers["story"])

    lineage_command = commands.add_parser(
        "lineage", help="turn a lineage.json or telemetry file into OpenLineage events (JSON lines)"
    )
    lineage_command.add_argument("file", type=Path, help="lineage.json or OTLP/JSON lines (spans + logs)")
    lineage_command.add_argument(
        "-o", "--output", type=Path, default=None, help="file to write (default: standard output)"
    )
    lineage_command.add_argument(
        "--namespace", default="odibi", help="OpenLineage job namespace (default odibi)"
    )
    lineage_command.add_argument(
        "--emit",
        action="store_true",
        help="also send the events through the OpenLineage client's configuration (OPENLINEAGE_URL, ...)",
    )
    lineage_command.set_defaults(handler=handlers["lineage"])

    demo = commands.add_parser("demo", help="generate demo data and run the customer pipeline")
    _add_run_options(demo, default_out="demo-output")
    demo.set_defaults(handler=handlers["demo"])

    history = commands.add_parser("history", help="list recorded runs, newest first (docs/history.md)")
    history.add_argument("pipeline", nargs="?", default=None, help="only this pipeline's runs")
    _add_history_location(history)
    history.add_argument("--limit", type=_positive_int, default=20, help="runs shown (default 20)")
    history.add_argument("--json", action="store_true", help="print the runs as JSON")
    history.set_defaults(handler=handlers["history"])

    diff = commands.add_parser("diff", help="compare two recorded runs node by node (docs/history.md)")
    diff.add_argument("run_a", metavar="RUN_A", help="run id (or a unique prefix), latest or previous")
    diff.add_argument("run_b", metavar="RUN_B", help="run id (or a unique prefix), latest or previous")
    diff.add_argument("--pipeline", default=None, help="the pipeline latest/previous refer to")
    _add_history_location(diff)
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")
    diff.set_defaults(handler=handlers["diff"])
    _add_history_location(
        story,
        "add the 'compared with history' view from this run history",
        no_history="leave the history view out",
        when="when it exists",
    )
    for sub in (run, validate, story, lineage_command, demo, history, diff):
        # also after the command (`odibi-otel run --debug ...`), and listed in each command's --help
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors"
        )
    return parser


def _trace_url(text: str) -> str:
    from odibi_otel.story import check_trace_url_template

    try:
        check_trace_url_template(text)
    except ValueError as exc:
        problem = str(exc).removeprefix("trace_url_template ")
        raise argparse.ArgumentTypeError(
            f"{problem}; e.g. --trace-url 'http://localhost:16686/trace/{{trace_id}}'"
        ) from None
    return text


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
    add_engine_options(command)
    command.add_argument(
        "--cache",
        action="store_true",
        help="reuse unchanged node outputs (stored unredacted in --cache-dir, outside --out)",
    )
    command.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".odibi_cache"),
        metavar="DIR",
        help="node cache folder (default .odibi_cache in the working directory); it holds the frames "
        "as computed, before any redaction: keep it out of folders you share",
    )
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
        type=_trace_url,
        default=None,
        metavar="TEMPLATE",
        help="story link, e.g. http://localhost:16686/trace/{trace_id}",
    )
    lineage = command.add_argument_group("OpenLineage events for data catalogs (docs/openlineage.md)")
    lineage.add_argument(
        "--openlineage",
        action="store_true",
        help="send OpenLineage events through the client's own configuration (OPENLINEAGE_URL, "
        "OPENLINEAGE__TRANSPORT__*, openlineage.yml); on by default when that configuration exists",
    )
    lineage.add_argument(
        "--openlineage-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="append the run's OpenLineage events to PATH, one JSON event per line",
    )
    batch = command.add_argument_group("metrics of batch runs (docs/metrics.md#batch-jobs)")
    batch.add_argument(
        "--pushgateway",
        default=None,
        metavar="URL",
        help="push the run's metrics to this Prometheus Pushgateway at its end, e.g. "
        "http://localhost:9091 (default ODIBI_PUSHGATEWAY_URL)",
    )
    batch.add_argument(
        "--pushgateway-job",
        default="odibi",
        metavar="JOB",
        help="job label of the pushed group (default odibi)",
    )
    batch.add_argument(
        "--textfile-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write odibi_<pipeline>.prom for node_exporter's textfile collector into DIR",
    )
    runs = command.add_argument_group("run history, checks and anomalies (docs/history.md)")
    _add_history_location(
        runs,
        "record the run in this history: a SQLite path or sqlite:/// URL, or postgresql://...",
        no_history="do not record the run, find no anomalies",
        when="in the working directory",
    )
    runs.add_argument(
        "--history-keep",
        type=_positive_int,
        default=None,
        metavar="N",
        help="runs kept per pipeline in the history (default 200)",
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


def _add_history_location(
    command: argparse.ArgumentParser | argparse._ArgumentGroup,
    what: str = "the run history",
    *,
    no_history: str | None = None,
    when: str = "",
) -> None:
    """``--history URL`` (it does ``what``) and, when ``no_history`` is given, ``--no-history``."""
    where = f"{DEFAULT_HISTORY_PATH} {when}".rstrip()
    command.add_argument(
        "--history",
        default=None,
        metavar="URL",
        help=f"{what} (default ODIBI_HISTORY_URL, else {where})",
    )
    if no_history is not None:
        command.add_argument("--no-history", action="store_true", help=no_history)


def history_location(args: argparse.Namespace, *, must_exist: bool = False) -> str | None:
    """The history URL the options name: ``--history``, ``ODIBI_HISTORY_URL``, else the default file.

    ``None`` with ``--no-history``, or (``must_exist``) when only the default applies and that
    file does not exist.
    """
    if getattr(args, "no_history", False):
        return None
    explicit = args.history or os.environ.get("ODIBI_HISTORY_URL") or None
    if explicit is not None:
        return str(explicit)
    if must_exist and not Path(DEFAULT_HISTORY_PATH).is_file():
        return None
    return DEFAULT_HISTORY_PATH


def tracker_config(args: argparse.Namespace, engine_type: str = "pandas") -> TrackerConfig:
    """The tracker's sampling and redaction from the CLI options (no samples on Spark: each is a job)."""
    patterns = [
        pattern for pattern in (args.redact_pattern, PII_PATTERN if args.redact_pii else None) if pattern
    ]
    return TrackerConfig(
        capture_samples=not args.no_samples and engine_type != "spark",
        redact_columns=tuple(args.redact_column),
        redact_pattern="|".join(f"(?:{pattern})" for pattern in patterns) or None,
    )


def variables(pairs: Sequence[str]) -> dict[str, str]:
    """``--var NAME=VALUE`` pairs as a mapping; raises :class:`VariableError` for a malformed one."""
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise VariableError(f"--var expects NAME=VALUE, got {pair!r}")
        variables[name] = value
    return variables


def spark_conf(pairs: Sequence[str]) -> dict[str, str]:
    """``--spark-conf KEY=VALUE`` pairs as a mapping; raises :class:`VariableError` for a malformed one."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise VariableError(f"--spark-conf expects KEY=VALUE, got {pair!r}")
        conf[key.strip()] = value
    return conf

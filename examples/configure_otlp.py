"""``odibi_otel.configure()``: OpenTelemetry set up for a script, an OTLP/JSON file, a story from it.

``configure()`` installs tracer, logger (and, with an exporter, meter) providers, unless the
application already has its own, and returns a handle whose ``shutdown()`` flushes everything. By
default this script writes spans and log events (the lineage events included) as OTLP/JSON lines
to ``<out>/telemetry.jsonl``, the format of the OpenTelemetry Collector's file exporter, and then
builds ``<out>/story.html`` from that file alone, as ``odibi-otel story telemetry.jsonl`` does.

    python examples/configure_otlp.py [--out DIR]
    python examples/configure_otlp.py --otlp-endpoint http://localhost:4318
    python examples/configure_otlp.py --otlp-endpoint http://localhost:4317 --otlp-protocol grpc \\
        --trace-url 'http://localhost:16686/trace/{trace_id}'

With ``--otlp-endpoint`` (a base URL, like ``OTEL_EXPORTER_OTLP_ENDPOINT``) traces, metrics and
logs also go to that OTLP receiver, e.g. the collector of ``collector-config/``. Without it, the
standard ``OTEL_EXPORTER_OTLP_*`` variables are honoured; with neither, nothing leaves the machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from odibi_otel import Orchestrator, Step, StoryGenerator, configure
from odibi_otel.lineage import list_runs
from odibi_otel.otel.otlp_json import read_telemetry_file


def write_readings(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "readings.csv"
    pd.DataFrame(
        {
            "sensor": ["a", "b", "c", "a", "b", "c", "a", "b"],
            "celsius": [21.5, 19.0, None, 22.5, 18.5, 30.5, 23.0, 19.5],
        }
    ).to_csv(path, index=False)
    return path


def drop_missing(readings: pd.DataFrame) -> pd.DataFrame:
    return readings.dropna(subset=["celsius"])


def mean_per_sensor(readings: pd.DataFrame) -> pd.DataFrame:
    return readings.groupby("sensor", as_index=False)["celsius"].mean()


def main() -> None:
    parser = argparse.ArgumentParser(description="configure() with an OTLP/JSON file and optional OTLP.")
    parser.add_argument("--out", type=Path, default=Path.cwd(), help="output folder (default: current)")
    parser.add_argument("--otlp-endpoint", default=None, metavar="URL", help="OTLP receiver base URL")
    parser.add_argument("--otlp-protocol", default=None, choices=["grpc", "http/protobuf"])
    parser.add_argument("--trace-url", default=None, metavar="TEMPLATE", help="trace link for the story")
    args = parser.parse_args()
    out = args.out.resolve()
    readings_csv = write_readings(out / "data")
    telemetry_file = out / "telemetry.jsonl"
    telemetry_file.unlink(missing_ok=True)  # the file is appended to; start afresh for this example

    handle = configure(
        service_name="sensor-report",
        otlp_endpoint=args.otlp_endpoint,
        otlp_protocol=args.otlp_protocol,
        spans_file=telemetry_file,
        export_timeout=5.0,
    )
    print(
        f"configure(): owns tracer provider {handle.owns_tracer_provider}, "
        f"logger provider {handle.owns_logger_provider}, meter provider {handle.owns_meter_provider}"
    )
    print(
        f"OTLP export: {args.otlp_endpoint or 'off (no --otlp-endpoint, unless OTEL_EXPORTER_OTLP_* is set)'}"
    )

    steps = [
        Step("read_readings", "ingest", "read", str(readings_csv), outputs=["readings"]),
        Step("drop_missing", "transform", "function", drop_missing, inputs=["readings"], outputs=["valid"]),
        Step(
            "mean_per_sensor", "transform", "function", mean_per_sensor, inputs=["valid"], outputs=["means"]
        ),
        Step("store_means", "store", "write", str(out / "data" / "means.csv"), inputs=["means"]),
    ]
    try:
        # no tracer_provider=, no metrics_manager=: the run uses what configure() installed
        result = Orchestrator(steps, pipeline_name="sensor_report", enable_tracker=True).execute()
    finally:
        handle.shutdown()  # flushes the span and log exporters into the file (and OTLP)
    print(f"pipeline success: {result['success']}, trace id {result['trace_id']}")

    data = read_telemetry_file(telemetry_file)
    runs = list_runs(data)
    print(f"{telemetry_file.name}: {len(data.spans)} spans, {len(data.logs)} log records")
    for run in runs:
        print(
            f"  run {run['run_id']} of {run['pipeline_name']}: {run['node_spans']} node spans, "
            f"lineage events {run['has_lineage_events']}"
        )

    story = StoryGenerator(trace_url_template=args.trace_url).generate_story(
        telemetry_file, out / "story.html", title="Sensor report (from telemetry.jsonl)"
    )
    print(f"story built from {telemetry_file.name}: {story}")


if __name__ == "__main__":
    main()

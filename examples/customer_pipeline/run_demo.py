"""Run the customer pipeline demo: generate raw data, run pipeline.yaml as a trace, save the results.

    python examples/customer_pipeline/run_demo.py [--out demo-output] [--workers 4] [--reuse-raw]

Everything lands in the ``--out`` folder (default ``demo-output`` in the current folder):

- ``raw/``: the generated customers.csv and orders.csv (``--reuse-raw`` runs on the CSVs already
  there instead);
- ``silver/``, ``gold/``, ``quarantine/``, ``publish/``: what the pipeline's write steps wrote;
- ``run.json``: the result of ``Orchestrator.execute()`` without its DataFrames (``outputs`` is
  replaced by ``output_rows``: data key -> row count);
- ``trace.txt``: the run's span tree (name, duration, rows in/out, status, links).

The spans go to a private SDK ``TracerProvider`` with an in-memory exporter; the global
OpenTelemetry provider is left alone. Exit status: 0 when the run succeeded, 1 when a node failed,
2 when the pipeline could not be loaded or started.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import generate_data
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_trace_id

from odibi_otel import OdibiError, Orchestrator, load_pipeline
from odibi_otel.otel import semconv

HERE = Path(__file__).resolve().parent
PIPELINE_FILE = HERE / "pipeline.yaml"
OUTPUT_FOLDERS = (
    ("raw/", "input CSVs (generated unless --reuse-raw)"),
    ("silver/", "cleaned customers, enriched orders (parquet)"),
    ("gold/", "customer summary, revenue per country and month (parquet)"),
    ("quarantine/", "orders of unknown customers (csv)"),
    ("publish/", "top_customers.json"),
    ("run.json", "the run's result (no DataFrames)"),
    ("trace.txt", "the run's span tree"),
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    out: Path = args.out.resolve()
    raw_dir = out / "raw"
    if args.reuse_raw:
        if not (raw_dir / "customers.csv").is_file() or not (raw_dir / "orders.csv").is_file():
            print(f"error: --reuse-raw needs customers.csv and orders.csv in {raw_dir}", file=sys.stderr)
            return 2
    else:
        generate_data.generate(raw_dir)

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "odibi-otel-demo"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        name, steps = load_pipeline(PIPELINE_FILE, {"raw_dir": str(raw_dir), "out_dir": str(out)})
        orchestrator = Orchestrator(
            steps, pipeline_name=name, max_workers=args.workers, tracer_provider=provider
        )
    except OdibiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = orchestrator.execute()
    finally:
        provider.shutdown()

    spans = exporter.get_finished_spans()
    (out / "run.json").write_text(json.dumps(run_document(result), indent=2) + "\n", encoding="utf-8")
    (out / "trace.txt").write_text(render_trace(spans), encoding="utf-8")
    _print_summary(result, args.workers, len(spans), out)
    return 0 if result["success"] else 1


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        help="folder for all outputs (created; default demo-output)",
    )
    parser.add_argument("--workers", type=int, default=4, help="nodes run at once (default: 4)")
    parser.add_argument(
        "--reuse-raw", action="store_true", help="run on the CSVs already in OUT/raw; do not generate"
    )
    return parser.parse_args(argv)


def run_document(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as JSON-ready data: ``outputs`` (DataFrames) becomes ``output_rows`` (counts)."""
    document = {key: value for key, value in result.items() if key != "outputs"}
    document["output_rows"] = {key: len(frame) for key, frame in result["outputs"].items()}
    return document


def render_trace(spans: Iterable[ReadableSpan]) -> str:
    """An indented span tree: one line per span, children under their parent by start time.

    A span with an error status gets a second line with the status description.
    """
    spans = list(spans)
    if not spans:
        return "no spans were recorded\n"
    ids = {span.context.span_id for span in spans}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    names = {span.context.span_id: _step_name(span) for span in spans}
    rows: list[tuple[str, ...]] = []
    errors: dict[int, str] = {}  # row index -> status description

    def visit(parent: int | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: (s.start_time or 0, s.name)):
            if span.status.description:
                errors[len(rows)] = "  " * (depth + 2) + f"error: {span.status.description}"
            rows.append(_trace_row(span, depth, names))
            visit(span.context.span_id, depth + 1)

    visit(None, 0)
    trace_ids = sorted({format_trace_id(span.context.trace_id) for span in spans})
    header = ("span", "duration", "rows in", "rows out", "status", "links to input producers")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        aligned = (str.ljust, str.rjust, str.rjust, str.rjust, str.ljust, str.ljust)
        return "  ".join(
            align(cell, width) for align, cell, width in zip(aligned, row, widths, strict=True)
        ).rstrip()

    lines = [f"trace {', '.join(trace_ids)}  ({len(spans)} spans)", "", line(header)]
    for index, row in enumerate(rows):
        lines.append(line(row))
        if index in errors:
            lines.append(errors[index])
    return "\n".join(lines) + "\n"


def _step_name(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get(semconv.NODE_NAME, span.name))


def _trace_row(span: ReadableSpan, depth: int, names: dict[int, str]) -> tuple[str, ...]:
    attributes = span.attributes or {}
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    status = span.status.status_code.name
    outcome = attributes.get(semconv.NODE_STATUS, attributes.get(semconv.PIPELINE_STATUS))
    if outcome is not None:
        status += f" ({outcome})"
    sources = ", ".join(names.get(link.context.span_id, "?") for link in span.links)
    return (
        "  " * depth + span.name,
        f"{duration_ms:,.1f} ms",
        _count(attributes.get(semconv.NODE_ROWS_IN)),
        _count(attributes.get(semconv.NODE_ROWS_OUT)),
        status,
        sources,
    )


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _print_summary(result: dict[str, Any], workers: int, span_count: int, out: Path) -> None:
    outcome = "succeeded" if result["success"] else "FAILED"
    print(
        f"{result['pipeline_name']} {outcome}: {result['nodes_executed']} nodes ran in "
        f"{result['duration_ms'] / 1000:.2f} s on {workers} worker(s); "
        f"trace {result['trace_id']} ({span_count} spans)"
    )
    frames = result["outputs"]
    if result["success"]:
        customers, orders = frames["customers"], frames["enriched_orders"]
        print(
            f"  {len(frames['raw_customers']):,} raw customer rows -> {len(customers):,} customers; "
            f"{len(frames['raw_orders']):,} raw orders -> {len(orders):,} kept, "
            f"{len(frames['unmatched_orders']):,} of unknown customers quarantined"
        )
        best = frames["top_customers"].iloc[0]
        print(f"  top customer: {best['name']} ({best['country']}), revenue {best['revenue']:,.2f}")
    else:
        for step, message in result["errors"].items():
            print(f"  failed: {step}: {message}")
        if result["skipped_nodes"]:
            print(f"  skipped: {', '.join(result['skipped_nodes'])}")
    present = [(entry, what) for entry, what in OUTPUT_FOLDERS if (out / entry).exists()]
    print(f"Outputs in {out}/")
    width = max(len(entry) for entry, _ in present)
    for entry, what in present:
        print(f"  {entry.ljust(width)}  {what}")


if __name__ == "__main__":
    sys.exit(main())

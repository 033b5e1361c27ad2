"""odibi_otel inside an application that set up OpenTelemetry itself.

The "application" here configures its own tracer, meter and logger providers (with in-memory
exporters, so the example can show what they received) and runs a pipeline inside a span of its
own. odibi_otel is used as a library: no ``configure()``, no ``tracer_provider=`` argument. It
finds the application's global providers and:

- the ``pipeline daily_sales`` span becomes a child of the application's ``nightly-job`` span,
  in the same trace, and the node spans children of the pipeline span; a span that a step
  function starts becomes a child of its node span;
- the application's span exporter receives all of them;
- the ``MetricsManager`` records into the application's meter provider (and its own registry);
- the lineage events (``odibi.lineage.*``) go to the application's logger provider, carrying the
  node spans' trace and span ids;
- an ``EventBus`` added to the application's tracer provider with ``add_span_processor`` fires
  for odibi_otel's spans and ignores the application's own;
- the global providers are still the application's afterwards.

    python examples/instrumented_app.py
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from odibi_otel import EventBus, MetricsManager, Orchestrator, Step

# -- the application's own OpenTelemetry set-up (what an app or opentelemetry-instrument does) --
resource = Resource.create({"service.name": "nightly-reports"})
span_exporter = InMemorySpanExporter()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
trace.set_tracer_provider(tracer_provider)

metric_reader = InMemoryMetricReader()
meter_provider = MeterProvider(metric_readers=[metric_reader], resource=resource)
metrics.set_meter_provider(meter_provider)

log_exporter = InMemoryLogRecordExporter()
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
_logs.set_logger_provider(logger_provider)

app_tracer = trace.get_tracer("nightly_reports")


# -- the pipeline ------------------------------------------------------------------------------
def load_sales() -> pd.DataFrame:
    return pd.DataFrame(
        {"store": ["north", "south", "north", "east", "south"], "amount": [120.0, 80.5, 42.0, 300.0, 19.9]}
    )


def total_by_store(sales: pd.DataFrame) -> pd.DataFrame:
    with app_tracer.start_as_current_span("aggregate totals"):  # the app's own span inside a step
        return sales.groupby("store", as_index=False)["amount"].sum()


steps = [
    Step("load_sales", "ingest", "function", load_sales, outputs=["sales"]),
    Step("total_by_store", "transform", "function", total_by_store, inputs=["sales"], outputs=["totals"]),
]

hook_calls: list[str] = []


def note_event(event_data: dict[str, Any]) -> None:
    subject = event_data.get("step_name") or event_data["pipeline_name"]
    hook_calls.append(f"{event_data['event_type']}:{subject}")


event_bus = EventBus()
tracer_provider.add_span_processor(event_bus)  # hooks fire from the provider; no event_bus= needed
for event in ("pipeline_start", "node_complete", "pipeline_complete"):
    event_bus.register_hook(event, note_event)

metrics_manager = MetricsManager()  # also records into the global (application's) meter provider

# -- the application runs the pipeline inside its own span -------------------------------------
with app_tracer.start_as_current_span("nightly-job") as app_span:
    app_span.set_attribute("job.kind", "reporting")
    with app_tracer.start_as_current_span("unrelated app work"):
        pass
    result = Orchestrator(
        steps, pipeline_name="daily_sales", enable_tracker=True, metrics_manager=metrics_manager
    ).execute()

print(f"pipeline success: {result['success']}")
app_context = app_span.get_span_context()
print(f"app span trace id:      {trace.format_trace_id(app_context.trace_id)}")
print(f"pipeline run trace id:  {result['trace_id']}")
assert result["trace_id"] == trace.format_trace_id(app_context.trace_id)

# -- what the application's exporter received --------------------------------------------------
spans = span_exporter.get_finished_spans()
by_id = {span.context.span_id: span for span in spans}


def depth(span: ReadableSpan) -> int:
    level = 0
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        level += 1
    return level


print(f"the application's span exporter received {len(spans)} spans (one trace):")
for span in sorted(spans, key=lambda item: item.start_time or 0):
    scope = span.instrumentation_scope.name if span.instrumentation_scope else "?"
    print(f"  {'  ' * depth(span)}{span.name}  [scope {scope}]")

pipeline_span = next(span for span in spans if span.name == "pipeline daily_sales")
assert pipeline_span.parent is not None and pipeline_span.parent.span_id == app_context.span_id
print("pipeline span's parent is the app span 'nightly-job': True")
print(f"pipeline span's resource service.name: {pipeline_span.resource.attributes['service.name']}")

# -- metrics, lineage events and hooks ---------------------------------------------------------
meter_provider.force_flush()
data = metric_reader.get_metrics_data()
odibi_metrics = sorted(
    {
        metric.name
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        if scope_metrics.scope.name == "odibi_otel"
        for metric in scope_metrics.metrics
    }
)
print(f"odibi_otel metrics in the application's meter provider: {', '.join(odibi_metrics)}")

lineage_events = [item.log_record for item in log_exporter.get_finished_logs() if item.log_record.event_name]
for record in lineage_events:
    attributes = record.attributes or {}
    span_name = by_id[record.span_id].name if record.span_id in by_id else "?"
    print(
        f"log event {record.event_name} ({attributes.get('odibi.node.name', 'run')}) "
        f"correlated with span '{span_name}'"
    )

print(f"hooks fired (EventBus on the app's provider): {', '.join(hook_calls)}")
print(
    "global providers still the application's: "
    f"{trace.get_tracer_provider() is tracer_provider and metrics.get_meter_provider() is meter_provider}"
)

tracer_provider.shutdown()  # also shuts the EventBus down (it is one of its span processors)
meter_provider.shutdown()
logger_provider.shutdown()
metrics_manager.shutdown()

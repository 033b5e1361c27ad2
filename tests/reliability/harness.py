"""Shared harness of the reliability suite: one run observed through every signal at once.

:class:`Observed` gives a run fresh, private providers (never the global ones): a tracer provider
with an in-memory exporter and an OTLP/JSON file, a logger provider for the lineage events (same
file), a :class:`MetricsManager` recording into its own registry and into an application meter
provider read by an in-memory reader, and an :class:`EventBus` recording every event. After the
run, :meth:`Observed.artifacts` writes what ``odibi-otel run`` writes (lineage, story, metrics
JSON, Prometheus text, the telemetry file) into a folder, in-process.

Tests that need the real CLI (exit codes, ``configure()``'s global providers) run it in a
subprocess with :func:`run_cli`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from odibi_otel import EventBus, MetricsManager, Orchestrator, Step, StoryGenerator
from odibi_otel.events.bus import EVENTS
from odibi_otel.otel.otlp_json import OtlpJsonFile
from tests.conftest import node_spans_by_step, pipeline_spans_of

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("odibi-otel")


class EventLog:
    """An EventBus hook recording every payload it gets (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, payload: dict[str, Any]) -> None:
        with self.lock:
            self.payloads.append(payload)

    def of(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.payloads if p["event_type"] == event]

    def per_step(self, event: str) -> Counter[str]:
        return Counter(p["step_name"] for p in self.of(event))


@dataclass
class Observed:
    """Private providers, a metrics manager and an event bus for in-process runs."""

    folder: Path
    tracer_provider: TracerProvider = field(default_factory=TracerProvider)
    span_exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    logger_provider: LoggerProvider = field(default_factory=LoggerProvider)
    log_exporter: InMemoryLogRecordExporter = field(default_factory=InMemoryLogRecordExporter)
    metric_reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    bus: EventBus = field(default_factory=EventBus)
    events: EventLog = field(default_factory=EventLog)
    #: Also write spans and log records to ``folder/telemetry.jsonl`` (as ``odibi-otel run`` does).
    telemetry_file: bool = True

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        self.telemetry: OtlpJsonFile | None = None
        if self.telemetry_file:
            self.telemetry = OtlpJsonFile(self.folder / "telemetry.jsonl", truncate=True)
            self.tracer_provider.add_span_processor(BatchSpanProcessor(self.telemetry.span_exporter))
            self.logger_provider.add_log_record_processor(
                BatchLogRecordProcessor(self.telemetry.log_exporter)
            )
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.manager = MetricsManager(meter_provider=self.meter_provider)
        for event in EVENTS:
            self.bus.register_hook(event, self.events, name="event_log")

    def run(self, steps: list[Step], **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("enable_tracker", True)
        kwargs.setdefault("pipeline_name", "reliability")
        self.orchestrator = Orchestrator(
            steps,
            metrics_manager=self.manager,
            event_bus=self.bus,
            tracer_provider=self.tracer_provider,
            logger_provider=self.logger_provider,
            **kwargs,
        )
        return self.orchestrator.execute()

    # -- what the run emitted ----------------------------------------------------------------

    def spans(self) -> list[ReadableSpan]:
        return list(self.span_exporter.get_finished_spans())

    def node_spans(self) -> dict[str, ReadableSpan]:
        return node_spans_by_step(self.spans())

    def pipeline_span(self) -> ReadableSpan:
        (span,) = pipeline_spans_of(self.spans())
        return span

    def logs(self) -> list[ReadableLogRecord]:
        return list(self.log_exporter.get_finished_logs())

    def exposition(self) -> str:
        return self.manager.generate_latest().decode("utf-8")

    def samples(self, name: str, **labels: str) -> list[Sample]:
        return [
            sample
            for family in text_string_to_metric_families(self.exposition())
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        ]

    def app_metrics_json(self) -> str:
        data = self.metric_reader.get_metrics_data()
        return data.to_json() if data is not None else ""

    def artifacts(self, tracker: Any) -> dict[str, Path]:
        """Write what ``odibi-otel run`` writes, in-process; returns kind → path."""
        paths = {
            "lineage": self.folder / "lineage.json",
            "story": self.folder / "story.html",
            "metrics": self.folder / "metrics.json",
            "prometheus": self.folder / "metrics_prometheus.txt",
            "telemetry": self.folder / "telemetry.jsonl",
        }
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()
        self.manager.save_to_file(paths["metrics"])
        self.manager.export_prometheus(paths["prometheus"])
        tracker.export_lineage(paths["lineage"])
        StoryGenerator().generate_story(paths["lineage"], paths["story"])
        return paths

    def close(self) -> None:
        self.bus.shutdown()
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.manager.shutdown()
        self.meter_provider.shutdown()
        if self.telemetry is not None:
            self.telemetry.shutdown()


# -- the CLI in a subprocess ----------------------------------------------------------------------


def write_pipeline(folder: Path, pipeline: dict[str, Any], module: str | None = None) -> Path:
    """Write ``pipeline.json`` (and ``steps_module.py`` holding ``module``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if module is not None:
        (folder / "steps_module.py").write_text(textwrap.dedent(module), "utf-8")
    path = folder / "pipeline.json"
    path.write_text(json.dumps(pipeline, indent=2), "utf-8")
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: no OTEL_* settings of the developer's shell."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    return env


def run_cli(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """``odibi-otel ARGS`` in a subprocess (the real console script), output captured."""
    return subprocess.run(
        [str(CLI), *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_python(code: str, *args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -c CODE ARGS`` in a subprocess of the test interpreter, output captured."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=cwd,
        env=cli_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

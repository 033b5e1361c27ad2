"""Shared fixtures: a fresh tracer provider with an in-memory exporter per test, and span helpers.

Tests never install a global provider: every Orchestrator gets ``tracer_provider=`` explicitly.
"""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture(autouse=True)
def _fresh_process_metrics() -> Iterator[None]:
    """Each test starts with an empty process-wide /metrics view and no batch export."""
    from odibi_otel.metrics.batch import set_batch_export
    from odibi_otel.metrics.process import process_metrics

    process_metrics().clear()
    yield
    process_metrics().clear()
    set_batch_export(None)


@pytest.fixture(autouse=True, scope="session")
def _session_run_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-scoped fixtures run before the per-test one below: their CLI runs too
    record into a history of the test session's, never .odibi/ in a working directory."""
    previous = os.environ.get("ODIBI_HISTORY_URL")
    os.environ["ODIBI_HISTORY_URL"] = str(tmp_path_factory.mktemp("session-history") / "history.sqlite")
    yield
    if previous is None:
        os.environ.pop("ODIBI_HISTORY_URL", None)
    else:
        os.environ["ODIBI_HISTORY_URL"] = previous


@pytest.fixture(autouse=True)
def _own_run_history(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI runs record into a history of the test's own, never .odibi/ in the working directory."""
    folder = tmp_path_factory.mktemp("history", numbered=True)
    monkeypatch.setenv("ODIBI_HISTORY_URL", str(folder / "history.sqlite"))


def node_spans_by_step(spans: Iterable[ReadableSpan]) -> dict[str, ReadableSpan]:
    """odibi_otel's node spans by step name (fails if a step has two spans)."""
    nodes = [span for span in spans if span.name.startswith("node ")]
    by_name = {span.name.removeprefix("node "): span for span in nodes}
    assert len(by_name) == len(nodes), [span.name for span in nodes]
    return by_name


def pipeline_spans_of(spans: Iterable[ReadableSpan]) -> list[ReadableSpan]:
    """odibi_otel's pipeline spans among ``spans``."""
    return [span for span in spans if span.name.startswith("pipeline ")]


@dataclass
class Tracing:
    """A test's own provider and the spans it finished."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def pipeline_spans(self) -> list[ReadableSpan]:
        return pipeline_spans_of(self.spans())

    def pipeline_span(self) -> ReadableSpan:
        (span,) = self.pipeline_spans()
        return span

    def node_spans(self) -> dict[str, ReadableSpan]:
        """Node spans by step name (fails if a step has two spans)."""
        return node_spans_by_step(self.spans())

    def clear(self) -> None:
        self.exporter.clear()


@pytest.fixture()
def tracing() -> Iterator[Tracing]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Tracing(provider, exporter)
    provider.shutdown()


@pytest.fixture()
def write_module(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Write a Python module with a unique name into a folder; returns its name.

    The module is removed from ``sys.modules`` afterwards so tests cannot see each other's code.
    """
    written: list[str] = []

    def write(source: str, folder: Path | None = None, prefix: str = "odibi_test_mod") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        target = folder or tmp_path
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{name}.py").write_text(textwrap.dedent(source), "utf-8")
        written.append(name)
        return name

    yield write
    for name in written:
        for loaded in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
            del sys.modules[loaded]


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    """One embedded ``local[2]`` SparkSession for the whole test session (one JVM start).

    Skipped without pyspark (``pip install -e '.[spark]'``). Tests hand it to
    ``Orchestrator(spark=...)``, which never stops a session it was given.
    """
    pytest.importorskip("pyspark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Python workers unpickle test functions by module name: they import from the tests folder too
    tests = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (tests, os.environ.get("PYTHONPATH"))))
    from pyspark.sql import SparkSession

    from odibi_otel.engines._spark_session import LOOPBACK_CONF

    builder = SparkSession.builder.master("local[2]").appName("odibi-otel-tests")
    for key, value in {**LOOPBACK_CONF, "spark.sql.shuffle.partitions": "2"}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    yield session
    session.stop()


@pytest.fixture()
def otlp_grpc_receiver() -> Iterator[tuple[Any, int]]:
    """A real OTLP gRPC receiver (``oteltest``) on 127.0.0.1: ``(collector, port)``, stopped after."""
    import logging

    from oteltest.sink import GrpcSink
    from test_otlp_integration import Collector, _free_port

    collector = Collector()
    port = _free_port()
    sink = GrpcSink(collector, logging.getLogger("oteltest-sink"), port=port)
    sink.start()
    yield collector, port
    sink.stop()

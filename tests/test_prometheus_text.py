"""The fast exposition (``odibi_otel.metrics.prometheus_text``) is the exporter's, byte for byte, and cached.

Every comparison puts OpenTelemetry's ``PrometheusMetricReader`` (with its own registry) on the
same meter provider as the reader under test, so both see the same measurements, and compares
the rendered bytes with prometheus_client's ``generate_latest`` (text 0.0.4) and its OpenMetrics
``generate_latest`` of the exporter's registry.
"""

from __future__ import annotations

import gzip
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricsData
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.parser import text_string_to_metric_families

from odibi_otel import MetricsManager, MetricType, Orchestrator, Step
from odibi_otel.metrics.prometheus_text import (
    CONTENT_TYPE_OPENMETRICS,
    CONTENT_TYPE_TEXT,
    MetricsDataCollector,
    MetricsDataReader,
    PrometheusRenderer,
    wants_openmetrics,
)
from odibi_otel.metrics.server import MetricsServer
from tests.conftest import Tracing
from tests.test_prometheus_format import check_metrics

#: Label values a pipeline could carry: quotes, backslashes, line breaks, UTF-8, an empty string.
ODD = ['say "hi"', "C:\\path\\", "two\nlines", "tab\tand\rcr", "Zürich 東京 😀", "", '{a="b"}']


def same(got: bytes, want: bytes) -> None:
    """Line by line first (a readable diff), then byte for byte."""
    assert got.decode("utf-8").split("\n") == want.decode("utf-8").split("\n")
    assert got == want


@dataclass
class Pair:
    """A meter provider read by the exporter (reference) and by the reader under test."""

    provider: MeterProvider
    reference: CollectorRegistry
    reader: MetricsDataReader
    renderer: PrometheusRenderer

    def check(self) -> bytes:
        """Both formats, from one collection, equal the exporter's; returns the text format."""
        want_text = text_latest(self.reference)
        want_openmetrics = openmetrics_latest(self.reference)
        data = self.reader.collect_data()
        text = self.renderer.render(data)
        same(text, want_text)
        same(self.renderer.render(data, openmetrics=True), want_openmetrics)
        return text


@pytest.fixture()
def pair() -> Iterator[Pair]:
    limits = {Counter: 16}  # both readers fold the same extra series into an overflow series
    reference = CollectorRegistry(auto_describe=True)
    exporter = PrometheusMetricReader(registry=reference, cardinality_limits=limits)
    reader = MetricsDataReader(cardinality_limits=limits)
    provider = MeterProvider(metric_readers=[exporter, reader])
    yield Pair(provider, reference, reader, PrometheusRenderer())
    provider.shutdown()


def record_odd_measurements(provider: MeterProvider, round_: int) -> None:
    """Instruments of every kind, with odd names, units, descriptions and attribute values."""
    meter = provider.get_meter("odibi_otel", "0.1.0")
    other = provider.get_meter("other.scope", None, "https://example.com/schema", {"team": 'a "b"'})
    rows = meter.create_counter("odibi.node.rows", unit="{row}", description='Rows "out" \\ of\nnodes')
    for value in ODD:
        rows.add(3 + round_, {"pipeline": value, "node": value + "x", "layer": "ingest"})
    rows.add(1.5, {"pipeline": "p", "n.o-de": "dots and dashes", "1st": "leading digit"})
    rows.add(1, {"v": 1})  # 1, True and 1.0 are three series (the SDK keeps the types apart)
    rows.add(1, {"v": True})
    rows.add(1, {"v": 1.0})
    rows.add(2, {"list": ("a", "b"), "a.b": "dotted", "a_b": "underscored"})  # a_b: the later key
    other.create_counter("odibi.node.rows", unit="{row}", description='Rows "out" \\ of\nnodes').add(
        7, {"zone": "eu"}
    )  # the same family from another scope: the exporter merges them (and zips its label names)
    meter.create_counter("requests_total", unit="By").add(10**7 + round_)
    meter.create_counter("ratio.things", unit="1").add(0.1 + 0.2)
    meter.create_counter("dup.name").add(1, {"x": "1"})
    meter.create_counter("dup_name").add(2, {"y": "2"})  # one family id with dup.name
    updown = meter.create_up_down_counter("queue.depth", unit="{item}", description="")
    updown.add(-5 - round_, {"queue": "in"})
    gauge = meter.create_gauge("odibi.node.throughput", unit="{row}/s")
    for value, label in ((-0.0, "minus zero"), (1e-7, "tiny"), (12345678.9, "big"), (999999, "int")):
        gauge.set(value + round_, {"case": label})
    meter.create_gauge("speed", unit="m/s").set(-(10**7))
    meter.create_gauge("share", unit="%").set(42)
    duration = meter.create_histogram("odibi.node.duration", unit="s", description="Node duration")
    for index, value in enumerate(ODD):
        duration.record(0.003 * (index + 1) + round_, {"node": value, "status": "success"})
    duration.record(2.5, {"node": "le label", "le": "not a bucket"})
    latency = meter.create_histogram("latency", unit="ms", explicit_bucket_boundaries_advisory=[1, 2, 5])
    latency.record(3 + round_, {"zone": "eu"})
    meter.create_histogram("one.bucket", explicit_bucket_boundaries_advisory=[]).record(4)
    signed = meter.create_histogram("signed", explicit_bucket_boundaries_advisory=[-5.0, 0.0, 5.0])
    signed.record(1)  # a negative first bound: prometheus_client leaves out _count and _sum
    folded = meter.create_counter("wide")
    for index in range(20):
        folded.add(1, {"i": str(index)})  # past the limit of 16: an otel_metric_overflow series


def test_odd_measurements_render_like_the_exporter(pair: Pair) -> None:
    record_odd_measurements(pair.provider, 0)
    first = pair.check()
    assert b'otel_metric_overflow="true"' in first
    assert b"signed_count" not in first and b"signed_bucket" in first
    assert 'pipeline="Zürich 東京 😀"'.encode() in first
    record_odd_measurements(pair.provider, 1)  # cached label texts, new values
    second = pair.check()
    assert second != first
    meter = pair.provider.get_meter("odibi_otel", "0.1.0")
    rows = meter.create_counter("odibi.node.rows", unit="{row}", description='Rows "out" \\ of\nnodes')
    rows.add(1, {"pipeline": "p", "new_key": "changes every series' labels"})
    third = pair.check()
    assert b'new_key=""' in third
    assert pair.check() == third  # nothing new: the same bytes again


def test_nothing_recorded_renders_nothing(pair: Pair) -> None:
    assert pair.reader.collect_data() is None
    assert pair.renderer.render(None) == text_latest(pair.reference) == b""
    assert pair.renderer.render(None, openmetrics=True) == openmetrics_latest(pair.reference) == b"# EOF\n"


def test_the_collector_yields_the_exporters_families(pair: Pair) -> None:
    record_odd_measurements(pair.provider, 0)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(MetricsDataCollector(pair.reader.collect_data))
    same(text_latest(registry), text_latest(pair.reference))
    same(openmetrics_latest(registry), openmetrics_latest(pair.reference))
    empty = CollectorRegistry()
    empty.register(MetricsDataCollector(lambda: None))
    assert text_latest(empty) == b""


def test_a_reader_collects_for_each_caller_and_stops_at_shutdown(pair: Pair) -> None:
    counter = pair.provider.get_meter("m").create_counter("c")
    counter.add(1)
    collected: list[MetricsData | None] = []
    threads = [
        threading.Thread(target=lambda: collected.append(pair.reader.collect_data())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(collected) == 8 and all(data is not None for data in collected)
    pair.reader.shutdown()
    assert pair.reader.collect_data() is None


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("text/plain;version=0.0.4", False),
        ("application/openmetrics-text", True),
        ("application/openmetrics-text; version=1.0.0", True),
        ("application/openmetrics-text; version=0.0.1", False),
        # Prometheus 2.x and 3.x
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
            "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            True,
        ),
        (
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
            "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
            "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            True,
        ),
        ("text/plain;version=1.0.0,application/openmetrics-text", False),
        ("application/openmetrics-text;version=one", False),
    ],
)
def test_accept_negotiation_is_prometheus_clients(accept: str | None, openmetrics: bool) -> None:
    assert wants_openmetrics(accept) is openmetrics


# --- the manager ----------------------------------------------------------------------------------


@dataclass
class Watched:
    """A manager whose provider the exporter reads too."""

    manager: MetricsManager
    reference: CollectorRegistry

    def check(self) -> bytes:
        text = self.manager.generate_latest()
        same(text, text_latest(self.reference))
        same(self.manager.exposition(openmetrics=True), openmetrics_latest(self.reference))
        same(text_latest(self.manager.registry), text)  # the registry's collector agrees
        same(openmetrics_latest(self.manager.registry), self.manager.exposition(openmetrics=True))
        return text


@pytest.fixture()
def watched() -> Iterator[Watched]:
    manager = MetricsManager()
    reference = CollectorRegistry()
    manager._provider.add_metric_reader(PrometheusMetricReader(registry=reference))
    yield Watched(manager, reference)
    manager.shutdown()


def odd_pipeline(folder: Path, name: str) -> list[Step]:
    source = folder / "orders.csv"
    pd.DataFrame({"id": [1, 2, 3], "amount": [1.5, 2.0, 3.5]}).to_csv(source, index=False)

    def doubled(orders: pd.DataFrame) -> pd.DataFrame:
        return orders.assign(amount=orders["amount"] * 2)

    def broken(orders: pd.DataFrame) -> pd.DataFrame:
        raise KeyError("amount")

    # names must be printable (one line per node); the raw value goes into the layer label
    label = printable(name)
    return [
        Step(f"read {label}", name, "read", str(source), outputs=["orders"]),
        Step(f"double {label}", name, "function", doubled, inputs=["orders"], outputs=["doubled"]),
        Step(f"break {label}", name, "function", broken, inputs=["orders"], outputs=["never"]),
    ]


def printable(name: str) -> str:
    """``name`` itself, or its escaped repr when it holds line breaks or tabs."""
    return name if name.isprintable() else repr(name)


def test_manager_exposition_is_the_exporters_for_odd_pipelines(
    watched: Watched, tracing: Tracing, tmp_path: Path
) -> None:
    for index, name in enumerate(ODD[:5]):
        folder = tmp_path / str(index)
        folder.mkdir()
        Orchestrator(
            odd_pipeline(folder, name),
            metrics_manager=watched.manager,
            pipeline_name=f"pipe {printable(name)}",
            tracer_provider=tracing.provider,
            enable_cache=True,
            cache_dir=tmp_path / "cache",
        ).execute()
        watched.check()
    watched.manager.record("my metric", 'step "one"', 1.25)
    watched.manager.record("queue.depth", "step\\two", -3)
    watched.manager.increment("files seen", "step\nthree", 2)
    watched.manager.increment(MetricType.CACHE_HIT, "Zürich")
    watched.manager.record(MetricType.NODE_DURATION, "東京", 1500)
    text = watched.check().decode("utf-8")
    assert 'odibi_custom_my_metric{node="step \\"one\\"",otel_scope_name="odibi_otel"' in text
    assert "odibi_custom_files_seen_total" in text
    checked = check_metrics(text)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_a_scrape_with_nothing_new_reuses_the_rendered_bytes(
    watched: Watched, tracing: Tracing, tmp_path: Path
) -> None:
    manager = watched.manager
    assert manager.generate_latest() == b""  # nothing recorded yet
    Orchestrator(
        odd_pipeline(tmp_path, "plain"),
        metrics_manager=manager,
        pipeline_name="p",
        tracer_provider=tracing.provider,
    ).execute()
    first = manager.generate_latest()
    assert manager.generate_latest() is first
    assert manager.exposition(openmetrics=True) is manager.exposition(openmetrics=True)
    compressed = manager.exposition(compressed=True)
    assert gzip.decompress(compressed) == first and manager.exposition(compressed=True) is compressed

    def rows(text: bytes, **labels: str) -> float:
        samples = [
            sample.value
            for family in text_string_to_metric_families(text.decode("utf-8"))
            for sample in family.samples
            if sample.name == "odibi_node_rows_total" and labels.items() <= sample.labels.items()
        ]
        assert len(samples) == 1, samples
        return samples[0]

    # every recording path makes the next scrape render again
    steps: list[tuple[str, Any]] = [
        ("record", lambda: manager.record(MetricType.ROW_COUNT, "manual", 5)),
        ("increment", lambda: manager.increment(MetricType.ROW_COUNT, "manual", 2)),
        ("custom gauge", lambda: manager.record("depth", "manual", 1)),
        ("custom counter", lambda: manager.increment("seen", "manual")),
        ("cache hit", lambda: manager.increment(MetricType.CACHE_HIT, "manual")),
        (
            "spans",
            lambda: Orchestrator(
                odd_pipeline(tmp_path, "plain"),
                metrics_manager=manager,
                pipeline_name="p",
                tracer_provider=tracing.provider,
            ).execute(),
        ),
    ]
    previous = first
    for what, action in steps:
        action()
        current = manager.generate_latest()
        assert current != previous, what
        same(current, text_latest(watched.reference))
        assert gzip.decompress(manager.exposition(compressed=True)) == current, what
        previous = current
    assert rows(previous, node="manual") == 7
    assert rows(previous, node="read plain") == 6


def test_renders_and_recordings_from_many_threads_lose_nothing(watched: Watched) -> None:
    manager = watched.manager
    stop = threading.Event()
    renders: list[int] = []

    def scrape() -> None:
        while not stop.is_set():
            renders.append(len(manager.generate_latest()))

    def record(worker: int) -> None:
        for index in range(300):
            manager.increment(MetricType.ROW_COUNT, f"node {index % 10}", 1)
            manager.record(MetricType.THROUGHPUT, f"worker {worker}", index)

    scrapers = [threading.Thread(target=scrape) for _ in range(2)]
    workers = [threading.Thread(target=record, args=(worker,)) for worker in range(4)]
    for thread in scrapers + workers:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    for thread in scrapers:
        thread.join()
    assert renders
    text = watched.check()  # the first scrape after the last recording shows all of it
    totals = [
        sample.value
        for family in text_string_to_metric_families(text.decode("utf-8"))
        for sample in family.samples
        if sample.name == "odibi_node_rows_total"
    ]
    assert sum(totals) == 4 * 300


def test_sdk_self_metrics_are_never_served_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    with MetricsManager() as manager:
        manager.record(MetricType.ROW_COUNT, "node", 1)
        first = manager.generate_latest()
        second = manager.generate_latest()  # the SDK recorded the first collection's duration
        assert b"otel_sdk_metric_reader_collection_duration" in second
        assert first != second


def test_after_shutdown_the_exposition_is_empty(watched: Watched) -> None:
    watched.manager.record(MetricType.ROW_COUNT, "node", 1)
    assert watched.manager.generate_latest()
    watched.manager.shutdown()
    assert watched.manager.generate_latest() == b""
    assert text_latest(watched.manager.registry) == b""


# --- the endpoint ---------------------------------------------------------------------------------


def request(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    prepared = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(prepared, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_endpoint_negotiates_format_and_gzip(watched: Watched, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_PROMETHEUS_HOST", raising=False)
    manager = watched.manager
    manager.record(MetricType.ROW_COUNT, 'odd "node"', 3)
    server = manager.start_server(port=0)
    status, headers, body = request(server.url)
    assert (status, headers["Content-Type"]) == (200, CONTENT_TYPE_TEXT)
    assert "Content-Encoding" not in headers
    same(body, text_latest(watched.reference))
    status, headers, body = request(server.url, **{"Accept-Encoding": "gzip"})
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    assert gzip.decompress(body) == manager.generate_latest()
    status, headers, body = request(
        server.url + "?anything", Accept="application/openmetrics-text;version=1.0.0,*/*;q=0.1"
    )
    assert (status, headers["Content-Type"]) == (200, CONTENT_TYPE_OPENMETRICS)
    same(body, openmetrics_latest(watched.reference))
    assert request(server.url.replace("/metrics", "/favicon.ico"))[::2] == (200, b"")
    status, headers, _ = request(server.url, method="OPTIONS")
    assert (status, headers["Allow"]) == (200, "OPTIONS,GET")
    status, _, body = request(server.url, method="POST")
    assert status == 405 and body.startswith(b"# HTTP 405")


def test_a_server_of_any_registry_uses_prometheus_client() -> None:
    registry = CollectorRegistry()
    reader = MetricsDataReader()
    provider = MeterProvider(metric_readers=[reader])
    registry.register(MetricsDataCollector(reader.collect_data))
    provider.get_meter("m").create_counter("hits").add(4, {"path": "/"})
    server = MetricsServer(registry, "127.0.0.1", 0)
    try:
        status, headers, body = request(server.url, **{"Accept-Encoding": "gzip"})
        assert (status, headers["Content-Encoding"]) == (200, "gzip")
        assert gzip.decompress(body) == text_latest(registry)
        assert (
            b'hits_total{otel_scope_name="m",otel_scope_schema_url="",otel_scope_version="",path="/"} 4.0'
            in (gzip.decompress(body))
        )
    finally:
        server.stop()
        provider.shutdown()

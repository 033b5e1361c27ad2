"""Case 5: ``/metrics`` scrape time for a 1,000-node pipeline.

A 1,000-node fan-out runs twice with a MetricsManager (so every node has its duration histogram,
rows, throughput, memory and size series); then ``MetricsManager.start_server(port=0)`` serves
``/metrics`` on 127.0.0.1 and each scrape is one HTTP GET on a new connection, timed from request
to the last byte.

The manager keeps a rendered exposition until the next measurement, so two figures: a scrape
after a measurement (one node's duration recorded just before: the SDK collects and every series
is rendered, as during a running pipeline), which the target judges, and a scrape with nothing
new (the cached bytes, as between runs).
"""

from __future__ import annotations

import http.client
import time

from benchmarks.case_tiny_nodes import odibi_steps
from benchmarks.common import CaseResult, Measurement, Settings, format_bytes

TARGET_SCRAPE_MS = 100.0


def scrape(host: str, port: int) -> tuple[float, bytes]:
    """One GET /metrics: (milliseconds, body)."""
    begin = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"/metrics answered {response.status}")
    finally:
        connection.close()
    return (time.perf_counter() - begin) * 1000, body


def run(settings: Settings) -> CaseResult:
    from opentelemetry.sdk.trace import TracerProvider

    from odibi_otel import MetricsManager, MetricType, Orchestrator

    nodes = 50 if settings.quick else 1_000
    result = CaseResult(5, f"/metrics scrape for a {nodes:,}-node pipeline (HTTP GET on 127.0.0.1)")
    manager = MetricsManager()
    provider = TracerProvider()
    orchestrator = Orchestrator(
        odibi_steps("fanout", nodes),
        metrics_manager=manager,
        tracer_provider=provider,
        pipeline_name="scrape",
    )
    orchestrator.execute()
    orchestrator.execute()
    server = manager.start_server("127.0.0.1", 0)
    try:
        scrape(server.host, server.port)  # warm-up
        rendered: list[float] = []
        cached: list[float] = []
        body = b""
        for _ in range(settings.pairs if settings.quick else max(settings.pairs, 15)):
            manager.record(MetricType.NODE_DURATION, "n1", 1.0)
            elapsed, body = scrape(server.host, server.port)
            rendered.append(elapsed)
            elapsed, _ = scrape(server.host, server.port)
            cached.append(elapsed)
    finally:
        manager.shutdown()
        provider.shutdown()
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    result.facts["exposition"] = f"{format_bytes(len(body))}, {samples:,} samples"
    result.add(
        Measurement(
            "GET /metrics after a new measurement (collect + render)",
            "ms",
            rendered,
            target=TARGET_SCRAPE_MS,
            digits=1,
        )
    )
    result.add(Measurement("GET /metrics with nothing new (cached exposition)", "ms", cached, digits=1))
    return result

"""OpenLineage events: valid against the official JSON schemas, a connected dataset graph, trace ids,
column lineage, failures and interrupts, redaction, and delivery to real HTTP receivers.

Every event a test sees goes through :func:`validate`, which checks the event against the spec's
``OpenLineage.json`` and each facet against its own schema (``tests/data/openlineage``, copied from
the OpenLineage repository), and odibi_otel's ``odibi`` facet against the schema in the package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from odibi_otel import Orchestrator, Step, telemetry_failures
from odibi_otel.openlineage import ODIBI_FACET_SCHEMA, OpenLineageEmitter, events_from_file
from odibi_otel.openlineage._columns import sql_columns
from odibi_otel.otel import semconv
from tests.conftest import Tracing, node_spans_by_step

SPEC = Path(__file__).parent / "data" / "openlineage"
SECRET = "planted-secret-4711"


def _registry() -> Registry:
    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json")), ODIBI_FACET_SCHEMA]:
        document = json.loads(path.read_text("utf-8"))
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


REGISTRY = _registry()
EVENT_SCHEMA = {"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}


def _check(instance: Any, schema: dict[str, Any]) -> None:
    errors = list(Draft202012Validator(schema, registry=REGISTRY).iter_errors(instance))
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors[:5]]


def validate(event: dict[str, Any]) -> dict[str, Any]:
    """Fail unless ``event`` and each of its facets is valid per its published schema."""
    _check(event, EVENT_SCHEMA)
    facet_groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        facet_groups += [
            dataset.get("facets", {}),
            dataset.get("inputFacets", {}),
            dataset.get("outputFacets", {}),
        ]
    for facets in facet_groups:
        for key, facet in facets.items():
            url = facet["_schemaURL"]
            base, _, fragment = url.partition("#")
            assert base in {str(uri) for uri in REGISTRY}, f"facet {key}: unknown schema {url}"
            _check(facet, {"$ref": url})
            assert fragment.startswith("/$defs/")
    return event


def read_events(path: Path) -> list[dict[str, Any]]:
    return [validate(json.loads(line)) for line in path.read_text("utf-8").splitlines()]


ORDERS = pd.DataFrame(
    {
        "order_id": [1, 2, 3],
        "customer_id": [10, 11, 10],
        "amount": [5.0, 7.5, 1.0],
        "card_token": [SECRET] * 3,
    }
)
CUSTOMERS = pd.DataFrame({"customer_id": [10, 11], "name": ["Ada", "Grace"]})
JOIN = """
    SELECT o.order_id AS id, c.name AS customer, o.amount * 2 AS doubled, UPPER(c.name) AS shout
    FROM orders AS o JOIN customers AS c ON o.customer_id = c.customer_id
"""


def pipeline(folder: Path, fail: bool = False) -> list[Step]:
    ORDERS.to_csv(folder / "orders.csv", index=False)
    CUSTOMERS.to_csv(folder / "customers.csv", index=False)

    def enrich(joined: pd.DataFrame) -> pd.DataFrame:
        if fail:
            raise ValueError("enrichment failed")
        return joined.assign(big=joined["doubled"] > 10)

    return [
        Step("read_orders", "ingest", "read", str(folder / "orders.csv"), outputs=["orders"]),
        Step("read_customers", "ingest", "read", str(folder / "customers.csv"), outputs=["customers"]),
        Step("join", "transform", "sql", JOIN, inputs=["orders", "customers"], outputs=["joined"]),
        Step("enrich", "transform", "function", enrich, inputs=["joined"], outputs=["enriched"]),
        Step("store", "store", "write", str(folder / "out" / "enriched.parquet"), inputs=["enriched"]),
    ]


def run(
    folder: Path, tracing: Tracing, fail: bool = False, **kwargs: Any
) -> tuple[dict[str, Any], list[dict]]:
    events = folder / "openlineage.jsonl"
    emitter = OpenLineageEmitter.to_file(events, **kwargs)
    result = Orchestrator(
        pipeline(folder, fail), pipeline_name="orders", openlineage=emitter, tracer_provider=tracing.provider
    ).execute()
    return dict(result), read_events(events)


def by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    jobs: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        jobs.setdefault(event["job"]["name"], []).append(event)
    return jobs


def test_a_run_is_a_pipeline_run_with_one_child_run_per_node(tmp_path: Path, tracing: Tracing) -> None:
    result, events = run(tmp_path, tracing)
    assert result["success"], result["errors"]
    jobs = by_job(events)
    assert set(jobs) == {
        "orders",
        *(f"orders.{s}" for s in ("read_orders", "read_customers", "join", "enrich", "store")),
    }
    pipeline_run = jobs["orders"][0]["run"]["runId"]
    spans = node_spans_by_step(tracing.exporter.get_finished_spans())
    for name, job_events in jobs.items():
        assert [e["eventType"] for e in job_events] == ["START", "COMPLETE"], name
        assert len({e["run"]["runId"] for e in job_events}) == 1
        odibi = job_events[-1]["run"]["facets"]["odibi"]
        assert odibi["traceId"] == result["trace_id"] and odibi["odibiRunId"] == result["run_id"]
        if name == "orders":
            assert odibi["spanId"] == result["span_id"]
            continue
        step = name.removeprefix("orders.")
        parent = job_events[0]["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == pipeline_run
        assert (parent["job"]["namespace"], parent["job"]["name"]) == ("odibi", "orders")
        span = spans[step]  # the trace and the catalog point to each other
        assert odibi["spanId"] == f"{span.context.span_id:016x}"
        assert span.attributes[semconv.OPENLINEAGE_RUN_ID] == job_events[0]["run"]["runId"]
    # the dataset graph: files in, frames between nodes in the pipeline's namespace, a file out
    complete = {name: job_events[-1] for name, job_events in jobs.items()}
    producers = {
        (o["namespace"], o["name"]): n for n, e in complete.items() if n != "orders" for o in e["outputs"]
    }
    consumers: dict[tuple[str, str], set[str]] = {}
    for name, event in complete.items():
        for dataset in event["inputs"] if name != "orders" else []:
            consumers.setdefault((dataset["namespace"], dataset["name"]), set()).add(name)
    out_file = ("file", str(tmp_path / "out" / "enriched.parquet"))
    assert producers[out_file] == "orders.store"
    assert producers[("odibi://orders", "joined")] == "orders.join"
    assert consumers[("odibi://orders", "joined")] == {"orders.enrich"}
    assert consumers[("file", str(tmp_path / "orders.csv"))] == {"orders.read_orders"}
    assert consumers[("odibi://orders", "orders")] == {"orders.join"}
    joined = complete["orders.join"]["outputs"][0]
    assert joined["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert [f["name"] for f in joined["facets"]["schema"]["fields"]] == ["id", "customer", "doubled", "shout"]
    assert complete["orders.join"]["job"]["facets"]["sql"]["query"] == JOIN
    assert [o["name"] for o in complete["orders"]["outputs"]] == [out_file[1]]
    assert SECRET not in json.dumps(events)  # samples never leave: column names do
    assert "card_token" in json.dumps(events)


def test_sql_column_lineage_follows_joins_and_aliases(tmp_path: Path, tracing: Tracing) -> None:
    tables = {"orders": list(ORDERS.columns), "customers": list(CUSTOMERS.columns)}
    assert sql_columns(JOIN, "duckdb", tables) == {
        "id": [("orders", "order_id", "DIRECT", "IDENTITY")],
        "customer": [("customers", "name", "DIRECT", "IDENTITY")],
        "doubled": [("orders", "amount", "DIRECT", "TRANSFORMATION")],
        "shout": [("customers", "name", "DIRECT", "TRANSFORMATION")],
    }
    _, events = run(tmp_path, tracing)
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    fields = complete["orders.join"]["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert fields["customer"]["inputFields"] == [
        {"namespace": "odibi://orders", "name": "customers", "field": "name",
         "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]},
    ]  # fmt: skip
    # a function step, by name: same-named columns pass through, a new one depends on all inputs
    enriched = complete["orders.enrich"]["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert enriched["id"]["inputFields"][0]["field"] == "id"
    assert {f["field"] for f in enriched["big"]["inputFields"]} == {"id", "customer", "doubled", "shout"}
    assert enriched["big"]["inputFields"][0]["transformations"][0]["type"] == "INDIRECT"
    # opting out sends no column lineage
    (tmp_path / "off").mkdir()
    _, plain = run(tmp_path / "off", tracing, column_lineage=False)
    assert "columnLineage" not in json.dumps(plain)


def test_a_failing_node_gives_fail_with_its_error_and_skipped_nodes_say_so(
    tmp_path: Path, tracing: Tracing
) -> None:
    result, events = run(tmp_path, tracing, fail=True)
    assert not result["success"]
    jobs = by_job(events)
    failed = jobs["orders.enrich"][-1]
    assert failed["eventType"] == "FAIL"
    assert failed["run"]["facets"]["errorMessage"]["message"] == "ValueError: enrichment failed"
    assert "Traceback" in failed["run"]["facets"]["errorMessage"]["stackTrace"]
    skipped = jobs["orders.store"]
    assert [e["eventType"] for e in skipped] == ["START", "ABORT"]
    assert skipped[-1]["run"]["facets"]["odibi"]["status"] == "skipped"
    assert jobs["orders"][-1]["eventType"] == "FAIL"


def test_ctrl_c_gives_abort(tmp_path: Path, tracing: Tracing) -> None:
    def interrupt(orders: pd.DataFrame) -> pd.DataFrame:
        raise KeyboardInterrupt

    events_file = tmp_path / "ol.jsonl"
    steps = [
        pipeline(tmp_path)[0],
        Step("stop", "transform", "function", interrupt, inputs=["orders"], outputs=["x"]),
    ]
    with pytest.raises(KeyboardInterrupt):
        Orchestrator(steps, pipeline_name="orders", openlineage=OpenLineageEmitter.to_file(events_file),
                     tracer_provider=tracing.provider).execute()  # fmt: skip
    jobs = by_job(read_events(events_file))
    assert jobs["orders.stop"][-1]["eventType"] == "ABORT"
    assert jobs["orders"][-1]["eventType"] == "ABORT"


class Receiver(ThreadingHTTPServer):
    """Like Marquez's ``POST /api/v1/lineage``: 201 and keeps the events; or 500; or never answers."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.events: list[dict[str, Any]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                    return
                if receiver.mode == "fail" or self.path != "/api/v1/lineage":
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.events.append(json.loads(body))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture()
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def _demo(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENLINEAGE_URL": url, "OPENLINEAGE__TRANSPORT__TIMEOUT": "2"}
    return subprocess.run(
        [sys.executable, "-m", "odibi_otel.cli.main", "demo", "--out", str(tmp_path / "demo"), *extra],
        capture_output=True, text=True, timeout=180, env=env, check=False, cwd=tmp_path,
    )  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize("receiver", ["ok"], indirect=True)
def test_the_demo_reaches_an_http_receiver_through_the_clients_configuration(
    receiver: Receiver, tmp_path: Path
) -> None:
    completed = _demo(tmp_path, receiver.url)  # OPENLINEAGE_URL alone turns emission on
    assert completed.returncode == 0, completed.stderr
    events = [validate(event) for event in receiver.events]
    jobs = by_job(events)
    assert len(jobs) == 15  # the pipeline and its 14 steps
    for name, job_events in jobs.items():
        assert [e["eventType"] for e in job_events] == ["START", "COMPLETE"], name
    lineage = json.loads((tmp_path / "demo" / "lineage.json").read_text())
    assert {e["run"]["facets"]["odibi"]["traceId"] for e in events} == {lineage["trace_id"]}
    outputs = {o["name"] for e in events if e["job"]["name"] != "customer_pipeline" for o in e["outputs"]}
    written = {s["source"]["path"] for s in lineage["steps"] if s["type"] == "write"}
    assert written <= outputs


@pytest.mark.integration
@pytest.mark.parametrize("receiver", ["fail", "hang"], indirect=True)
def test_an_endpoint_that_fails_or_hangs_costs_one_warning_and_bounded_time(
    receiver: Receiver, tmp_path: Path, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    # no HTTP retries: the events still queued after the run fail fast, inside this test (a
    # delivery thread retrying after the test ends would log into closed streams)
    transport = HttpTransport(HttpConfig(url=receiver.url, timeout=1.0, retry={"total": 0}))
    client = OpenLineageClient(transport=transport)
    emitter = OpenLineageEmitter(client, timeout=1.5)
    before = telemetry_failures().get("OpenLineage", 0)
    started = time.monotonic()
    result = Orchestrator(pipeline(tmp_path), pipeline_name="orders", tracer_provider=tracing.provider,
                          openlineage=emitter).execute()  # fmt: skip
    assert result["success"], result["errors"]
    assert time.monotonic() - started < 10
    warnings = [r.getMessage() for r in caplog.records if "OpenLineage event(s)" in r.getMessage()]
    assert len(warnings) == 1, warnings
    lost = int(warnings[0].split("odibi_otel: ")[1].split()[0])
    assert lost >= 1 and telemetry_failures()["OpenLineage"] == before + lost
    assert "of pipeline 'orders' not delivered" in warnings[0]
    assert emitter.force_flush(60_000)  # every queued event tried before the receiver stops


def test_lineage_command_converts_an_earlier_run(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    ORDERS.to_csv(project / "orders.csv", index=False)
    (project / "p.yaml").write_text(
        "name: old_run\nsteps:\n"
        "  - {name: read, layer: ingest, type: read, value: orders.csv, outputs: [orders]}\n"
        "  - {name: big, layer: transform, type: sql,\n"
        "     value: 'SELECT order_id FROM orders WHERE amount > 2', inputs: [orders], outputs: [big]}\n"
    )
    out = project / "out"
    cli = [sys.executable, "-m", "odibi_otel.cli.main"]
    for _ in range(2):  # the second run into the same folder replaces the first one's events
        ran = subprocess.run([*cli, "run", "p.yaml", "--out", str(out), "--openlineage-file",
                              str(out / "openlineage.jsonl")], cwd=project, capture_output=True,
                             text=True, timeout=120, check=False)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    assert f"openlineage {out / 'openlineage.jsonl'}" in ran.stdout, ran.stdout
    live = read_events(out / "openlineage.jsonl")
    assert len(live) == 6 and {e["run"]["facets"]["odibi"]["odibiRunId"] for e in live} == {
        json.loads((out / "lineage.json").read_text())["run_id"]
    }
    for source in ("lineage.json", "telemetry.jsonl"):
        converted = subprocess.run([*cli, "lineage", str(out / source)], capture_output=True, text=True,
                                   timeout=60, check=False)  # fmt: skip
        assert converted.returncode == 0, converted.stderr
        events = [validate(json.loads(line)) for line in converted.stdout.splitlines()]
        assert [(e["eventType"], e["job"]["name"]) for e in events] == [
            ("START", "old_run"), ("START", "old_run.read"), ("COMPLETE", "old_run.read"),
            ("START", "old_run.big"), ("COMPLETE", "old_run.big"), ("COMPLETE", "old_run"),
        ], source  # fmt: skip
    from_file = events_from_file(out / "lineage.json")
    assert (
        from_file[0].run.facets["odibi"].traceId == json.loads((out / "lineage.json").read_text())["trace_id"]
    )

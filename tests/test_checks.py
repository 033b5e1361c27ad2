"""Data checks on steps: every built-in on pandas, severities, signals (span, events, metrics,
hooks, log events), redaction of failing rows, and validation before anything runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from odibi_otel import EventBus, EventPriority, MetricsManager, Orchestrator, Step, TrackerConfig
from odibi_otel.errors import FunctionReferenceError, StepFieldError
from odibi_otel.otel._sdk_compat import logs_api  # noqa: F401  (the SDK's logs, below)
from odibi_otel.pipeline.pipeline_file import load_pipeline
from odibi_otel.quality import (
    Check,
    CheckDefinitionError,
    accepted_values,
    custom,
    expression,
    freshness,
    not_null,
    parse_check,
    relationship,
    row_count,
    unique,
)
from odibi_otel.quality.checks import parse_duration

ORDERS = pd.DataFrame(
    {
        "order_id": [1, 2, 3, 3, 5],
        "customer_id": [10, 11, 12, 99, None],
        "status": ["paid", "paid", "open", "lost", None],
        "amount": [5.0, -1.0, 7.5, 2.0, 3.0],
        "email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io"],
    }
)
CUSTOMERS = pd.DataFrame({"customer_id": [10, 11, 12], "name": ["A", "B", "C"]})


def _orders() -> pd.DataFrame:
    return ORDERS.copy()


def _customers() -> pd.DataFrame:
    return CUSTOMERS.copy()


def _keep(orders: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    return orders


def _run(checks: list[Any], **orchestrator: Any) -> tuple[dict[str, Any], list[ReadableSpan]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    steps = [
        Step("orders", "ingest", "function", _orders, outputs=["orders"]),
        Step("customers", "ingest", "function", _customers, outputs=["customers"]),
        Step(
            "checked",
            "transform",
            "function",
            _keep,
            inputs={"orders": "orders", "customers": "customers"},
            outputs=["checked"],
            checks=checks,
        ),
        Step("after", "store", "function", lambda frame: frame, inputs=["checked"], outputs=["done"]),
    ]
    result = Orchestrator(steps, tracer_provider=provider, pipeline_name="checks", **orchestrator).execute()
    return result, list(exporter.get_finished_spans())


def _only(check: Check) -> dict[str, Any]:
    result, _ = _run([check.__class__(check.kind, check.params, "warn", check.name, check.output)])
    (found,) = result["checks"]["checked"]
    return found


# -- each built-in: one that holds and one that does not ---------------------------------------------


@pytest.mark.parametrize(
    ("holds", "breaks", "failing"),
    [
        (not_null("order_id"), not_null(["customer_id", "status"]), 1),
        (unique("email"), unique("order_id"), 2),
        (accepted_values("status", ["paid", "open", "lost"]), accepted_values("status", ["paid", "open"]), 1),
        (row_count(min=5, max=5), row_count(min=6), 1),
        (expression("order_id > 0"), expression("amount >= 0"), 1),
        (
            relationship("customer_id", to="orders", field="customer_id"),
            relationship("customer_id", to="customers", field="customer_id"),
            1,
        ),
        (
            custom(lambda frame: bool(len(frame))),
            custom(lambda frame: (False, frame[frame["amount"] < 0])),
            1,
        ),
    ],
    ids=["not_null", "unique", "accepted_values", "row_count", "expression", "relationship", "custom"],
)
def test_each_built_in_passes_and_fails(holds: Check, breaks: Check, failing: int) -> None:
    held = _only(holds)
    assert held["status"] == "pass" and held["failing_count"] == 0, held
    broken = _only(breaks)
    assert broken["status"] == "warn" and broken["failing_count"] == failing, broken
    assert broken["message"]


def test_relationship_ignores_nulls_and_shows_the_orphans() -> None:
    found = _only(relationship("customer_id", to="customers", field="customer_id"))
    # 99 is not a customer; the null customer id is not checked (as in SQL)
    assert found["failing_count"] == 1 and found["failing_rows"][0]["customer_id"] == 99.0
    found = _only(relationship("customer_id", to="orders", field="order_id"))
    assert found["failing_count"] == 4  # 10, 11, 12, 99 are not order ids


def test_freshness_uses_the_newest_timestamp() -> None:
    now = pd.Timestamp.now(tz="UTC")

    def stamped() -> pd.DataFrame:
        return pd.DataFrame({"at": [now - pd.Timedelta(days=3), now - pd.Timedelta(hours=2)]})

    steps = [
        Step(
            "stamped",
            "ingest",
            "function",
            stamped,
            outputs=["s"],
            checks=[
                freshness("at", "3h", name="fresh"),
                freshness("at", "1h", severity="warn", name="stale"),
            ],
        )
    ]
    result = Orchestrator(steps, tracer_provider=TracerProvider()).execute()
    fresh, stale = result["checks"]["stamped"]
    assert fresh["status"] == "pass"
    assert stale["status"] == "warn" and "2.0 h old (max 1.0 h)" in stale["message"]


def test_a_check_that_cannot_run_fails_with_the_reason() -> None:
    found = _only(not_null("no_such_column"))
    assert found["status"] == "warn" and "could not run: KeyError" in found["message"]
    found = _only(expression("amount + 1"))
    assert "not a per-row true/false condition" in found["message"]


# -- severities -------------------------------------------------------------------------------------


def test_an_error_check_fails_the_node_and_skips_downstream() -> None:
    result, spans = _run([unique("order_id"), not_null("order_id", severity="warn")])
    assert not result["success"]
    assert result["failed_nodes"] == ["checked"] and result["skipped_nodes"] == ["after"]
    assert result["errors"]["checked"] == (
        "CheckFailedError: step 'checked': check 'unique(order_id)' failed: "
        "2 row(s) share a value of order_id"
    )
    node = next(span for span in spans if span.name == "node checked")
    assert node.status.status_code.name == "ERROR"
    assert node.attributes["error.type"] == "odibi_otel.errors.CheckFailedError"
    assert node.attributes["odibi.node.checks.failed"] == 1
    assert node.attributes["odibi.node.checks.total"] == 2
    assert node.attributes["odibi.node.rows_out"] == 5  # the data was computed; the check failed


def test_a_warn_check_is_reported_and_the_run_succeeds() -> None:
    result, spans = _run([unique("order_id", severity="warn")])
    assert result["success"] and result["failed_nodes"] == []
    node = next(span for span in spans if span.name == "node checked")
    assert node.attributes["odibi.node.checks.warned"] == 1
    (event,) = [event for event in node.events if event.name == "odibi.check"]
    assert event.attributes["odibi.check.status"] == "warn"
    assert event.attributes["odibi.check.failing_count"] == 2
    rows = json.loads(str(event.attributes["odibi.check.failing_rows"]))
    assert [row["order_id"] for row in rows] == [3, 3]


# -- signals: hooks, metrics, redaction, log events ---------------------------------------------------


def test_check_failed_hooks_fire_in_priority_order_before_node_error() -> None:
    bus = EventBus()
    seen: list[tuple[str, str]] = []
    bus.register_hook("check_failed", lambda p: seen.append(("low", p["check_name"])), EventPriority.LOW)
    bus.register_hook(
        "check_failed", lambda p: seen.append(("critical", p["check_name"])), EventPriority.CRITICAL
    )
    bus.register_hook("node_error", lambda p: seen.append(("node_error", p["step_name"])))
    result, _ = _run([unique("order_id"), not_null("email")], event_bus=bus)
    assert not result["success"]
    assert seen == [("critical", "unique(order_id)"), ("low", "unique(order_id)"), ("node_error", "checked")]


def test_hook_payload_carries_the_check_and_redacted_failing_rows() -> None:
    bus = EventBus()
    payloads: list[dict[str, Any]] = []
    bus.register_hook("check_failed", payloads.append)
    _run(
        [expression("amount >= 0", severity="warn", name="no refunds")],
        event_bus=bus,
        tracker_config=TrackerConfig(redact_columns=["email"]),
    )
    (payload,) = payloads
    assert payload["event_type"] == "check_failed"
    assert payload["step_name"] == "checked" and payload["pipeline_name"] == "checks"
    assert payload["check_name"] == "no refunds" and payload["severity"] == "warn"
    assert payload["failing_count"] == 1
    assert payload["failing_rows"] == [
        {"order_id": 2, "customer_id": 11.0, "status": "paid", "amount": -1.0, "email": "[REDACTED]"}
    ]


def test_metrics_count_results_by_status_and_failures_by_severity() -> None:
    manager = MetricsManager()
    _run([unique("order_id", severity="warn"), not_null("order_id")], metrics_manager=manager)
    text = manager.exposition().decode()
    assert 'odibi_checks_total{check="unique(order_id)",layer="transform",node="checked"' in text
    lines = [
        line for line in text.splitlines() if line.startswith(("odibi_checks_total", "odibi_check_failures"))
    ]
    assert any('status="warn"' in line and line.endswith(" 1.0") for line in lines)
    assert any('status="pass"' in line and "not_null(order_id)" in line for line in lines)
    assert any(line.startswith("odibi_check_failures_total") and 'severity="warn"' in line for line in lines)
    assert not any(line.startswith("odibi_check_failures_total") and "not_null" in line for line in lines)


def test_one_log_event_per_check_tied_to_the_node_span() -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    _, spans = _run([unique("order_id", severity="warn"), not_null("order_id")], logger_provider=logs)
    node = next(span for span in spans if span.name == "node checked")
    events = [item.log_record for item in exporter.get_finished_logs()]
    checks = [record for record in events if record.event_name == "odibi.check"]
    assert [record.body["name"] for record in checks] == ["unique(order_id)", "not_null(order_id)"]
    assert all(record.span_id == node.context.span_id for record in checks)
    assert all(record.trace_id == node.context.trace_id for record in checks)
    assert checks[0].severity_number.name == "WARN" and checks[1].severity_number.name == "INFO"


def test_checks_appear_in_lineage_and_story(tmp_path: Path) -> None:
    from odibi_otel import StoryGenerator

    result, _ = _run([unique("order_id", severity="warn")], enable_tracker=True)
    (step,) = [s for s in result["tracker"].to_dict()["steps"] if s["name"] == "checked"]
    assert step["checks"][0]["status"] == "warn"
    result["tracker"].export_lineage(tmp_path / "lineage.json")
    html = StoryGenerator().render_html(tmp_path / "lineage.json")
    assert 'Checks <span class="muted">· 0 of 1 passed' in html
    assert "first 2 of 2 failing rows" in html


def test_a_write_step_checks_the_frame_it_writes(tmp_path: Path) -> None:
    steps = [
        Step("orders", "ingest", "function", _orders, outputs=["orders"]),
        Step(
            "store", "store", "write", str(tmp_path / "o.csv"), inputs=["orders"], checks=[unique("order_id")]
        ),
    ]
    result = Orchestrator(steps, tracer_provider=TracerProvider()).execute()
    assert result["failed_nodes"] == ["store"]
    assert result["checks"]["store"][0]["failing_count"] == 2


def test_checks_run_on_cache_hits_too(tmp_path: Path) -> None:
    steps = [
        Step(
            "orders",
            "ingest",
            "function",
            _orders,
            outputs=["o"],
            checks=[unique("order_id", severity="warn")],
        )
    ]
    for _ in range(2):
        result = Orchestrator(
            steps, enable_cache=True, cache_dir=tmp_path, tracer_provider=TracerProvider()
        ).execute()
    assert result["cache_hits"] == ["orders"]
    assert result["checks"]["orders"][0]["status"] == "warn"


# -- definitions and validation --------------------------------------------------------------------


def test_file_forms_parse_to_the_same_checks() -> None:
    assert parse_check({"not_null": ["a", "b"]}) == not_null(["a", "b"])
    assert parse_check({"unique": "a", "severity": "warn"}) == unique("a", severity="warn")
    assert parse_check({"expression": "a > 1", "name": "pos"}) == expression("a > 1", name="pos")
    assert parse_check({"freshness": {"column": "t", "max_age": "2d"}}).params["max_age"] == 172800.0
    assert parse_duration("90s") == 90 and parse_duration("1.5h") == 5400 and parse_duration(60) == 60


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nope": ["a"]}, "unknown check 'nope'; expected one of not_null"),
        ({"not_null": []}, "columns must be a column name or a non-empty list"),
        ({"unique": "a", "severity": "fatal"}, "severity must be 'error' or 'warn'"),
        ({"row_count": {"min": 5, "max": 1}}, "min 5 is above max 1"),
        ({"row_count": {"minimum": 5}}, "unknown parameter(s) ['minimum']"),
        ({"freshness": {"column": "t", "max_age": "soon"}}, "max_age must be a duration"),
        ({"not_null": "a", "unique": "b"}, "exactly one kind"),
        ("not_null", "a check must be a mapping"),
    ],
)
def test_bad_definitions_are_named(raw: Any, message: str) -> None:
    with pytest.raises(CheckDefinitionError) as caught:
        parse_check(raw)
    assert message in str(caught.value)


def test_step_validation_names_step_field_and_check() -> None:
    with pytest.raises(StepFieldError, match=r"step 'x': field 'checks' #2: unknown check 'nope'"):
        Step("x", "t", "function", _orders, outputs=["o"], checks=[not_null("a"), {"nope": 1}])
    with pytest.raises(StepFieldError, match=r"#1 \(relationship\(a -> other.b\)\): 'to' is 'other'"):
        Step("x", "t", "function", _orders, outputs=["o"], checks=[relationship("a", to="other", field="b")])
    with pytest.raises(StepFieldError, match=r"the step has outputs \['a', 'b'\]; name one with 'output'"):
        Step("x", "t", "function", _orders, outputs=["a", "b"], checks=[not_null("c")])
    with pytest.raises(StepFieldError, match="name the same check twice"):
        Step("x", "t", "function", _orders, outputs=["o"], checks=[not_null("c"), not_null("c")])


def test_sql_step_checks_columns_against_the_query() -> None:
    steps = [
        Step("orders", "ingest", "function", _orders, outputs=["orders"]),
        Step("q", "t", "sql", "SELECT order_id, amount FROM orders", inputs=["orders"], outputs=["q"],
             checks=[not_null("status")]),
    ]  # fmt: skip
    with pytest.raises(StepFieldError, match=r"column\(s\) \['status'\] are not among the query's output"):
        Orchestrator(steps)


def test_pipeline_file_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "name: p\nsteps:\n  - name: a\n    layer: l\n    type: function\n    value: m:f\n"
        "    outputs: [o]\n    checks:\n      - not_null: [id]\n      - uniq: id\n"
    )
    with pytest.raises(StepFieldError) as caught:
        load_pipeline(tmp_path / "p.yaml")
    assert str(caught.value).startswith(
        f"{tmp_path / 'p.yaml'}:3: step 'a': field 'checks' #2: unknown check 'uniq'"
    )


def test_custom_check_references_resolve_from_the_pipeline_folder(tmp_path: Path) -> None:
    (tmp_path / "rules.py").write_text(
        "def positive(frame):\n    bad = frame[frame['amount'] < 0]\n    return (bad.empty, bad)\n"
    )
    (tmp_path / "make.py").write_text(
        "import pandas as pd\ndef orders():\n    return pd.DataFrame({'amount': [1.0, -2.0]})\n"
    )
    (tmp_path / "p.yaml").write_text(
        "name: p\nsteps:\n  - name: a\n    layer: l\n    type: function\n    value: make:orders\n"
        "    outputs: [o]\n    checks:\n      - custom: rules:positive\n        severity: warn\n"
    )
    definition = load_pipeline(tmp_path / "p.yaml")
    result = Orchestrator(definition.steps, tracer_provider=TracerProvider()).execute()
    (found,) = result["checks"]["a"]
    assert found["name"] == "custom(rules:positive)" and found["failing_rows"] == [{"amount": -2.0}]
    (tmp_path / "p.yaml").write_text(
        (tmp_path / "p.yaml").read_text().replace("rules:positive", "rules:positiv")
    )
    with pytest.raises(FunctionReferenceError) as caught:  # when the file is loaded, before any run
        load_pipeline(tmp_path / "p.yaml")
    assert str(caught.value).startswith(
        f"{tmp_path / 'p.yaml'}:3: step 'a': field 'checks #1' is 'rules:positiv'"
    )
    assert "did you mean 'positive'" in str(caught.value)

"""The ``sql`` step on the pandas engine: DuckDB runs the query over the node's input frames."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from odibi_otel import Orchestrator, PipelineValidationError, Step, StepFieldError, load_pipeline
from odibi_otel.otel import semconv
from tests.conftest import Tracing, node_spans_by_step

ORDERS = pd.DataFrame(
    {"order_id": [1, 2, 3, 4], "customer_id": [10, 11, 10, 12], "amount": [5.0, 7.5, 1.0, 3.0]}
)
CUSTOMERS = pd.DataFrame({"customer_id": [10, 11], "name": ["Ada", "Grace"]})
TOTALS = """
    SELECT c.name, SUM(o.amount) AS total, COUNT(*) AS orders
    FROM orders AS o JOIN customers AS c ON o.customer_id = c.customer_id
    GROUP BY c.name ORDER BY c.name
"""


def sources() -> list[Step]:
    return [
        Step("load_orders", "ingest", "function", ORDERS.copy, outputs=["orders"]),
        Step("load_customers", "ingest", "function", CUSTOMERS.copy, outputs=["customers"]),
    ]


def test_a_join_and_aggregate_over_two_inputs(tracing: Tracing) -> None:
    steps = [
        *sources(),
        Step("totals", "transform", "sql", TOTALS, inputs=["orders", "customers"], outputs=["t"]),
    ]
    result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
    assert result["success"], result["errors"]
    expected = pd.DataFrame({"name": ["Ada", "Grace"], "total": [6.0, 7.5], "orders": [2, 1]})
    pd.testing.assert_frame_equal(result["outputs"]["t"], expected, check_dtype=False)
    span = node_spans_by_step(tracing.exporter.get_finished_spans())["totals"]
    attributes = dict(span.attributes or {})
    assert attributes[semconv.NODE_TYPE] == "sql"
    assert attributes[semconv.DB_QUERY_TEXT] == TOTALS
    assert attributes[semconv.NODE_ROWS_OUT] == 2 and attributes[semconv.NODE_ROWS_IN] == 6


def test_dict_inputs_name_the_tables(tracing: Tracing) -> None:
    query = "SELECT COUNT(*) AS n FROM o WHERE amount > 2"
    steps = [*sources(), Step("count", "transform", "sql", query, inputs={"o": "orders"}, outputs=["n"])]
    assert steps[-1].table_names == ("o",)
    result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
    assert result["outputs"]["n"]["n"].tolist() == [3]


BAD_STEPS = [
    ("empty query", {"value": "  "}, StepFieldError, "field 'value' must be a non-empty SQL query"),
    ("two outputs", {"outputs": ["a", "b"]}, StepFieldError, "must name exactly one key for a sql step"),
    ("params", {"params": {"x": 1}}, StepFieldError, "field 'params' must be empty for a sql step"),
]


@pytest.mark.parametrize(("case", "change", "error", "message"), BAD_STEPS, ids=[c[0] for c in BAD_STEPS])
def test_bad_sql_steps_are_refused_when_built(case: str, change: dict, error: type, message: str) -> None:
    fields = {"value": "SELECT * FROM orders", "inputs": ["orders"], "outputs": ["x"], **change}
    with pytest.raises(error, match=message):
        Step("q", "transform", "sql", **fields)


BAD_QUERIES = [
    ("syntax", "SELECT * FROM", "field 'value' is not valid duckdb SQL at line 1"),
    ("not a query", "DELETE FROM orders", "field 'value' must be a query"),
    ("two statements", "SELECT 1; SELECT 2", "must hold exactly one SQL statement, got 2"),
    ("unknown table", "SELECT * FROM orderz", "field 'inputs' does not provide table(s) ['orderz']"),
]


@pytest.mark.parametrize(("case", "query", "message"), BAD_QUERIES, ids=[c[0] for c in BAD_QUERIES])
def test_bad_queries_fail_before_anything_runs(case: str, query: str, message: str) -> None:
    ran: list[str] = []

    def load() -> pd.DataFrame:
        ran.append("load")
        return ORDERS.copy()

    steps = [
        Step("load", "ingest", "function", load, outputs=["orders"]),
        Step("q", "transform", "sql", query, inputs=["orders"], outputs=["x"]),
    ]
    with pytest.raises(StepFieldError) as caught:
        Orchestrator(steps)
    assert str(caught.value).startswith("step 'q': ") and message in str(caught.value)
    assert "<Token" not in str(caught.value) and ran == []


def test_ctes_are_not_mistaken_for_missing_tables(tracing: Tracing) -> None:
    query = "WITH big AS (SELECT * FROM orders WHERE amount > 2) SELECT COUNT(*) AS n FROM big"
    steps = [*sources(), Step("q", "transform", "sql", query, inputs=["orders"], outputs=["n"])]
    assert Orchestrator(steps, tracer_provider=tracing.provider).execute()["outputs"]["n"]["n"].tolist() == [
        3
    ]


def test_a_query_failing_at_run_time_is_a_node_error(tracing: Tracing) -> None:
    query = "SELECT CAST(name AS INTEGER) AS broken FROM customers"
    steps = [*sources(), Step("cast", "transform", "sql", query, inputs=["customers"], outputs=["x"])]
    result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
    assert not result["success"] and result["failed_nodes"] == ["cast"]
    assert "Ada" in result["errors"]["cast"]  # DuckDB's own conversion error
    span = node_spans_by_step(tracing.exporter.get_finished_spans())["cast"]
    assert (span.attributes or {})[semconv.ERROR_TYPE].endswith("ConversionException")


def test_pipeline_files_take_sql_steps_and_name_the_line(tmp_path: Path) -> None:
    pd.DataFrame(ORDERS).to_csv(tmp_path / "orders.csv", index=False)
    body = """\
        name: sql_orders
        steps:
          - {name: read, layer: ingest, type: read, value: orders.csv, outputs: [orders]}
          - name: big
            layer: transform
            type: sql
            value: |
              SELECT order_id, amount FROM orders WHERE amount > 2 ORDER BY order_id
            inputs: [orders]
            outputs: [big]
        """
    (tmp_path / "p.yaml").write_text(textwrap.dedent(body))
    name, steps = load_pipeline(tmp_path / "p.yaml")
    result = Orchestrator(steps, pipeline_name=name).execute()
    assert result["outputs"]["big"]["order_id"].tolist() == [1, 2, 4]
    (tmp_path / "bad.yaml").write_text(
        textwrap.dedent(body).replace("FROM orders WHERE", "FROM orderz WHERE")
    )
    with pytest.raises(PipelineValidationError, match=r"bad\.yaml:4: step 'big': field 'inputs'"):
        load_pipeline(tmp_path / "bad.yaml")


def test_sql_outputs_are_cached_by_query_and_inputs(tmp_path: Path, tracing: Tracing) -> None:
    def steps(query: str) -> list[Step]:
        return [*sources(), Step("q", "transform", "sql", query, inputs=["orders"], outputs=["x"])]

    def run(query: str) -> list[str]:
        result = Orchestrator(
            steps(query), tracer_provider=tracing.provider, enable_cache=True, cache_dir=tmp_path
        ).execute()
        return list(result["cache_hits"])

    assert run("SELECT * FROM orders") == []
    assert "q" in run("SELECT * FROM orders")
    assert "q" not in run("SELECT order_id FROM orders")  # another query: another key


def test_duckdb_and_sqlglot_load_only_when_a_sql_step_does() -> None:
    code = (
        "import sys, odibi_otel\n"
        "from odibi_otel import Orchestrator, Step\n"
        "import pandas as pd\n"
        "frame = lambda: pd.DataFrame({'v': [1]})\n"
        "Orchestrator([Step('a', 'ingest', 'function', frame, outputs=['k'])]).execute()\n"
        "print(sorted(m for m in ('duckdb', 'sqlglot') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

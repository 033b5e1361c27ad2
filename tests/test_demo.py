"""End to end: the customer pipeline demo runs by path, from any folder, and leaves plausible outputs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "customer_pipeline"
RUN_DEMO = EXAMPLE / "run_demo.py"
GENERATE = EXAMPLE / "generate_data.py"
NODES = {
    "read_customers",
    "read_orders",
    "clean_customers",
    "clean_orders",
    "join_orders",
    "summarise_customers",
    "summarise_country_months",
    "store_customers",
    "store_orders",
    "store_unmatched_orders",
    "store_customer_summary",
    "store_country_monthly",
    "rank_top_customers",
    "publish_top_customers",
}
COUNTRIES = {"US", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "CA", "AU"}


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One demo run as documented (no --out: the default demo-output), from outside the repository."""
    cwd = tmp_path_factory.mktemp("demo")
    completed = _run(RUN_DEMO, "--workers", "4", cwd=cwd)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return cwd / "demo-output", completed


@pytest.fixture(scope="module")
def out(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    return demo[0]


@pytest.fixture(scope="module")
def run_json(out: Path) -> dict:
    return json.loads((out / "run.json").read_text("utf-8"))


def test_demo_prints_a_summary_and_where_its_outputs_are(demo) -> None:
    out, completed = demo
    assert completed.stdout.startswith("customer_pipeline succeeded: 14 nodes ran")
    assert f"Outputs in {out.resolve()}/" in completed.stdout
    for entry in ("raw/", "silver/", "gold/", "quarantine/", "publish/", "run.json", "trace.txt"):
        assert entry in completed.stdout
        assert (out / entry).exists()


def test_run_json_reports_success_for_every_node(run_json: dict) -> None:
    assert run_json["success"] is True
    assert run_json["pipeline_name"] == "customer_pipeline"
    assert re.fullmatch(r"[0-9a-f]{32}", run_json["trace_id"])
    assert set(run_json["successful_nodes"]) == NODES
    assert len(run_json["successful_nodes"]) == run_json["nodes_executed"] == len(NODES)
    assert run_json["failed_nodes"] == run_json["skipped_nodes"] == []
    assert run_json["errors"] == {}
    assert "outputs" not in run_json  # DataFrames are replaced by their row counts
    assert run_json["output_rows"]["raw_customers"] == 2_000
    assert run_json["output_rows"]["raw_orders"] == 20_000


def test_trace_txt_is_the_span_tree_of_the_run(out: Path, run_json: dict) -> None:
    lines = (out / "trace.txt").read_text("utf-8").splitlines()
    assert lines[0].startswith(f"trace {run_json['trace_id']}")
    pipeline = next(line for line in lines if line.startswith("pipeline customer_pipeline"))
    assert "UNSET (success)" in pipeline
    node_lines = [line for line in lines if line.startswith("  node ")]
    assert {line.split()[1] for line in node_lines} == NODES
    assert all("UNSET (success)" in line for line in node_lines)
    join = next(line for line in node_lines if line.split()[1] == "join_orders")
    assert join.endswith("  clean_orders, clean_customers")  # its links, in input order


def test_silver_customers_are_deduplicated_and_normalised(out: Path, run_json: dict) -> None:
    customers = pd.read_parquet(out / "silver" / "customers.parquet")
    raw = pd.read_csv(out / "raw" / "customers.csv")
    assert raw["customer_id"].duplicated().any()  # the raw data really is dirty
    assert customers["customer_id"].is_unique
    assert set(customers["customer_id"]) == set(raw["customer_id"])
    assert len(customers) == run_json["output_rows"]["customers"]
    assert set(customers["country"]) == COUNTRIES  # trimmed, upper-cased, UK -> GB
    emails = customers["email"].dropna()
    assert customers["email"].isna().any()
    assert (emails == emails.str.strip().str.lower()).all()


def test_join_keeps_only_known_customers_and_quarantines_the_rest(out: Path, run_json: dict) -> None:
    customer_ids = set(pd.read_parquet(out / "silver" / "customers.parquet")["customer_id"])
    orders = pd.read_parquet(out / "silver" / "orders_enriched.parquet")
    unmatched = pd.read_csv(out / "quarantine" / "unmatched_orders.csv")
    assert orders["customer_id"].isin(customer_ids).all()
    assert orders["order_id"].is_unique
    assert orders["amount"].notna().all() and (orders["amount"] > 0).all()
    assert "cancelled" not in set(orders["status"])
    assert orders[["name", "country", "segment"]].notna().all().all()
    assert len(unmatched) > 0
    assert not unmatched["customer_id"].isin(customer_ids).any()
    assert len(orders) + len(unmatched) == run_json["output_rows"]["orders"]


def test_gold_aggregates_add_up_to_the_enriched_orders(out: Path) -> None:
    orders = pd.read_parquet(out / "silver" / "orders_enriched.parquet")
    summary = pd.read_parquet(out / "gold" / "customer_summary.parquet")
    monthly = pd.read_parquet(out / "gold" / "country_monthly.parquet")
    assert summary["customer_id"].is_unique
    assert summary["orders"].sum() == monthly["orders"].sum() == len(orders)
    assert summary["revenue"].sum() == pytest.approx(orders["amount"].sum(), abs=1.0)
    assert monthly["revenue"].sum() == pytest.approx(orders["amount"].sum(), abs=1.0)
    assert summary["revenue"].is_monotonic_decreasing
    assert set(monthly["country"]) == COUNTRIES
    assert set(monthly["month"]) == {f"2024-{month:02d}" for month in range(1, 13)}
    assert not monthly.duplicated(["country", "month"]).any()


def test_published_top_customers_match_the_summary(out: Path) -> None:
    top = json.loads((out / "publish" / "top_customers.json").read_text("utf-8"))
    summary = pd.read_parquet(out / "gold" / "customer_summary.parquet")
    assert [row["rank"] for row in top] == list(range(1, 11))
    assert [row["customer_id"] for row in top] == summary["customer_id"].head(10).tolist()
    revenues = [row["revenue"] for row in top]
    assert revenues == sorted(revenues, reverse=True)


def test_raw_data_is_deterministic(tmp_path: Path, out: Path) -> None:
    completed = _run(GENERATE, tmp_path, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    for name in ("customers.csv", "orders.csv"):
        assert (tmp_path / name).read_bytes() == (out / "raw" / name).read_bytes()


def test_a_failing_run_exits_non_zero_and_still_writes_its_report(tmp_path: Path) -> None:
    raw = tmp_path / "out" / "raw"
    assert _run(GENERATE, raw, cwd=tmp_path).returncode == 0
    orders = pd.read_csv(raw / "orders.csv").drop(columns="status")  # clean_orders needs it
    orders.to_csv(raw / "orders.csv", index=False)

    completed = _run(RUN_DEMO, "--out", tmp_path / "out", "--reuse-raw", cwd=tmp_path)

    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "failed: clean_orders: KeyError" in completed.stdout
    result = json.loads((tmp_path / "out" / "run.json").read_text("utf-8"))
    assert result["success"] is False
    assert result["failed_nodes"] == ["clean_orders"]
    assert {"join_orders", "publish_top_customers"} <= set(result["skipped_nodes"])
    trace = (tmp_path / "out" / "trace.txt").read_text("utf-8")
    assert "node clean_orders" in trace
    assert "ERROR (failed)" in trace
    assert "error: KeyError: 'status'" in trace
    assert not (tmp_path / "out" / "publish").exists()

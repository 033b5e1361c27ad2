"""The run as a trace: span tree, names, scope, attributes, links, failures, skips and the result."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

import odibi_otel
from odibi_otel import NodeOutputError, Orchestrator, Step
from odibi_otel.engines._pandas_size import estimate_frame_bytes

if TYPE_CHECKING:
    from tests.conftest import Tracing

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


# --- pipeline functions -------------------------------------------------------------------------


def join(customers: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    return orders.merge(customers, on="customer_id", how="left")


def split(joined: pd.DataFrame, threshold: float) -> dict[str, pd.DataFrame]:
    big = joined["amount"] >= threshold
    return {"big": joined[big].reset_index(drop=True), "small": joined[~big].reset_index(drop=True)}


def report(big: pd.DataFrame, small: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"kind": ["big", "small"], "orders": [len(big), len(small)]})


class ShopError(Exception):
    """A user-defined failure (not a builtin): its error.type is qualified."""


@pytest.fixture()
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Step]:
    monkeypatch.chdir(tmp_path)
    pd.DataFrame(
        {"customer_id": [1, 2, 3], "name": ["Ann", "Bob", "Cy"], "country": ["DE", "FR", "DE"]}
    ).to_csv("customers.csv", index=False)
    pd.DataFrame(
        {"order_id": [10, 11, 12, 13], "customer_id": [1, 1, 2, 3], "amount": [5.0, 50.0, 75.0, 8.0]}
    ).to_csv("orders.csv", index=False)
    return [
        Step("read_customers", "ingest", "read", "customers.csv", outputs=["customers"]),
        Step("read_orders", "ingest", "read", "orders.csv", outputs=["orders"]),
        Step(
            "join",
            "transform",
            "function",
            join,
            inputs={"customers": "customers", "orders": "orders"},
            outputs=["joined"],
        ),
        Step(
            "split",
            "transform",
            "function",
            split,
            inputs=["joined"],
            outputs=["big", "small"],
            params={"threshold": 20},
        ),
        Step("report", "publish", "function", report, inputs=["big", "small"], outputs=["report"]),
        Step("store", "store", "write", "out/report.csv", inputs=["report"]),
    ]


# --- span tree, names, scope ----------------------------------------------------------------------


def test_span_tree_names_and_scope(shop: list[Step], tracing: Tracing) -> None:
    result = Orchestrator(shop, pipeline_name="shop_pipeline", tracer_provider=tracing.provider).execute()
    assert result["success"] is True, result["errors"]

    spans = tracing.spans()
    assert sorted(span.name for span in spans) == [
        "node join",
        "node read_customers",
        "node read_orders",
        "node report",
        "node split",
        "node store",
        "pipeline shop_pipeline",
    ]
    pipeline = tracing.pipeline_span()
    nodes = tracing.node_spans()
    assert pipeline.parent is None
    assert {span.context.trace_id for span in spans} == {int(result["trace_id"], 16)}
    for span in nodes.values():
        assert span.parent is not None
        assert span.parent.span_id == pipeline.context.span_id
        assert span.parent.trace_id == pipeline.context.trace_id
        assert pipeline.start_time <= span.start_time <= span.end_time <= pipeline.end_time
        assert span.kind is SpanKind.INTERNAL
        assert span.status.status_code is StatusCode.UNSET
    assert spans[-1] is not None and spans[-1].name == "pipeline shop_pipeline"  # the parent ends last
    assert len({span.context.span_id for span in spans}) == 7
    for span in spans:
        assert span.instrumentation_scope.name == "odibi_otel"
        assert span.instrumentation_scope.version == odibi_otel.__version__ == "0.1.0"


def test_node_attributes(shop: list[Step], tracing: Tracing) -> None:
    result = Orchestrator(shop, pipeline_name="shop_pipeline", tracer_provider=tracing.provider).execute()
    nodes = tracing.node_spans()
    outputs = result["outputs"]
    run_id = result["run_id"]

    assert dict(nodes["read_customers"].attributes) == {
        "odibi.pipeline.name": "shop_pipeline",
        "odibi.run.id": run_id,
        "odibi.node.name": "read_customers",
        "odibi.node.layer": "ingest",
        "odibi.node.type": "read",
        "odibi.node.inputs": (),
        "odibi.node.outputs": ("customers",),
        "odibi.node.rows_in": 0,
        "odibi.node.rows_out": 3,
        "odibi.node.columns_out": 3,
        "odibi.node.output.size_bytes": estimate_frame_bytes(outputs["customers"]),
        "odibi.node.status": "success",
    }
    join_attributes = dict(nodes["join"].attributes)
    assert join_attributes["odibi.node.inputs"] == ("customers", "orders")
    assert join_attributes["odibi.node.outputs"] == ("joined",)
    assert join_attributes["odibi.node.rows_in"] == 7
    assert join_attributes["odibi.node.rows_out"] == 4
    assert join_attributes["odibi.node.columns_out"] == 5
    assert join_attributes["code.function.name"] == f"{__name__}.join"
    assert join_attributes["odibi.node.layer"] == "transform"
    assert join_attributes["odibi.node.type"] == "function"

    split_attributes = nodes["split"].attributes
    assert split_attributes["odibi.node.outputs"] == ("big", "small")
    assert split_attributes["odibi.node.rows_in"] == 4
    assert split_attributes["odibi.node.rows_out"] == 4  # 2 big + 2 small
    assert split_attributes["odibi.node.columns_out"] == 10
    assert split_attributes["odibi.node.output.size_bytes"] == estimate_frame_bytes(
        outputs["big"]
    ) + estimate_frame_bytes(outputs["small"])
    assert split_attributes["code.function.name"] == f"{__name__}.split"

    store = dict(nodes["store"].attributes)
    assert store["odibi.node.type"] == "write"
    assert store["odibi.node.layer"] == "store"
    assert store["odibi.node.rows_in"] == 2
    assert store["odibi.node.rows_out"] == 2
    assert store["odibi.node.columns_out"] == 2
    assert "code.function.name" not in store
    assert "odibi.node.cache_hit" not in store  # only present when the cache is enabled
    assert pd.read_csv("out/report.csv").to_dict("list") == {"kind": ["big", "small"], "orders": [2, 2]}


def test_pipeline_span_attributes(shop: list[Step], tracing: Tracing) -> None:
    result = Orchestrator(
        shop, pipeline_name="shop_pipeline", tracer_provider=tracing.provider, max_workers=3
    ).execute()
    assert dict(tracing.pipeline_span().attributes) == {
        "odibi.pipeline.name": "shop_pipeline",
        "odibi.run.id": result["run_id"],
        "odibi.pipeline.nodes.total": 6,
        "odibi.pipeline.max_workers": 3,
        "odibi.pipeline.status": "success",
        "odibi.pipeline.nodes.succeeded": 6,
        "odibi.pipeline.nodes.failed": 0,
        "odibi.pipeline.nodes.skipped": 0,
        "odibi.pipeline.skipped_nodes": (),
    }
    assert tracing.pipeline_span().status.status_code is StatusCode.UNSET


def test_links_point_to_producer_spans_with_data_keys(shop: list[Step], tracing: Tracing) -> None:
    Orchestrator(shop, tracer_provider=tracing.provider).execute()
    nodes = tracing.node_spans()

    def links(name: str) -> list[tuple[str, tuple[str, ...]]]:
        by_span_id = {span.context.span_id: node for node, span in nodes.items()}
        result = []
        for link in nodes[name].links:
            assert link.context.trace_id == nodes[name].context.trace_id
            result.append((by_span_id[link.context.span_id], tuple(link.attributes["odibi.link.data_keys"])))
        return result

    assert links("read_customers") == []
    assert links("read_orders") == []
    assert links("join") == [("read_customers", ("customers",)), ("read_orders", ("orders",))]  # fan-in
    assert links("split") == [("join", ("joined",))]
    assert links("report") == [("split", ("big", "small"))]  # two keys from one producer: one link
    assert links("store") == [("report", ("report",))]


# --- the result dict ------------------------------------------------------------------------------


def test_result_keys_and_values(shop: list[Step], tracing: Tracing) -> None:
    result = Orchestrator(shop, pipeline_name="shop_pipeline", tracer_provider=tracing.provider).execute()
    required = {
        "success",
        "pipeline_name",
        "run_id",
        "trace_id",
        "duration_ms",
        "nodes_executed",
        "successful_nodes",
        "failed_nodes",
        "skipped_nodes",
        "errors",
        "outputs",
        "tracker",
    }
    assert required <= set(result)
    pipeline = tracing.pipeline_span()
    assert result["success"] is True
    assert result["pipeline_name"] == "shop_pipeline"
    assert HEX32.match(result["run_id"])
    assert result["run_id"] == pipeline.attributes["odibi.run.id"]
    assert HEX32.match(result["trace_id"])
    assert result["trace_id"] == f"{pipeline.context.trace_id:032x}"
    assert HEX16.match(result["span_id"])
    assert result["span_id"] == f"{pipeline.context.span_id:016x}"
    assert result["duration_ms"] == round((pipeline.end_time - pipeline.start_time) / 1e6, 3)
    assert result["duration_ms"] > 0
    assert result["nodes_executed"] == 6
    assert result["successful_nodes"] == ["read_customers", "read_orders", "join", "split", "report", "store"]
    assert result["failed_nodes"] == []
    assert result["skipped_nodes"] == []
    assert result["cache_hits"] == []
    assert result["errors"] == {}
    assert result["tracker"] is None
    assert sorted(result["outputs"]) == ["big", "customers", "joined", "orders", "report", "small"]
    assert result["outputs"]["report"].to_dict("list") == {"kind": ["big", "small"], "orders": [2, 2]}
    assert result["outputs"]["big"]["order_id"].tolist() == [11, 12]
    assert result["outputs"]["joined"]["name"].tolist() == ["Ann", "Ann", "Bob", "Cy"]


def test_each_execute_is_a_new_trace(shop: list[Step], tracing: Tracing) -> None:
    orchestrator = Orchestrator(shop, tracer_provider=tracing.provider)
    first = orchestrator.execute()
    second = orchestrator.execute()
    assert first["trace_id"] != second["trace_id"]
    assert first["run_id"] != second["run_id"]
    pipelines = tracing.pipeline_spans()
    assert [f"{span.context.trace_id:032x}" for span in pipelines] == [first["trace_id"], second["trace_id"]]
    assert len(tracing.spans()) == 14


def test_run_inside_a_caller_span_nests_under_it(shop: list[Step], tracing: Tracing) -> None:
    tracer = tracing.provider.get_tracer("caller")
    with tracer.start_as_current_span("nightly job") as outer:
        result = Orchestrator(shop, tracer_provider=tracing.provider).execute()
    pipeline = tracing.pipeline_span()
    assert pipeline.parent is not None
    assert pipeline.parent.span_id == outer.get_span_context().span_id
    assert result["trace_id"] == f"{outer.get_span_context().trace_id:032x}"


def test_global_provider_is_never_set(shop: list[Step], tracing: Tracing) -> None:
    before = trace.get_tracer_provider()
    Orchestrator(shop, tracer_provider=tracing.provider).execute()
    assert trace.get_tracer_provider() is before
    assert trace.get_current_span() is trace.INVALID_SPAN  # no context leaked into the caller


def test_sampled_out_run_still_has_ids_and_results(shop: list[Step]) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    result = Orchestrator(shop, tracer_provider=provider).execute()
    assert result["success"] is True
    assert HEX32.match(result["trace_id"])
    assert result["trace_id"] != "0" * 32
    assert result["outputs"]["report"]["orders"].tolist() == [2, 2]
    assert exporter.get_finished_spans() == ()


# --- user spans inside nodes --------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 4])
def test_user_span_inside_a_node_is_a_child_of_the_node_span(tracing: Tracing, workers: int) -> None:
    tracer = tracing.provider.get_tracer("user.code")

    def make(index: int) -> Any:
        def work() -> pd.DataFrame:
            with tracer.start_as_current_span(f"user work {index}"):
                with tracer.start_as_current_span(f"inner {index}"):
                    pass
                return pd.DataFrame({"i": [index]})

        work.__qualname__ = f"work_{index}"
        return work

    steps = [Step(f"n{i}", "transform", "function", make(i), outputs=[f"k{i}"]) for i in range(4)]
    Orchestrator(steps, max_workers=workers, tracer_provider=tracing.provider).execute()

    by_name = {span.name: span for span in tracing.spans()}
    pipeline = tracing.pipeline_span()
    for i in range(4):
        node = by_name[f"node n{i}"]
        user = by_name[f"user work {i}"]
        inner = by_name[f"inner {i}"]
        assert user.instrumentation_scope.name == "user.code"
        assert user.parent is not None and user.parent.span_id == node.context.span_id
        assert inner.parent is not None and inner.parent.span_id == user.context.span_id
        assert user.context.trace_id == node.context.trace_id == pipeline.context.trace_id
        assert node.start_time <= user.start_time <= user.end_time <= node.end_time


# --- failures -------------------------------------------------------------------------------------


def _source() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2, 3]})


def _fail_with_value_error(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError(f"bad value {len(frame) * 14}")


def _fail_with_shop_error(frame: pd.DataFrame) -> pd.DataFrame:
    raise ShopError("no stock")


def _passthrough(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def test_failed_node_span_records_the_exception(tracing: Tracing) -> None:
    steps = [
        Step("source", "ingest", "function", _source, outputs=["raw"]),
        Step("boom", "transform", "function", _fail_with_value_error, inputs=["raw"], outputs=["clean"]),
    ]
    result = Orchestrator(steps, pipeline_name="failing", tracer_provider=tracing.provider).execute()

    assert result["success"] is False
    assert result["failed_nodes"] == ["boom"]
    assert result["successful_nodes"] == ["source"]
    assert result["errors"] == {"boom": "ValueError: bad value 42"}
    assert result["nodes_executed"] == 2
    assert "clean" not in result["outputs"]
    assert result["outputs"]["raw"]["x"].tolist() == [1, 2, 3]

    boom = tracing.node_spans()["boom"]
    assert boom.status.status_code is StatusCode.ERROR
    assert boom.status.description == "ValueError: bad value 42"
    assert boom.attributes["error.type"] == "ValueError"
    assert boom.attributes["odibi.node.status"] == "failed"
    assert boom.attributes["odibi.node.rows_in"] == 3
    assert "odibi.node.rows_out" not in boom.attributes
    (event,) = boom.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad value 42"
    stacktrace = event.attributes["exception.stacktrace"]
    assert stacktrace.startswith("Traceback (most recent call last):")
    assert "_fail_with_value_error" in stacktrace
    assert stacktrace.rstrip().endswith("ValueError: bad value 42")

    source = tracing.node_spans()["source"]
    assert source.status.status_code is StatusCode.UNSET
    assert source.events == ()

    pipeline = tracing.pipeline_span()
    assert pipeline.status.status_code is StatusCode.ERROR
    assert pipeline.status.description == "1 node(s) failed; first: boom: ValueError: bad value 42"
    assert pipeline.attributes["odibi.pipeline.status"] == "failed"
    assert pipeline.attributes["odibi.pipeline.nodes.failed"] == 1
    assert pipeline.attributes["odibi.pipeline.nodes.succeeded"] == 1
    assert pipeline.attributes["error.type"] == "ValueError"


def test_error_type_of_a_user_exception_is_qualified_on_node_and_pipeline(tracing: Tracing) -> None:
    steps = [
        Step("source", "ingest", "function", _source, outputs=["raw"]),
        Step("boom", "transform", "function", _fail_with_shop_error, inputs=["raw"], outputs=["clean"]),
    ]
    result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
    qualified = f"{ShopError.__module__}.ShopError"
    boom = tracing.node_spans()["boom"]
    assert boom.attributes["error.type"] == qualified
    assert boom.events[0].attributes["exception.type"] == qualified
    assert tracing.pipeline_span().attributes["error.type"] == qualified
    assert result["errors"] == {"boom": "ShopError: no stock"}


@pytest.mark.parametrize(
    ("returned", "outputs", "message"),
    [
        pytest.param(
            [1, 2],
            ["x"],
            "step 'bad': returned list; its outputs ['x'] need a DataFrame",
            id="list-for-one-output",
        ),
        pytest.param(
            None,
            ["x"],
            "step 'bad': returned NoneType; its outputs ['x'] need a DataFrame",
            id="none-for-one-output",
        ),
        pytest.param(
            {"x": pd.DataFrame()},
            ["x", "y"],
            "step 'bad': returned dict with keys ['x']; its outputs ['x', 'y'] need a dict of DataFrames "
            "with keys ['x', 'y']",
            id="dict-missing-key",
        ),
        pytest.param(
            pd.DataFrame({"a": [1]}),
            ["x", "y"],
            "step 'bad': returned DataFrame; its outputs ['x', 'y'] need a dict of DataFrames with keys "
            "['x', 'y']",
            id="frame-for-two-outputs",
        ),
        pytest.param(
            {"x": pd.DataFrame(), "y": 3},
            ["x", "y"],
            "step 'bad': returned non-DataFrame values for outputs {'y': 'int'}",
            id="dict-with-non-frame",
        ),
        pytest.param(
            pd.DataFrame({"a": [1]}),
            [],
            "step 'bad': returned DataFrame; its outputs [] need nothing (None)",
            id="frame-for-no-outputs",
        ),
    ],
)
def test_wrong_return_type_fails_the_node_with_a_clear_message(
    tracing: Tracing, returned: Any, outputs: list[str], message: str
) -> None:
    steps = [Step("bad", "transform", "function", lambda: returned, outputs=outputs)]
    result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
    assert result["success"] is False
    assert result["errors"] == {"bad": f"NodeOutputError: {message}"}
    span = tracing.node_spans()["bad"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "odibi_otel.errors.NodeOutputError"
    assert span.events[0].attributes["exception.message"] == message
    assert issubclass(NodeOutputError, TypeError)


def test_node_returning_none_with_no_outputs_succeeds(tracing: Tracing) -> None:
    seen: list[int] = []
    steps = [
        Step("source", "ingest", "function", _source, outputs=["raw"]),
        Step("sink", "publish", "function", lambda frame: seen.append(len(frame)), inputs=["raw"]),
    ]
    result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
    assert result["success"] is True
    assert seen == [3]
    assert tracing.node_spans()["sink"].attributes["odibi.node.rows_out"] == 0


def test_read_of_a_missing_file_fails_that_node_and_spans_complete(
    tmp_path: Path, tracing: Tracing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    steps = [
        Step("read_missing", "ingest", "read", "missing.csv", outputs=["raw"]),
        Step("clean", "transform", "function", _passthrough, inputs=["raw"], outputs=["clean"]),
        Step("other", "ingest", "function", _source, outputs=["other"]),
    ]
    result = Orchestrator(steps, tracer_provider=tracing.provider, fail_fast=False).execute()
    assert result["success"] is False
    assert result["failed_nodes"] == ["read_missing"]
    assert result["skipped_nodes"] == ["clean"]
    assert result["successful_nodes"] == ["other"]
    assert result["errors"]["read_missing"].startswith("FileNotFoundError: ")
    assert "missing.csv" in result["errors"]["read_missing"]

    spans = tracing.spans()
    assert all(span.end_time is not None for span in spans)
    assert sorted(span.name for span in spans) == ["node other", "node read_missing", "pipeline pipeline"]
    failed = tracing.node_spans()["read_missing"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "FileNotFoundError"
    assert failed.events[0].attributes["exception.type"] == "FileNotFoundError"
    assert failed.parent is not None and failed.parent.span_id == tracing.pipeline_span().context.span_id


# --- skipped nodes --------------------------------------------------------------------------------


def _branching_steps(calls: list[str]) -> list[Step]:
    def node(name: str, function: Any) -> Any:
        def run(*frames: pd.DataFrame) -> pd.DataFrame:
            calls.append(name)
            return function(*frames)

        return run

    return [
        Step("a", "ingest", "function", node("a", _source), outputs=["a"]),
        Step("b", "transform", "function", node("b", _fail_with_value_error), inputs=["a"], outputs=["b"]),
        Step("c", "transform", "function", node("c", _passthrough), inputs=["b"], outputs=["c"]),
        Step("d", "publish", "function", node("d", _passthrough), inputs=["c"], outputs=["d"]),
        Step("e", "ingest", "function", node("e", _source), outputs=["e"]),
        Step("f", "transform", "function", node("f", _passthrough), inputs=["e"], outputs=["f"]),
        Step("g", "transform", "function", node("g", lambda a, f: a), inputs=["a", "f"], outputs=["g"]),
    ]


def test_fail_fast_true_skips_downstream_and_everything_not_yet_started(tracing: Tracing) -> None:
    calls: list[str] = []
    result = Orchestrator(_branching_steps(calls), tracer_provider=tracing.provider, fail_fast=True).execute()
    assert calls == ["a", "b"]
    assert result["success"] is False
    assert result["successful_nodes"] == ["a"]
    assert result["failed_nodes"] == ["b"]
    assert result["skipped_nodes"] == ["c", "d", "e", "f", "g"]
    assert result["nodes_executed"] == 2
    assert sorted(tracing.node_spans()) == ["a", "b"]
    pipeline = tracing.pipeline_span()
    assert pipeline.attributes["odibi.pipeline.nodes.skipped"] == 5
    assert pipeline.attributes["odibi.pipeline.skipped_nodes"] == ("c", "d", "e", "f", "g")


def test_fail_fast_false_runs_every_independent_branch(tracing: Tracing) -> None:
    calls: list[str] = []
    result = Orchestrator(
        _branching_steps(calls), tracer_provider=tracing.provider, fail_fast=False
    ).execute()
    assert calls == ["a", "b", "e", "f", "g"]
    assert result["success"] is False
    assert result["successful_nodes"] == ["a", "e", "f", "g"]
    assert result["failed_nodes"] == ["b"]
    assert result["skipped_nodes"] == ["c", "d"]
    assert result["nodes_executed"] == 5
    assert result["errors"] == {"b": "ValueError: bad value 42"}
    assert sorted(tracing.node_spans()) == ["a", "b", "e", "f", "g"]
    assert tracing.pipeline_span().attributes["odibi.pipeline.skipped_nodes"] == ("c", "d")


def test_fail_fast_false_in_parallel_runs_every_independent_branch(tracing: Tracing) -> None:
    calls: list[str] = []
    orchestrator = Orchestrator(
        _branching_steps(calls), tracer_provider=tracing.provider, fail_fast=False, max_workers=4
    )
    result = orchestrator.execute()
    assert sorted(calls) == ["a", "b", "e", "f", "g"]
    assert result["successful_nodes"] == ["a", "e", "f", "g"]
    assert result["failed_nodes"] == ["b"]
    assert result["skipped_nodes"] == ["c", "d"]
    assert sorted(tracing.node_spans()) == ["a", "b", "e", "f", "g"]


class _OnEnd(SpanProcessor):
    """Sets an event when the span with a given name ends."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ended = threading.Event()

    def on_end(self, span: ReadableSpan) -> None:
        if span.name == self.name:
            self.ended.set()


def test_fail_fast_true_in_parallel_lets_running_nodes_finish_and_starts_no_more(tracing: Tracing) -> None:
    boom_ended = _OnEnd("node boom")
    tracing.provider.add_span_processor(boom_ended)
    waited: list[bool] = []

    def wait_for_boom() -> pd.DataFrame:
        waited.append(boom_ended.ended.wait(timeout=10))
        return pd.DataFrame({"x": [1]})

    chain = [
        Step(f"c{i}", "transform", "function", _passthrough, inputs=[f"k{i - 1}"], outputs=[f"k{i}"])
        for i in range(1, 7)
    ]
    steps = [
        Step("boom", "transform", "function", lambda: _fail_with_value_error(pd.DataFrame()), outputs=["b"]),
        Step("waiter", "ingest", "function", wait_for_boom, outputs=["k0"]),
        Step("after_boom", "transform", "function", _passthrough, inputs=["b"], outputs=["ab"]),
        *chain,
    ]
    result = Orchestrator(steps, tracer_provider=tracing.provider, max_workers=2, fail_fast=True).execute()

    assert waited == [True]
    assert result["success"] is False
    assert result["failed_nodes"] == ["boom"]
    assert "waiter" in result["successful_nodes"]  # was running when boom failed: allowed to finish
    assert "after_boom" in result["skipped_nodes"]
    assert "c6" in result["skipped_nodes"]
    assert result["errors"] == {"boom": "ValueError: bad value 0"}
    every = result["successful_nodes"] + result["failed_nodes"] + result["skipped_nodes"]
    assert sorted(every) == sorted(step.name for step in steps)
    assert sorted(tracing.node_spans()) == sorted(result["successful_nodes"] + result["failed_nodes"])


@pytest.mark.parametrize("workers", [1, 3])
def test_interrupt_closes_every_span_and_propagates(tracing: Tracing, workers: int) -> None:
    def interrupted(frame: pd.DataFrame) -> pd.DataFrame:
        raise KeyboardInterrupt

    steps = [
        Step("source", "ingest", "function", _source, outputs=["raw"]),
        Step("stop", "transform", "function", interrupted, inputs=["raw"], outputs=["s"]),
        Step("after", "transform", "function", _passthrough, inputs=["s"], outputs=["a"]),
    ]
    with pytest.raises(KeyboardInterrupt):
        Orchestrator(steps, tracer_provider=tracing.provider, max_workers=workers).execute()

    assert sorted(span.name for span in tracing.spans()) == ["node source", "node stop", "pipeline pipeline"]
    stop = tracing.node_spans()["stop"]
    assert stop.status.status_code is StatusCode.ERROR
    assert stop.attributes["odibi.node.status"] == "interrupted"
    assert stop.attributes["error.type"] == "KeyboardInterrupt"
    assert stop.events[0].attributes["exception.type"] == "KeyboardInterrupt"
    pipeline = tracing.pipeline_span()
    assert pipeline.status.status_code is StatusCode.ERROR
    assert pipeline.status.description == "interrupted: KeyboardInterrupt"
    assert pipeline.attributes["odibi.pipeline.status"] == "interrupted"
    assert pipeline.attributes["error.type"] == "KeyboardInterrupt"
    assert pipeline.attributes["odibi.pipeline.skipped_nodes"] == ("after",)
    assert trace.get_current_span() is trace.INVALID_SPAN

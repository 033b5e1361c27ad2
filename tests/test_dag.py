"""The step graph: ordering, descendants, and every graph validation error with its message."""

from __future__ import annotations

import pandas as pd
import pytest

from odibi_otel import (
    CycleError,
    DuplicateOutputError,
    DuplicateStepError,
    MissingInputError,
    OdibiError,
    Orchestrator,
    PipelineValidationError,
    Step,
    build_dag,
)


def produce() -> pd.DataFrame:
    return pd.DataFrame({"a": [1]})


def one(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def two(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    return left


def fn(name: str, inputs: list[str], outputs: list[str]) -> Step:
    function = {0: produce, 1: one, 2: two}[len(inputs)]
    return Step(name, "transform", "function", function, inputs=inputs, outputs=outputs)


def test_order_is_topological_and_follows_list_order_among_ready_steps() -> None:
    steps = [
        fn("report", ["joined"], ["report"]),
        fn("load_b", [], ["b"]),
        fn("join", ["a", "b"], ["joined"]),
        fn("load_a", [], ["a"]),
    ]
    dag = build_dag(steps)
    assert dag.order == ("load_b", "load_a", "join", "report")
    assert dag.producers == {"report": "report", "b": "load_b", "joined": "join", "a": "load_a"}
    assert dag.upstream["join"] == ("load_a", "load_b")
    assert dag.downstream["load_a"] == ("join",)
    assert dag.downstream["report"] == ()
    assert dag.descendants("load_a") == {"join", "report"}
    assert dag.descendants("report") == set()


def test_two_inputs_from_one_producer_make_one_edge() -> None:
    dag = build_dag([fn("split", [], ["x"]), fn("both", ["x", "x"], ["y"])])
    assert dag.upstream["both"] == ("split",)
    assert dag.downstream["split"] == ("both",)


def test_duplicate_step_names() -> None:
    steps = [fn("load", [], ["a"]), fn("load", [], ["b"])]
    with pytest.raises(DuplicateStepError) as caught:
        build_dag(steps)
    assert str(caught.value) == "step 'load': field 'name' is used by two steps"
    assert caught.value.step == "load"
    with pytest.raises(DuplicateStepError):
        Orchestrator(steps)


def test_two_steps_producing_the_same_key() -> None:
    steps = [fn("load_a", [], ["data"]), fn("load_b", [], ["data"])]
    with pytest.raises(DuplicateOutputError) as caught:
        build_dag(steps)
    assert str(caught.value) == (
        "step 'load_b': field 'outputs' produces 'data', which step 'load_a' already produces"
    )
    assert caught.value.step == "load_b"


def test_input_no_step_produces_suggests_a_close_key() -> None:
    steps = [fn("load", [], ["customers"]), fn("clean", ["customer"], ["clean"])]
    with pytest.raises(MissingInputError) as caught:
        build_dag(steps)
    assert str(caught.value) == (
        "step 'clean': field 'inputs' needs data key 'customer', which no step produces "
        "(did you mean 'customers'?)"
    )
    assert caught.value.step == "clean"


def test_input_no_step_produces_without_suggestion() -> None:
    with pytest.raises(MissingInputError) as caught:
        build_dag([fn("load", [], ["alpha"]), fn("use", ["zzz"], ["out"])])
    assert str(caught.value) == "step 'use': field 'inputs' needs data key 'zzz', which no step produces"


def test_cycle_prints_the_cycle_path_in_data_flow_order() -> None:
    steps = [
        fn("start", [], ["s"]),
        fn("a", ["s", "c_out"], ["a_out"]),
        fn("b", ["a_out"], ["b_out"]),
        fn("c", ["b_out"], ["c_out"]),
        fn("tail", ["c_out"], ["t"]),
    ]
    with pytest.raises(CycleError) as caught:
        build_dag(steps)
    assert str(caught.value) == "dependency cycle between steps: a -> b -> c -> a"
    assert caught.value.cycle == ["a", "b", "c", "a"]
    assert caught.value.step == "a"
    assert "start" not in caught.value.cycle
    assert "tail" not in caught.value.cycle
    assert isinstance(caught.value, PipelineValidationError)


def test_self_loop_is_a_cycle() -> None:
    with pytest.raises(CycleError) as caught:
        build_dag([fn("loop", ["x"], ["x"])])
    assert str(caught.value) == "dependency cycle between steps: loop -> loop"


def test_cycle_is_rejected_by_the_orchestrator_before_running() -> None:
    with pytest.raises(CycleError, match=r"a -> b -> a|b -> a -> b"):
        Orchestrator([fn("a", ["y"], ["x"]), fn("b", ["x"], ["y"])])


def test_empty_pipeline() -> None:
    with pytest.raises(PipelineValidationError) as caught:
        build_dag([])
    assert str(caught.value) == "a pipeline needs at least one step; got none"


def test_non_step_item() -> None:
    with pytest.raises(PipelineValidationError) as caught:
        build_dag([fn("ok", [], ["a"]), {"name": "dict"}])  # type: ignore[list-item]
    assert str(caught.value) == "step #2 must be an odibi_otel.Step, got dict"


@pytest.mark.parametrize(
    "error",
    [CycleError, DuplicateOutputError, DuplicateStepError, MissingInputError, PipelineValidationError],
)
def test_graph_errors_share_the_package_base_class(error: type) -> None:
    assert issubclass(error, OdibiError)
    assert issubclass(error, ValueError)

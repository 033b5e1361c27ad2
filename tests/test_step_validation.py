"""Step field checks, function references and orchestrator arguments: each error kind and its message."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

from odibi_otel import (
    FunctionReferenceError,
    OdibiError,
    Orchestrator,
    PipelineValidationError,
    Step,
    StepFieldError,
    UnknownStepTypeError,
    UnsupportedEngineError,
    validate_steps,
)


def identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def source() -> pd.DataFrame:
    return pd.DataFrame({"a": [1]})


NOT_CALLABLE = 42


@pytest.mark.parametrize(
    ("kwargs", "error", "expected"),
    [
        pytest.param(
            {"name": 7, "layer": "ingest", "type": "read"},
            StepFieldError,
            "step '7': field 'name' must be a non-empty string, got int 7",
            id="name-not-a-string",
        ),
        pytest.param(
            {"name": "  ", "layer": "ingest", "type": "read"},
            StepFieldError,
            "field 'name' must be a non-empty string, got str '  '",
            id="name-blank",
        ),
        pytest.param(
            {"name": "s", "layer": None, "type": "read"},
            StepFieldError,
            "step 's': field 'layer' must be a non-empty string, got NoneType None",
            id="layer-none",
        ),
        pytest.param(
            {"name": "s", "layer": "ingest", "type": 3},
            StepFieldError,
            "step 's': field 'type' must be a string, got int 3",
            id="type-not-a-string",
        ),
        pytest.param(
            {"name": "s", "layer": "ingest", "type": "read", "value": "in.csv", "outputs": "raw"},
            StepFieldError,
            "step 's': field 'outputs' must be a list of data keys, got str 'raw'",
            id="outputs-a-string",
        ),
        pytest.param(
            {"name": "s", "layer": "ingest", "type": "read", "value": "in.csv", "outputs": [1]},
            StepFieldError,
            "step 's': field 'outputs' must hold non-empty strings, got int 1",
            id="outputs-holding-an-int",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": identity, "outputs": ["a", "a"]},
            StepFieldError,
            "step 's': field 'outputs' lists a key twice: ['a', 'a']",
            id="outputs-duplicated",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": identity, "inputs": "raw"},
            StepFieldError,
            "step 's': field 'inputs' must be a list of data keys, got str 'raw'",
            id="inputs-a-string",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": identity, "inputs": {"1x": "raw"}},
            StepFieldError,
            "step 's': field 'inputs' has '1x', which is not a valid parameter name",
            id="inputs-dict-bad-parameter",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": identity, "inputs": {"frame": 5}},
            StepFieldError,
            "step 's': field 'inputs' maps 'frame' to 5; expected a data key string",
            id="inputs-dict-bad-key",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": identity, "params": ["x"]},
            StepFieldError,
            "step 's': field 'params' must be a mapping with string keys, got list ['x']",
            id="params-a-list",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": identity, "params": {1: "x"}},
            StepFieldError,
            "step 's': field 'params' must be a mapping with string keys",
            id="params-int-key",
        ),
        pytest.param(
            {"name": "s", "layer": "ingest", "type": "read", "value": 12, "outputs": ["raw"]},
            StepFieldError,
            "step 's': field 'value' must be a file path, got int 12",
            id="read-value-not-a-path",
        ),
        pytest.param(
            {"name": "s", "layer": "ingest", "type": "read", "value": "in.xlsx", "outputs": ["raw"]},
            StepFieldError,
            "step 's': field 'value' is 'in.xlsx'; supported extensions: .csv, .parquet",
            id="read-unsupported-extension",
        ),
        pytest.param(
            {"name": "s", "layer": "ingest", "type": "read", "value": "in.csv", "outputs": ["a", "b"]},
            StepFieldError,
            "step 's': field 'outputs' must name exactly one key for a read step, got ['a', 'b']",
            id="read-two-outputs",
        ),
        pytest.param(
            {"name": "s", "layer": "ingest", "type": "read", "value": "in.csv", "inputs": ["x"]},
            StepFieldError,
            "step 's': field 'inputs' must be empty for a read step",
            id="read-with-inputs",
        ),
        pytest.param(
            {"name": "s", "layer": "store", "type": "write", "value": "out.csv"},
            StepFieldError,
            "step 's': field 'inputs' must name exactly one key for a write step, got []",
            id="write-without-input",
        ),
        pytest.param(
            {
                "name": "s",
                "layer": "store",
                "type": "write",
                "value": "o.csv",
                "inputs": ["a"],
                "outputs": ["b"],
            },
            StepFieldError,
            "step 's': field 'outputs' must be empty for a write step",
            id="write-with-outputs",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": "no_colon_here"},
            StepFieldError,
            "step 's': field 'value' must be a callable or a 'module:function' reference, "
            "got str 'no_colon_here'",
            id="function-value-not-a-reference",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": "a:b:c"},
            StepFieldError,
            "field 'value' must be a callable or a 'module:function' reference",
            id="function-value-two-colons",
        ),
        pytest.param(
            {"name": "s", "layer": "t", "type": "function", "value": None},
            StepFieldError,
            "field 'value' must be a callable or a 'module:function' reference, got NoneType None",
            id="function-value-missing",
        ),
    ],
)
def test_wrong_field_types_name_step_and_field(kwargs: dict[str, Any], error: type, expected: str) -> None:
    with pytest.raises(error) as caught:
        Step(**kwargs)
    assert expected in str(caught.value)
    assert isinstance(caught.value, PipelineValidationError)
    assert isinstance(caught.value, OdibiError)


def test_step_field_error_exposes_step_and_field() -> None:
    with pytest.raises(StepFieldError) as caught:
        Step("load", "ingest", "read", "in.csv", outputs=[""])
    assert caught.value.step == "load"
    assert caught.value.field == "outputs"


def test_unknown_type_names_the_supported_types() -> None:
    with pytest.raises(UnknownStepTypeError) as caught:
        Step("clean", "transform", "transform", identity)
    assert str(caught.value) == (
        "step 'clean': field 'type' is 'transform'; expected one of read, function, sql, write"
    )
    assert caught.value.step == "clean"
    assert caught.value.field == "type"


def test_valid_steps_expose_normalised_fields() -> None:
    positional = Step("join", "transform", "function", identity, inputs=["a", "b"], outputs=["c"])
    assert positional.input_keys == ("a", "b")
    assert positional.input_parameter_names is None
    assert positional.output_keys == ("c",)
    assert positional.keyword_params == {}
    named = Step(
        "join2", "transform", "function", identity, inputs={"left": "a", "right": "b"}, params={"k": 1}
    )
    assert named.input_keys == ("a", "b")
    assert named.input_parameter_names == ("left", "right")
    assert named.keyword_params == {"k": 1}
    assert named.keyword_params is not named.params


def _function_step(value: Any, **kwargs: Any) -> list[Step]:
    return [
        Step("src", "ingest", "function", source, outputs=["raw"]),
        Step(
            "fn",
            "transform",
            "function",
            value,
            inputs=kwargs.pop("inputs", ["raw"]),
            outputs=["out"],
            **kwargs,
        ),
    ]


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        pytest.param(
            "odibi_no_such_module_zz:clean",
            {},
            r"^step 'fn': field 'value' is 'odibi_no_such_module_zz:clean': cannot import module "
            r"'odibi_no_such_module_zz' \(No module named 'odibi_no_such_module_zz'\)$",
            id="module-missing",
        ),
        pytest.param(
            "json:no_such_function",
            {},
            r"^step 'fn': field 'value' is 'json:no_such_function': module 'json' has no 'no_such_function'$",
            id="attribute-missing",
        ),
        pytest.param(
            f"{__name__}:NOT_CALLABLE",
            {},
            rf"^step 'fn': field 'value' is '{re.escape(__name__)}:NOT_CALLABLE': not callable$",
            id="not-callable",
        ),
        pytest.param(
            identity,
            {"inputs": ["raw", "raw"]},
            r"^step 'fn': field 'inputs' does not match .*identity\(frame: 'pd.DataFrame'\) -> "
            r"'pd.DataFrame': too many positional arguments$",
            id="too-many-inputs",
        ),
        pytest.param(
            identity,
            {"inputs": {"table": "raw"}},
            r"^step 'fn': field 'inputs' does not match .*identity.*: "
            r"(missing a required argument: 'frame'|got an unexpected keyword argument 'table')$",
            id="inputs-dict-wrong-parameter-name",
        ),
        pytest.param(
            identity,
            {"params": {"factor": 2}},
            r"^step 'fn': field 'params' does not match .*identity.*: got an unexpected keyword argument "
            r"'factor'$",
            id="unknown-param",
        ),
    ],
)
def test_function_reference_errors(value: Any, kwargs: dict[str, Any], expected: str) -> None:
    steps = _function_step(value, **kwargs)
    with pytest.raises(FunctionReferenceError, match=expected) as caught:
        Orchestrator(steps)
    assert caught.value.step == "fn"
    with pytest.raises(FunctionReferenceError, match=expected):
        validate_steps(steps)


def test_module_function_reference_resolves_with_dotted_attribute(tracing: Any) -> None:
    steps = [Step("src", "ingest", "function", f"{__name__}:Holder.make", outputs=["raw"])]
    result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
    assert result["success"] is True
    assert result["outputs"]["raw"]["held"].tolist() == [1, 2]
    assert tracing.node_spans()["src"].attributes["code.function.name"] == f"{__name__}.Holder.make"


class Holder:
    @staticmethod
    def make() -> pd.DataFrame:
        return pd.DataFrame({"held": [1, 2]})


def test_unsupported_engine_names_the_supported_ones() -> None:
    steps = [Step("src", "ingest", "function", source, outputs=["raw"])]
    with pytest.raises(UnsupportedEngineError) as caught:
        Orchestrator(steps, engine_type="polars")
    assert str(caught.value) == "engine_type 'polars' is not supported; supported engines: pandas, spark"
    assert isinstance(caught.value, OdibiError)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_invalid_max_workers(workers: Any) -> None:
    steps = [Step("src", "ingest", "function", source, outputs=["raw"])]
    with pytest.raises(PipelineValidationError, match=r"^max_workers must be an integer >= 1, got "):
        Orchestrator(steps, max_workers=workers)


@pytest.mark.parametrize("name", ["", "   ", None])
def test_invalid_pipeline_name(name: Any) -> None:
    steps = [Step("src", "ingest", "function", source, outputs=["raw"])]
    with pytest.raises(PipelineValidationError, match=r"^pipeline_name must be a non-empty string"):
        Orchestrator(steps, pipeline_name=name)


def test_nothing_runs_when_a_later_step_is_invalid() -> None:
    calls: list[str] = []

    def first() -> pd.DataFrame:
        calls.append("first")
        return pd.DataFrame({"a": [1]})

    steps = [
        Step("first", "ingest", "function", first, outputs=["a"]),
        Step("second", "transform", "function", "odibi_no_such_module_zz:f", inputs=["a"], outputs=["b"]),
    ]
    with pytest.raises(FunctionReferenceError, match="step 'second'"):
        Orchestrator(steps).execute()
    assert calls == []

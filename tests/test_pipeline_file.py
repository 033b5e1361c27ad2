"""YAML and JSON pipeline files: loading, running, references, variables and located errors."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from odibi_otel import (
    CycleError,
    FunctionReferenceError,
    MissingInputError,
    Orchestrator,
    PipelineDefinition,
    PipelineFileError,
    PipelineValidationError,
    Step,
    StepFieldError,
    UndefinedVariableError,
    UnknownStepTypeError,
    load_pipeline,
)

if TYPE_CHECKING:
    from tests.conftest import Tracing

TRANSFORMS = """
import pandas as pd

def add_total(orders: pd.DataFrame, factor: int = 1) -> pd.DataFrame:
    out = orders.copy()
    out["total"] = out["qty"] * out["price"] * factor
    return out
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
    return path


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A pipeline folder with input data and a transforms module; the cwd is elsewhere."""
    folder = tmp_path / "project"
    folder.mkdir()
    pd.DataFrame({"id": [1, 2, 3], "qty": [2, 1, 5], "price": [10.0, 3.5, 1.0]}).to_csv(
        folder / "orders.csv", index=False
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def test_yaml_pipeline_loads_and_runs_relative_to_its_folder(
    project: Path, write_module: Callable[..., str], tracing: Tracing
) -> None:
    module = write_module(TRANSFORMS, folder=project)
    pipeline = write(
        project / "pipeline.yaml",
        f"""
        name: orders_pipeline
        description: totals per order
        steps:
          - name: read_orders
            layer: ingest
            type: read
            value: orders.csv
            outputs: [orders]
          - name: add_total
            layer: transform
            type: function
            value: "{module}:add_total"
            inputs: {{orders: orders}}
            outputs: [totals]
            params: {{factor: 2}}
          - name: store
            layer: store
            type: write
            value: out/totals.parquet
            inputs: [totals]
        """,
    )
    definition = load_pipeline(pipeline)
    assert isinstance(definition, PipelineDefinition)
    name, steps = definition
    assert name == "orders_pipeline"
    assert [step.name for step in steps] == ["read_orders", "add_total", "store"]
    assert all(isinstance(step, Step) for step in steps)
    assert steps[0].resolved_path() == project.resolve() / "orders.csv"
    assert steps[1].input_parameter_names == ("orders",)
    assert steps[1].keyword_params == {"factor": 2}

    result = Orchestrator(steps, pipeline_name=name, tracer_provider=tracing.provider).execute()

    assert result["success"] is True, result["errors"]
    assert result["outputs"]["totals"]["total"].tolist() == [40.0, 7.0, 10.0]
    written = pd.read_parquet(project / "out" / "totals.parquet")
    assert written["total"].tolist() == [40.0, 7.0, 10.0]
    assert not (Path.cwd() / "out").exists()
    assert tracing.pipeline_span().name == "pipeline orders_pipeline"
    assert tracing.node_spans()["add_total"].attributes["code.function.name"] == f"{module}.add_total"


def test_json_pipeline_loads_and_runs(
    project: Path, write_module: Callable[..., str], tracing: Tracing
) -> None:
    module = write_module(TRANSFORMS, folder=project)
    document = {
        "name": "json_pipeline",
        "steps": [
            {"name": "read", "layer": "ingest", "type": "read", "value": "orders.csv", "outputs": ["orders"]},
            {
                "name": "total",
                "layer": "transform",
                "type": "function",
                "value": f"{module}:add_total",
                "inputs": ["orders"],
                "outputs": ["totals"],
            },
        ],
    }
    pipeline = project / "pipeline.json"
    pipeline.write_text(json.dumps(document, indent=2), "utf-8")

    name, steps = load_pipeline(str(pipeline))
    assert name == "json_pipeline"
    assert [step.type for step in steps] == ["read", "function"]
    result = Orchestrator(steps, pipeline_name=name, tracer_provider=tracing.provider).execute()
    assert result["success"] is True, result["errors"]
    assert result["outputs"]["totals"]["total"].tolist() == [20.0, 3.5, 5.0]
    assert sorted(tracing.node_spans()) == ["read", "total"]


def test_same_module_name_in_two_folders_resolves_per_pipeline_file(tmp_path: Path, tracing: Tracing) -> None:
    module = "odibi_test_shared_name_steps"
    results = {}
    orchestrators = {}
    try:
        for label in ("first", "second", "first"):
            folder = tmp_path / label
            write(
                folder / f"{module}.py",
                f"""
                import pandas as pd

                def make() -> pd.DataFrame:
                    return pd.DataFrame({{"source": ["{label}"]}})
                """,
            )
            write(
                folder / "pipeline.yaml",
                f"""
                name: {label}
                steps:
                  - {{name: make, layer: ingest, type: function, value: "{module}:make", outputs: [x]}}
                """,
            )
            _, steps = load_pipeline(folder / "pipeline.yaml")
            orchestrators.setdefault(label, Orchestrator(steps, tracer_provider=tracing.provider))
            result = Orchestrator(steps, tracer_provider=tracing.provider).execute()
            results.setdefault(label, []).extend(result["outputs"]["x"]["source"])
        # an orchestrator built before the other folder's module was imported keeps its own function
        results["first"].extend(orchestrators["first"].execute()["outputs"]["x"]["source"])
    finally:
        sys.modules.pop(module, None)
    assert results == {"first": ["first", "first", "first"], "second": ["second"]}


def test_variables_from_argument_environment_and_file_defaults(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODIBI_TEST_LAYER", "bronze")
    monkeypatch.delenv("ODIBI_TEST_UNSET", raising=False)
    pipeline = write(
        project / "pipeline.yml",
        """
        name: vars
        variables:
          input_file: orders.csv
          threshold: 5
        steps:
          - name: read_${source}
            layer: ${ODIBI_TEST_LAYER}
            type: read
            value: ${input_file}
            outputs: ["raw_${source}"]
            params:
              sep: ","
              comment: "${ODIBI_TEST_UNSET:-#}"
              names: ["id", "qty_${threshold}", "$${literal}"]
              header: 0
        """,
    )
    name, (step,) = load_pipeline(pipeline, variables={"source": "shop"})
    assert name == "vars"
    assert step.name == "read_shop"
    assert step.layer == "bronze"
    assert step.value == "orders.csv"
    assert step.output_keys == ("raw_shop",)
    assert step.params == {"sep": ",", "comment": "#", "names": ["id", "qty_5", "${literal}"], "header": 0}


def test_explicit_variables_win_over_environment_and_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODIBI_TEST_FILE", "from_env.csv")
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: vars
        variables: {ODIBI_TEST_FILE: from_file.csv}
        steps:
          - {name: r, layer: ingest, type: read, value: "${ODIBI_TEST_FILE}", outputs: [raw]}
        """,
    )
    assert (
        load_pipeline(pipeline, variables={"ODIBI_TEST_FILE": "explicit.csv"}).steps[0].value
        == "explicit.csv"
    )
    assert load_pipeline(pipeline).steps[0].value == "from_env.csv"
    monkeypatch.delenv("ODIBI_TEST_FILE")
    assert load_pipeline(pipeline).steps[0].value == "from_file.csv"


def test_undefined_variable_names_file_line_step_and_field(project: Path) -> None:
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: vars
        steps:
          - name: ok
            layer: ingest
            type: read
            value: orders.csv
            outputs: [raw]
          - name: bad
            layer: transform
            type: read
            value: ${odibi_undefined_variable}.csv
            outputs: [other]
        """,
    )
    with pytest.raises(UndefinedVariableError) as caught:  # a StepFieldError
        load_pipeline(pipeline)
    assert isinstance(caught.value, StepFieldError)
    assert str(caught.value) == (
        f"{pipeline}:8: step 'bad': field 'value' uses variable ${{odibi_undefined_variable}}, "
        "which is not defined (no --var, environment variable or default)"
    )


def test_yaml_syntax_error_names_file_and_line(project: Path) -> None:
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: broken
        steps:
          - name: a: b
            layer: ingest
        """,
    )
    with pytest.raises(PipelineFileError) as caught:
        load_pipeline(pipeline)
    message = str(caught.value)
    assert message.startswith(f"{pipeline}:3:")
    assert "pipeline.yaml:3:" in message
    assert "invalid YAML: mapping values are not allowed here" in message


def test_json_syntax_error_names_file_line_and_column(project: Path) -> None:
    pipeline = project / "pipeline.json"
    pipeline.write_text('{\n  "name": "broken",\n  "steps": [,]\n}\n', "utf-8")
    with pytest.raises(PipelineFileError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value) == f"{pipeline}:3:13: invalid JSON: Expecting value"


def test_step_field_error_in_yaml_is_prefixed_with_the_step_line(project: Path) -> None:
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: p
        steps:
          - name: read_orders
            layer: ingest
            type: read
            value: orders.csv
            outputs: [orders]

          - name: clean
            layer: transform
            type: transform
            inputs: [orders]
        """,
    )
    with pytest.raises(UnknownStepTypeError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value) == (
        f"{pipeline}:9: step 'clean': field 'type' is 'transform'; expected one of read, function, sql, write"
    )


def test_graph_errors_in_yaml_point_at_the_step_line(project: Path) -> None:
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: p
        steps:
          - {name: read_orders, layer: ingest, type: read, value: orders.csv, outputs: [orders]}
          - name: total
            layer: transform
            type: function
            value: "json:loads"
            inputs: [order]
            outputs: [totals]
        """,
    )
    with pytest.raises(MissingInputError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value) == (
        f"{pipeline}:4: step 'total': field 'inputs' needs data key 'order', which no step produces "
        "(did you mean 'orders'?)"
    )


def test_cycle_in_yaml_prints_path_and_line(project: Path) -> None:
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: p
        steps:
          - {name: a, layer: t, type: function, value: "json:dumps", inputs: [y], outputs: [x]}
          - {name: b, layer: t, type: function, value: "json:dumps", inputs: [x], outputs: [y]}
        """,
    )
    with pytest.raises(CycleError) as caught:
        load_pipeline(pipeline)
    message = str(caught.value)
    assert message in (
        f"{pipeline}:3: dependency cycle between steps: a -> b -> a",
        f"{pipeline}:4: dependency cycle between steps: b -> a -> b",
    )


def test_unimportable_reference_in_yaml_names_line_step_and_module(project: Path) -> None:
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: p
        steps:
          - name: make
            layer: ingest
            type: function
            value: "odibi_missing_module_xyz:make"
            outputs: [x]
        """,
    )
    with pytest.raises(FunctionReferenceError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value).startswith(
        f"{pipeline}:3: step 'make': field 'value' is 'odibi_missing_module_xyz:make': "
        "cannot import module 'odibi_missing_module_xyz'"
    )


def test_unknown_step_field_is_rejected(project: Path) -> None:
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: p
        steps:
          - name: read_orders
            layer: ingest
            type: read
            value: orders.csv
            output: [orders]
        """,
    )
    with pytest.raises(StepFieldError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value) == (
        f"{pipeline}:3: step 'read_orders': field 'output' is not a step field; "
        "expected name, layer, type, value, inputs, outputs, params, checks, persist"
    )
    assert caught.value.field == "output"


def test_missing_required_step_field(project: Path) -> None:
    pipeline = write(
        project / "pipeline.yaml",
        """
        name: p
        steps:
          - name: read_orders
            type: read
            value: orders.csv
            outputs: [orders]
        """,
    )
    with pytest.raises(StepFieldError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value) == f"{pipeline}:3: step 'read_orders': field 'layer' is missing"


def test_json_step_error_names_the_step_position(project: Path) -> None:
    pipeline = project / "pipeline.json"
    pipeline.write_text(
        json.dumps(
            {
                "name": "p",
                "steps": [
                    {"name": "r", "layer": "ingest", "type": "read", "value": "orders.csv", "outputs": ["o"]},
                    {"name": "w", "layer": "store", "type": "write", "value": "out.csv", "inputs": "o"},
                ],
            }
        ),
        "utf-8",
    )
    with pytest.raises(StepFieldError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value) == (
        f"{pipeline} (step #2): step 'w': field 'inputs' must be a list of data keys, got str 'o'"
    )


def test_step_that_is_not_a_mapping(project: Path) -> None:
    pipeline = write(project / "pipeline.yaml", "name: p\nsteps:\n  - just a string\n")
    with pytest.raises(PipelineValidationError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value) == f"{pipeline}:3: step #1: expected a mapping of step fields, got str"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "- a\n- b\n", "expected a mapping with 'name' and 'steps', got list", id="not-a-mapping"
        ),
        pytest.param("", "expected a mapping with 'name' and 'steps', got NoneType", id="empty-file"),
        pytest.param(
            "name: p\nsteps: []\nowner: me\n",
            "unknown top-level field(s) ['owner']; "
            "allowed: name, description, engine, variables, redact, steps",
            id="unknown-top-level-field",
        ),
        pytest.param(
            "steps: [{name: a}]\n", "field 'name' must be a non-empty string, got None", id="no-name"
        ),
        pytest.param("name: p\nsteps: []\n", "field 'steps' must be a non-empty list, got []", id="no-steps"),
        pytest.param(
            "name: p\nvariables: [a]\nsteps: [{name: a, layer: l, type: read}]\n",
            "field 'variables' must map names to strings",
            id="bad-variables",
        ),
    ],
)
def test_document_shape_errors_name_the_file(project: Path, text: str, expected: str) -> None:
    pipeline = project / "pipeline.yaml"
    pipeline.write_text(text, "utf-8")
    with pytest.raises(PipelineFileError) as caught:
        load_pipeline(pipeline)
    assert str(caught.value) == f"{pipeline}: {expected}"


def test_missing_file_and_unsupported_extension(project: Path) -> None:
    missing = project / "nope.yaml"
    with pytest.raises(PipelineFileError) as caught:
        load_pipeline(missing)
    assert str(caught.value) == f"{missing}: pipeline file not found"
    toml = project / "pipeline.toml"
    toml.write_text("name = 'p'\n", "utf-8")
    with pytest.raises(PipelineFileError) as caught:
        load_pipeline(toml)
    assert str(caught.value) == f"{toml}: expected a .yaml, .yml or .json pipeline file"

"""``Step``: one node of a pipeline, and the checks on its fields.

A step is declarative data: what kind of work (``type``), on what (``value``), which data keys it
consumes (``inputs``) and produces (``outputs``). Field checks run when the step is built, so a
wrong field fails at once with a message naming the step and the field.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from odibi_otel._internal.text import find_control_character
from odibi_otel.engines.base import FILE_FORMATS, file_format
from odibi_otel.errors import StepFieldError, UnknownStepTypeError
from odibi_otel.quality.checks import Check, CheckDefinitionError, parse_check

__all__ = ["FILE_FORMATS", "STEP_TYPES", "Step", "file_format"]

STEP_TYPES: Final = ("read", "function", "sql", "write")


@dataclass(frozen=True, eq=False)
class Step:
    """One pipeline node.

    Args:
        name: Unique step name; names the node span (``node <name>``).
        layer: Free text; ``ingest``, ``transform``, ``store`` and ``publish`` are conventional.
        type: ``"read"``, ``"function"``, ``"sql"`` or ``"write"``.
        value: For ``read``/``write`` the file path (.csv, .parquet, .json, .jsonl); for
            ``function`` a callable or a ``"module:function"`` reference; for ``sql`` the query.
        inputs: Data keys consumed: a list (passed positionally, in order) or a dict
            ``{parameter_name: data_key}`` (passed as keyword arguments). A ``sql`` step sees
            each input as a table: named by its data key (list) or by its parameter name (dict).
        outputs: Data keys produced.
        params: Keyword arguments for the function, or for the pandas reader/writer.
        checks: Data checks on the step's output (on the written frame for a ``write`` step):
            :class:`~odibi_otel.quality.Check` objects (``odibi_otel.checks.not_null(...)``) or
            their pipeline-file mappings; see ``docs/checks.md``.
        persist: Lazy engines (Spark): cache the step's outputs and count them at the node, so the
            node's span holds its own work and rows (one more job per output; docs/spark.md).
            Ignored on pandas, whose frames are always computed at the node.
        base_dir: Folder that relative paths and ``"module:function"`` references are resolved
            against first (set by :func:`odibi_otel.load_pipeline` to the pipeline file's folder).
    """

    name: str
    layer: str
    type: str
    value: Any = None
    inputs: list[str] | dict[str, str] | None = None
    outputs: list[str] | None = None
    params: dict[str, Any] | None = None
    checks: Any = field(default=None, kw_only=True)
    persist: bool = field(default=False, kw_only=True)
    base_dir: Path | None = field(default=None, kw_only=True, repr=False)
    # normalised from inputs/outputs in __post_init__ (read through the properties below)
    _input_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _input_names: tuple[str, ...] | None = field(init=False, repr=False, compare=False)
    _output_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_text(self.name, _label(self.name), "name")
        _check_no_control_characters(self.name, self.name, "name")
        _check_text(self.layer, self.name, "layer")
        if not isinstance(self.type, str):
            raise StepFieldError(self.name, "type", _expected("a string", self.type))
        if self.type not in STEP_TYPES:
            raise UnknownStepTypeError(
                self.name, "type", f"is {self.type!r}; expected one of {', '.join(STEP_TYPES)}"
            )
        input_keys, input_names = _normalise_inputs(self.name, self.inputs)
        output_keys = _normalise_keys(self.name, "outputs", self.outputs)
        if len(set(output_keys)) != len(output_keys):
            raise StepFieldError(self.name, "outputs", f"lists a key twice: {list(output_keys)}")
        if self.params is not None and not (
            isinstance(self.params, Mapping) and all(isinstance(k, str) for k in self.params)
        ):
            raise StepFieldError(self.name, "params", _expected("a mapping with string keys", self.params))
        if not isinstance(self.persist, bool):
            raise StepFieldError(self.name, "persist", _expected("true or false", self.persist))
        object.__setattr__(self, "_input_keys", input_keys)
        object.__setattr__(self, "_input_names", input_names)
        object.__setattr__(self, "_output_keys", output_keys)
        _CHECKS_BY_TYPE[self.type](self)
        object.__setattr__(self, "checks", _normalise_checks(self))

    @property
    def input_keys(self) -> tuple[str, ...]:
        """The consumed data keys, in the order they are passed."""
        return self._input_keys

    @property
    def input_parameter_names(self) -> tuple[str, ...] | None:
        """Parameter names for dict ``inputs`` (same order as :attr:`input_keys`), else ``None``."""
        return self._input_names

    @property
    def output_keys(self) -> tuple[str, ...]:
        """The produced data keys."""
        return self._output_keys

    @property
    def table_names(self) -> tuple[str, ...]:
        """The names a ``sql`` step's query sees its inputs under (same order as :attr:`input_keys`)."""
        return self._input_names if self._input_names is not None else self._input_keys

    @property
    def keyword_params(self) -> dict[str, Any]:
        """``params`` as a plain dict (empty when not given)."""
        return dict(self.params or {})

    def resolved_path(self) -> Path:
        """The ``value`` of a read/write step as a path, relative ones resolved against ``base_dir``."""
        path = Path(os.fspath(self.value))
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path


def _normalise_checks(step: Step) -> tuple[Check, ...]:
    """``checks`` as a tuple of :class:`Check`, each aimed at a frame the step has."""
    raw = step.checks
    if raw is None:
        return ()
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, (list, tuple)):
        raise StepFieldError(step.name, "checks", _expected("a list of checks", raw))
    checks = []
    for number, item in enumerate(raw, start=1):
        try:
            check = parse_check(item)
        except CheckDefinitionError as exc:
            raise StepFieldError(step.name, "checks", f"#{number}: {exc}") from None
        _check_target(step, check, number)
        checks.append(check)
    names = [check.name for check in checks]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise StepFieldError(step.name, "checks", f"name the same check twice: {repeated}; give each a name")
    return tuple(checks)


def _check_target(step: Step, check: Check, number: int) -> None:
    frames = step.input_keys if step.type == "write" else step.output_keys
    where = f"#{number} ({check.name})"
    if check.output is not None and check.output not in frames:
        raise StepFieldError(
            step.name, "checks", f"{where}: output {check.output!r} is not one of {list(frames)}"
        )
    if check.output is None and len(frames) != 1:
        raise StepFieldError(
            step.name, "checks", f"{where}: the step has outputs {list(frames)}; name one with 'output'"
        )
    if check.kind == "relationship":
        target = check.params["to"]
        known = set(step.input_keys) | set(step.input_parameter_names or ())
        if target not in known:
            raise StepFieldError(
                step.name,
                "checks",
                f"{where}: 'to' is {target!r}, which is not an input of the step ({sorted(known)})",
            )


def _expected(what: str, got: object) -> str:
    return f"must be {what}, got {type(got).__name__} {got!r:.80}"


def _label(name: object) -> str:
    """How an invalid step name is shown in errors: itself when printable, ``<unnamed>`` when absent."""
    if name is None or (isinstance(name, str) and not name.strip()):
        return "<unnamed>"
    return name if isinstance(name, str) else str(name)


def _check_text(value: object, step: str, field_name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise StepFieldError(step, field_name, _expected("a non-empty string", value))


def _check_no_control_characters(value: str, step: str, field_name: str) -> None:
    """Names go on one line of output, in span names and in metric labels: no line breaks or tabs."""
    bad = find_control_character(value)
    if bad is not None:
        raise StepFieldError(
            step, field_name, f"contains the control character {bad!r}; use printable characters only"
        )


def _normalise_keys(step: str, field_name: str, keys: object) -> tuple[str, ...]:
    if keys is None:
        return ()
    if isinstance(keys, (str, bytes)) or not isinstance(keys, (list, tuple)):
        raise StepFieldError(step, field_name, _expected("a list of data keys", keys))
    for key in keys:
        if not isinstance(key, str) or not key:
            raise StepFieldError(
                step, field_name, f"must hold non-empty strings, got {type(key).__name__} {key!r}"
            )
    return tuple(keys)


def _normalise_inputs(step: str, inputs: object) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    if isinstance(inputs, Mapping):
        for parameter, key in inputs.items():
            if not isinstance(parameter, str) or not parameter.isidentifier():
                raise StepFieldError(
                    step, "inputs", f"has {parameter!r}, which is not a valid parameter name"
                )
            if not isinstance(key, str) or not key:
                raise StepFieldError(
                    step, "inputs", f"maps {parameter!r} to {key!r}; expected a data key string"
                )
        return tuple(inputs.values()), tuple(inputs.keys())
    return _normalise_keys(step, "inputs", inputs), None


def _check_path_value(step: Step) -> None:
    if not isinstance(step.value, (str, os.PathLike)) or not os.fspath(step.value):
        raise StepFieldError(step.name, "value", _expected("a file path", step.value))
    if file_format(step.value) is None:
        raise StepFieldError(
            step.name,
            "value",
            f"is {os.fspath(step.value)!r}; supported extensions: {', '.join(FILE_FORMATS)}",
        )


def _check_read(step: Step) -> None:
    _check_path_value(step)
    if step.input_keys:
        raise StepFieldError(step.name, "inputs", "must be empty for a read step")
    if len(step.output_keys) != 1:
        raise StepFieldError(
            step.name, "outputs", f"must name exactly one key for a read step, got {list(step.output_keys)}"
        )


def _check_write(step: Step) -> None:
    _check_path_value(step)
    if len(step.input_keys) != 1:
        raise StepFieldError(
            step.name, "inputs", f"must name exactly one key for a write step, got {list(step.input_keys)}"
        )
    if step.output_keys:
        raise StepFieldError(step.name, "outputs", "must be empty for a write step")


def _check_sql(step: Step) -> None:
    """The query's syntax and tables are checked against the engine's dialect by the orchestrator."""
    if not isinstance(step.value, str) or not step.value.strip():
        raise StepFieldError(step.name, "value", _expected("a non-empty SQL query", step.value))
    if len(step.output_keys) != 1:
        raise StepFieldError(
            step.name, "outputs", f"must name exactly one key for a sql step, got {list(step.output_keys)}"
        )
    if step.params:
        raise StepFieldError(
            step.name, "params", "must be empty for a sql step (write values into the query)"
        )


def _check_function(step: Step) -> None:
    value = step.value
    if callable(value):
        return
    if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
        raise StepFieldError(
            step.name, "value", _expected("a callable or a 'module:function' reference", value)
        )


_CHECKS_BY_TYPE: Final[Mapping[str, Callable[[Step], None]]] = {
    "read": _check_read,
    "write": _check_write,
    "function": _check_function,
    "sql": _check_sql,
}

"""Pipeline files: YAML or JSON documents ``{name: ..., steps: [...]}`` loaded into ``Step`` lists.

Errors name the file and, where it can be known, the line: syntax errors by the parser's position,
step errors by the line where the step starts (YAML).

String fields may use ``${NAME}`` or ``${NAME:-default}``: values come from the ``variables``
argument, then the environment, then the file's own ``variables:`` mapping. ``$${`` is a literal
``${``. Relative paths and ``"module:function"`` references resolve against the file's folder.
An optional ``redact:`` block says which sample values a run must never capture.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from odibi_otel._internal.text import find_control_character
from odibi_otel.errors import (
    DuplicateStepError,
    PipelineFileError,
    PipelineValidationError,
    StepFieldError,
    UndefinedVariableError,
)
from odibi_otel.lineage.config import TrackerConfig
from odibi_otel.pipeline._file_engine import EngineSettings, parse_engine
from odibi_otel.pipeline._file_redaction import parse_redaction
from odibi_otel.pipeline.step import Step
from odibi_otel.pipeline.validation import validate_steps

__all__ = ["PipelineDefinition", "load_pipeline"]

_STEP_FIELDS = ("name", "layer", "type", "value", "inputs", "outputs", "params", "checks", "persist")
_REQUIRED_STEP_FIELDS = ("name", "layer", "type")
#: The SQL dialect each engine's ``sql`` steps are checked in (without importing the engine).
_SQL_DIALECTS = {"pandas": "duckdb", "spark": "spark"}
_TOP_LEVEL_FIELDS = ("name", "description", "engine", "variables", "redact", "steps")
#: Values (scalars and collections, aliases expanded) a YAML pipeline file may hold.
_MAX_YAML_VALUES = 1_000_000
_VARIABLE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class PipelineDefinition:
    """A loaded pipeline file: unpack as ``name, steps = load_pipeline(path)``.

    ``redaction`` is the file's ``redact:`` block as a :class:`~odibi_otel.TrackerConfig` (pass it
    as ``Orchestrator(tracker_config=...)``), ``None`` when the file has none.
    """

    name: str
    steps: list[Step]
    redaction: TrackerConfig | None = None
    #: The file's ``engine:`` block (pandas when it has none).
    engine: EngineSettings = dataclasses.field(default_factory=EngineSettings)

    def __iter__(self) -> Iterator[Any]:
        """``name, steps = definition``: the two things every run needs."""
        yield self.name
        yield self.steps


def load_pipeline(
    path: str | os.PathLike[str], variables: Mapping[str, str] | None = None
) -> PipelineDefinition:
    """Load, check and return the pipeline in the YAML (.yaml/.yml) or JSON (.json) file ``path``.

    Every check an :class:`~odibi_otel.Orchestrator` makes is made here too, so a returned
    pipeline is ready to run.

    Raises:
        PipelineFileError: the file is missing, unparsable or not shaped like a pipeline.
        PipelineValidationError: (a subclass) a step is invalid; the message starts with
            ``file:line``.
    """
    file = Path(path)
    text = _read_text(file)
    document, step_lines, key_lines = _parse(file, text)
    name, raw_steps, defaults = _top_level(file, document)
    redaction = _redaction(file, document, key_lines)
    engine = _engine(file, document, key_lines)
    lookup = _Variables(variables or {}, defaults)
    steps: list[Step] = []
    for index, raw in enumerate(raw_steps):
        where = _where(file, step_lines, index)
        try:
            steps.append(_build_step(raw, index, file.parent.resolve(), lookup))
        except PipelineValidationError as exc:
            _prefix(exc, where)
            raise
    try:
        validate_steps(steps, _SQL_DIALECTS.get(engine.type, "duckdb"))
    except PipelineValidationError as exc:
        names = [step.name for step in steps]
        found = _step_index(names, exc)
        _prefix(exc, _where(file, step_lines, found) if found is not None else str(file))
        raise
    return PipelineDefinition(name, steps, redaction, engine)


def _read_text(file: Path) -> str:
    try:
        return file.read_text("utf-8")
    except FileNotFoundError:
        raise PipelineFileError(f"{file}: pipeline file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineFileError(f"{file}: cannot read pipeline file: {exc}") from exc


def _redaction(file: Path, document: dict[str, Any], key_lines: dict[str, int]) -> TrackerConfig | None:
    if "redact" not in document:
        return None
    where = f"{file}:{key_lines['redact']}" if "redact" in key_lines else str(file)
    try:
        return parse_redaction(document["redact"])
    except ValueError as exc:
        raise PipelineFileError(f"{where}: field 'redact' {exc}") from None


def _engine(file: Path, document: dict[str, Any], key_lines: dict[str, int]) -> EngineSettings:
    if "engine" not in document:
        return EngineSettings()
    where = f"{file}:{key_lines['engine']}" if "engine" in key_lines else str(file)
    try:
        return parse_engine(document["engine"])
    except ValueError as exc:
        raise PipelineFileError(f"{where}: field 'engine' {exc}") from None


def _parse(file: Path, text: str) -> tuple[Any, list[int], dict[str, int]]:
    suffix = file.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text), [], {}
        except json.JSONDecodeError as exc:
            raise PipelineFileError(f"{file}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise PipelineFileError(f"{file}: invalid JSON: nested too deeply") from None
        except ValueError as exc:  # e.g. an integer with more digits than Python converts
            raise PipelineFileError(f"{file}: invalid JSON: {exc}") from None
    if suffix not in (".yaml", ".yml"):
        raise PipelineFileError(f"{file}: expected a .yaml, .yml or .json pipeline file")
    return _parse_yaml(file, text)


def _parse_yaml(file: Path, text: str) -> tuple[Any, list[int], dict[str, int]]:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # e.g. a control character the YAML reader refuses
        raise PipelineFileError(f"{file}: invalid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_yaml_size(file, node)
        document = loader.construct_document(node) if node is not None else None
    except PipelineFileError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        raise PipelineFileError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise PipelineFileError(f"{file}: invalid YAML: {exc}") from None
    except RecursionError:
        raise PipelineFileError(f"{file}: invalid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise PipelineFileError(f"{file}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return document, _yaml_step_lines(node), _yaml_key_lines(node)


def _check_yaml_size(file: Path, root: yaml.Node) -> None:
    """Refuse documents whose aliases make them recursive or expand them past :data:`_MAX_YAML_VALUES`.

    Aliases share nodes, so a few lines can stand for billions of values ("billion laughs");
    everything that walks the loaded document would then take forever.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _yaml_children(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > _MAX_YAML_VALUES:
                raise PipelineFileError(
                    f"{file}: the document expands to more than {_MAX_YAML_VALUES:,} values "
                    "(YAML aliases nested too deeply?)"
                )
            continue
        if key in sizes:
            continue
        if key in on_path:
            mark = node.start_mark
            raise PipelineFileError(
                f"{file}:{mark.line + 1}:{mark.column + 1}: invalid YAML: recursive alias"
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _yaml_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _yaml_key_lines(node: yaml.Node | None) -> dict[str, int]:
    """Top-level key → the line it is on."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): key.start_mark.line + 1 for key, _ in node.value if hasattr(key, "value")}


def _yaml_step_lines(node: yaml.Node | None) -> list[int]:
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "steps" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _top_level(file: Path, document: Any) -> tuple[str, list[Any], dict[str, str]]:
    if not isinstance(document, dict):
        raise PipelineFileError(
            f"{file}: expected a mapping with 'name' and 'steps', got {type(document).__name__}"
        )
    unknown = sorted(set(map(str, document)) - set(_TOP_LEVEL_FIELDS))
    if unknown:
        raise PipelineFileError(
            f"{file}: unknown top-level field(s) {unknown}; allowed: {', '.join(_TOP_LEVEL_FIELDS)}"
        )
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PipelineFileError(f"{file}: field 'name' must be a non-empty string, got {name!r}")
    bad = find_control_character(name)
    if bad is not None:
        raise PipelineFileError(
            f"{file}: field 'name' {name!r} contains the control character {bad!r}; "
            "use printable characters only"
        )
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        raise PipelineFileError(f"{file}: field 'steps' must be a non-empty list, got {steps!r:.80}")
    defaults = document.get("variables") or {}
    if not isinstance(defaults, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in defaults.items()
    ):
        raise PipelineFileError(f"{file}: field 'variables' must map names to strings")
    return name, steps, {key: str(value) for key, value in defaults.items()}


def _build_step(raw: Any, index: int, base_dir: Path, lookup: _Variables) -> Step:
    name = raw.get("name") if isinstance(raw, dict) else None
    label = str(name) if name is not None and str(name).strip() else f"#{index + 1}"
    if not isinstance(raw, dict):
        raise PipelineValidationError(
            f"step {label}: expected a mapping of step fields, got {type(raw).__name__}"
        )
    for field in raw:
        if field not in _STEP_FIELDS:
            raise StepFieldError(
                label, str(field), f"is not a step field; expected {', '.join(_STEP_FIELDS)}"
            )
    for field in _REQUIRED_STEP_FIELDS:
        if field not in raw:
            raise StepFieldError(label, field, "is missing")
    fields = {field: lookup.substitute(raw[field], label, field) for field in raw}
    return Step(**fields, base_dir=base_dir)


def _step_index(names: list[str], exc: PipelineValidationError) -> int | None:
    """Where the error's step is declared; for a duplicate name, the second declaration."""
    if exc.step not in names:
        return None
    if isinstance(exc, DuplicateStepError):
        return len(names) - 1 - names[::-1].index(exc.step)
    return names.index(exc.step)


def _where(file: Path, step_lines: list[int], index: int) -> str:
    return f"{file}:{step_lines[index]}" if index < len(step_lines) else f"{file} (step #{index + 1})"


def _prefix(exc: PipelineValidationError, where: str) -> None:
    exc.args = (f"{where}: {exc.args[0]}", *exc.args[1:])


class _Variables:
    def __init__(self, explicit: Mapping[str, str], defaults: Mapping[str, str]) -> None:
        self.explicit = explicit
        self.defaults = defaults

    def substitute(self, value: Any, step: str, field: str) -> Any:
        if isinstance(value, str):
            return _VARIABLE.sub(lambda match: self._replace(match, step, field), value)
        if isinstance(value, list):
            return [self.substitute(item, step, field) for item in value]
        if isinstance(value, dict):
            return {key: self.substitute(item, step, field) for key, item in value.items()}
        return value

    def _replace(self, match: re.Match[str], step: str, field: str) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        for source in (self.explicit, os.environ, self.defaults):
            if name in source:
                return str(source[name])
        if default is not None:
            return default
        raise UndefinedVariableError(
            step,
            field,
            f"uses variable ${{{name}}}, which is not defined (no --var, environment variable or default)",
        )

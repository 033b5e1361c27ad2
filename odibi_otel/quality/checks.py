"""Data checks on a step's output: what each check asks, as plain data, and how results look.

A :class:`Check` is declarative (kind, parameters, severity, name); the engine evaluates it on
the node's output right after the node ran, inside the node span (``engines/*_quality.py``).
The constructors below are the Python form; :func:`parse_check` reads the pipeline-file form::

    checks:
      - not_null: [customer_id, email]
      - unique: customer_id
        severity: warn
      - accepted_values: {column: status, values: [active, churned]}
      - row_count: {min: 1}
      - expression: "total >= 0"
      - relationship: {column: customer_id, to: customers, field: customer_id}
      - freshness: {column: order_date, max_age: 30d}
      - custom: my_checks:no_future_orders
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CHECK_KINDS",
    "MAX_FAILING_ROWS",
    "SEVERITIES",
    "STATUS_FAIL",
    "STATUS_PASS",
    "STATUS_WARN",
    "Check",
    "CheckDefinitionError",
    "CheckResult",
    "accepted_values",
    "custom",
    "expression",
    "freshness",
    "not_null",
    "parse_check",
    "parse_duration",
    "relationship",
    "row_count",
    "unique",
]

CHECK_KINDS: Final = (
    "not_null",
    "unique",
    "accepted_values",
    "row_count",
    "expression",
    "relationship",
    "freshness",
    "custom",
)
SEVERITIES: Final = ("error", "warn")
STATUS_PASS: Final = "pass"
STATUS_WARN: Final = "warn"
STATUS_FAIL: Final = "fail"
#: Failing rows kept per check result (redacted like the tracker's samples).
MAX_FAILING_ROWS: Final = 5

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_OPTIONS: Final = ("severity", "name", "output")


class CheckDefinitionError(ValueError):
    """A check is malformed; the message says which check and what is wrong (no step: callers add it)."""


@dataclass(frozen=True)
class Check:
    """One data check on a step's output.

    Args:
        kind: One of :data:`CHECK_KINDS`.
        params: The kind's parameters (``columns``, ``column``, ``values``, ``min``/``max``,
            ``condition``, ``to``/``field``, ``max_age`` seconds, ``function``).
        severity: ``"error"`` (a failure fails the node) or ``"warn"`` (reported only).
        name: Names the check in events, metrics and the story; default: derived from the params.
        output: For a step with several outputs, the data key checked.
    """

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    severity: str = "error"
    name: str = ""
    output: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHECK_KINDS:
            raise CheckDefinitionError(
                f"unknown check {self.kind!r}; expected one of {', '.join(CHECK_KINDS)}"
            )
        if self.severity not in SEVERITIES:
            raise CheckDefinitionError(
                f"check {self.kind!r}: severity must be 'error' or 'warn', got {self.severity!r}"
            )
        if not isinstance(self.name, str):
            raise CheckDefinitionError(f"check {self.kind!r}: name must be a string, got {self.name!r}")
        if self.output is not None and (not isinstance(self.output, str) or not self.output):
            raise CheckDefinitionError(f"check {self.kind!r}: output must be a data key, got {self.output!r}")
        if not isinstance(self.params, Mapping):
            raise CheckDefinitionError(
                f"check {self.kind!r}: params must be a mapping, got {self.params!r:.60}"
            )
        params = dict(self.params)
        _VALIDATORS[self.kind](params)  # normalises (column lists, max_age in seconds)
        object.__setattr__(self, "params", params)
        if not self.name:
            object.__setattr__(self, "name", _default_name(self.kind, self.params))

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of the checked frame the check reads (for validation against a known schema)."""
        params = self.params
        if "columns" in params:
            return tuple(params["columns"])
        if "column" in params:
            return (params["column"],)
        return ()


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one run of a node.

    ``status`` is ``pass``, ``warn`` (a failing ``warn`` check) or ``fail`` (a failing ``error``
    check); ``failing_rows`` holds at most :data:`MAX_FAILING_ROWS` rows, redacted.
    """

    name: str
    kind: str
    severity: str
    status: str
    failing_count: int = 0
    message: str = ""
    failing_rows: tuple[Mapping[str, Any], ...] = ()

    @property
    def passed(self) -> bool:
        """Whether the check held."""
        return self.status == STATUS_PASS

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (history store, story, events)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "failing_count": self.failing_count,
            "message": self.message,
            "failing_rows": [dict(row) for row in self.failing_rows],
        }


# ------------------------------------------------------------------------------- constructors


def not_null(columns: str | Sequence[str], *, severity: str = "error", name: str = "") -> Check:
    """Every value of ``columns`` is present (no null / NaN / None)."""
    return Check("not_null", {"columns": _column_list(columns)}, severity, name)


def unique(columns: str | Sequence[str], *, severity: str = "error", name: str = "") -> Check:
    """No two rows share the values of ``columns`` (nulls are ignored, as in SQL)."""
    return Check("unique", {"columns": _column_list(columns)}, severity, name)


def accepted_values(column: str, values: Sequence[Any], *, severity: str = "error", name: str = "") -> Check:
    """Every non-null value of ``column`` is one of ``values``."""
    return Check("accepted_values", {"column": column, "values": list(values)}, severity, name)


def row_count(
    min: int | None = None, max: int | None = None, *, severity: str = "error", name: str = ""
) -> Check:
    """The output has at least ``min`` and at most ``max`` rows."""
    params = {key: value for key, value in (("min", min), ("max", max)) if value is not None}
    return Check("row_count", params, severity, name)


def expression(condition: str, *, severity: str = "error", name: str = "") -> Check:
    """``condition`` (pandas ``DataFrame.eval`` syntax) holds on every row."""
    return Check("expression", {"condition": condition}, severity, name)


def relationship(column: str, to: str, field: str, *, severity: str = "error", name: str = "") -> Check:
    """Every non-null ``column`` value appears in column ``field`` of the step's input ``to``."""
    return Check("relationship", {"column": column, "to": to, "field": field}, severity, name)


def freshness(column: str, max_age: str | float, *, severity: str = "error", name: str = "") -> Check:
    """The newest ``column`` timestamp is at most ``max_age`` old (``"36h"``, ``"2d"``, or seconds)."""
    return Check("freshness", {"column": column, "max_age": parse_duration(max_age)}, severity, name)


def custom(function: Callable[[Any], Any] | str, *, severity: str = "error", name: str = "") -> Check:
    """``function(frame)`` returns ``True``/``False``, or ``(passed, failing_rows_frame)``.

    ``function`` is a callable or a ``"module:function"`` reference (resolved when the
    orchestrator is built, like a function step's ``value``).
    """
    return Check("custom", {"function": function}, severity, name)


# ------------------------------------------------------------------------------ file form


def parse_check(raw: object) -> Check:
    """A :class:`Check` from its pipeline-file form: ``{kind: params, severity?, name?, output?}``.

    Raises:
        CheckDefinitionError: the mapping is not one check of a known kind with valid params.
    """
    if isinstance(raw, Check):
        return raw
    if not isinstance(raw, Mapping):
        raise CheckDefinitionError(f"a check must be a mapping like {{not_null: [column]}}, got {raw!r:.60}")
    kinds = [key for key in raw if key not in _OPTIONS]
    if len(kinds) != 1:
        found = ", ".join(map(repr, kinds)) or "none"
        raise CheckDefinitionError(
            f"a check names exactly one kind ({', '.join(CHECK_KINDS)}); found {found}"
        )
    kind = str(kinds[0])
    if kind not in CHECK_KINDS:
        raise CheckDefinitionError(f"unknown check {kind!r}; expected one of {', '.join(CHECK_KINDS)}")
    params = _file_params(kind, raw[kinds[0]])
    return Check(
        kind,
        params,
        severity=raw.get("severity", "error"),
        name=raw.get("name") or "",
        output=raw.get("output"),
    )


def parse_duration(value: object) -> float:
    """Seconds from ``"90s"``, ``"30m"``, ``"36h"``, ``"2d"``, ``"1w"`` or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    else:
        raise CheckDefinitionError(
            f"max_age must be a duration like '36h', '2d' or a number of seconds, got {value!r}"
        )
    if seconds <= 0:
        raise CheckDefinitionError(f"max_age must be positive, got {value!r}")
    return seconds


def _file_params(kind: str, value: Any) -> dict[str, Any]:
    """The short forms: a bare column list, column, condition or reference stands for the main param."""
    if isinstance(value, Mapping):
        params = dict(value)
        if kind == "freshness" and "max_age" in params:
            params["max_age"] = parse_duration(params["max_age"])
        return params
    if kind in ("not_null", "unique"):
        return {"columns": _column_list(value)}
    if kind == "expression":
        return {"condition": value}
    if kind == "custom":
        return {"function": value}
    raise CheckDefinitionError(f"check {kind!r} takes a mapping of parameters, got {value!r:.60}")


# ------------------------------------------------------------------------------- validation


def _column_list(columns: object) -> list[str]:
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, Sequence) and columns and all(isinstance(c, str) and c for c in columns):
        return list(columns)
    raise CheckDefinitionError(
        f"columns must be a column name or a non-empty list of names, got {columns!r:.60}"
    )


def _only(
    params: Mapping[str, Any], kind: str, required: Sequence[str], optional: Sequence[str] = ()
) -> None:
    unknown = sorted(set(params) - set(required) - set(optional))
    if unknown:
        allowed = ", ".join([*required, *optional])
        raise CheckDefinitionError(f"check {kind!r}: unknown parameter(s) {unknown}; allowed: {allowed}")
    missing = [key for key in required if key not in params]
    if missing:
        raise CheckDefinitionError(f"check {kind!r}: missing parameter(s) {missing}")


def _text(params: Mapping[str, Any], kind: str, key: str) -> None:
    if not isinstance(params[key], str) or not params[key].strip():
        raise CheckDefinitionError(
            f"check {kind!r}: {key} must be a non-empty string, got {params[key]!r:.60}"
        )


def _validate_columns(params: dict[str, Any], kind: str) -> None:
    _only(params, kind, ["columns"])
    params["columns"] = _column_list(params["columns"])


def _validate_accepted(params: dict[str, Any]) -> None:
    _only(params, "accepted_values", ["column", "values"])
    _text(params, "accepted_values", "column")
    values = params["values"]
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise CheckDefinitionError(
            f"check 'accepted_values': values must be a non-empty list, got {values!r:.60}"
        )


def _validate_row_count(params: dict[str, Any]) -> None:
    _only(params, "row_count", [], ["min", "max"])
    if not params:
        raise CheckDefinitionError("check 'row_count': give min, max or both")
    for key, value in params.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckDefinitionError(f"check 'row_count': {key} must be an integer >= 0, got {value!r}")
    if "min" in params and "max" in params and params["min"] > params["max"]:
        raise CheckDefinitionError(f"check 'row_count': min {params['min']} is above max {params['max']}")


def _validate_expression(params: dict[str, Any]) -> None:
    _only(params, "expression", ["condition"])
    _text(params, "expression", "condition")


def _validate_relationship(params: dict[str, Any]) -> None:
    _only(params, "relationship", ["column", "to", "field"])
    for key in ("column", "to", "field"):
        _text(params, "relationship", key)


def _validate_freshness(params: dict[str, Any]) -> None:
    _only(params, "freshness", ["column", "max_age"])
    _text(params, "freshness", "column")
    params["max_age"] = parse_duration(params["max_age"])


def _validate_custom(params: dict[str, Any]) -> None:
    _only(params, "custom", ["function"])
    function = params["function"]
    if callable(function):
        return
    if not isinstance(function, str) or function.count(":") != 1 or not all(function.split(":")):
        raise CheckDefinitionError(
            "check 'custom': function must be a callable or a 'module:function' reference, "
            f"got {function!r:.60}"
        )


_VALIDATORS: Final[Mapping[str, Callable[[dict[str, Any]], None]]] = {
    "not_null": lambda params: _validate_columns(params, "not_null"),
    "unique": lambda params: _validate_columns(params, "unique"),
    "accepted_values": _validate_accepted,
    "row_count": _validate_row_count,
    "expression": _validate_expression,
    "relationship": _validate_relationship,
    "freshness": _validate_freshness,
    "custom": _validate_custom,
}


def _default_name(kind: str, params: Mapping[str, Any]) -> str:
    if kind in ("not_null", "unique"):
        return f"{kind}({', '.join(params['columns'])})"
    if kind == "accepted_values":
        return f"accepted_values({params['column']})"
    if kind == "row_count":
        bounds = ", ".join(f"{key}={params[key]}" for key in ("min", "max") if key in params)
        return f"row_count({bounds})"
    if kind == "expression":
        return f"expression({params['condition']})"
    if kind == "relationship":
        return f"relationship({params['column']} -> {params['to']}.{params['field']})"
    if kind == "freshness":
        return f"freshness({params['column']})"
    function = params["function"]
    label = function if isinstance(function, str) else getattr(function, "__qualname__", repr(function))
    return f"custom({label})"

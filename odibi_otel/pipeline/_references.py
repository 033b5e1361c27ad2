"""Resolving a function step's ``value`` to a callable, and checking it can be called as declared."""

from __future__ import annotations

import difflib
import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from odibi_otel.errors import FunctionReferenceError
from odibi_otel.pipeline.step import Step

__all__ = ["resolve_reference", "function_name", "resolve_function"]

_import_lock = threading.Lock()
#: Top-level modules loaded from a pipeline file's folder (not found on the import path) → that folder.
_folder_modules: dict[str, Path] = {}


def resolve_function(step: Step) -> Callable[..., Any]:
    """Return the callable of a function step and check its signature accepts the step's inputs.

    ``"module:function"`` references are imported with the normal import system first, then
    from ``step.base_dir`` (the pipeline file's folder).

    Raises:
        FunctionReferenceError: the module or attribute cannot be imported, is not callable, or
            the function cannot accept the step's inputs and params.
    """
    function = step.value if callable(step.value) else _import_reference(step)
    _check_call_shape(step, function)
    return function  # type: ignore[no-any-return]


def function_name(function: Callable[..., Any]) -> str:
    """A stable, human-readable qualified name for ``function`` (``module.qualname``)."""
    module = getattr(function, "__module__", None) or ""
    qualname = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{qualname}" if module else qualname


def _import_reference(step: Step) -> Any:
    return resolve_reference(step.value, step.base_dir, step.name, "value")


def resolve_reference(reference: str, base_dir: Path | None, step: str, field: str) -> Any:
    """The callable a ``"module:function"`` reference names (import path first, then ``base_dir``).

    Raises:
        FunctionReferenceError: naming ``step`` and ``field``: not importable, or not callable.
    """
    module_name, attribute = reference.split(":")
    try:
        module = _import_module(module_name, base_dir)
    except Exception as exc:  # any import-time failure is a configuration error
        raise FunctionReferenceError(
            step, field, f"is {reference!r}: cannot import module {module_name!r} ({exc})"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise FunctionReferenceError(
                step,
                field,
                f"is {reference!r}: module {module_name!r} has no {attribute!r}{_suggestion(target, part)}",
            )
        target = getattr(target, part)
    if not callable(target):
        raise FunctionReferenceError(step, field, f"is {reference!r}: not callable")
    return target


def _suggestion(target: object, missing: str) -> str:
    """`` (did you mean 'x'?)`` naming the closest public callable of ``target``, or nothing."""
    candidates = [
        name for name in dir(target) if not name.startswith("_") and callable(getattr(target, name, None))
    ]
    close = difflib.get_close_matches(missing, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _import_module(module_name: str, base_dir: Path | None) -> Any:
    top_level = module_name.split(".")[0]
    if base_dir is not None:
        _forget_if_from_other_folder(top_level, base_dir)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if base_dir is None or exc.name != top_level:
            raise
    with _import_lock:
        if top_level not in sys.modules:
            _load_top_level_from(top_level, base_dir)
            _folder_modules[top_level] = base_dir
    return importlib.import_module(module_name)


def _forget_if_from_other_folder(top_level: str, base_dir: Path) -> None:
    """Drop a module that was loaded from another pipeline's folder: it is not this folder's module."""
    with _import_lock:
        folder = _folder_modules.get(top_level)
        if folder is None or folder == base_dir:
            return
        del _folder_modules[top_level]
        for name in [name for name in sys.modules if name == top_level or name.startswith(top_level + ".")]:
            del sys.modules[name]


def _load_top_level_from(name: str, folder: Path) -> None:
    spec = importlib.machinery.PathFinder.find_spec(name, [str(folder)])
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r} in {folder}", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def _check_call_shape(step: Step, function: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # builtins without a signature: checked when called
    names = step.input_parameter_names
    kwargs = dict.fromkeys(step.keyword_params, None)
    if names is None:
        args: tuple[None, ...] = (None,) * len(step.input_keys)
    else:
        args = ()
        kwargs.update(dict.fromkeys(names, None))
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        field = "params" if step.params else "inputs"
        raise FunctionReferenceError(
            step.name, field, f"does not match {function_name(function)}{signature}: {exc}"
        ) from exc

"""Lazily loaded package attributes (PEP 562), so importing a package stays cheap.

A package lists its public names and the module that defines each; the module is imported the
first time the name is used, then the name is a plain attribute of the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, origins: Mapping[str, str], eager: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, loading each name from its module on first use.

    Args:
        package: The package's ``__name__``.
        origins: Public name → module defining it; a module starting with ``.`` is relative to
            ``package``.
        eager: Names the package already defines itself (listed by ``__dir__`` too).
    """
    namespace = importlib.import_module(package).__dict__
    listed = sorted({*origins, *eager})

    def __getattr__(name: str) -> Any:
        module = origins.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *listed})

    return __getattr__, __dir__

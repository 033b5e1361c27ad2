"""Typed reading of parsed JSON: every problem names the source and the place, a field path.

A place is a path into the document: ``steps[2].after.orders.rows``, or with a key that is not an
identifier ``steps[0].after["order lines"]``. :func:`child` builds it one step at a time.

:class:`JsonReader` is the one reader of structured JSON in odibi_otel: the lineage document
(the story) and OTLP/JSON lines (the telemetry file) each subclass it with how their errors are
raised and what is specific to their format; the checks here and their wording are shared, so a
value of the wrong type reads ``expected an integer, got string '3'`` in both.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Final, NoReturn, cast

from odibi_otel._internal.text import truncate_text

__all__ = ["JsonReader", "child", "describe_value"]

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: Longest string shown whole when an error message quotes a value.
_QUOTED_CHARS: Final = 40


def child(place: str, key: str | int) -> str:
    """The place of ``key`` (an object key or an array index) inside ``place``.

    ``child("steps", 2)`` is ``steps[2]``, ``child("steps[2]", "name")`` is ``steps[2].name``,
    ``child("", "steps")`` is ``steps``; a key that is not an identifier is quoted as JSON:
    ``after["order lines"]``.
    """
    if isinstance(key, int):
        return f"{place}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{place}.{key}" if place else key
    return f"{place}[{json.dumps(key, ensure_ascii=False)}]"


def describe_value(value: Any) -> str:
    """A JSON value as an error message shows it: ``null``, ``true``, ``number 3``,
    ``string '3'`` (cut at 40 characters), ``an object``, ``an array``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"string {truncate_text(value, _QUOTED_CHARS)!r}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


class JsonReader(ABC):
    """Checks of parsed JSON values; a wrong value fails with its place and what was expected.

    A format subclasses it: :meth:`fail` raises the format's own error (naming ``source``), and
    :meth:`describe` may word values differently. Every check takes the value and its place and
    returns the value with its type known; ``null`` is a wrong value here (a format decides what
    an absent field means).
    """

    #: What counts as a JSON object (parsed JSON only holds ``dict``; a format may insist on it).
    object_types: ClassVar[tuple[type, ...]] = (Mapping,)

    def __init__(self, source: str) -> None:
        self.source = source

    @abstractmethod
    def fail(self, place: str, problem: str) -> NoReturn:
        """Raise the format's error for ``problem`` at ``place`` (``""``: the document itself)."""

    def describe(self, value: Any) -> str:
        """How an error message shows a value that is not what was expected."""
        return describe_value(value)

    def expect(self, place: str, wanted: str, value: Any) -> NoReturn:
        """Fail with ``expected <wanted>, got <value>``."""
        self.fail(place, f"expected {wanted}, got {self.describe(value)}")

    def mapping(self, value: Any, place: str) -> Mapping[str, Any]:
        """``value`` if it is a JSON object."""
        if not isinstance(value, self.object_types):
            self.expect(place, "an object", value)
        return cast("Mapping[str, Any]", value)

    def array(self, value: Any, place: str, wanted: str = "an array") -> list[Any]:
        """``value`` if it is a JSON array (``wanted`` says what the array holds)."""
        if not isinstance(value, list):
            self.expect(place, wanted, value)
        return value

    def text(self, value: Any, place: str) -> str:
        """``value`` if it is a string."""
        if not isinstance(value, str):
            self.expect(place, "a string", value)
        return value

    def integer(self, value: Any, place: str) -> int:
        """``value`` if it is a JSON integer (``true``/``false`` are not)."""
        if not isinstance(value, int) or isinstance(value, bool):
            self.expect(place, "an integer", value)
        return value

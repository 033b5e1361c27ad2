"""Reading the fields of OTLP/JSON: ids, enums, 64-bit integers and ``AnyValue`` s.

:class:`OtlpReader` is the shared :class:`~odibi_otel._internal.json_reader.JsonReader` with what
OTLP/JSON adds: a field left out means its default (``{}``, ``[]``, ``""``, ``0``), as proto3
JSON writes defaults; field names in camelCase or snake_case (:func:`get`); 64-bit integers as
numbers or decimal strings; enums as numbers or names; ids as hex (or base64); attribute values as
nested ``AnyValue`` s. Every problem raises :class:`~odibi_otel.errors.TelemetryFileError` naming
the source, the line and the field path.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, ClassVar, Final, NoReturn

from odibi_otel._internal.json_reader import JsonReader
from odibi_otel.errors import TelemetryFileError

__all__ = ["OtlpReader", "fail_line", "get"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
_MAX_VALUE_DEPTH: Final = 64  # nested arrayValue/kvlistValue levels; lineage bodies use about 10
#: Longest field path an error message shows whole.
_MAX_PLACE_CHARS: Final = 240
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
_DECIMAL: Final = re.compile(r"[+-]?[0-9]+")


@cache
def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def get(obj: Mapping[str, Any], camel: str) -> Any:
    """``obj[camel]``, else ``obj[snake_case(camel)]``, else ``None``."""
    value = obj.get(camel)
    return value if value is not None else obj.get(_snake(camel))


def fail_line(source: str, line: int, problem: str) -> NoReturn:
    """Raise the :class:`TelemetryFileError` of ``problem`` on ``line`` of ``source``."""
    raise TelemetryFileError(source, line, problem) from None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    kind = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    shown = repr(value) if not isinstance(value, (dict, list)) else ""
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind.get(type(value), type(value).__name__)} {shown}".rstrip()


class OtlpReader(JsonReader):
    """Typed field access that reports the source, line and field path of every problem."""

    object_types: ClassVar[tuple[type, ...]] = (dict,)

    def __init__(self, source: str, line: int) -> None:
        super().__init__(source)
        self.line = line
        self.depth = 0

    def fail(self, place: str, problem: str) -> NoReturn:
        """Raise the :class:`TelemetryFileError` of ``problem`` at ``place`` on this line."""
        if len(place) > _MAX_PLACE_CHARS:
            place = place[:80] + "…" + place[-150:]
        fail_line(self.source, self.line, f"{place}: {problem}" if place else problem)

    def describe(self, value: Any) -> str:
        """A value as OTLP/JSON errors show it: its JSON kind and (for scalars) its repr."""
        return _describe(value)

    def mapping(self, value: Any, place: str) -> Mapping[str, Any]:
        """A JSON object; ``{}`` when the field is left out."""
        if value is None:
            return {}
        return super().mapping(value, place)

    def array(self, value: Any, place: str, wanted: str = "an array") -> list[Any]:
        """A JSON array; ``[]`` when the field is left out."""
        if value is None:
            return []
        return super().array(value, place, wanted)

    def text(self, value: Any, place: str) -> str:
        """A string; ``""`` when the field is left out."""
        if value is None:
            return ""
        return super().text(value, place)

    def bounded_integer(self, value: Any, place: str, low: int, high: int, wanted: str) -> int:
        """An integer given as a JSON number or a decimal string (proto3 JSON 64-bit integers)."""
        if value is None:
            return 0
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            text = value.strip()
            if len(text.lstrip("+-0")) > 20:  # more digits than any 64-bit number: never int() it
                self.fail(place, f"{text[:24]}… ({len(text)} characters) is out of range for {wanted}")
            number = int(text)
        if number is None:
            self.expect(place, wanted + " (a number or a decimal string)", value)
        if not low <= number <= high:
            self.fail(place, f"{number} is out of range for {wanted}")
        return number

    def uint64(self, value: Any, place: str) -> int:
        """An unsigned 64-bit integer (a time in nanoseconds, a count); ``0`` when left out."""
        return self.bounded_integer(value, place, 0, _UINT64_MAX, "an unsigned 64-bit integer")

    def enum(self, value: Any, place: str, names: Mapping[str, int]) -> int:
        """An enum value given as its number or its name (one of ``names``)."""
        if isinstance(value, str) and value in names:
            return names[value]
        return self.bounded_integer(value, place, 0, 2**31 - 1, "an enum number or name")

    def optional_id(self, value: Any, place: str, size: int) -> str | None:
        """A trace (16 bytes) or span (8 bytes) id as lowercase hex; ``None`` if absent or all zero."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.expect(place, f"an id string of {2 * size} hex characters", value)
        text = value.strip()
        if len(text) == 2 * size and _HEX.fullmatch(text):
            identifier = text.lower()
        else:
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != size:
                self.fail(place, f"bad id {value!r} (expected {2 * size} hex characters)")
            identifier = raw.hex()
        return None if identifier.strip("0") == "" else identifier

    def required_id(self, value: Any, place: str, size: int) -> str:
        """A trace or span id that must be there (see :meth:`optional_id`)."""
        identifier = self.optional_id(value, place, size)
        if identifier is None:
            what = "missing" if value is None or value == "" else f"invalid all-zero id {value!r}"
            self.fail(place, f"{what} (expected {2 * size} hex characters)")
        return identifier

    def attributes(self, value: Any, place: str) -> dict[str, Any]:
        """A ``KeyValue`` list as a dict of plain Python values."""
        attributes: dict[str, Any] = {}
        for index, raw in enumerate(self.array(value, place)):
            item_place = f"{place}[{index}]"
            item = self.mapping(raw, item_place)
            key = get(item, "key")
            if not isinstance(key, str):
                self.expect(f"{item_place}.key", "a string", key)
            attributes[key] = self.any_value(get(item, "value"), f"{item_place}.value")
        return attributes

    def any_value(self, value: Any, place: str) -> Any:
        """An ``AnyValue`` as a plain Python value (``None`` for an empty value)."""
        any_value = self.mapping(value, place)
        if not any_value:
            return None
        for key, decode in _ANY_VALUE_DECODERS.items():
            raw = get(any_value, key)
            if raw is not None:
                if self.depth >= _MAX_VALUE_DEPTH:
                    self.fail(place, f"values nested too deeply (more than {_MAX_VALUE_DEPTH} levels)")
                self.depth += 1
                try:
                    return decode(self, raw, f"{place}.{key}")
                finally:
                    self.depth -= 1
        return None  # a kind this decoder does not know (forward compatible): no value

    def _string(self, raw: Any, place: str) -> str:
        return super().text(raw, place)

    def _bool(self, raw: Any, place: str) -> bool:
        if not isinstance(raw, bool):
            self.expect(place, "true or false", raw)
        return raw

    def _int(self, raw: Any, place: str) -> int:
        return self.bounded_integer(raw, place, _INT64_MIN, _INT64_MAX, "a signed 64-bit integer")

    def _double(self, raw: Any, place: str) -> float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
            if raw in special:
                return special[raw]
            try:
                return float(raw)
            except ValueError:
                pass
        self.expect(place, "a number", raw)

    def _bytes(self, raw: Any, place: str) -> bytes:
        if isinstance(raw, str):
            text = raw.strip()
            padded = text + "=" * (-len(text) % 4)
            try:
                if "-" in text or "_" in text:
                    return base64.urlsafe_b64decode(padded)
                return base64.b64decode(padded, validate=True)
            except (binascii.Error, ValueError):
                pass
        self.expect(place, "base64 text", raw)

    def _array(self, raw: Any, place: str) -> list[Any]:
        array = self.mapping(raw, place)
        values = self.array(get(array, "values"), f"{place}.values")
        return [self.any_value(item, f"{place}.values[{index}]") for index, item in enumerate(values)]

    def _kvlist(self, raw: Any, place: str) -> dict[str, Any]:
        kvlist = self.mapping(raw, place)
        return self.attributes(get(kvlist, "values"), f"{place}.values")


#: The ``AnyValue`` kinds, in the order they are looked for, and their decoders.
_ANY_VALUE_DECODERS: Final[Mapping[str, Callable[[OtlpReader, Any, str], Any]]] = {
    "stringValue": OtlpReader._string,
    "boolValue": OtlpReader._bool,
    "intValue": OtlpReader._int,
    "doubleValue": OtlpReader._double,
    "arrayValue": OtlpReader._array,
    "kvlistValue": OtlpReader._kvlist,
    "bytesValue": OtlpReader._bytes,
}

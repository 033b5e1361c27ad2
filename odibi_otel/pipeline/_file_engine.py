"""A pipeline file's ``engine:`` block (pure): which engine runs the pipeline, and its settings.

``engine: spark`` or ``engine: {type: spark, master: "spark://127.0.0.1:7077", conf: {...}}``;
no block means pandas. Anything else is refused with what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from odibi_otel.engines.base import ENGINES

__all__ = ["EngineSettings", "parse_engine"]

_FIELDS: Final = ("type", "master", "conf")


@dataclass(frozen=True)
class EngineSettings:
    """The engine a pipeline file asks for.

    Run it as ``Orchestrator(engine_type=type, spark_master=master, spark_conf=conf)``.
    """

    type: str = "pandas"
    master: str | None = None
    conf: Mapping[str, str] = field(default_factory=dict)


def parse_engine(value: Any) -> EngineSettings:
    """The settings of an ``engine:`` value.

    Raises:
        ValueError: The value is not an engine name or a mapping of the known fields.
    """
    if isinstance(value, str):
        return EngineSettings(_engine_type(value))
    if not isinstance(value, Mapping):
        raise ValueError(f"must be an engine name or a mapping with {', '.join(_FIELDS)}; got {value!r:.80}")
    unknown = sorted(set(map(str, value)) - set(_FIELDS))
    if unknown:
        raise ValueError(f"has unknown option(s) {unknown}; allowed: {', '.join(_FIELDS)}")
    engine_type = _engine_type(value.get("type"))
    master = value.get("master")
    if master is not None and (not isinstance(master, str) or not master.strip()):
        raise ValueError(f"option 'master' must be a non-empty string, got {master!r:.80}")
    conf = value.get("conf") or {}
    if not isinstance(conf, Mapping) or not all(isinstance(key, str) for key in conf):
        raise ValueError(f"option 'conf' must map Spark setting names to values, got {conf!r:.80}")
    if engine_type != "spark" and (master is not None or conf):
        raise ValueError(f"options 'master' and 'conf' are for engine 'spark', not {engine_type!r}")
    return EngineSettings(engine_type, master, {key: str(item) for key, item in conf.items()})


def _engine_type(value: Any) -> str:
    if value not in ENGINES:
        raise ValueError(f"type must be one of {', '.join(ENGINES)}, got {value!r:.80}")
    return str(value)

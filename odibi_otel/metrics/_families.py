"""The exporter's translation of ``MetricsData`` into Prometheus families (label names, kinds).

What ``PrometheusMetricReader`` does before prometheus_client renders: families keyed by name,
description, unit and kind, label keys gathered point by point, scope labels, ``target_info``
from the first collection. :mod:`odibi_otel.metrics.prometheus_text` renders these families;
:class:`~odibi_otel.metrics._collection.MetricsDataCollector` hands them to prometheus_client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from json import dumps
from logging import getLogger
from typing import Any, Final

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Metric,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from odibi_otel.otel._sdk_compat import map_unit, sanitize_attribute, sanitize_full_name

__all__ = [
    "CACHE_LIMIT",
    "COUNTER",
    "GAUGE",
    "HISTOGRAM",
    "TARGET_INFO_DESCRIPTION",
    "TARGET_INFO_NAME",
    "Family",
    "Part",
    "Translator",
    "bucket_bounds",
    "label_value",
]

_logger = getLogger("odibi_otel.prometheus_text")

# What opentelemetry-exporter-prometheus calls things (its module constants are private).
TARGET_INFO_NAME: Final = "target"
TARGET_INFO_DESCRIPTION: Final = "Target metadata"
_SCOPE_NAME_LABEL: Final = "otel_scope_name"
_SCOPE_VERSION_LABEL: Final = "otel_scope_version"
_SCOPE_SCHEMA_URL_LABEL: Final = "otel_scope_schema_url"
_SCOPE_ATTRIBUTE_PREFIX: Final = "otel_scope_"

#: Entries kept in each memo (label names, rendered numbers, bucket bounds) before it starts over.
CACHE_LIMIT: Final = 100_000

COUNTER: Final = "counter"
GAUGE: Final = "gauge"
HISTOGRAM: Final = "histogram"


@dataclass(slots=True)
class Part:
    """One OTel metric's points in a family, with the label keys computed over its points."""

    label_keys: tuple[str, ...]
    context: tuple[tuple[str, Any], ...]  # resource then scope attributes, before the point's own
    base: dict[str, str]  # the context as labels
    points: Sequence[Any]


@dataclass(slots=True)
class Family:
    """A Prometheus family as the exporter builds it (one per name, description, unit, kind)."""

    family_id: str
    kind: str
    name: str  # the exporter's metric name; prometheus_client adds the unit (and ``_total``)
    documentation: str
    unit: str
    label_names: tuple[str, ...]  # the label keys of the family's first metric (sorted)
    parts: list[Part] = field(default_factory=list)


class Translator:
    """The exporter's translation of ``MetricsData`` into families, with its label-key cache."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._target_info: dict[str, str] | None = None

    def sanitize(self, key: str) -> str:
        """A Prometheus label name for an attribute key (``sanitize_attribute``, memoised)."""
        label = self._keys.get(key)
        if label is None:
            if len(self._keys) >= CACHE_LIMIT:
                self._keys.clear()
            label = self._keys[key] = sanitize_attribute(key)
        return label

    def target_info(self, data: MetricsData) -> dict[str, str]:
        """``target_info``'s labels: the first collection's resource attributes (kept thereafter)."""
        if self._target_info is None:
            attributes: dict[str, Any] = {}
            for resource_metrics in data.resource_metrics:
                attributes = {**attributes, **resource_metrics.resource.attributes}
            self._target_info = {sanitize_attribute(k): label_value(v) for k, v in attributes.items()}
        return self._target_info

    def families(self, data: MetricsData) -> list[Family]:
        """The families of one collection, in the exporter's order."""
        families: dict[str, Family] = {}
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                context = tuple(_scope_labels(scope_metrics.scope).items())
                base = {self.sanitize(key): label_value(value) for key, value in context}
                for metric in scope_metrics.metrics:
                    self._add(families, metric, context, base)
        return list(families.values())

    def _add(
        self,
        families: dict[str, Family],
        metric: Metric,
        context: tuple[tuple[str, Any], ...],
        base: dict[str, str],
    ) -> None:
        kind = family_kind(metric)
        if kind is None:
            _logger.warning("Unsupported metric data. %s", type(metric.data))
            return
        name = sanitize_full_name(metric.name)
        documentation = metric.description or ""
        unit = map_unit(metric.unit or "")
        points = metric.data.data_points
        label_keys: tuple[str, ...] = ()
        if points:  # the exporter gathers the keys point by point: no point, no key
            raw_keys: set[str] = set().union(*(point.attributes for point in points if point.attributes))
            label_keys = tuple(sorted(set(base).union(map(self.sanitize, raw_keys))))
        family_id = f"{name}|{documentation}|{unit}|{kind}"
        family = families.get(family_id)
        if family is None:
            family = families[family_id] = Family(family_id, kind, name, documentation, unit, label_keys)
        family.parts.append(Part(label_keys, context, base, points))

    def label_values(self, part: Part, attributes: Any) -> list[str]:
        """A point's label values in the order of ``part.label_keys`` (missing ones ``""``).

        Like the exporter: context then point attributes, a later key winning over an earlier
        one that sanitises to the same label name; non-string values as JSON.
        """
        labels = part.base.copy()
        if attributes:
            keys = self._keys
            for key, value in attributes.items():
                label = keys.get(key)
                if label is None:
                    label = self.sanitize(key)
                labels[label] = value if value.__class__ is str else label_value(value)
        return [labels.get(key, "") for key in part.label_keys]


def family_kind(metric: Metric) -> str | None:
    data = metric.data
    if isinstance(data, Sum):
        # The Prometheus compatibility spec: cumulative non-monotonic sums are gauges.
        cumulative = data.aggregation_temporality == AggregationTemporality.CUMULATIVE
        return GAUGE if not data.is_monotonic and cumulative else COUNTER
    if isinstance(data, Gauge):
        return GAUGE
    if isinstance(data, HistogramData):
        return HISTOGRAM
    return None


def _scope_labels(scope: InstrumentationScope) -> dict[str, Any]:
    labels: dict[str, Any] = {}
    if scope.attributes:
        for key, value in scope.attributes.items():
            labels[_SCOPE_ATTRIBUTE_PREFIX + key] = value
    labels[_SCOPE_NAME_LABEL] = scope.name or ""
    labels[_SCOPE_VERSION_LABEL] = scope.version or ""
    labels[_SCOPE_SCHEMA_URL_LABEL] = scope.schema_url or ""
    return labels


def label_value(value: Any) -> str:
    """The exporter's label value: strings as they are, anything else as JSON."""
    return str(value) if isinstance(value, str) else dumps(value, default=str)


def bucket_bounds(bounds: Sequence[float]) -> list[str]:
    """The exporter's ``le`` values: ``f"{bound}"`` and ``+Inf``."""
    return [f"{bound}" for bound in bounds] + ["+Inf"]

"""Prometheus exposition of OpenTelemetry SDK metrics, rendered straight from ``MetricsData``.

OpenTelemetry's ``PrometheusMetricReader`` turns every collection into prometheus_client metric
families, and prometheus_client's ``generate_latest`` then validates and escapes every label of
every sample again: for a 1,000-node pipeline (27,000 samples) that took ~360 ms per scrape.
:class:`PrometheusRenderer` writes the same bytes itself, keeping each series' rendered labels
from one scrape to the next, so a scrape costs the SDK's collection plus string joining.

The output is meant to be byte-for-byte what ``PrometheusMetricReader`` (default settings) +
``prometheus_client.generate_latest`` (text format 0.0.4) or
``prometheus_client.openmetrics.exposition.generate_latest`` (OpenMetrics 1.0.0) produce for the
same data: the exporter's own name, unit and label-key translation functions are used, its
quirks are kept (``target_info`` from the first collection, families keyed by name, description
and unit, missing labels filled with ``""``, non-string label values as JSON) and
``tests/test_prometheus_text.py`` compares both renderings on varied data.

- :class:`MetricsDataReader`: an SDK ``MetricReader`` that collects on demand (a pull reader,
  cumulative temporality like the Prometheus exporter) and hands the ``MetricsData`` back.
- :class:`PrometheusRenderer`: ``MetricsData`` -> exposition bytes (text or OpenMetrics).
- :class:`MetricsDataCollector`: a prometheus_client collector yielding the same families, for
  registries (OpenMetrics via prometheus_client, ``start_http_server``, ...); not optimised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from json import dumps
from logging import getLogger
from operator import add
from re import compile as re_compile
from typing import Any, Final

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    CardinalityLimits,
    Gauge,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.metrics_core import Metric as PrometheusFamily
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.utils import floatToGoString, parse_version

from odibi_otel.otel._sdk_compat import (
    OtelComponentTypeValues,
    map_unit,
    sanitize_attribute,
    sanitize_full_name,
)

__all__ = [
    "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_TEXT",
    "MetricsDataCollector",
    "MetricsDataReader",
    "PrometheusRenderer",
    "wants_openmetrics",
]

_logger = getLogger("odibi_otel.prometheus_text")

#: Content type of the Prometheus text format the renderer writes by default.
CONTENT_TYPE_TEXT: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Content type of its OpenMetrics rendering (names are always legacy names: ``underscores``).
CONTENT_TYPE_OPENMETRICS: Final = (
    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
)

# What opentelemetry-exporter-prometheus calls things (its module constants are private).
_TARGET_INFO_NAME: Final = "target"
_TARGET_INFO_DESCRIPTION: Final = "Target metadata"
_SCOPE_NAME_LABEL: Final = "otel_scope_name"
_SCOPE_VERSION_LABEL: Final = "otel_scope_version"
_SCOPE_SCHEMA_URL_LABEL: Final = "otel_scope_schema_url"
_SCOPE_ATTRIBUTE_PREFIX: Final = "otel_scope_"

#: OpenMetrics sample names: prometheus_client replaces every character that may not start
#: (a digit) or be part of (anything but ``[A-Za-z0-9_]``) a legacy label name with ``_``.
_OPENMETRICS_SAMPLE_NAME: Final = re_compile(r"[^A-Za-z0-9_]|^[0-9]")
_CACHE_LIMIT: Final = 100_000

_COUNTER: Final = "counter"
_GAUGE: Final = "gauge"
_HISTOGRAM: Final = "histogram"


class MetricsDataReader(MetricReader):
    """An SDK metric reader that collects when asked and returns the ``MetricsData``.

    Temporality is cumulative for every instrument, as with OpenTelemetry's Prometheus reader, so
    collecting any number of times (from several callers) never resets a value. After
    :meth:`shutdown`, :meth:`collect_data` returns ``None``.

    Args:
        cardinality_limits: Per instrument class, the series kept per collection before the SDK
            folds new ones into an ``otel.metric.overflow=true`` series (SDK default: 2,000).
    """

    def __init__(self, cardinality_limits: CardinalityLimits | None = None) -> None:
        cumulative = AggregationTemporality.CUMULATIVE
        super().__init__(
            preferred_temporality={
                kind: cumulative
                for kind in (
                    Counter,
                    UpDownCounter,
                    Histogram,
                    ObservableCounter,
                    ObservableUpDownCounter,
                    ObservableGauge,
                )
            },
            cardinality_limits=cardinality_limits,
            otel_component_type=OtelComponentTypeValues.PROMETHEUS_HTTP_TEXT_METRIC_EXPORTER,
        )
        self._collecting = threading.Lock()
        self._received: MetricsData | None = None
        self._is_shut_down = False

    def collect_data(self, timeout_millis: float = 10_000) -> MetricsData | None:
        """Collect now; the provider's current data, or ``None`` (no series yet, or shut down)."""
        if self._is_shut_down:
            return None
        with self._collecting:  # one collection at a time: each caller gets its own data back
            self._received = None
            self.collect(timeout_millis=timeout_millis)
            data, self._received = self._received, None
        return data

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._received = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop answering :meth:`collect_data` (the meter provider's shutdown calls this)."""
        self._is_shut_down = True


def wants_openmetrics(accept: str | None) -> bool:
    """Whether an HTTP ``Accept`` header gets OpenMetrics (prometheus_client's negotiation).

    The first ``application/openmetrics-text`` entry without a version or with version 1.0.0 or
    later wins, unless a ``text/plain`` entry with version 1.0.0 or later comes first.
    """
    for accepted in (accept or "").split(","):
        tokens = accepted.split(";")
        media_type = tokens[0].strip()
        if media_type not in ("application/openmetrics-text", "text/plain"):
            continue
        version = ""
        for token in tokens[1:]:
            key, equals, value = token.strip().partition("=")
            if key == "version" and equals:
                version = value
                break
        try:
            recent = bool(version) and parse_version(version) >= (1, 0, 0)
        except TypeError:  # a version mixing numbers and words compares neither way
            recent = False
        if media_type == "application/openmetrics-text" and (not version or recent):
            return True
        if media_type == "text/plain" and recent:
            return False
    return False


# -- translation: the exporter's families ------------------------------------------------------


@dataclass(slots=True)
class _Part:
    """One OTel metric's points in a family, with the label keys computed over its points."""

    label_keys: tuple[str, ...]
    context: tuple[tuple[str, Any], ...]  # resource then scope attributes, before the point's own
    base: dict[str, str]  # the context as labels
    points: Sequence[Any]


@dataclass(slots=True)
class _Family:
    """A Prometheus family as the exporter builds it (one per name, description, unit, kind)."""

    family_id: str
    kind: str
    name: str  # the exporter's metric name; prometheus_client adds the unit (and ``_total``)
    documentation: str
    unit: str
    label_names: tuple[str, ...]  # the label keys of the family's first metric (sorted)
    parts: list[_Part] = field(default_factory=list)


class _Translator:
    """The exporter's translation of ``MetricsData`` into families, with its label-key cache."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._target_info: dict[str, str] | None = None

    def sanitize(self, key: str) -> str:
        """A Prometheus label name for an attribute key (``sanitize_attribute``, memoised)."""
        label = self._keys.get(key)
        if label is None:
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            label = self._keys[key] = sanitize_attribute(key)
        return label

    def target_info(self, data: MetricsData) -> dict[str, str]:
        """``target_info``'s labels: the first collection's resource attributes (kept thereafter)."""
        if self._target_info is None:
            attributes: dict[str, Any] = {}
            for resource_metrics in data.resource_metrics:
                attributes = {**attributes, **resource_metrics.resource.attributes}
            self._target_info = {sanitize_attribute(k): _label_value(v) for k, v in attributes.items()}
        return self._target_info

    def families(self, data: MetricsData) -> list[_Family]:
        """The families of one collection, in the exporter's order."""
        families: dict[str, _Family] = {}
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                context = tuple(_scope_labels(scope_metrics.scope).items())
                base = {self.sanitize(key): _label_value(value) for key, value in context}
                for metric in scope_metrics.metrics:
                    self._add(families, metric, context, base)
        return list(families.values())

    def _add(
        self,
        families: dict[str, _Family],
        metric: Metric,
        context: tuple[tuple[str, Any], ...],
        base: dict[str, str],
    ) -> None:
        kind = _kind(metric)
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
            family = families[family_id] = _Family(family_id, kind, name, documentation, unit, label_keys)
        family.parts.append(_Part(label_keys, context, base, points))

    def label_values(self, part: _Part, attributes: Any) -> list[str]:
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
                labels[label] = value if value.__class__ is str else _label_value(value)
        return [labels.get(key, "") for key in part.label_keys]


def _kind(metric: Metric) -> str | None:
    data = metric.data
    if isinstance(data, Sum):
        # The Prometheus compatibility spec: cumulative non-monotonic sums are gauges.
        cumulative = data.aggregation_temporality == AggregationTemporality.CUMULATIVE
        return _GAUGE if not data.is_monotonic and cumulative else _COUNTER
    if isinstance(data, Gauge):
        return _GAUGE
    if isinstance(data, HistogramData):
        return _HISTOGRAM
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


def _label_value(value: Any) -> str:
    """The exporter's label value: strings as they are, anything else as JSON."""
    return str(value) if isinstance(value, str) else dumps(value, default=str)


def _bucket_bounds(bounds: Sequence[float]) -> list[str]:
    """The exporter's ``le`` values: ``f"{bound}"`` and ``+Inf``."""
    return [f"{bound}" for bound in bounds] + ["+Inf"]


# -- the fast text rendering -------------------------------------------------------------------


def _escape_value(value: str) -> str:
    """A label value (or OpenMetrics HELP text) escaped as prometheus_client escapes it."""
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def _label_text(items: Iterable[tuple[str, str]]) -> str:
    """``a="x",b="y"`` as prometheus_client writes sample labels (sorted by name)."""
    return ",".join(f'{escape_label_name(k)}="{_escape_value(v)}"' for k, v in sorted(items))


class _NumberTexts(dict[Any, bytes]):
    """``floatToGoString(n)`` and the line's end for the integers seen (counts), memoised."""

    def __missing__(self, number: Any) -> bytes:
        text = (floatToGoString(number) + "\n").encode()
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[number] = text
        return text


_INT_TEXTS: Final = _NumberTexts()
_SCALARS: Final = frozenset((str, int, float, bool))


def _value_line(value: Any) -> bytes:
    """A sample value and the line's end, as prometheus_client formats it."""
    if value.__class__ is int:
        return _INT_TEXTS[value]
    return (floatToGoString(value) + "\n").encode()


def _cacheable(attributes: Any) -> bool:
    """Whether a series' labels can be kept: its attribute values cannot change in place."""
    return not attributes or all(value.__class__ in _SCALARS for value in attributes.values())


class _Layout:
    """How one family part's samples are written, and each series' rendered line starts.

    prometheus_client writes a sample's labels sorted by name; the family's label names are
    sorted and unique, so zipping them with a point's values is already that order, and a
    bucket's ``le`` goes between the names before and after it.

    Series are keyed by the identity of the point's attributes dict: the SDK copies a series'
    attributes once, when the series starts, and hands the same dict out at every collection
    (a new dict is only a cache miss). Entries keep that dict, so its id is not reused.
    """

    __slots__ = ("after_le", "before_le", "names", "om_sample_name", "sample_name", "seen", "series")

    def __init__(self, sample: str, label_names: tuple[str, ...]) -> None:
        # the text format escapes sample names like metric names, OpenMetrics like label names
        self.sample_name = escape_metric_name(sample)
        self.om_sample_name = _OPENMETRICS_SAMPLE_NAME.sub("_", sample)
        self.names = [f"{escape_label_name(name)}=" for name in label_names]
        self.before_le = [i for i, name in enumerate(label_names) if name < "le"]
        self.after_le = [i for i, name in enumerate(label_names) if name > "le"]  # a label "le" yields
        self.series: dict[int, Any] = {}  # id(attributes) -> (attributes, line starts...), last render
        self.seen: dict[int, Any] = {}  # the same, this render

    def pairs(self, values: list[str]) -> list[str]:
        """``name="value"`` for each label (the family's names zipped with the values)."""
        return [f'{name}"{_escape_value(value)}"' for name, value in zip(self.names, values, strict=False)]


class PrometheusRenderer:
    """Renders ``MetricsData`` as Prometheus text (0.0.4) or OpenMetrics (1.0.0) exposition.

    The bytes are those of ``PrometheusMetricReader`` (default settings) plus prometheus_client's
    ``generate_latest`` (or its OpenMetrics ``generate_latest``) for the same data. Each series'
    line starts (name and labels) are rendered once and kept while the series is seen. Not
    thread-safe: callers serialise :meth:`render`.
    """

    def __init__(self) -> None:
        self._translator = _Translator()
        self._layouts: dict[Any, _Layout] = {}
        self._bounds: dict[Any, list[str]] = {}

    def render(self, data: MetricsData | None, *, openmetrics: bool = False) -> bytes:
        """The exposition of ``data``; ``None`` (nothing collected) renders no family."""
        out: list[bytes] = []
        if data is not None:
            labels = _label_text(self._translator.target_info(data).items())
            info = f"{_TARGET_INFO_NAME}_info"
            # an info family: OpenMetrics keeps the type, the text format calls it a gauge
            name, kind = (_TARGET_INFO_NAME, "info") if openmetrics else (info, "gauge")
            head = f"# HELP {name} {_TARGET_INFO_DESCRIPTION}\n# TYPE {name} {kind}\n"
            line = f"{info}{{{labels}}} 1.0\n" if labels else f"{info} 1.0\n"
            out.append((head + line).encode())
            layouts: dict[Any, _Layout] = {}
            for family in self._translator.families(data):
                self._render_family(family, openmetrics, out, layouts)
            for layout in layouts.values():  # series not seen this time are forgotten
                layout.series, layout.seen = layout.seen, {}
            self._layouts = layouts  # and so are layouts (e.g. after new label keys)
        if openmetrics:
            out.append(b"# EOF\n")
        return b"".join(out)

    def _render_family(
        self, family: _Family, openmetrics: bool, out: list[bytes], layouts: dict[Any, _Layout]
    ) -> None:
        # prometheus_client's Metric: the unit is appended unless the name ends with it; a
        # counter's "_total" is dropped first and comes back on its samples.
        name = family.name
        if family.kind == _COUNTER and name.endswith("_total"):
            name = name[:-6]
        if family.unit and not name.endswith("_" + family.unit):
            name += "_" + family.unit
        sample = name + "_total" if family.kind == _COUNTER else name
        if openmetrics:
            shown = escape_metric_name(name)
            head = f"# HELP {shown} {_escape_value(family.documentation)}\n# TYPE {shown} {family.kind}\n"
            if family.unit:
                head += f"# UNIT {shown} {family.unit}\n"
        else:
            shown = escape_metric_name(sample)
            help_text = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
            head = f"# HELP {shown} {help_text}\n# TYPE {shown} {family.kind}\n"
        out.append(head.encode())
        for part in family.parts:
            key: Any = (family.family_id, family.label_names, part.label_keys, part.context)
            try:
                layout = layouts.get(key) or self._layouts.get(key)
            except TypeError:  # an unhashable scope attribute: no caching for this part
                key, layout = None, None
            if layout is None:
                layout = _Layout(sample, family.label_names)
            if key is not None:
                layouts[key] = layout
            renamed = openmetrics and layout.om_sample_name != layout.sample_name
            if family.kind == _HISTOGRAM:
                self._render_histograms(part, layout, renamed, out)
            else:
                self._render_numbers(part, layout, renamed, out)

    def _render_numbers(self, part: _Part, layout: _Layout, renamed: bool, out: list[bytes]) -> None:
        series, seen = layout.series, layout.seen
        for point in part.points:
            attributes = point.attributes
            entry = series.get(id(attributes))
            if entry is None or entry[0] is not attributes:
                labels = ",".join(layout.pairs(self._translator.label_values(part, attributes)))
                text = f"{layout.sample_name}{{{labels}}} " if labels else f"{layout.sample_name} "
                entry = (attributes, text.encode())
                if not _cacheable(attributes):
                    entry = (None, entry[1])
            seen[id(attributes)] = entry
            prefix = entry[1]
            if renamed:
                prefix = _renamed(layout, prefix)
            out.append(prefix + _value_line(point.value))

    def _render_histograms(self, part: _Part, layout: _Layout, renamed: bool, out: list[bytes]) -> None:
        series, seen = layout.series, layout.seen
        texts = _INT_TEXTS
        for point in part.points:
            attributes = point.attributes
            bounds = point.explicit_bounds
            entry = series.get(id(attributes))
            if entry is None or entry[0] is not attributes or (entry[1] is not bounds and entry[1] != bounds):
                entry = self._histogram_prefixes(part, layout, point)
            seen[id(attributes)] = entry
            _, _, buckets, count, total = entry
            if renamed:
                buckets = [_renamed(layout, text) for text in buckets]
                count = _renamed(layout, count) if count is not None else None
                total = _renamed(layout, total)
            cumulative = list(accumulate(point.bucket_counts))
            out.extend(map(add, buckets, map(texts.__getitem__, cumulative)))
            shown = min(len(buckets), len(cumulative))  # prometheus_client zips bounds and counts
            if count is not None and shown:
                out.append(count + texts[cumulative[shown - 1]])  # the +Inf bucket is the count
                out.append(total + _value_line(point.sum))

    def _histogram_prefixes(self, part: _Part, layout: _Layout, point: HistogramDataPoint) -> tuple[Any, ...]:
        """(attributes, bounds, bucket line starts, ``_count`` and ``_sum`` line starts)."""
        name = layout.sample_name
        bounds = tuple(point.explicit_bounds)
        le_values = self._bounds.get(bounds)
        if le_values is None:
            if len(self._bounds) >= _CACHE_LIMIT:
                self._bounds.clear()
            le_values = self._bounds[bounds] = [_escape_value(le) for le in _bucket_bounds(bounds)]
        pairs = layout.pairs(self._translator.label_values(part, point.attributes))
        before = "".join(pairs[i] + "," for i in layout.before_le if i < len(pairs))
        after = "".join("," + pairs[i] for i in layout.after_le if i < len(pairs))
        buckets = [f'{name}_bucket{{{before}le="{le}"{after}}} '.encode() for le in le_values]
        plain = ",".join(pairs)  # _count and _sum keep every label (a label "le" too)
        braces = f"{{{plain}}}" if plain else ""
        # prometheus_client leaves out _count and _sum when the first bucket bound is negative
        count = f"{name}_count{braces} ".encode() if float(le_values[0]) >= 0 else None
        attributes = point.attributes if _cacheable(point.attributes) else None
        return attributes, point.explicit_bounds, buckets, count, f"{name}_sum{braces} ".encode()


def _renamed(layout: _Layout, text: bytes) -> bytes:
    """A line start with its OpenMetrics sample name (differs only for names with ``:``)."""
    return layout.om_sample_name.encode() + text[len(layout.sample_name.encode()) :]


# -- prometheus_client families (for registries) -----------------------------------------------


class MetricsDataCollector:
    """A prometheus_client collector: the same families, as prometheus_client ``Metric`` objects.

    Register it in a ``CollectorRegistry`` to use prometheus_client's own exposition (OpenMetrics
    ``generate_latest``, ``start_http_server``, ...). Each ``collect()`` collects anew from
    ``collect_data``; it is as slow as the exporter it mirrors.

    Args:
        collect_data: Returns the current ``MetricsData`` (e.g. :meth:`MetricsDataReader.collect_data`).
    """

    def __init__(self, collect_data: Callable[[], MetricsData | None]) -> None:
        self._collect_data = collect_data
        self._translator = _Translator()
        self._lock = threading.Lock()

    def describe(self) -> list[PrometheusFamily]:
        """Nothing: the registry must not collect at registration (names are not known yet)."""
        return []

    def collect(self) -> Iterator[PrometheusFamily]:
        """The current families: ``target_info`` first, then one per exporter family."""
        data = self._collect_data()
        if data is None:
            return
        with self._lock:
            attributes = self._translator.target_info(data)
            families = self._translator.families(data)
            info = InfoMetricFamily(_TARGET_INFO_NAME, _TARGET_INFO_DESCRIPTION, labels=list(attributes))
            info.add_metric(labels=list(attributes), value=attributes)
            built = [info] + [self._build(family) for family in families]
        yield from built

    def _build(self, family: _Family) -> PrometheusFamily:
        factory: Any = {_COUNTER: CounterMetricFamily, _GAUGE: GaugeMetricFamily}.get(
            family.kind, HistogramMetricFamily
        )
        built = factory(
            name=family.name, documentation=family.documentation, labels=family.label_names, unit=family.unit
        )
        for part in family.parts:
            for point in part.points:
                values = self._translator.label_values(part, point.attributes)
                if isinstance(point, HistogramDataPoint):
                    cumulative = accumulate(point.bucket_counts)
                    buckets = list(zip(_bucket_bounds(point.explicit_bounds), cumulative, strict=False))
                    built.add_metric(labels=values, buckets=buckets, sum_value=point.sum)
                else:
                    assert isinstance(point, NumberDataPoint)
                    built.add_metric(labels=values, value=point.value)
        return built

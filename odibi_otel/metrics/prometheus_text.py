"""Prometheus exposition of OpenTelemetry SDK metrics, rendered straight from ``MetricsData``.

OpenTelemetry's ``PrometheusMetricReader`` turns every collection into prometheus_client metric
families, and prometheus_client's ``generate_latest`` then validates and escapes every label of
every sample again: for a 1,000-node pipeline (27,000 samples) that took ~360 ms per scrape.
:class:`PrometheusRenderer` writes the same bytes itself, keeping each series' rendered labels
from one scrape to the next, so a scrape costs the SDK's collection plus string joining.

The output is meant to be byte-for-byte what ``PrometheusMetricReader`` (default settings) +
``prometheus_client.generate_latest`` (text format 0.0.4) or
``prometheus_client.openmetrics.exposition.generate_latest`` (OpenMetrics 1.0.0) produce for the
same data: the exporter's own name, unit and label-key translation functions are used
(:mod:`odibi_otel.metrics._families`), its quirks are kept (``target_info`` from the first
collection, families keyed by name, description and unit, missing labels filled with ``""``,
non-string label values as JSON) and ``tests/test_prometheus_text.py`` compares both renderings
on varied data.

- :class:`MetricsDataReader`: an SDK ``MetricReader`` that collects on demand (a pull reader,
  cumulative temporality like the Prometheus exporter) and hands the ``MetricsData`` back.
- :class:`PrometheusRenderer`: ``MetricsData`` -> exposition bytes (text or OpenMetrics).
- :class:`MetricsDataCollector`: a prometheus_client collector yielding the same families, for
  registries (OpenMetrics via prometheus_client, ``start_http_server``, ...); not optimised.

(The reader and the collector live in :mod:`odibi_otel.metrics._collection`; import them from
here.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import accumulate
from operator import add
from re import compile as re_compile
from typing import Any, Final

from opentelemetry.sdk.metrics.export import HistogramDataPoint, MetricsData
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.utils import floatToGoString, parse_version

from odibi_otel.metrics._collection import MetricsDataCollector, MetricsDataReader
from odibi_otel.metrics._families import (
    CACHE_LIMIT,
    COUNTER,
    HISTOGRAM,
    TARGET_INFO_DESCRIPTION,
    TARGET_INFO_NAME,
    Family,
    Part,
    Translator,
    bucket_bounds,
)

__all__ = [
    "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_TEXT",
    "MetricsDataCollector",
    "MetricsDataReader",
    "PrometheusRenderer",
    "wants_openmetrics",
]

#: Content type of the Prometheus text format the renderer writes by default.
CONTENT_TYPE_TEXT: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Content type of its OpenMetrics rendering (names are always legacy names: ``underscores``).
CONTENT_TYPE_OPENMETRICS: Final = (
    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
)

#: OpenMetrics sample names: prometheus_client replaces every character that may not start
#: (a digit) or be part of (anything but ``[A-Za-z0-9_]``) a legacy label name with ``_``.
_OPENMETRICS_SAMPLE_NAME: Final = re_compile(r"[^A-Za-z0-9_]|^[0-9]")
#: ``floatToGoString`` (untyped in prometheus_client): how prometheus_client writes sample values.
_float_text: Final[Callable[[Any], str]] = floatToGoString


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
        text = (_float_text(number) + "\n").encode()
        if len(self) >= CACHE_LIMIT:
            self.clear()
        self[number] = text
        return text


_INT_TEXTS: Final = _NumberTexts()
_SCALARS: Final = frozenset((str, int, float, bool))


def _value_line(value: Any) -> bytes:
    """A sample value and the line's end, as prometheus_client formats it."""
    if value.__class__ is int:
        return _INT_TEXTS[value]
    return (_float_text(value) + "\n").encode()


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
        self._translator = Translator()
        self._layouts: dict[Any, _Layout] = {}
        self._bounds: dict[Any, list[str]] = {}

    def render(self, data: MetricsData | None, *, openmetrics: bool = False) -> bytes:
        """The exposition of ``data``; ``None`` (nothing collected) renders no family."""
        out: list[bytes] = []
        if data is not None:
            labels = _label_text(self._translator.target_info(data).items())
            info = f"{TARGET_INFO_NAME}_info"
            # an info family: OpenMetrics keeps the type, the text format calls it a gauge
            name, kind = (TARGET_INFO_NAME, "info") if openmetrics else (info, "gauge")
            head = f"# HELP {name} {TARGET_INFO_DESCRIPTION}\n# TYPE {name} {kind}\n"
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
        self, family: Family, openmetrics: bool, out: list[bytes], layouts: dict[Any, _Layout]
    ) -> None:
        # prometheus_client's Metric: the unit is appended unless the name ends with it; a
        # counter's "_total" is dropped first and comes back on its samples.
        name = family.name
        if family.kind == COUNTER and name.endswith("_total"):
            name = name[:-6]
        if family.unit and not name.endswith("_" + family.unit):
            name += "_" + family.unit
        sample = name + "_total" if family.kind == COUNTER else name
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
            if family.kind == HISTOGRAM:
                self._render_histograms(part, layout, renamed, out)
            else:
                self._render_numbers(part, layout, renamed, out)

    def _render_numbers(self, part: Part, layout: _Layout, renamed: bool, out: list[bytes]) -> None:
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

    def _render_histograms(self, part: Part, layout: _Layout, renamed: bool, out: list[bytes]) -> None:
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

    def _histogram_prefixes(self, part: Part, layout: _Layout, point: HistogramDataPoint) -> tuple[Any, ...]:
        """(attributes, bounds, bucket line starts, ``_count`` and ``_sum`` line starts)."""
        name = layout.sample_name
        bounds = tuple(point.explicit_bounds)
        le_values = self._bounds.get(bounds)
        if le_values is None:
            if len(self._bounds) >= CACHE_LIMIT:
                self._bounds.clear()
            le_values = self._bounds[bounds] = [_escape_value(le) for le in bucket_bounds(bounds)]
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

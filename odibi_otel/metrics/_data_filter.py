"""Selecting and combining collected OpenTelemetry metric data (pure functions, no I/O).

Used to show several managers on one endpoint and to push one pipeline's series to a Pushgateway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from opentelemetry.sdk.metrics.export import Metric, MetricsData, ResourceMetrics, ScopeMetrics

from odibi_otel.otel import semconv

__all__ = ["merge_data", "pipelines_in", "select_points"]

#: Decides whether a data point (by its attributes) is kept.
PointFilter = Callable[[object], bool]


def pipelines_in(data: MetricsData | None) -> set[str]:
    """The ``pipeline`` label values of every data point in ``data``."""
    found: set[str] = set()
    for metric in _metrics(data):
        for point in metric.data.data_points:
            pipeline = (point.attributes or {}).get(semconv.LABEL_PIPELINE)
            if pipeline is not None:
                found.add(str(pipeline))
    return found


def select_points(
    data: MetricsData | None,
    *,
    drop_pipelines: Iterable[str] = (),
    only_pipeline: str | None = None,
    drop_metrics: Iterable[str] = (),
) -> MetricsData | None:
    """``data`` without the points of ``drop_pipelines`` (or of any pipeline but ``only_pipeline``)
    and without the metrics named in ``drop_metrics``; metrics left with no point are dropped."""
    if data is None:
        return None
    dropped_pipelines, dropped_metrics = set(drop_pipelines), set(drop_metrics)

    def keep(attributes: object) -> bool:
        pipeline = (attributes or {}).get(semconv.LABEL_PIPELINE)  # type: ignore[attr-defined]
        if pipeline is None:
            return only_pipeline is None
        if only_pipeline is not None and pipeline != only_pipeline:
            return False
        return pipeline not in dropped_pipelines

    resources = []
    for resource_metrics in data.resource_metrics:
        scopes = []
        for scope_metrics in resource_metrics.scope_metrics:
            metrics = [
                selected
                for metric in scope_metrics.metrics
                if metric.name not in dropped_metrics
                for selected in [_select(metric, keep)]
                if selected is not None
            ]
            if metrics:
                scopes.append(replace(scope_metrics, metrics=metrics))
        if scopes:
            resources.append(replace(resource_metrics, scope_metrics=scopes))
    return MetricsData(resource_metrics=resources)


def merge_data(parts: Iterable[MetricsData | None]) -> MetricsData | None:
    """One collection holding every part's resource metrics (``None`` when there is none)."""
    resources: list[ResourceMetrics] = []
    seen_any = False
    for part in parts:
        if part is not None:
            seen_any = True
            resources.extend(part.resource_metrics)
    return MetricsData(resource_metrics=resources) if seen_any else None


def _select(metric: Metric, keep: PointFilter) -> Metric | None:
    points = [point for point in metric.data.data_points if keep(point.attributes)]
    if not points:
        return None
    if len(points) == len(metric.data.data_points):
        return metric
    data: Any = metric.data  # Sum, Gauge, Histogram or ExponentialHistogram: all have data_points
    return replace(metric, data=replace(data, data_points=points))


def _metrics(data: MetricsData | None) -> Iterable[Metric]:
    if data is None:
        return
    scope_metrics: ScopeMetrics
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            yield from scope_metrics.metrics

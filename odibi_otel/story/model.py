"""The story view model: what the HTML story of a run shows, computed so the template only lays it out.

:func:`build_story` validates a lineage document (the JSON of :meth:`Tracker.export_lineage
<odibi_otel.lineage.tracker.Tracker.export_lineage>`, or the same format rebuilt from an OTLP/JSON file)
and computes a :class:`Story` (pure functions):

* the header: pipeline, status, start, duration, node counts by status, rows in/out, trace id and
  an optional trace link;
* the timing waterfall: each step's offset and width as a percentage of the run, so nodes that ran
  in parallel overlap;
* a layered DAG layout: layer = longest path from a source over the steps' data keys, with x/y
  coordinates for an inline SVG and one edge per producer → consumer pair;
* one card per step: layer, status, timings, rows before → after with the delta, a schema table
  with added/removed/changed markers, sample tables and the error.

A document with a ``"timeline"`` list and no steps (spans not made by odibi_otel) becomes a plain
timeline of spans instead. Malformed input raises :class:`~odibi_otel.errors.StoryInputError`
naming the source and the place, e.g. ``lineage.json: steps[2].after.orders.rows: expected an
integer, got string '3'``.

This module holds the view model's dataclasses; :func:`build_story`, the value formatting
(``format_*``, :func:`status_tone`) and the trace link helpers are made in the story's private
modules and importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from odibi_otel._internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from odibi_otel.story._build import build_story
    from odibi_otel.story._format import (
        build_trace_url,
        check_trace_url_template,
        format_bytes,
        format_count,
        format_delta,
        format_duration,
        status_tone,
    )

__all__ = [
    "MODE_PIPELINE",
    "MODE_TIMELINE",
    "Card",
    "Cell",
    "CheckRow",
    "DagEdge",
    "DagLayout",
    "DagNode",
    "Header",
    "HistoryNote",
    "NodeHistory",
    "SampleColumn",
    "SampleTable",
    "SchemaRow",
    "Sparkline",
    "StatusCount",
    "StepError",
    "Story",
    "Tick",
    "TimelineSpan",
    "Waterfall",
    "WaterfallRow",
    "build_story",
    "build_trace_url",
    "check_trace_url_template",
    "format_bytes",
    "format_count",
    "format_delta",
    "format_duration",
    "status_tone",
]

#: A story of odibi_otel steps (waterfall, DAG, cards).
MODE_PIPELINE: Final = "pipeline"
#: A plain timeline of spans that odibi_otel did not make.
MODE_TIMELINE: Final = "timeline"

#: DAG geometry (SVG user units).
NODE_WIDTH: Final = 188
NODE_HEIGHT: Final = 48
COLUMN_GAP: Final = 56
ROW_GAP: Final = 20
DAG_PADDING: Final = 16


@dataclass(frozen=True)
class StatusCount:
    """How many nodes (or spans) ended with one status."""

    status: str
    tone: str
    count: int


@dataclass(frozen=True)
class Header:
    """The story's header: what ran, how it ended, how long it took."""

    title: str
    pipeline_name: str
    status: str
    tone: str
    run_id: str | None
    trace_id: str | None
    trace_url: str | None
    start_iso: str | None
    start_text: str
    duration_ms: float | None
    duration_text: str
    item_noun: str
    total: int
    counts: tuple[StatusCount, ...]
    rows_in: int | None
    rows_out: int | None
    rows_in_text: str
    rows_out_text: str


@dataclass(frozen=True)
class Tick:
    """A waterfall axis mark at ``percent`` of the run."""

    percent: float
    label: str


@dataclass(frozen=True)
class WaterfallRow:
    """One bar of the waterfall; ``offset_pct``/``width_pct`` are ``None`` when it never ran."""

    target_id: str
    name: str
    layer: str
    status: str
    tone: str
    depth: int
    offset_pct: float | None
    width_pct: float | None
    start_text: str
    duration_text: str
    #: Beside the name: Spark's description of a job or stage, ``failed · ...`` when it failed.
    detail: str = ""

    @property
    def label_title(self) -> str:
        """The label's tooltip: the name, and the detail when there is one."""
        return f"{self.name} · {self.detail}" if self.detail else self.name

    @property
    def end_pct(self) -> float | None:
        """Where the bar ends, as a percentage of the run."""
        if self.offset_pct is None or self.width_pct is None:
            return None
        return self.offset_pct + self.width_pct


@dataclass(frozen=True)
class Waterfall:
    """The timing waterfall over the whole run (``total_ms`` wide)."""

    total_ms: float
    rows: tuple[WaterfallRow, ...]
    ticks: tuple[Tick, ...]


@dataclass(frozen=True)
class DagNode:
    """A step placed in the DAG: column ``layer``, top-left corner ``(x, y)``."""

    target_id: str
    name: str
    label: str
    detail: str
    layer_name: str
    status: str
    tone: str
    layer: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class DagEdge:
    """Data flowing from ``source`` to ``target`` (card ids) over the data ``keys``."""

    source: str
    target: str
    keys: tuple[str, ...]
    path: str
    tone: str


@dataclass(frozen=True)
class DagLayout:
    """The layered DAG diagram; ``width``/``height`` are the SVG viewBox size."""

    nodes: tuple[DagNode, ...]
    edges: tuple[DagEdge, ...]
    layers: int
    width: float
    height: float


@dataclass(frozen=True)
class Cell:
    """A sample value as text; ``kind`` is ``null``, ``bool``, ``num``, ``str``, ``json`` or ``redacted``."""

    text: str
    kind: str


@dataclass(frozen=True)
class SampleColumn:
    """A sample table column header."""

    name: str
    redacted: bool


@dataclass(frozen=True)
class SampleTable:
    """One snapshot of a step: its shape and (when captured) its first rows."""

    role: str
    key: str
    rows: int | None
    columns: int
    summary: str
    captured: bool
    headers: tuple[SampleColumn, ...]
    body: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class SchemaRow:
    """A column of a step's schema table; ``marker`` is added/removed/changed/same/input."""

    column: str
    before: str | None
    after: str | None
    marker: str


@dataclass(frozen=True)
class StepError:
    """Why a step failed."""

    type: str
    message: str
    traceback: str


@dataclass(frozen=True)
class CheckRow:
    """One check result on a card; ``failing`` holds its (redacted) failing rows."""

    name: str
    kind: str
    severity: str
    status: str
    tone: str
    failing_count: int
    message: str
    failing: SampleTable | None


@dataclass(frozen=True)
class Sparkline:
    """A small line chart of one figure over the recorded runs (SVG ``points``, 100 x 24 box)."""

    label: str
    points: str
    last_x: float
    last_y: float
    summary: str


@dataclass(frozen=True)
class NodeHistory:
    """A step compared with its earlier runs: sparklines, and what changed since the previous run."""

    runs: int
    sparklines: tuple[Sparkline, ...]
    changes: tuple[str, ...]


@dataclass(frozen=True)
class HistoryNote:
    """The page's "compared with history" line: the run compared with, or why there is none."""

    text: str
    available: bool


@dataclass(frozen=True)
class Card:
    """Everything the story shows about one step."""

    id: str
    number: int
    name: str
    layer: str
    type: str
    status: str
    tone: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    cache_hit: bool | None
    start_text: str
    duration_text: str
    rows_before: int | None
    rows_after: int | None
    row_delta: int | None
    before_text: str
    after_text: str
    delta_text: str
    delta_tone: str
    schema: tuple[SchemaRow, ...]
    schema_summary: str
    samples: tuple[SampleTable, ...]
    error: StepError | None
    checks: tuple[CheckRow, ...] = ()
    anomalies: tuple[tuple[str, str], ...] = ()
    history: NodeHistory | None = None
    #: A lazy engine's figures for the step (Spark: jobs, tasks, records, shuffle, spill), as
    #: ``(label, value text)``; empty for pandas steps.
    engine_figures: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TimelineSpan:
    """A span of a plain timeline (spans not made by odibi_otel)."""

    id: str
    name: str
    span_id: str | None
    parent_span_id: str | None
    depth: int
    status: str
    tone: str
    status_message: str
    start_text: str
    duration_text: str
    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Story:
    """The whole view model of one story page."""

    mode: str
    header: Header
    waterfall: Waterfall
    dag: DagLayout | None
    cards: tuple[Card, ...]
    timeline: tuple[TimelineSpan, ...]
    statuses: tuple[str, ...]
    layers: tuple[str, ...]
    generator: str
    history: HistoryNote | None = None

    @property
    def has_engine_work(self) -> bool:
        """Whether an engine's jobs are shown (Spark): the page then carries their styles too."""
        return any(card.engine_figures for card in self.cards)


__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "build_story": "odibi_otel.story._build",
        **dict.fromkeys(
            (
                "build_trace_url",
                "check_trace_url_template",
                "format_bytes",
                "format_count",
                "format_delta",
                "format_duration",
                "status_tone",
            ),
            "odibi_otel.story._format",
        ),
    },
)

"""The DAG diagram of a story: steps placed in layers, with coordinates for an inline SVG.

A step's layer is the longest path to it from a source over the steps' data keys; an edge joins
the producer of a data key to each step that consumes it (keys no step produces are ignored).
Within a layer nodes are ordered by the mean position of their parents. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from odibi_otel._internal.json_reader import child
from odibi_otel.story._format import format_duration, status_tone
from odibi_otel.story._lineage_reader import LineageReader, StepRecord
from odibi_otel.story._timing import step_duration
from odibi_otel.story.model import (
    COLUMN_GAP,
    DAG_PADDING,
    NODE_HEIGHT,
    NODE_WIDTH,
    ROW_GAP,
    DagEdge,
    DagLayout,
    DagNode,
)

__all__ = ["layout_dag"]

#: Longest step name shown inside a DAG node before it is cut (the full name is its tooltip).
_NODE_LABEL_CHARS: Final = 19
_NODE_DETAIL_CHARS: Final = 25


def layout_dag(reader: LineageReader, steps: Sequence[StepRecord]) -> DagLayout:
    """Place the steps in layers (longest path from a source) with coordinates for an SVG.

    An edge joins the producer of a data key to each step that consumes it; keys no step produces
    are ignored. Within a layer nodes are ordered by the mean position of their parents.
    """
    keys_by_edge = _data_edges(steps)
    parents: dict[int, list[int]] = {step.index: [] for step in steps}
    children: dict[int, list[int]] = {step.index: [] for step in steps}
    for source, target in keys_by_edge:
        parents[target].append(source)
        children[source].append(target)
    layer_of = _longest_path_layers(reader, steps, parents, children)
    layer_count = max(layer_of.values(), default=-1) + 1
    columns: list[list[int]] = [[] for _ in range(layer_count)]
    for step in steps:
        columns[layer_of[step.index]].append(step.index)
    position, width, height = _place(columns, parents)
    by_index = {step.index: step for step in steps}
    nodes = tuple(_node(step, layer_of[step.index], position[step.index]) for step in steps)
    edges = tuple(
        DagEdge(
            source=by_index[source].card_id,
            target=by_index[target].card_id,
            keys=tuple(keys),
            path=_edge_path(position[source], position[target]),
            tone=status_tone(by_index[target].status),
        )
        for (source, target), keys in keys_by_edge.items()
    )
    return DagLayout(nodes=nodes, edges=edges, layers=layer_count, width=width, height=height)


def _data_edges(steps: Sequence[StepRecord]) -> dict[tuple[int, int], list[str]]:
    """(producer, consumer) step indexes → the data keys flowing between them."""
    producers: dict[str, int] = {}
    for step in steps:
        for key in step.outputs:
            producers.setdefault(key, step.index)
    keys_by_edge: dict[tuple[int, int], list[str]] = {}
    for step in steps:
        for key in step.inputs:
            producer = producers.get(key)
            if producer is not None and producer != step.index:
                keys_by_edge.setdefault((producer, step.index), []).append(key)
    return keys_by_edge


def _place(
    columns: Sequence[Sequence[int]], parents: Mapping[int, list[int]]
) -> tuple[dict[int, tuple[float, float]], float, float]:
    """Each step's top-left corner (by index), and the drawing's width and height.

    Columns are layers left to right, each centred vertically; a column's nodes are ordered by
    the mean height of their parents (placed in earlier columns).
    """
    layer_count = len(columns)
    tallest = max((len(column) for column in columns), default=0)
    height = 2 * DAG_PADDING + max(tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP, 0)
    width = 2 * DAG_PADDING + max(layer_count * NODE_WIDTH + (layer_count - 1) * COLUMN_GAP, 0)
    centre_y: dict[int, float] = {}
    position: dict[int, tuple[float, float]] = {}
    for layer, column in enumerate(columns):
        ordered = sorted(column, key=lambda i: (_barycentre(parents[i], centre_y), i))
        column_height = len(ordered) * NODE_HEIGHT + (len(ordered) - 1) * ROW_GAP
        top = DAG_PADDING + (height - 2 * DAG_PADDING - column_height) / 2
        x = DAG_PADDING + layer * (NODE_WIDTH + COLUMN_GAP)
        for row, index in enumerate(ordered):
            y = top + row * (NODE_HEIGHT + ROW_GAP)
            position[index] = (x, y)
            centre_y[index] = y + NODE_HEIGHT / 2
    return position, width, height


def _node(step: StepRecord, layer: int, corner: tuple[float, float]) -> DagNode:
    return DagNode(
        target_id=step.card_id,
        name=step.name,
        label=_cut(step.name, _NODE_LABEL_CHARS),
        detail=_cut(_node_detail(step), _NODE_DETAIL_CHARS),
        layer_name=step.layer,
        status=step.status,
        tone=status_tone(step.status),
        layer=layer,
        x=corner[0],
        y=corner[1],
        width=NODE_WIDTH,
        height=NODE_HEIGHT,
    )


def _node_detail(step: StepRecord) -> str:
    duration = step_duration(step)
    timing = "not run" if duration is None and step.start is None else format_duration(duration)
    return " · ".join(part for part in (step.layer, timing) if part)


def _longest_path_layers(
    reader: LineageReader,
    steps: Sequence[StepRecord],
    parents: Mapping[int, list[int]],
    children: Mapping[int, list[int]],
) -> dict[int, int]:
    waiting = {index: len(p) for index, p in parents.items()}
    ready = [step.index for step in steps if waiting[step.index] == 0]
    layer_of = dict.fromkeys(ready, 0)
    done = 0
    while ready:
        index = ready.pop(0)
        done += 1
        for consumer in children[index]:
            layer_of[consumer] = max(layer_of.get(consumer, 0), layer_of[index] + 1)
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    if done != len(steps):
        stuck = next(step for step in steps if waiting[step.index] > 0)
        reader.fail(
            child(child("steps", stuck.index), "inputs"),
            f"the steps' data keys form a dependency cycle through step {stuck.name!r}",
        )
    return layer_of


def _barycentre(parents: Sequence[int], centre_y: Mapping[int, float]) -> float:
    placed = [centre_y[p] for p in parents if p in centre_y]
    return sum(placed) / len(placed) if placed else math.inf


def _edge_path(source: tuple[float, float], target: tuple[float, float]) -> str:
    x1, y1 = source[0] + NODE_WIDTH, source[1] + NODE_HEIGHT / 2
    x2, y2 = target[0], target[1] + NODE_HEIGHT / 2
    bend = max((x2 - x1) / 2, 24.0)
    return f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2 - 2:g},{y2:g}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

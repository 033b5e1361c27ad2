"""The pipeline DAG: who produces each data key, dependency order, and the checks on the graph.

Pure logic, no I/O: :func:`build_dag` turns a list of steps into a :class:`Dag` or raises the
validation error that says exactly what is wrong.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from odibi_otel.errors import (
    CycleError,
    DuplicateOutputError,
    DuplicateStepError,
    MissingInputError,
    PipelineValidationError,
)
from odibi_otel.pipeline.step import Step

__all__ = ["Dag", "build_dag"]


@dataclass(frozen=True)
class Dag:
    """A validated step graph. Edges run from the step producing a key to each step consuming it."""

    steps: Mapping[str, Step]
    producers: Mapping[str, str]
    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]

    def descendants(self, name: str) -> set[str]:
        """Every step that depends, directly or not, on step ``name``."""
        seen: set[str] = set()
        stack = list(self.downstream[name])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.downstream[current])
        return seen


def build_dag(steps: Iterable[Step]) -> Dag:
    """Validate ``steps`` as a graph and return it with a deterministic topological order.

    Raises:
        PipelineValidationError: no steps, or an item is not a :class:`Step`.
        DuplicateStepError: two steps share a name.
        DuplicateOutputError: two steps produce the same data key.
        MissingInputError: a step consumes a key no step produces.
        CycleError: the dependencies form a cycle (the message prints the cycle path).
    """
    by_name = _index_steps(list(steps))
    producers = _index_producers(by_name.values())
    upstream = {name: _producing_steps(step, producers) for name, step in by_name.items()}
    downstream: dict[str, list[str]] = {name: [] for name in by_name}
    for name, parents in upstream.items():
        for parent in parents:
            downstream[parent].append(name)
    order = _topological_order(list(by_name), upstream, downstream)
    return Dag(
        steps=by_name,
        producers=producers,
        upstream=upstream,
        downstream={name: tuple(children) for name, children in downstream.items()},
        order=order,
    )


def _index_steps(steps: list[Step]) -> dict[str, Step]:
    if not steps:
        raise PipelineValidationError("a pipeline needs at least one step; got none")
    by_name: dict[str, Step] = {}
    for position, step in enumerate(steps):
        if not isinstance(step, Step):
            raise PipelineValidationError(
                f"step #{position + 1} must be an odibi_otel.Step, got {type(step).__name__}"
            )
        if step.name in by_name:
            raise DuplicateStepError(f"step {step.name!r}: field 'name' is used by two steps", step=step.name)
        by_name[step.name] = step
    return by_name


def _index_producers(steps: Iterable[Step]) -> dict[str, str]:
    producers: dict[str, str] = {}
    for step in steps:
        for key in step.output_keys:
            if key in producers:
                raise DuplicateOutputError(
                    f"step {step.name!r}: field 'outputs' produces {key!r}, "
                    f"which step {producers[key]!r} already produces",
                    step=step.name,
                )
            producers[key] = step.name
    return producers


def _producing_steps(step: Step, producers: Mapping[str, str]) -> tuple[str, ...]:
    parents: dict[str, None] = {}
    for key in step.input_keys:
        if key not in producers:
            hint = difflib.get_close_matches(key, list(producers), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise MissingInputError(
                f"step {step.name!r}: field 'inputs' needs data key {key!r}, "
                f"which no step produces{suggestion}",
                step=step.name,
            )
        parents[producers[key]] = None
    return tuple(parents)


def _topological_order(
    names: Sequence[str],
    upstream: Mapping[str, tuple[str, ...]],
    downstream: Mapping[str, list[str]],
) -> tuple[str, ...]:
    position = {name: index for index, name in enumerate(names)}
    waiting = {name: len(upstream[name]) for name in names}
    ready = [name for name in names if waiting[name] == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=position.__getitem__, reverse=True)
        current = ready.pop()
        order.append(current)
        for child in downstream[current]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) < len(names):
        raise CycleError(_find_cycle([n for n in names if waiting[n] > 0], upstream))
    return tuple(order)


def _find_cycle(stuck: list[str], upstream: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Walk producer edges from a stuck step until a step repeats; that loop is a cycle."""
    stuck_set = set(stuck)
    path: list[str] = []
    seen_at: dict[str, int] = {}
    current = stuck[0]
    while current not in seen_at:
        seen_at[current] = len(path)
        path.append(current)
        current = next(parent for parent in upstream[current] if parent in stuck_set)
    cycle = [*path[seen_at[current] :], current]
    cycle.reverse()  # print it in data-flow order: producer -> consumer
    return cycle

"""The story view model on hand-made lineage documents: layout, waterfall, cards, validation.

Pure tests: no pipeline runs, no files, no browser.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from odibi_otel.errors import OdibiError, StoryInputError
from odibi_otel.story.model import (
    MODE_PIPELINE,
    MODE_TIMELINE,
    NODE_WIDTH,
    Card,
    Story,
    build_story,
    build_trace_url,
    format_bytes,
    format_delta,
    format_duration,
    status_tone,
)

T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def at(ms: float | None) -> str | None:
    """An ISO timestamp ``ms`` milliseconds after T0."""
    return None if ms is None else (T0 + timedelta(milliseconds=ms)).isoformat()


def snapshot(rows: int, schema: dict[str, str], sample: list[list[Any]] | None = None) -> dict[str, Any]:
    columns = list(schema)
    return {
        "rows": rows,
        "columns": len(columns),
        "schema": schema,
        "size_bytes": 100 * rows,
        "sample": None if sample is None else {"columns": columns, "rows": sample},
        "redacted_columns": [],
    }


def step(
    name: str,
    *,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    start: float | None = 0,
    end: float | None = 10,
    status: str = "success",
    layer: str = "transform",
    type: str = "function",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    record = {
        "name": name,
        "layer": layer,
        "type": type,
        "status": status,
        "inputs": inputs or [],
        "outputs": outputs or [],
        "span_id": None,
        "start_time": at(start),
        "end_time": at(end),
        "duration_ms": None if start is None or end is None else float(end - start),
        "cache_hit": None,
        "before": before or {},
        "after": after or {},
        "schema_diff": None,
        "error": None,
    }
    record.update(extra)
    return record


def document(steps: list[dict[str, Any]], *, end: float = 100, **extra: Any) -> dict[str, Any]:
    doc = {
        "format": "odibi_otel.lineage",
        "version": 1,
        "pipeline_name": "customer_pipeline",
        "run_id": "r1",
        "trace_id": TRACE_ID,
        "span_id": "00f067aa0ba902b7",
        "start_time": at(0),
        "end_time": at(end),
        "duration_ms": float(end),
        "status": "success",
        "steps": steps,
        "summary": {},
    }
    doc.update(extra)
    return doc


def card(story: Story, name: str) -> Card:
    (found,) = [c for c in story.cards if c.name == name]
    return found


# -- DAG layout ------------------------------------------------------------------------------------


def test_layers_are_the_longest_path_from_a_source() -> None:
    steps = [
        step("read", outputs=["raw"]),
        step("clean", inputs=["raw"], outputs=["clean"]),
        step("enrich", inputs=["clean"], outputs=["rich"]),
        # joins a source and a deep node: its layer follows the longest path (3), not the shortest (1)
        step("join", inputs=["raw", "rich"], outputs=["joined"]),
        step("lookup", outputs=["ref"]),
        step("external", inputs=["not_produced_here"], outputs=["x"]),
    ]
    dag = build_story(document(steps)).dag
    assert dag is not None
    layer = {node.name: node.layer for node in dag.nodes}
    assert layer == {"read": 0, "clean": 1, "enrich": 2, "join": 3, "lookup": 0, "external": 0}
    assert dag.layers == 4
    x_of = {node.name: node.x for node in dag.nodes}
    assert x_of["read"] < x_of["clean"] < x_of["enrich"] < x_of["join"]
    assert x_of["read"] == x_of["lookup"] == x_of["external"]


def test_nodes_of_a_layer_do_not_overlap_and_fit_the_drawing() -> None:
    steps = [step("read", outputs=["raw"])] + [
        step(f"branch_{i}", inputs=["raw"], outputs=[f"out_{i}"]) for i in range(5)
    ]
    dag = build_story(document(steps)).dag
    assert dag is not None
    branches = sorted((n for n in dag.nodes if n.layer == 1), key=lambda n: n.y)
    assert len(branches) == 5
    for upper, lower in itertools.pairwise(branches):
        assert upper.y + upper.height < lower.y
    for node in dag.nodes:
        assert node.x >= 0 and node.x + node.width <= dag.width
        assert node.y >= 0 and node.y + node.height <= dag.height


def test_one_edge_per_producer_consumer_pair_with_its_data_keys() -> None:
    steps = [
        step("split", outputs=["left", "right"]),
        step("merge", inputs=["left", "right"], outputs=["merged"]),
        step("report", inputs=["merged"]),
    ]
    dag = build_story(document(steps)).dag
    assert dag is not None
    edges = {(e.source, e.target): e.keys for e in dag.edges}
    assert edges == {("step-1", "step-2"): ("left", "right"), ("step-2", "step-3"): ("merged",)}
    for edge in dag.edges:
        assert edge.path.startswith("M") and " C" in edge.path


def test_long_names_are_cut_in_the_node_but_kept_whole_for_the_tooltip() -> None:
    name = "a_really_long_step_name_that_does_not_fit"
    dag = build_story(document([step(name)])).dag
    assert dag is not None
    (node,) = dag.nodes
    assert node.name == name
    assert node.label.endswith("…") and len(node.label) < len(name)
    assert node.width == NODE_WIDTH


# -- waterfall -------------------------------------------------------------------------------------


def test_waterfall_offsets_and_widths_are_percent_of_the_run() -> None:
    story = build_story(document([step("a", start=25, end=75)], end=100))
    (row,) = story.waterfall.rows
    assert row.offset_pct == pytest.approx(25.0)
    assert row.width_pct == pytest.approx(50.0)
    assert row.duration_text == "50.0 ms"
    assert row.start_text == "+25.0 ms"
    assert [t.percent for t in story.waterfall.ticks] == [0, 25, 50, 75, 100]
    assert story.waterfall.ticks[-1].label == "100 ms"


def test_parallel_nodes_overlap_in_the_waterfall_and_sequential_ones_do_not() -> None:
    steps = [
        step("read", outputs=["raw"], start=0, end=10),
        step("left", inputs=["raw"], outputs=["l"], start=12, end=60),
        step("right", inputs=["raw"], outputs=["r"], start=13, end=40),
        step("join", inputs=["l", "r"], start=61, end=99),
    ]
    rows = {row.name: row for row in build_story(document(steps)).waterfall.rows}

    def overlap(a: str, b: str) -> bool:
        first, second = rows[a], rows[b]
        assert first.end_pct is not None and second.end_pct is not None
        return first.offset_pct < second.end_pct and second.offset_pct < first.end_pct  # type: ignore[operator]

    assert overlap("left", "right")
    assert not overlap("read", "left")
    assert not overlap("left", "join")


def test_steps_that_never_ran_have_no_bar() -> None:
    story = build_story(document([step("ran"), step("skipped", status="skipped", start=None, end=None)]))
    skipped = story.waterfall.rows[1]
    assert skipped.offset_pct is None and skipped.width_pct is None
    assert skipped.duration_text == "—"
    assert card(story, "skipped").start_text == "—"


def test_the_run_window_covers_steps_outside_the_documented_times() -> None:
    doc = document([step("late", start=50, end=150)], end=100)
    (row,) = build_story(doc).waterfall.rows
    assert row.end_pct == pytest.approx(100.0)
    assert row.offset_pct == pytest.approx(100 / 3, abs=0.01)


# -- header ----------------------------------------------------------------------------------------


def test_header_counts_rows_and_trace_link() -> None:
    steps = [
        step("read", type="read", outputs=["raw"], after={"raw": snapshot(10, {"id": "int64"})}),
        step("boom", inputs=["raw"], status="failed"),
        step("never", status="skipped", start=None, end=None),
        step("write", type="write", inputs=["raw"], after={"out.csv": snapshot(7, {"id": "int64"})}),
    ]
    story = build_story(
        document(steps, status="failed"), trace_url_template="http://localhost:16686/trace/{trace_id}"
    )
    header = story.header
    assert header.pipeline_name == "customer_pipeline"
    assert header.title == "customer_pipeline · execution story"
    assert header.status == "failed" and header.tone == "failed"
    assert [(c.status, c.count) for c in header.counts] == [("success", 2), ("failed", 1), ("skipped", 1)]
    assert (header.rows_in, header.rows_out) == (10, 7)
    assert header.trace_url == f"http://localhost:16686/trace/{TRACE_ID}"
    assert header.start_text == "2024-05-01 12:30:00 UTC"
    assert header.start_iso == "2024-05-01T12:30:00+00:00"
    assert header.duration_text == "100 ms"
    assert story.statuses == ("success", "failed", "skipped")
    assert story.layers == ("transform",)


def test_title_overrides_the_default() -> None:
    assert build_story(document([]), title="Customer run").header.title == "Customer run"


@pytest.mark.parametrize(
    ("template", "trace_id", "expected"),
    [
        ("https://tempo/t/{trace_id}?x=1", TRACE_ID.upper(), f"https://tempo/t/{TRACE_ID}?x=1"),
        ("http://jaeger/trace/{trace_id}", "not-a-trace-id", None),
        ("http://jaeger/trace/{trace_id}", None, None),
        (None, TRACE_ID, None),
    ],
)
def test_trace_links(template: str | None, trace_id: str | None, expected: str | None) -> None:
    assert build_trace_url(template, trace_id) == expected


@pytest.mark.parametrize(
    "template", ["javascript:alert(1)//{trace_id}", "http://jaeger/trace/", "file:///{trace_id}"]
)
def test_bad_trace_url_templates_are_rejected(template: str) -> None:
    with pytest.raises(ValueError, match="trace_url_template"):
        build_story(document([]), trace_url_template=template)


# -- cards -----------------------------------------------------------------------------------------


def test_schema_markers_from_the_documented_diff() -> None:
    before = {"raw": snapshot(5, {"id": "int64", "email": "str", "v": "float64"})}
    after = {"out": snapshot(3, {"id": "str", "v": "float64", "w": "float64"})}
    diff = {
        "added": [{"column": "w", "dtype": "float64"}],
        "removed": [{"column": "email", "dtype": "str"}],
        "changed": [{"column": "id", "before": "int64", "after": "str"}],
    }
    doc = document([step("t", inputs=["raw"], outputs=["out"], before=before, after=after, schema_diff=diff)])
    result = card(build_story(doc), "t")
    markers = {row.column: (row.marker, row.before, row.after) for row in result.schema}
    assert markers == {
        "id": ("changed", "int64", "str"),
        "v": ("same", "float64", "float64"),
        "w": ("added", None, "float64"),
        "email": ("removed", "str", None),
    }
    assert result.schema_summary == "+1 added · -1 removed · ~1 changed"
    assert (result.rows_before, result.rows_after, result.row_delta) == (5, 3, -2)
    assert result.delta_text == "2 rows removed"
    assert result.before_text == "5 rows · 3 columns"


def test_schema_diff_is_computed_when_the_document_has_none() -> None:
    doc = document(
        [
            step(
                "t",
                before={"a": snapshot(1, {"x": "int64"})},
                after={"b": snapshot(4, {"x": "float64", "y": "str"})},
                row_delta=3,
            )
        ]
    )
    result = card(build_story(doc), "t")
    assert [(r.column, r.marker) for r in result.schema] == [("x", "changed"), ("y", "added")]
    assert result.delta_text == "3 rows added"
    assert result.delta_tone == "up"


def test_unchanged_schema_says_so() -> None:
    same = {"a": snapshot(2, {"x": "int64"})}
    diff: dict[str, list[Any]] = {"added": [], "removed": [], "changed": []}
    result = card(build_story(document([step("t", before=same, after=same, schema_diff=diff)])), "t")
    assert result.schema_summary == "No schema changes"
    assert [r.marker for r in result.schema] == ["same"]
    assert result.delta_text == "no rows added or removed"


def test_failed_step_shows_its_inputs_and_error() -> None:
    error = {"type": "ValueError", "message": "bad <b>thing</b>", "traceback": "Traceback…\nValueError"}
    doc = document([step("boom", status="failed", before={"raw": snapshot(3, {"id": "int64"})}, error=error)])
    result = card(build_story(doc), "boom")
    assert result.error is not None
    assert (result.error.type, result.error.message) == ("ValueError", "bad <b>thing</b>")
    assert result.after_text == "No output (failed)"
    assert [(r.column, r.marker) for r in result.schema] == [("id", "input")]
    assert result.tone == "failed"


def test_skipped_step_card() -> None:
    result = card(build_story(document([step("later", status="skipped", start=None, end=None)])), "later")
    assert result.before_text == "No data"
    assert result.after_text == "Not run (skipped)"
    assert result.delta_text == ""
    assert result.schema == ()


def test_sample_tables_keep_values_as_typed_text() -> None:
    after = {
        "out": snapshot(
            2,
            {
                "n": "int64",
                "s": "str",
                "missing": "float64",
                "flag": "bool",
                "nested": "object",
                "email": "str",
            },
            [
                [1, "<script>", None, True, {"a": [1, 2]}, "[REDACTED]"],
                [2.5, "ok", None, False, [], "[REDACTED]"],
            ],
        )
    }
    after["out"]["redacted_columns"] = ["email"]
    result = card(build_story(document([step("t", after=after)])), "t")
    (table,) = result.samples
    assert table.role == "after" and table.key == "out" and table.captured
    assert [(h.name, h.redacted) for h in table.headers][-1] == ("email", True)
    first = [(c.text, c.kind) for c in table.body[0]]
    assert first == [
        ("1", "num"),
        ("<script>", "str"),
        ("null", "null"),
        ("true", "bool"),
        ('{"a": [1, 2]}', "json"),
        ("[REDACTED]", "redacted"),
    ]
    assert table.summary == "2 rows · 6 columns · ~200 B"


def test_snapshot_without_sample_is_marked_not_captured() -> None:
    result = card(build_story(document([step("t", after={"out": snapshot(2, {"a": "int64"})})])), "t")
    (table,) = result.samples
    assert not table.captured and table.body == ()


# -- plain timeline --------------------------------------------------------------------------------


def test_timeline_document_without_steps_becomes_a_plain_timeline() -> None:
    def span(
        name: str, span_id: str, parent: str | None, start: float, end: float, **extra: Any
    ) -> dict[str, Any]:
        return {
            "name": name,
            "span_id": span_id,
            "parent_span_id": parent,
            "start_time": at(start),
            "end_time": at(end),
            "duration_ms": end - start,
            "status": extra.pop("status", "unset"),
            "status_message": extra.pop("status_message", None),
            "attributes": extra,
        }

    timeline = [
        span("GET /orders", "b", "a", 5, 40, **{"http.status_code": 200}),
        span("SELECT orders", "c", "b", 10, 30, status="error", status_message="deadlock"),
        span("handle request", "a", None, 0, 50),
        span("background job", "d", "missing-parent", 60, 80),
    ]
    story = build_story({"trace_id": TRACE_ID, "timeline": timeline})
    assert story.mode == MODE_TIMELINE
    assert story.dag is None and story.cards == ()
    assert [(s.name, s.depth) for s in story.timeline] == [
        ("handle request", 0),
        ("GET /orders", 1),
        ("SELECT orders", 2),
        ("background job", 0),
    ]
    assert story.header.item_noun == "spans"
    assert story.header.status == "error"
    assert story.header.pipeline_name == "handle request"
    assert story.timeline[1].attributes == (("http.status_code", "200"),)
    rows = {row.name: row for row in story.waterfall.rows}
    assert rows["handle request"].offset_pct == 0 and rows["background job"].end_pct == pytest.approx(100)
    assert story.timeline[2].tone == "failed"
    assert story.timeline[2].status_message == "deadlock"
    assert story.timeline[0].status_message == ""


def test_a_document_with_steps_is_a_pipeline_story_even_with_a_timeline() -> None:
    doc = document([step("a")], timeline=[{"name": "pipeline x"}])
    assert build_story(doc).mode == MODE_PIPELINE


# -- validation ------------------------------------------------------------------------------------


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _valid_document() -> dict[str, Any]:
    sample = [[1, "a"], [2, "b"]]
    return document(
        [
            step(
                "read",
                type="read",
                outputs=["raw"],
                after={"raw": snapshot(2, {"id": "int64", "s": "str"}, sample)},
            ),
            step("clean", inputs=["raw"], outputs=["clean"], before={"raw": snapshot(2, {"id": "int64"})}),
            step(
                "orders",
                inputs=["clean"],
                outputs=["orders"],
                after={"orders": snapshot(2, {"id": "int64"}), "out.csv": snapshot(2, {"id": "int64"})},
            ),
        ]
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            _set(["steps", 2, "after", "orders", "rows"], "3"),
            "steps[2].after.orders.rows: expected an integer, got string '3'",
        ),
        (
            _set(["steps", 2, "after", "out.csv", "rows"], -1),
            'steps[2].after["out.csv"].rows: expected an integer >= 0, got -1',
        ),
        (
            _set(["steps", 0, "after", "raw", "sample", "rows", 1], [1]),
            "steps[0].after.raw.sample.rows[1]: expected 2 values",
        ),
        (
            _set(["steps", 0, "after", "raw", "schema", "id"], 5),
            "steps[0].after.raw.schema.id: expected a dtype string, got number 5",
        ),
        (
            _set(["steps", 1, "start_time"], "yesterday"),
            "steps[1].start_time: expected an ISO 8601 timestamp, got string 'yesterday'",
        ),
        (
            _set(["steps", 1, "duration_ms"], -5),
            "steps[1].duration_ms: expected a number >= 0, got number -5",
        ),
        (
            _set(["steps", 1, "inputs"], "raw"),
            "steps[1].inputs: expected an array of strings, got string 'raw'",
        ),
        (_set(["steps", 1, "inputs", 0], 7), "steps[1].inputs[0]: expected a string, got number 7"),
        (_set(["steps", 1, "name"], None), "steps[1].name: expected a string, got null"),
        (_set(["steps", 1, "name"], "read"), "steps[1].name: duplicate step name 'read' (also steps[0])"),
        (_set(["steps", 1, "cache_hit"], "yes"), "steps[1].cache_hit: expected true, false or null"),
        (_set(["steps", 1, "before"], []), "steps[1].before: expected an object, got an array"),
        (
            _set(["steps", 1, "error"], {"message": 3}),
            "steps[1].error.message: expected a string, got number 3",
        ),
        (
            _set(["steps", 1, "schema_diff"], {"added": [{"column": "x"}]}),
            "steps[1].schema_diff.added[0].dtype: expected a string",
        ),
        (
            _set(["steps", 0, "inputs"], ["orders"]),
            "steps[0].inputs: the steps' data keys form a dependency cycle",
        ),
        (_set(["steps", 1], "clean"), "steps[1]: expected an object, got string 'clean'"),
        (_set(["steps"], {}), "steps: expected an array of steps, got an object"),
        (_set(["format"], "something.else"), "format: expected 'odibi_otel.lineage'"),
        (_set(["version"], 2), "version: unsupported lineage version 2"),
        (_set(["start_time"], 12), "start_time: expected an ISO 8601 timestamp string, got number 12"),
        (_set(["timeline"], "x"), "timeline: expected an array of spans"),
    ],
)
def test_malformed_documents_name_the_file_and_the_place(
    mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = copy.deepcopy(_valid_document())
    build_story(copy.deepcopy(doc), source="lineage.json")  # the untouched document is valid
    mutate(doc)
    with pytest.raises(StoryInputError) as caught:
        build_story(doc, source="lineage.json")
    assert str(caught.value).startswith(f"lineage.json: {message}")
    assert isinstance(caught.value, OdibiError) and isinstance(caught.value, ValueError)
    assert caught.value.source == "lineage.json"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "lineage.json: expected an object, got an array"),
        ({"pipeline_name": "x"}, "lineage.json: expected a lineage document with a 'steps' array"),
        ({"timeline": [{"name": 1}]}, "lineage.json: timeline[0].name: expected a string, got number 1"),
    ],
)
def test_documents_that_are_not_lineage_at_all(doc: Any, message: str) -> None:
    with pytest.raises(StoryInputError, match="^" + message.replace("[", r"\[").replace("]", r"\]")):
        build_story(doc, source="lineage.json")


# -- formatting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "—"), (0, "0 ms"), (0.42, "0.42 ms"), (53.21, "53.2 ms"), (512.4, "512 ms"), (1500, "1.50 s"),
     (12_500, "12.5 s"), (125_000, "2 min 5 s"), (3_780_000, "1 h 3 min")],
)  # fmt: skip
def test_format_duration(ms: float | None, text: str) -> None:
    assert format_duration(ms) == text


def test_small_formatters() -> None:
    assert [format_delta(v) for v in (None, 0, 3, -5000)] == ["—", "±0", "+3", "-5,000"]
    assert [format_bytes(v) for v in (None, 213, 2048, 3 * 1024**3)] == ["—", "213 B", "2.0 KiB", "3.0 GiB"]
    assert [status_tone(s) for s in ("success", "FAILED", "ok", "error", "skipped", "weird")] == [
        "success",
        "failed",
        "success",
        "failed",
        "skipped",
        "neutral",
    ]

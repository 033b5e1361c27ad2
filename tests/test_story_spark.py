"""The story of a Spark run: job and stage bars under their node, Spark figures, "not computed".

The jobs travel in the steps' lineage documents (and so in their log events), so the page built
from the run, from its lineage file and from its OTLP/JSON telemetry file alone is the same, byte
for byte; from the spans alone (no lineage events) the job bars are the same too. The tests marked
``spark`` run real pipelines on the session's embedded Spark; the others are pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_spark_engine import _steps, keep_completed

from odibi_otel import Orchestrator, Step, StoryGenerator
from odibi_otel.lineage.from_telemetry import lineage_from_otlp_file
from odibi_otel.otel import semconv
from odibi_otel.otel.otlp_json import OtlpJsonFile
from odibi_otel.story import build_story, render_story
from odibi_otel.story.model import format_bytes, format_count, format_duration

#: A bar of the waterfall: its tone, depth, card, name, detail and duration.
BAR = re.compile(
    r'<div class="wf-row tone-(?P<tone>\w+)(?: is-work)?"><div class="wf-label"'
    r'(?: style="--depth:(?P<depth>\d+)")? title="[^"]*"><a href="#(?P<card>step-\d+)">(?P<name>[^<]+)</a>'
    r'(?:<span class="layer">[^<]*</span>)?(?:<span class="work-detail">(?P<detail>[^<]*)</span>)?</div>'
    r'.*?<div class="wf-dur">(?P<duration>[^<]*)</div>',
    re.S,
)
ZERO_ROWS = re.compile(r"(?<![\d,.])0 rows")


@dataclass(frozen=True)
class Bar:
    tone: str
    depth: int
    card: str
    name: str
    detail: str
    duration: str


@dataclass(frozen=True)
class SparkStory:
    """A Spark run with its lineage file, telemetry file, spans and story page."""

    folder: Path
    lineage: Path
    telemetry: Path
    spans: tuple[ReadableSpan, ...]
    live_page: str
    page: str


def fail_on_cancelled(orders: Any) -> Any:
    """A Spark transform whose job fails when it meets a cancelled order (in the JVM, no UDF)."""
    from pyspark.sql import functions as F

    failing = F.raise_error(F.lit("cancelled order"))
    return orders.withColumn("checked", F.when(F.col("status") == "cancelled", failing).otherwise("ok"))


def _run(spark: Any, folder: Path, steps: list[Step]) -> SparkStory:
    telemetry = OtlpJsonFile(folder / "run.otlp.jsonl", truncate=True)
    memory = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.span_exporter))
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(telemetry.log_exporter))
    result = Orchestrator(
        steps,
        engine_type="spark",
        spark=spark,
        enable_tracker=True,
        pipeline_name="spark_story",
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
    ).execute()
    result["tracker"].export_lineage(folder / "lineage.json")
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return SparkStory(
        folder=folder,
        lineage=folder / "lineage.json",
        telemetry=folder / "run.otlp.jsonl",
        spans=tuple(memory.get_finished_spans()),
        live_page=render_story(build_story(result["tracker"].to_dict())),
        page=StoryGenerator().render_html(folder / "lineage.json"),
    )


@pytest.fixture(scope="module")
def spark_run(spark_session: Any, tmp_path_factory: pytest.TempPathFactory) -> SparkStory:
    """read → keep_completed → per_customer → store, and unused_copy, whose frame no job computes."""
    folder = tmp_path_factory.mktemp("spark_story")
    unused = Step("unused_copy", "transform", "function", keep_completed, inputs=["raw"], outputs=["unused"])
    return _run(spark_session, folder, [*_steps(folder), unused])


@pytest.fixture(scope="module")
def failed_run(spark_session: Any, tmp_path_factory: pytest.TempPathFactory) -> SparkStory:
    """read → check_orders → store_checked, whose write job fails on the first cancelled order."""
    folder = tmp_path_factory.mktemp("spark_story_failed")
    read = _steps(folder)[0]
    check = Step(
        "check_orders", "transform", "function", fail_on_cancelled, inputs=["raw"], outputs=["checked"]
    )
    store = Step(
        "store_checked", "store", "write", str(folder / "out" / "checked.parquet"), inputs=["checked"]
    )
    return _run(spark_session, folder, [read, check, store])


def bars(page: str) -> list[Bar]:
    section = page[page.index('<section id="waterfall"') :]
    section = section[: section.index("</section>")]
    return [
        Bar(m["tone"], int(m["depth"] or 0), m["card"], m["name"], m["detail"] or "", m["duration"])
        for m in BAR.finditer(section)
    ]


def card_of(page: str, name: str) -> str:
    start = page.index(f'data-name="{name}"')
    return page[start : page.index("</article>", start)]


def figures(page: str, name: str) -> dict[str, str]:
    """The Spark figures on a step's card (``{}`` when it has none)."""
    found = re.search(
        r'<dl class="engine-figures" aria-label="Spark figures">(.*?)</dl>', card_of(page, name)
    )
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", found.group(1))) if found else {}


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    """``parent``'s child spans in the engine's order: jobs by id, stages by start."""
    assert parent.context is not None
    found = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(found, key=lambda s: (s.attributes.get(semconv.SPARK_JOB_ID, -1), s.start_time, s.name))


def node_span(spans: tuple[ReadableSpan, ...], step: str) -> ReadableSpan:
    (found,) = [span for span in spans if span.name == semconv.NODE_SPAN_PREFIX + step]
    return found


# -- a real Spark run ---------------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.integration
def test_each_job_and_its_stages_are_bars_under_their_node(spark_run: SparkStory) -> None:
    found = bars(spark_run.page)
    cards = {bar.name: bar.card for bar in found if bar.depth == 0}
    expected = []
    for name in ("read_orders", "keep_completed", "per_customer", "store", "unused_copy"):
        expected.append((0, cards[name], name))
        for job in children(spark_run.spans, node_span(spark_run.spans, name)):
            assert job.name.startswith(semconv.SPARK_JOB_SPAN_PREFIX)
            expected.append((1, cards[name], job.name))
            expected += [(2, cards[name], stage.name) for stage in children(spark_run.spans, job)]
    assert [(bar.depth, bar.card, bar.name) for bar in found] == expected
    under_store = [bar for bar in found if bar.card == cards["store"] and bar.depth]
    assert {bar.depth for bar in under_store} == {1, 2}  # the write's job and its stage(s)
    assert all(bar.tone == "success" and bar.duration not in ("", "—") for bar in under_store)
    assert all(bar.detail and not bar.detail.startswith("failed") for bar in under_store)


@pytest.mark.spark
@pytest.mark.integration
def test_cards_show_the_spark_totals_of_their_node(spark_run: SparkStory) -> None:
    totals = node_span(spark_run.spans, "store").attributes
    shown = figures(spark_run.page, "store")
    assert shown["Spark jobs"] == str(totals[semconv.SPARK_JOBS])
    assert shown["Tasks"] == format_count(int(totals[semconv.SPARK_TASKS]))  # no failed tasks
    assert shown["Records read"] == format_count(int(totals[semconv.SPARK_INPUT_RECORDS]))
    assert shown["Bytes read"] == format_bytes(int(totals[semconv.SPARK_INPUT_BYTES]))
    assert shown["Records written"] == format_count(int(totals[semconv.SPARK_OUTPUT_RECORDS]))
    assert shown["Shuffle written"] == format_bytes(int(totals[semconv.SPARK_SHUFFLE_WRITE_BYTES]))
    assert shown["Shuffle read"] == format_bytes(int(totals[semconv.SPARK_SHUFFLE_READ_BYTES]))
    assert shown["Peak execution memory"] == format_bytes(int(totals[semconv.SPARK_PEAK_EXECUTION_MEMORY]))
    cpu = int(totals[semconv.SPARK_EXECUTOR_CPU_TIME_NS])
    assert shown["Executor CPU time"] == format_duration(cpu / 1e6)
    spilled = int(totals.get(semconv.SPARK_SPILL_DISK_BYTES, 0))
    assert ("Spilled (disk)" in shown) == (spilled > 0)  # nothing spilled: not shown
    for lazy in ("keep_completed", "per_customer", "unused_copy"):  # they only defined frames
        assert node_span(spark_run.spans, lazy).attributes[semconv.SPARK_JOBS] == 0
        assert figures(spark_run.page, lazy) == {}


@pytest.mark.spark
@pytest.mark.integration
def test_rows_are_the_lineage_counts_and_not_computed_where_no_job_counted(spark_run: SparkStory) -> None:
    page = spark_run.page
    # per_customer's frame was counted by store's write: the span has no count, the story has
    assert semconv.NODE_ROWS_OUT not in node_span(spark_run.spans, "per_customer").attributes
    assert "37 rows · 3 columns" in card_of(page, "per_customer")
    # no job ever computed unused_copy's frame: its card says so, never 0
    assert semconv.NODE_ROWS_OUT not in node_span(spark_run.spans, "unused_copy").attributes
    assert "<dd>rows not computed · 4 columns</dd>" in card_of(page, "unused_copy")
    assert '"unused","rows not computed · 4 columns' in page  # the After section's summary
    assert "rows added" not in card_of(page, "unused_copy") and "removed" not in card_of(page, "unused_copy")
    assert "<dd>1,000 → 37</dd>" in page  # the header's rows in → out
    assert not ZERO_ROWS.search(page)


@pytest.mark.spark
@pytest.mark.integration
def test_the_story_from_the_telemetry_file_is_the_same_page(spark_run: SparkStory) -> None:
    assert spark_run.live_page == spark_run.page
    assert StoryGenerator().render_html(spark_run.telemetry) == spark_run.page


@pytest.mark.spark
@pytest.mark.integration
def test_from_the_spans_alone_the_job_bars_are_the_same(spark_run: SparkStory) -> None:
    lines = spark_run.telemetry.read_text("utf-8").splitlines(keepends=True)
    spans_only = spark_run.folder / "spans.otlp.jsonl"
    spans_only.write_text("".join(line for line in lines if '"resourceLogs"' not in line), "utf-8")
    rebuilt = lineage_from_otlp_file(spans_only)
    tracked = lineage_from_otlp_file(spark_run.telemetry)
    assert [step.get("engine_work") for step in rebuilt["steps"]] == [
        step.get("engine_work") for step in tracked["steps"]
    ]
    page = StoryGenerator().render_html(spans_only)
    assert bars(page) == bars(spark_run.page)
    assert figures(page, "store") == figures(spark_run.page, "store")
    # counts known only after their node ended are not in the spans: "not computed", never 0
    assert "Rows not computed" in card_of(page, "store") and not ZERO_ROWS.search(page)


@pytest.mark.spark
@pytest.mark.integration
def test_a_failed_job_and_its_stage_are_marked_failed_under_their_node(failed_run: SparkStory) -> None:
    found = bars(failed_run.page)
    (node,) = [bar for bar in found if bar.name == "store_checked"]
    work = [bar for bar in found if bar.card == node.card and bar.depth]
    assert node.tone == "failed"
    assert [bar.depth for bar in work][:2] == [1, 2]
    assert all(bar.tone == "failed" and bar.detail.startswith("failed") for bar in work)
    shown = figures(failed_run.page, "store_checked")
    assert shown["Spark jobs"] == "1 (1 failed)"
    assert re.fullmatch(r"\d+ \(\d+ failed\)", shown["Tasks"])
    assert StoryGenerator().render_html(failed_run.telemetry) == failed_run.page
    assert failed_run.live_page == failed_run.page


# -- pure: hand-made lineage documents ------------------------------------------------------------


def at(ms: int) -> str:
    """An ISO time ``ms`` milliseconds after 2024-05-01 12:30 UTC (``ms`` < 60 s)."""
    return f"2024-05-01T12:30:{ms // 1000:02d}.{ms % 1000:03d}+00:00"


def work(
    name: str, start: int, end: int, figures: dict[str, Any], failure: str | None = None
) -> dict[str, Any]:
    """An ``engine_work`` entry as the tracker writes it."""
    return {
        "name": name,
        "start_time": at(start),
        "end_time": at(end),
        "duration_ms": float(end - start),
        "failure": failure,
        "figures": figures,
    }


def step(name: str, step_type: str, start: int, end: int, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "layer": "x", "type": step_type, "status": "success"}
    entry.update(start_time=at(start), end_time=at(end), duration_ms=float(end - start))
    entry.update(inputs=[], outputs=[], before={}, after={})
    return entry | extra


def snapshot(rows: int | None) -> dict[str, Any]:
    return {"rows": rows, "columns": 2, "schema": {"a": "bigint", "b": "string"}}


STAGE = {semconv.SPARK_STAGE_NAME: "parquet at x.py:1", semconv.SPARK_TASKS: 2}
JOB = {
    semconv.SPARK_JOB_DESCRIPTION: "write orders",
    semconv.SPARK_TASKS: 4,
    semconv.SPARK_TASKS_FAILED: 1,
    semconv.SPARK_INPUT_RECORDS: 12_345,
    semconv.SPARK_OUTPUT_BYTES: 3 * 1024**2,
    semconv.SPARK_SHUFFLE_READ_BYTES: 2048,
    semconv.SPARK_SPILL_DISK_BYTES: 0,
    semconv.SPARK_PEAK_EXECUTION_MEMORY: 1024,
    semconv.SPARK_EXECUTOR_CPU_TIME_NS: 250_000_000,
}
#: The write's jobs: the first with its stage, the second failed, ending after the run's end.
JOBS = [
    work("spark job 1", 100, 400, JOB) | {"parts": [work("spark stage 1.0", 110, 390, STAGE)]},
    work("spark job 2", 400, 1010, {**JOB, semconv.SPARK_PEAK_EXECUTION_MEMORY: 4096}, failure="boom"),
]


def spark_document(jobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """read (not counted) → lazy (nothing counted) and a write with ``jobs``, over one second."""
    lazy = step("lazy", "function", 10, 20, inputs=["raw"], outputs=["out"], rows_in=None, rows_out=None)
    lazy.update(before={"raw": snapshot(None)}, after={"out": snapshot(None)})
    store = step("store", "write", 90, 1000) | ({"engine_work": jobs} if jobs else {})
    steps = [step("read", "read", 0, 10, rows_out=None), lazy, store]
    return {"format": semconv.LINEAGE_FORMAT, "start_time": at(0), "end_time": at(1000), "steps": steps}


def test_jobs_and_stages_become_bars_under_their_step() -> None:
    story = build_story(spark_document(JOBS))
    rows = [(r.depth, r.target_id, r.name, r.tone, r.detail, r.duration_text) for r in story.waterfall.rows]
    assert rows[2:] == [
        (0, "step-3", "store", "success", "", "910 ms"),
        (1, "step-3", "spark job 1", "success", "write orders", "300 ms"),
        (2, "step-3", "spark stage 1.0", "success", "parquet at x.py:1", "280 ms"),
        (1, "step-3", "spark job 2", "failed", "failed · write orders", "610 ms"),
    ]
    assert story.waterfall.total_ms == 1010  # a job ending after the run widens the axis
    page = render_story(story)
    assert 'title="spark job 2 · failed · write orders"' in page and ".engine-figures {" in page


def test_the_card_shows_the_jobs_totals_formatted() -> None:
    (card,) = [c for c in build_story(spark_document(JOBS)).cards if c.name == "store"]
    assert card.engine_figures == (
        ("Spark jobs", "2 (1 failed)"),
        ("Tasks", "8 (2 failed)"),
        ("Records read", "24,690"),
        ("Bytes written", "6.0 MiB"),
        ("Shuffle read", "4.0 KiB"),
        ("Peak execution memory", "4.0 KiB"),  # the largest job's, not a sum
        ("Executor CPU time", "500 ms"),
    )


def test_null_rows_say_not_computed_everywhere() -> None:
    story = build_story(spark_document())
    read, lazy, store = story.cards
    assert (read.after_text, read.delta_text) == ("Rows not computed", "")
    assert (lazy.before_text, lazy.after_text) == ("rows not computed · 2 columns",) * 2
    assert lazy.row_delta is None and lazy.delta_text == ""
    assert [table.summary for table in lazy.samples] == ["rows not computed · 2 columns"] * 2
    assert store.before_text == "No data" and store.after_text == "Rows not computed"
    assert (story.header.rows_in_text, story.header.rows_out_text) == ("not computed", "not computed")
    assert all(card.engine_figures == () for card in story.cards)
    assert ".engine-figures {" not in render_story(story)  # no Spark jobs: no Spark styles


def test_a_partly_counted_total_names_what_was_not_computed() -> None:
    doc = spark_document()
    doc["steps"].append(step("read_more", "read", 0, 10, after={"more": snapshot(1500)}))
    assert build_story(doc).header.rows_in_text == "1,500 + not computed"


def test_a_step_whose_input_was_not_computed_has_no_delta_against_zero() -> None:
    lazy = step("lazy", "function", 10, 20, inputs=["raw"], outputs=["out"], rows_in=None, rows_out=7)
    (card,) = build_story({"steps": [lazy]}).cards
    assert card.before_text == "Rows not computed" and card.after_text == "7 rows"
    assert card.row_delta is None and card.delta_text == ""


def test_the_history_view_says_rows_out_not_computed() -> None:
    from odibi_otel.history.records import NodeRecord, RunRecord

    before = RunRecord("r0", "p", "success", 1.0, 2.0, nodes=(NodeRecord("lazy", "success", 10.0, 5, 900),))
    lazy = build_story(spark_document(), history=[before]).cards[1]
    assert lazy.history is not None
    assert lazy.history.changes[0] == "rows out not computed (previous run: 900)"


def test_spark_spans_alone_rebuild_the_engine_work(tmp_path: Path) -> None:
    """Without lineage events, a node's job spans (and their stage spans) become its engine work."""
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    telemetry = OtlpJsonFile(tmp_path / "spans.otlp.jsonl", truncate=True)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(telemetry.span_exporter))
    tracer = provider.get_tracer("test")
    ms = 1_714_566_600_000_000_000  # 2024-05-01 12:30 UTC, in ns; + n * 1_000_000 is n ms later
    run = {semconv.RUN_ID: "r1", semconv.PIPELINE_NAME: "p"}
    pipeline = tracer.start_span("pipeline p", attributes=run, start_time=ms)
    inside = trace.set_span_in_context(pipeline)

    def node(name: str, step_type: str, **attributes: Any) -> trace.Span:
        fields = {semconv.NODE_NAME: name, semconv.NODE_TYPE: step_type, semconv.NODE_STATUS: "success"}
        return tracer.start_span(
            f"node {name}", inside, attributes={**run, **fields, **attributes}, start_time=ms
        )

    counted = node("counted", "function", **{semconv.NODE_INPUTS: ["a"], semconv.NODE_ROWS_IN: 3})
    counted.set_attribute(semconv.NODE_ROWS_OUT, 2)
    counted.end(ms + 5_000_000)
    store = node("store", "write", **{semconv.NODE_INPUTS: ["b"]})  # its input was not computed yet
    job_figures = {semconv.SPARK_JOB_ID: 3, semconv.SPARK_STATUS: "FAILED", semconv.SPARK_TASKS: 2}
    job = tracer.start_span(
        "spark job 3", trace.set_span_in_context(store), attributes=job_figures, start_time=ms + 1_000_000
    )
    stage = tracer.start_span(
        "spark stage 4.0", trace.set_span_in_context(job), attributes=STAGE, start_time=ms + 2_000_000
    )
    for span in (stage, job):
        span.set_attribute(semconv.ERROR_TYPE, "SparkJobFailed")
        span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(ms + 9_000_000)
    store.end(ms + 8_000_000)
    pipeline.end(ms + 10_000_000)
    provider.shutdown()

    counted_step, store_step = lineage_from_otlp_file(tmp_path / "spans.otlp.jsonl")["steps"]
    assert "engine_work" not in counted_step  # no job spans: the step is as it always was
    assert (counted_step["rows_in"], counted_step["row_delta"]) == (3, -1)
    assert store_step["rows_in"] is None  # left out of the span: not computed, never 0

    def entry(name: str, start_ms: int, figures: dict[str, Any]) -> dict[str, Any]:
        start, end = f"2024-05-01T12:30:00.00{start_ms}000+00:00", "2024-05-01T12:30:00.009000+00:00"
        duration = float(9 - start_ms)
        return {"name": name, "start_time": start, "end_time": end, "duration_ms": duration} | {
            "failure": "boom",  # the span's status description; error.type is not a figure
            "figures": figures,
        }

    stage_entry = entry("spark stage 4.0", 2, STAGE)
    assert store_step["engine_work"] == [entry("spark job 3", 1, job_figures) | {"parts": [stage_entry]}]

"""The story in headless Chromium: opens from file:// cleanly, works, and never runs injected markup.

A real run puts XSS payloads in cell values, column names, data keys, step names, a layer, an error
message, the pipeline name and the title. The page must show them as text, keep ``window.__xss``
unset, log no console error, raise no page error and request nothing but its own file:// URL. The
schema and sample tables are drawn by the page's script from its JSON data block, so the payloads
in them go through that path too.

Chromium is Debian's ``chromium`` (``/usr/bin/chromium``, or ``$ODIBI_CHROMIUM``), driven by the
PyPI ``playwright`` package; ``.ci/run`` installs it. Without it these tests fail, they never skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk.trace import TracerProvider

from odibi_otel import Orchestrator, Step, StoryGenerator

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
except ImportError:  # pragma: no cover - reported by the browser fixture
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = os.environ.get("ODIBI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
ATTR = '"\'><svg onload="window.__xss=1">'
PAYLOADS = (SCRIPT, IMG, ATTR)

READ = f"read {SCRIPT}"
TRANSFORM = IMG
FAIL = f"fail {ATTR}"
SKIPPED = "after_fail"
NAMES = (READ, TRANSFORM, FAIL, SKIPPED)
TITLE = f"Story {SCRIPT}{IMG}"
PIPELINE = f"pipeline {IMG}"
ERROR = f"{IMG} went wrong {SCRIPT}"


def add_payload_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{ATTR: frame["id"] * 2})


def fail(frame: pd.DataFrame) -> pd.DataFrame:
    raise ValueError(ERROR)


def identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@pytest.fixture(scope="module")
def story_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("story_browser")
    pd.DataFrame({"id": [1, 2], SCRIPT: [IMG, "plain"], IMG: [SCRIPT, ATTR]}).to_csv(
        folder / "in.csv", index=False
    )
    steps = [
        Step(READ, IMG, "read", str(folder / "in.csv"), outputs=[f"raw{ATTR}"]),
        Step(TRANSFORM, "transform", "function", add_payload_column, inputs=[f"raw{ATTR}"], outputs=["wide"]),
        Step(FAIL, SCRIPT, "function", fail, inputs=["wide"], outputs=["failed"]),
        Step(SKIPPED, "transform", "function", identity, inputs=["failed"], outputs=["never"]),
    ]
    provider = TracerProvider()
    result = Orchestrator(
        steps, enable_tracker=True, fail_fast=False, pipeline_name=PIPELINE, tracer_provider=provider
    ).execute()
    provider.shutdown()
    assert result["failed_nodes"] == [FAIL] and result["skipped_nodes"] == [SKIPPED]
    result["tracker"].export_lineage(folder / "lineage.json")
    generator = StoryGenerator(trace_url_template="http://localhost:16686/trace/{trace_id}")
    return generator.generate_story(folder / "lineage.json", folder / "story.html", title=TITLE)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.fail(
            "the story browser tests need the 'playwright' package: pip install -e '.[test]'", pytrace=False
        )
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run "
            "does) or point ODIBI_CHROMIUM at a Chromium binary. Do not run `playwright install`.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Opened:
    """A story page and everything it reported while open."""

    page: Page
    url: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def xss_flag(self) -> Any:
        return self.page.evaluate("() => typeof window.__xss === 'undefined' ? null : window.__xss")

    def assert_clean(self) -> None:
        assert self.console == [] and self.errors == []
        assert self.requests == [self.url]
        assert self.xss_flag() is None

    def drawn(self, selector: str) -> int:
        """How many elements match ``selector`` now."""
        count: int = self.page.locator(selector).count()
        return count

    def visible_cards(self) -> list[str]:
        names: list[str] = self.page.eval_on_selector_all(
            "article.card", "els => els.filter(e => !e.hidden).map(e => e.dataset.name)"
        )
        return names


def open_story(browser: Browser, path: Path, *, javascript: bool = True) -> Iterator[Opened]:
    context = browser.new_context(
        java_script_enabled=javascript, reduced_motion="reduce", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    opened = Opened(page, path.as_uri())

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            opened.console.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.on("request", lambda request: opened.requests.append(request.url))
    page.goto(opened.url)
    page.wait_for_load_state("load")
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture()
def story(browser: Browser, story_file: Path) -> Iterator[Opened]:
    yield from open_story(browser, story_file)


def test_opens_from_file_url_without_errors_or_network(story: Opened) -> None:
    assert story.page.is_visible("#toolbar")  # the script ran
    story.page.click("[data-action=expand]")
    story.assert_clean()
    # one script runs; the other <script> is the JSON data block, which is never executed
    assert story.page.evaluate("[...document.scripts].map(s => s.type)") == ["application/json", ""]
    assert (
        story.page.evaluate(
            "document.querySelectorAll('img, iframe, object, embed, link[rel=stylesheet]').length"
        )
        == 0
    )


def test_payloads_show_as_text_and_never_run(story: Opened) -> None:
    page = story.page
    page.click("[data-action=expand]")  # samples and tracebacks too
    assert page.title() == TITLE
    text = page.inner_text("body")
    for payload in (*PAYLOADS, TITLE, PIPELINE, ERROR, *NAMES):
        assert payload in text, payload
    for name in NAMES:
        assert page.locator("article.card h3", has_text=name).count() == 1
    assert page.locator("table.sample th", has_text=SCRIPT).count() >= 1  # column name
    assert page.locator("table.sample td", has_text=IMG).count() >= 1  # cell value
    assert page.locator("table.schema td.col", has_text=ATTR).count() >= 1  # added column
    assert page.locator(".card .chip", has_text=IMG).count() >= 1  # layer
    assert page.locator(".error .message", has_text=ERROR).count() == 1
    assert page.locator("a.dag-node > title").all_text_contents()[0] == f"{READ} — success"
    assert page.locator("#step-1").get_attribute("data-name") == READ  # attribute value intact
    story.assert_clean()


def test_waterfall_dag_and_cards_are_present(story: Opened) -> None:
    page = story.page
    assert page.locator("#waterfall .wf-row:not(.wf-axis)").count() == len(NAMES)
    assert page.locator("#waterfall .bar").count() == 3
    assert page.locator("#waterfall .not-run").count() == 1
    assert page.locator("svg.dag a.dag-node").count() == len(NAMES)
    assert page.locator("svg.dag path.edge").count() == 3
    assert story.visible_cards() == list(NAMES)
    assert page.inner_text("#filter-count") == "4 of 4 steps"


def test_filter_by_status(story: Opened) -> None:
    page = story.page
    page.uncheck("input[data-filter-status][value=success]")
    assert story.visible_cards() == [FAIL, SKIPPED]
    assert page.inner_text("#filter-count") == "2 of 4 steps"
    assert page.locator("#waterfall .wf-row:not(.wf-axis):visible").count() == 2
    assert page.locator("a.dag-node.is-dimmed").count() == 2
    page.uncheck("input[data-filter-status][value=failed]")
    page.uncheck("input[data-filter-status][value=skipped]")
    assert story.visible_cards() == []
    assert page.is_visible("#filter-empty")
    page.click("#filter-reset")
    assert story.visible_cards() == list(NAMES)
    assert not page.is_visible("#filter-empty")
    story.assert_clean()


def test_filter_by_layer(story: Opened) -> None:
    story.page.select_option("#filter-layer", "transform")
    assert story.visible_cards() == [TRANSFORM, SKIPPED]
    story.page.select_option("#filter-layer", IMG)  # a layer that is a payload is just a value
    assert story.visible_cards() == [READ]
    story.assert_clean()


def test_search_by_name(story: Opened) -> None:
    page = story.page
    page.fill("#filter-search", "AFTER")
    assert story.visible_cards() == [SKIPPED]
    page.fill("#filter-search", "<img")
    assert story.visible_cards() == [TRANSFORM]
    page.fill("#filter-search", "no such step")
    assert story.visible_cards() == []
    assert page.inner_text("#filter-count") == "0 of 4 steps"
    story.assert_clean()


def test_clicking_a_dag_node_scrolls_to_and_highlights_its_card(story: Opened) -> None:
    page = story.page
    page.click('a.dag-node[href="#step-3"]')
    card = page.locator("#step-3")
    page.wait_for_function("() => location.hash === '#step-3'")
    assert "is-highlighted" in (card.get_attribute("class") or "")
    assert card.evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }"
    )
    assert "is-current" in (page.locator('a.dag-node[href="#step-3"]').get_attribute("class") or "")
    # a card hidden by the filters is shown again, and only one card is highlighted
    page.fill("#filter-search", SKIPPED)
    page.click('a.dag-node[href="#step-1"]')
    assert story.visible_cards() == list(NAMES)
    assert page.locator(".card.is-highlighted").count() == 1
    assert "is-highlighted" in (page.locator("#step-1").get_attribute("class") or "")
    story.assert_clean()


def test_schema_and_sample_tables_are_drawn_when_opened(story: Opened) -> None:
    page = story.page
    # schema sections start open, so their tables are drawn at once; samples wait to be opened
    assert story.drawn("details.schema-block[open] table.schema") == story.drawn("details.schema-block")
    assert story.drawn("details.sample-block") == 4  # read: after; transform: before, after; fail: before
    assert story.drawn("details.sample-block table") == 0
    first = page.locator("#step-2 details.sample-block").first
    summary = first.locator("summary").inner_text()
    assert summary.startswith(f"Before · raw{ATTR} — 2 rows · 3 columns · ~") and summary.endswith(" B")
    first.locator("summary").click()
    assert first.locator("table.sample tbody tr").count() == 2
    assert story.drawn("details.sample-block table") == 1
    # the same snapshot (read's output, transform's input) shows the same values
    page.locator("#step-1 details.sample-block summary").click()
    assert page.locator("#step-1 table.sample").inner_text() == first.locator("table.sample").inner_text()
    # a value's kind survives: numbers right-aligned, the payload cell a plain string
    assert page.locator("#step-1 table.sample td.k-num").count() == 2
    assert page.locator("#step-1 table.sample td.k-str", has_text=IMG).count() == 1
    # closing and reopening draws nothing twice
    first.locator("summary").click()
    first.locator("summary").click()
    assert first.locator("table.sample").count() == 1
    markers = page.locator("#step-2 table.schema tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.marker, r.cells[0].textContent, r.cells[1].textContent])"
    )
    assert markers == [["same", "", "id"], ["same", "", SCRIPT], ["same", "", IMG], ["added", "+", ATTR]]
    story.assert_clean()


def test_details_open_from_the_keyboard(story: Opened) -> None:
    page = story.page
    summary = page.locator("#step-3 details.sample-block summary")
    summary.focus()
    page.keyboard.press("Enter")
    page.locator("#step-3 table.sample").wait_for()
    assert page.locator("#step-3 details.sample-block").evaluate("e => e.open")
    node = page.get_by_role("link", name=f"{TRANSFORM} — success")  # the node's <title> names it
    assert node.get_attribute("href") == "#step-2"
    node.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.hash === '#step-2'")
    page.wait_for_function("() => document.getElementById('step-2').classList.contains('is-highlighted')")
    story.assert_clean()


def test_a_large_story_works_and_draws_details_only_when_asked(browser: Browser, tmp_path: Path) -> None:
    chains, depth = 20, 20  # 401 steps
    schema = {"id": "int64", "label": "str"}
    sample = {"columns": list(schema), "rows": [[k, f"{IMG} {k}"] for k in range(5)]}
    snapshot = {"rows": 100, "columns": 2, "schema": schema, "size_bytes": 2_000, "sample": sample}
    steps: list[dict[str, Any]] = [
        {"name": "source", "layer": "ingest", "outputs": ["d0"], "after": {"d0": snapshot}}
    ]
    for index in range(1, chains * depth + 1):
        chain, level = (index - 1) % chains, (index - 1) // chains
        parent = f"d{0 if level == 0 else index - chains}"
        steps.append(
            {
                "name": f"c{chain:02d}_s{level:03d}",
                "layer": "transform" if level % 2 == 0 else "publish",
                "status": "success",
                "inputs": [parent],
                "outputs": [f"d{index}"],
                "start_time": "2024-05-01T12:00:00+00:00",
                "end_time": "2024-05-01T12:00:01+00:00",
                "before": {parent: snapshot},
                "after": {f"d{index}": snapshot},
            }
        )
    (tmp_path / "wide.json").write_text(json.dumps({"pipeline_name": "wide", "steps": steps}), "utf-8")
    path = StoryGenerator().generate_story(tmp_path / "wide.json", tmp_path / "wide.html")
    for opened in open_story(browser, path):
        page = opened.page
        total = chains * depth + 1
        assert page.inner_text("#filter-count") == f"{total} of {total} steps"
        assert opened.drawn("table.schema") == total and opened.drawn("table.sample") == 0
        page.fill("#filter-search", "c03_")
        assert len(opened.visible_cards()) == depth
        assert page.locator("#waterfall .wf-row:not(.wf-axis):visible").count() == depth
        assert page.locator("a.dag-node:not(.is-dimmed)").count() == depth
        page.select_option("#filter-layer", "publish")
        assert len(opened.visible_cards()) == depth // 2
        page.click('a.dag-node[href="#step-300"]')  # hidden by the filters: they are reset
        assert len(opened.visible_cards()) == total
        assert "is-highlighted" in (page.locator("#step-300").get_attribute("class") or "")
        page.click("[data-action=expand]")
        assert opened.drawn("table.sample") == 2 * total - 1
        assert page.locator("table.sample td", has_text=IMG).count() == 5 * (2 * total - 1)
        page.click("[data-action=collapse]")
        page.click("[data-action=expand]")
        assert opened.drawn("table.sample") == 2 * total - 1  # drawn once
        opened.assert_clean()


def test_readable_without_javascript(browser: Browser, story_file: Path) -> None:
    for opened in open_story(browser, story_file, javascript=False):
        page = opened.page
        assert not page.is_visible("#toolbar")
        assert page.locator("article.card:visible").count() == len(NAMES)
        assert page.locator("#waterfall .bar:visible").count() == 3
        assert page.locator("svg.dag a.dag-node").count() == len(NAMES)
        assert ERROR in page.inner_text(".error .message")
        text = page.inner_text("#steps")
        assert "2 rows · 4 columns" in text and "+1 added" in text  # rows and schema summary
        assert "allow JavaScript to see them" in text  # says why no tables are shown
        assert page.locator("table").count() == 0
        opened.assert_clean()


def test_plain_timeline_renders_cleanly(browser: Browser, tmp_path: Path) -> None:
    document = {
        "pipeline_name": IMG,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "steps": [],
        "timeline": [
            {
                "name": SCRIPT,
                "span_id": "a",
                "parent_span_id": None,
                "start_time": "2024-05-01T12:00:00+00:00",
                "end_time": "2024-05-01T12:00:01+00:00",
                "status": "ok",
                "attributes": {IMG: ATTR},
            },
            {
                "name": "child",
                "span_id": "b",
                "parent_span_id": "a",
                "start_time": "2024-05-01T12:00:00.200000+00:00",
                "end_time": "2024-05-01T12:00:00.700000+00:00",
                "status": "error",
                "status_message": f"declined {IMG}",
                "attributes": {},
            },
        ],
    }
    (tmp_path / "trace.json").write_text(json.dumps(document), "utf-8")
    path = StoryGenerator().generate_story(tmp_path / "trace.json", tmp_path / "trace.html")
    for opened in open_story(browser, path):
        page = opened.page
        page.click("[data-action=expand]")
        assert page.locator("table.attrs").count() == 1
        assert page.evaluate("[...document.scripts].map(s => s.type)") == [""]  # no data block
        assert page.locator("#waterfall .bar").count() == 2
        assert page.locator("svg.dag").count() == 0
        assert opened.visible_cards() == [SCRIPT, "child"]
        text = page.inner_text("body")
        assert SCRIPT in text and IMG in text and ATTR in text
        assert f"declined {IMG}" in text
        page.uncheck("input[data-filter-status][value=ok]")
        assert opened.visible_cards() == ["child"]
        opened.assert_clean()
